//! `upsertx`: the command line. A thin client of the `upsertx` library: it parses
//! arguments, shows progress on a terminal, and prints the report. The binary
//! (`src/main.rs`) and the Python package's `upsertx` command both run [`main`].

mod sync;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};
use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use upsertx::{ChangesTo, Format, LoadOption, OptionValue, Progress, Source, Spec, Takes, Upsert};

// The command line's own arguments: where the rows come from and go, and how the
// report is shown. The load's options are the library's (`upsertx::load_options`),
// made flags by `command`; the doc comment below is the command's --help.

/// Load rows from a file (CSV, TSV, JSON, NDJSON, Parquet, Arrow IPC) or another
/// database's query into a SQL table: insert new keys, update existing ones, all in one
/// transaction, with an exact report of what changed.
#[derive(Parser, Debug)]
#[command(name = "upsertx", version, max_term_width = 100)]
#[command(
    after_help = "Exit status: 0 on success, 1 on a data or database error (nothing is written), 2 on a usage error, \
3 when the load committed but its --changes lines could not be written where asked (the message names the file that \
holds them).\n\
Example: upsertx examples/customers.csv --db sqlite://demo.db --key id --create\n\
Another database as the source: upsertx --from-db postgres://app@db/shop --query \"SELECT * FROM orders\" --db sqlite://copy.db --table orders --key id --create\n\
Many tables, incrementally: upsertx sync pipeline.toml (see upsertx sync --help)"
)]
struct Args {
    /// Input file, or - for standard input (then --format is required).
    #[arg(required_unless_present = "from_db", conflicts_with = "from_db")]
    input: Option<String>,

    /// Read the rows of --query from this database instead of a file (a URL as for
    /// --db: sqlite://, postgres://, mysql://), with their types.
    #[arg(long, value_name = "URL", requires = "query")]
    from_db: Option<String>,

    /// The query whose rows are loaded (with --from-db), e.g. "SELECT * FROM orders
    /// WHERE updated_at > '2026-11-01'".
    #[arg(long, value_name = "SQL", requires = "from_db")]
    query: Option<String>,

    /// Database URL: sqlite://relative/path.db, sqlite:///absolute/path.db,
    /// postgres://user:password@host:5432/db (or libpq's "host=... dbname=..."),
    /// mysql://user:password@host:3306/db (or mariadb://).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db: Option<String>,

    /// Input format [default: from the file extension: .csv, .tsv, .ndjson/.jsonl, .json,
    /// .parquet, .arrow/.feather/.ipc].
    #[arg(display_order = 100, long, value_name = "csv|tsv|ndjson|json|parquet|arrow", value_parser = parse::<Format>)]
    format: Option<Format>,

    /// Print the report as one JSON object on stdout.
    #[arg(display_order = 100, long)]
    json: bool,

    /// No progress display.
    #[arg(display_order = 100, long, short)]
    quiet: bool,
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// The command: its own arguments, then a flag for each of the load's options as the
/// library declares them (its docs are the flag's help).
fn command() -> clap::Command {
    upsertx::load_options().fold(Args::command(), |command, option| command.arg(flag(option)))
}

/// The flag of one load option: `--max-delete N|P%`.
fn flag(option: &LoadOption) -> Arg {
    let help = option.help();
    let arg = Arg::new(option.name).long(option.name.replace('_', "-")).help(help.trim_end_matches('.').to_owned());
    let arg = match option.heading {
        Some(heading) => arg.help_heading(heading),
        None => arg,
    };
    match option.takes {
        Takes::Switch => arg.action(ArgAction::SetTrue),
        // `--key a,b` or `--key a --key b`.
        Takes::Names => arg.action(ArgAction::Append).value_delimiter(',').value_name(option.value_name),
        Takes::Choice(words) => arg.value_name(words.join("|")).default_value(words[0]),
        _ => arg.value_name(option.value_name),
    }
}

/// The options given on the command line, as a [`Spec`] (the library checks each value).
fn spec_of(matches: &clap::ArgMatches) -> Result<Spec, upsertx::Error> {
    let mut spec = Spec::default();
    for option in upsertx::load_options() {
        if matches.value_source(option.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let value = match option.takes {
            Takes::Switch => OptionValue::Bool(matches.get_flag(option.name)),
            Takes::Names => {
                OptionValue::List(matches.get_many::<String>(option.name).into_iter().flatten().cloned().collect())
            }
            _ => OptionValue::Text(matches.get_one::<String>(option.name).cloned().unwrap_or_default()),
        };
        spec.set(option.name, value)?;
    }
    Ok(spec)
}

/// Writes a line to standard output. A reader that went away (`| head -1`) is not an
/// error of the load, whose result stands: the line is dropped, never a panic.
pub(crate) fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Writes a line to standard error, as [`say`] does to standard output.
pub(crate) fn tell(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs the command line with these arguments (the program's name first) and returns
/// its exit status: 0 on success, 1 on a data or database error (nothing written), 2 on
/// a usage error, 3 when the load committed but its `--changes` log could not be written.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // `upsertx sync PIPELINE.toml`: many tables (a file named `sync` loads as `./sync`).
    if args.get(1).is_some_and(|a| a == "sync") {
        return sync::main(args[1..].to_vec());
    }
    let parsed = command().try_get_matches_from(args).and_then(|matches| {
        let args = Args::from_arg_matches(&matches)?;
        Ok((args, matches))
    });
    let (args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return e.exit_code() as u8;
        }
    };
    match spec_of(&matches).and_then(|spec| run(args, spec)) {
        Ok(()) => 0,
        Err(e) => {
            tell(format!("upsertx: error: {e}"));
            match e {
                e if e.is_usage() => 2,
                upsertx::Error::ChangesNotWritten { .. } => 3,
                _ => 1,
            }
        }
    }
}

fn run(args: Args, spec: Spec) -> Result<(), upsertx::Error> {
    let db = args.db.ok_or_else(|| {
        upsertx::Error::Usage("no database: pass --db URL or set DATABASE_URL (e.g. sqlite://data.db)".into())
    })?;
    let mut source = match (args.input.as_deref(), args.from_db, args.query) {
        (_, Some(url), Some(sql)) => Source::query(url, sql),
        (Some("-"), _, _) => Source::stdin(),
        (Some(input), _, _) => {
            let path = PathBuf::from(input);
            if !path.exists() {
                return Err(upsertx::Error::Usage(format!("{input}: no such file")));
            }
            Source::path(path)
        }
        _ => unreachable!("clap requires an input or --from-db with --query"),
    };
    if let Some(f) = args.format {
        source = source.format(f);
    }
    // Standard output holds the changes: the report goes to stderr.
    let to_stdout = spec.changes == Some(ChangesTo::Stdout);
    if to_stdout && args.json {
        return Err(upsertx::Error::Usage(
            "--changes - writes the changes to stdout, where --json would write the report: write the changes to a \
             file"
                .into(),
        ));
    }
    let mut upsert = Upsert::new(db).spec(spec);
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    if let Some(bar) = bar.clone() {
        upsert = upsert.on_progress(move |p| match p {
            Progress::Staged(rows) => bar.set_message(format!("{} rows read and staged", HumanCount(rows))),
            Progress::Merging => bar.set_message(format!("merging into the table ({})", bar.message())),
        });
    }
    let result = upsert.run(source);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        // The load committed: its report is still the truth, printed as usual; the
        // error (exit status 3) says where its change log's lines went.
        Err(e @ upsertx::Error::ChangesNotWritten { .. }) => {
            if let upsertx::Error::ChangesNotWritten { report, .. } = &e {
                if args.json {
                    say(serde_json::to_string(report).expect("a report serializes"));
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if args.json {
        say(serde_json::to_string(&report).expect("a report serializes"));
    } else if to_stdout {
        tell(&report);
    } else {
        say(&report);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::command;

    /// The flags are the load's options as the library declares them, plus the command
    /// line's own; clap's own checks of the command pass.
    #[test]
    fn every_load_option_is_a_flag_and_every_flag_an_option() {
        let command = command();
        command.clone().debug_assert();
        let longs: Vec<String> =
            command.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for option in upsertx::load_options() {
            assert!(longs.contains(&option.flag()), "option {}: no flag", option.name);
        }
        let own = ["--db", "--json", "--quiet", "--help", "--version", "--format", "--from-db", "--query"];
        for long in &longs {
            let declared = upsertx::load_options().any(|o| &o.flag() == long);
            assert!(declared || own.contains(&long.as_str()), "{long} is not a load option of the library");
        }
    }
}
