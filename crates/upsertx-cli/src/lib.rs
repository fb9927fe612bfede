//! `upsertx`: the command line. A thin client of the `upsertx` library: it parses
//! arguments, shows progress on a terminal, and prints the report. The binary
//! (`src/main.rs`) and the Python package's `upsertx` command both run [`main`].

use clap::Parser;
use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use upsertx::{
    ChangesTo, Duplicates, Format, History, MaxDelete, OnConflict, Progress, Source, Spec, UpdateColumns, Upsert,
};

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
Another database as the source: upsertx --from-db postgres://app@db/shop --query \"SELECT * FROM orders\" --db sqlite://copy.db --table orders --key id --create"
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

    /// Target table [default: the input file's stem].
    #[arg(long)]
    table: Option<String>,

    /// Conflict key columns, comma-separated or repeated [default: the primary key].
    #[arg(long, value_delimiter = ',')]
    key: Vec<String>,

    /// Key on this unique constraint or index, by name.
    #[arg(long, value_name = "NAME")]
    constraint: Option<String>,

    /// Key on the partial unique index with this condition (e.g. "deleted_at IS NULL").
    #[arg(long, value_name = "CONDITION")]
    key_where: Option<String>,

    /// What to do with rows whose key already exists.
    #[arg(long, value_name = "update|ignore|error", default_value = "update", value_parser = parse::<OnConflict>)]
    on_conflict: OnConflict,

    /// Only these columns are written on conflict.
    #[arg(long, value_delimiter = ',', value_name = "COLS", conflicts_with = "no_update")]
    update: Vec<String>,

    /// These columns are never written on conflict (e.g. created_at).
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    no_update: Vec<String>,

    /// Rewrite matched rows even when no updated column differs.
    #[arg(long)]
    always_update: bool,

    /// Which row wins when a key appears more than once in the input.
    #[arg(long, value_name = "last|first|error", default_value = "last", value_parser = parse::<Duplicates>)]
    duplicates: Duplicates,

    /// Create the table when it is missing, with types inferred from the input and
    /// --key as primary key.
    #[arg(long)]
    create: bool,

    /// Do everything but commit: the report says what would happen.
    #[arg(long)]
    dry_run: bool,

    /// After the upsert, delete the table's rows whose key is not in the input (within
    /// --scope / --scope-where; without them, the whole table).
    #[arg(long, help_heading = "Deleting what vanished")]
    delete_missing: bool,

    /// Only the table's rows whose values of these columns occur in the input (a
    /// partition sync: loading region "eu" never touches "us").
    #[arg(long, value_delimiter = ',', value_name = "COLS", help_heading = "Deleting what vanished")]
    scope: Vec<String>,

    /// Only the table's rows for which this SQL condition holds (your own SQL, used as
    /// it is), e.g. "day >= '2026-11-28'".
    #[arg(long, value_name = "SQL", help_heading = "Deleting what vanished")]
    scope_where: Option<String>,

    /// Let an empty input delete every row in scope (refused by default).
    #[arg(long, help_heading = "Deleting what vanished")]
    allow_empty: bool,

    /// Refuse the load, nothing written, when it would delete more than N rows or P% of
    /// the rows in scope.
    #[arg(long, value_name = "N|P%", value_parser = parse::<MaxDelete>, help_heading = "Deleting what vanished")]
    max_delete: Option<MaxDelete>,

    /// Mark the missing rows in this column instead of deleting them: a date/timestamp
    /// column gets the load's time, a boolean true; a marked row whose key comes back is
    /// cleared (NULL/false) and counted as updated.
    #[arg(long, value_name = "COL", help_heading = "Deleting what vanished")]
    soft_delete: Option<String>,

    /// Replace the table's rows for which this SQL condition holds by the input (your own
    /// SQL): those whose key the input lacks are deleted, the rest upserted; every input
    /// row must satisfy it. E.g. "day = '2026-11-28'".
    #[arg(long, value_name = "SQL", help_heading = "Deleting what vanished")]
    replace_where: Option<String>,

    /// Keep the newest: update an existing row only when the input's value of this column
    /// is greater than the stored one (a stored NULL is older than anything); the rows
    /// left alone are counted stale. Among input rows of one key the greatest wins.
    #[arg(long, value_name = "COL")]
    newer_by: Option<String>,

    /// Write one NDJSON line per row inserted, updated or deleted to this file (or - for
    /// stdout; the report then goes to stderr), once the load has committed; with
    /// --dry-run, the lines a real run would write.
    #[arg(long, value_name = "PATH|-", value_parser = parse::<ChangesTo>)]
    changes: Option<ChangesTo>,

    /// Let the table follow the input: an input column the table lacks is added
    /// (nullable, typed from the input as --create types it), a varchar or integer column
    /// too small for a value is widened. MySQL/MariaDB commit DDL: there every value is
    /// checked first, and --dry-run changes nothing.
    #[arg(long)]
    evolve: bool,

    /// Keep history (a slowly changing dimension, type 2) in these two columns of the
    /// table: when each version of an entity (the key) became current and when it stopped
    /// (NULL while current). A changed entity's current version is closed and a new one
    /// inserted; with --delete-missing, an absent entity's current version is closed.
    #[arg(long, value_name = "FROM,TO", value_delimiter = ',', num_args = 1, help_heading = "History")]
    history: Vec<String>,

    /// With --history: a boolean column kept true on each entity's current version and
    /// false on the closed ones.
    #[arg(long, value_name = "COL", help_heading = "History")]
    current_flag: Option<String>,

    /// The load's time, which --history and --soft-delete write [default: when the load
    /// starts, UTC]: an ISO 8601 date or timestamp, UTC unless it has an offset.
    #[arg(long, value_name = "TIMESTAMP", value_parser = upsertx::parse_time)]
    as_of: Option<i64>,

    /// Input format [default: from the file extension: .csv, .tsv, .ndjson/.jsonl, .json,
    /// .parquet, .arrow/.feather/.ipc].
    #[arg(long, value_name = "csv|tsv|ndjson|json|parquet|arrow", value_parser = parse::<Format>)]
    format: Option<Format>,

    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,

    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, String> {
    s.parse()
}

/// Runs the command line with these arguments (the program's name first) and returns
/// its exit status: 0 on success, 1 on a data or database error (nothing written), 2 on
/// a usage error, 3 when the load committed but its `--changes` log could not be written.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = e.print();
            return e.exit_code() as u8;
        }
    };
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("upsertx: error: {e}");
            match e {
                e if e.is_usage() => 2,
                upsertx::Error::ChangesNotWritten { .. } => 3,
                _ => 1,
            }
        }
    }
}

fn run(args: Args) -> Result<(), upsertx::Error> {
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
    let update = match (args.update.is_empty(), args.no_update.is_empty()) {
        (false, _) => UpdateColumns::Only(args.update),
        (true, false) => UpdateColumns::AllBut(args.no_update),
        (true, true) => UpdateColumns::All,
    };
    let spec = Spec {
        table: args.table,
        key: (!args.key.is_empty()).then_some(args.key),
        constraint: args.constraint,
        key_where: args.key_where,
        on_conflict: args.on_conflict,
        update,
        always_update: args.always_update,
        duplicates: args.duplicates,
        create: args.create,
        dry_run: args.dry_run,
        delete_missing: args.delete_missing,
        scope: args.scope,
        scope_where: args.scope_where,
        allow_empty: args.allow_empty,
        max_delete: args.max_delete,
        soft_delete: args.soft_delete,
        replace_where: args.replace_where,
        newer_by: args.newer_by,
        changes: args.changes.clone(),
        history: History::from_options(&args.history, args.current_flag)?,
        as_of: args.as_of,
        evolve: args.evolve,
    };
    // Standard output holds the changes: the report goes to stderr.
    let to_stdout = args.changes == Some(ChangesTo::Stdout);
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
                    println!("{}", serde_json::to_string(report).expect("a report serializes"));
                }
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).expect("a report serializes"));
    } else if to_stdout {
        eprintln!("{report}");
    } else {
        println!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Args;
    use clap::CommandFactory;

    /// The flags are the load's options as the library declares them (`load_options`),
    /// plus the command line's own.
    #[test]
    fn every_load_option_is_a_flag_and_every_flag_an_option() {
        let command = Args::command();
        let longs: Vec<String> =
            command.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        for (name, flag) in upsertx::load_options() {
            assert!(longs.contains(&flag.to_string()), "option {name}: no flag {flag}");
        }
        let own = ["--db", "--json", "--quiet", "--help", "--version"];
        for long in &longs {
            let declared = upsertx::load_options().any(|(_, flag)| flag == long);
            assert!(declared || own.contains(&long.as_str()), "{long} is not a load option of the library");
        }
    }
}
