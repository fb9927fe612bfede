//! `upsertx sync PIPELINE.toml`: a thin client of [`upsertx::SyncRun`].

use clap::Parser;
use indicatif::{HumanCount, MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use upsertx::{Pipeline, Status, StreamReport, SyncEvent, SyncRun};

/// Load many tables (or queries) of one database into another, as a pipeline file
/// says: each stream in a transaction of its own, several at once, incrementally where
/// a stream names a cursor column. Mistakes in the file are refused before anything is
/// written.
#[derive(Parser, Debug)]
#[command(name = "upsertx sync", max_term_width = 100)]
#[command(after_help = "Exit status: 0 when every stream succeeded, 1 when one failed (it is rolled back, its mark \
                        too; the others go on), 2 on a mistake in the file or the arguments (nothing written).")]
struct Args {
    /// The pipeline file (TOML): source, target, [defaults], [[streams]]; see the README.
    pipeline: String,

    /// Streams at once [default: the file's jobs, else the number of cores].
    #[arg(long, short)]
    jobs: Option<usize>,

    /// Only these streams, by name (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    only: Vec<String>,

    /// Read these streams whole again, their marks ignored (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    full_refresh: Vec<String>,

    /// Every stream's exact counts, nothing written, no mark moved.
    #[arg(long)]
    dry_run: bool,

    /// One JSON object per stream per line, then a summary line.
    #[arg(long)]
    json: bool,

    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `upsertx sync` with these arguments (`sync` first); returns the exit status.
pub(crate) fn main(args: Vec<std::ffi::OsString>) -> u8 {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return e.exit_code() as u8;
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            crate::tell(format!("upsertx: error: {e}"));
            if e.is_usage() {
                2
            } else {
                1
            }
        }
    }
}

fn run(args: &Args) -> Result<u8, upsertx::Error> {
    let started = Instant::now();
    let pipeline = Pipeline::read(&args.pipeline)?;
    let mut sync =
        SyncRun::new(pipeline).only(args.only.clone()).full_refresh(args.full_refresh.clone()).dry_run(args.dry_run);
    if let Some(jobs) = args.jobs {
        sync = sync.jobs(jobs);
    }
    let shown = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bars = shown.then(Bars::default);
    if let Some(bars) = bars.clone() {
        sync = sync.on_event(move |event| bars.show(event));
    }
    let reports = sync.run()?;
    let failed: Vec<&StreamReport> = reports.iter().filter(|r| r.status == Status::Failed).collect();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        for r in &reports {
            crate::say(serde_json::to_string(r).expect("a report serializes"));
        }
        let summary = serde_json::json!({
            "streams": reports.len(), "ok": reports.len() - failed.len(), "failed": failed.len(),
            "elapsed_ms": (seconds * 1000.0) as u64, "dry_run": args.dry_run,
        });
        crate::say(summary);
    } else {
        crate::say(table(&reports).trim_end());
        let dry = if args.dry_run { " (dry run: nothing written)" } else { "" };
        crate::say(format!(
            "{} streams: {} ok, {} failed in {seconds:.1} s{dry}",
            reports.len(),
            reports.len() - failed.len(),
            failed.len()
        ));
    }
    for r in &failed {
        crate::tell(format!("upsertx: error: stream {}: {}", r.stream, r.error.as_deref().unwrap_or("failed")));
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

/// The streams as a table: one line each.
fn table(reports: &[StreamReport]) -> String {
    let head = ["stream", "table", "read", "inserted", "updated", "unchanged", "deleted", "seconds", "status"];
    let rows: Vec<[String; 9]> = reports
        .iter()
        .map(|r| {
            let n = &r.report;
            [
                r.stream.clone(),
                n.table.clone(),
                n.rows_read.to_string(),
                n.inserted.to_string(),
                n.updated.to_string(),
                n.unchanged.to_string(),
                n.deleted.to_string(),
                format!("{:.1}", n.elapsed_ms as f64 / 1000.0),
                if r.status == Status::Ok { "ok".into() } else { "failed".into() },
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| if (2..8).contains(&i) { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(head.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A progress line per running stream, on a terminal.
#[derive(Clone, Default)]
struct Bars {
    all: MultiProgress,
    running: Arc<Mutex<HashMap<String, ProgressBar>>>,
}

impl Bars {
    fn show(&self, event: SyncEvent<'_>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            SyncEvent::Started(stream) => {
                let bar = self.all.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(format!("{stream}: starting"));
                running.insert(stream.to_owned(), bar);
            }
            SyncEvent::Staged(stream, rows) => {
                if let Some(bar) = running.get(stream) {
                    bar.set_message(format!("{stream}: {} rows read and staged", HumanCount(rows)));
                }
            }
            SyncEvent::Finished(report) => {
                if let Some(bar) = running.remove(&report.stream) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}
