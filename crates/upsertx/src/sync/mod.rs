//! `upsertx sync`: many tables (or queries) of one database into another, each stream a
//! load of its own, several at once, incrementally where a stream has a cursor column.
//!
//! - `file.rs`: the pipeline file, read and checked (nothing connects there).
//! - `plan.rs`: the streams made concrete against the source (patterns expanded, keys
//!   and cursors found, marks read): every mistake is refused before anything is written.
//! - here: running the streams, `jobs` at a time, and what each did.

mod file;
mod plan;

pub use file::Pipeline;

use crate::engine;
use crate::error::{Error, Result};
use crate::report::Progress;
use crate::report::Report;
use plan::{Job, Rows};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How one stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Its load committed (or, for a dry run, was counted).
    Ok,
    /// Its load failed and was rolled back, its mark with it.
    Failed,
}

/// What one stream did: the single-table load's report, its name and status, the error
/// that failed it, and an incremental stream's mark (the greatest cursor value loaded).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StreamReport {
    /// The stream's name (`public.orders`, or its `name`).
    pub stream: String,
    /// Whether it succeeded.
    pub status: Status,
    /// What its load did (all zeros when it failed: nothing was written).
    #[serde(flatten)]
    pub report: Report,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An incremental stream's mark after the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

/// What a running sync tells its caller.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum SyncEvent<'a> {
    /// A stream's load started.
    Started(&'a str),
    /// Rows staged so far by a stream.
    Staged(&'a str, u64),
    /// A stream's load ended.
    Finished(&'a StreamReport),
}

/// A sync of a [`Pipeline`], configured, then [`run`](SyncRun::run).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let (src, dst) = (dir.path().join("app.db"), dir.path().join("dw.db"));
/// # rusqlite::Connection::open(&src).unwrap().execute_batch(
/// #     "CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, updated_at TEXT);
/// #      INSERT INTO orders VALUES (1, 9.5, '2026-12-01 10:00:00'), (2, 3.0, '2026-12-02 11:00:00');").unwrap();
/// let text = format!(
///     "source = \"sqlite://{}\"\ntarget = \"sqlite://{}\"\n[defaults]\ncreate = true\n\
///      [[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\n",
///     src.display(), dst.display()
/// );
/// let pipeline = upsertx::Pipeline::parse("pipeline.toml", &text)?;
/// let reports = upsertx::SyncRun::new(pipeline.clone()).run()?;
/// assert_eq!((reports[0].stream.as_str(), reports[0].report.inserted), ("orders", 2));
/// assert_eq!(reports[0].watermark.as_deref(), Some("2026-12-02 11:00:00"));
/// // The next run reads the rows at the mark and after it: nothing changed.
/// let again = upsertx::SyncRun::new(pipeline).run()?;
/// assert_eq!((again[0].report.rows_read, again[0].report.unchanged), (1, 1));
/// # Ok::<(), upsertx::Error>(())
/// ```
pub struct SyncRun {
    pipeline: Pipeline,
    jobs: Option<usize>,
    only: Vec<String>,
    full_refresh: Vec<String>,
    dry_run: bool,
    events: Events,
    stop: Stop,
}

/// Asked by every running stream whether to stop (see [`SyncRun::stop_when`]).
type Stop = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

impl SyncRun {
    /// A sync of `pipeline`.
    pub fn new(pipeline: Pipeline) -> SyncRun {
        let events: Events = std::sync::Arc::new(|_: SyncEvent<'_>| {});
        let stop: Stop = std::sync::Arc::new(|| false);
        SyncRun { pipeline, jobs: None, only: Vec::new(), full_refresh: Vec::new(), dry_run: false, events, stop }
    }

    /// Streams at once (default: the file's `jobs`, else the number of cores).
    pub fn jobs(mut self, jobs: usize) -> SyncRun {
        self.jobs = Some(jobs.max(1));
        self
    }

    /// Runs only the streams of these names.
    pub fn only<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> SyncRun {
        self.only = names.into_iter().map(Into::into).collect();
        self
    }

    /// Reads these streams whole, as if they had no mark.
    pub fn full_refresh<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> SyncRun {
        self.full_refresh = names.into_iter().map(Into::into).collect();
        self
    }

    /// Every stream's exact counts, nothing written, no mark moved.
    pub fn dry_run(mut self, yes: bool) -> SyncRun {
        self.dry_run = yes;
        self
    }

    /// Called as streams start, stage rows and end (from the threads that run them).
    pub fn on_event(mut self, f: impl Fn(SyncEvent<'_>) + Send + Sync + 'static) -> SyncRun {
        self.events = std::sync::Arc::new(f);
        self
    }

    /// Asked by every running stream after each staged batch, before its merge and
    /// before its commit (as [`Upsert::stop_when`](crate::Upsert::stop_when)): when it returns true, the streams
    /// that have not committed stop there, rolled back, and report
    /// [`Error::Interrupted`](crate::Error::Interrupted); streams not started do not start.
    pub fn stop_when(mut self, f: impl Fn() -> bool + Send + Sync + 'static) -> SyncRun {
        self.stop = std::sync::Arc::new(f);
        self
    }

    /// Runs the streams, `jobs` at a time, each in a transaction of its own; returns
    /// what each did, in the file's order. A mistake in the file or against the source
    /// is an error before anything is written; a stream that fails is rolled back and
    /// reported ([`Status::Failed`]), and the others go on.
    pub fn run(self) -> Result<Vec<StreamReport>> {
        // A new SQLite target is made before the loads run at once (see make_sqlite_file).
        let made = crate::db::open::make_sqlite_file(&self.pipeline.target)?;
        let jobs = plan::jobs(&self.pipeline, &self.only, &self.full_refresh, self.dry_run);
        let jobs = match (jobs, &made) {
            (Ok(jobs), _) => jobs,
            (Err(e), Some(path)) => {
                let _ = crate::db::open::remove_if_empty(&self.pipeline.target, path);
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        let threads = match crate::db::open::one_writer(&self.pipeline.target) {
            // SQLite: one load writes at a time; the others would wait, then time out.
            true => 1,
            false => self
                .jobs
                .or(self.pipeline.jobs)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .min(jobs.len())
                .max(1),
        };
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<Option<StreamReport>>> = Mutex::new(vec![None; jobs.len()]);
        let events = &self.events;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    events(SyncEvent::Started(&job.stream));
                    let report = run_job(&self.pipeline.target, job, events, &self.stop);
                    events(SyncEvent::Finished(&report));
                    done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(report);
                });
            }
        });
        if let Some(path) = &made {
            crate::db::open::remove_if_empty(&self.pipeline.target, path)?;
        }
        let done = done.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(done.into_iter().map(|r| r.expect("every stream ran")).collect())
    }
}

/// What the caller is told, shared with the threads and the loads' progress callbacks.
type Events = std::sync::Arc<dyn Fn(SyncEvent<'_>) + Send + Sync>;

/// Runs one stream's load.
fn run_job(target: &str, job: &Job, events: &Events, stop: &Stop) -> StreamReport {
    let mut progress = |p| {
        if let Progress::Staged(rows) = p {
            events(SyncEvent::Staged(&job.stream, rows));
        }
    };
    let mut stopping = || stop();
    let mut total = Report::empty(job.spec.table.as_deref().unwrap_or_default());
    total.dry_run = job.spec.dry_run;
    let mut watermark = job.kept.clone();
    for load in &job.loads {
        let mut watch = engine::Watch {
            progress: &mut progress,
            stop: &mut stopping,
            mark: load.mark.as_ref(),
            keys: load.keys.as_ref().map(Rows::source),
        };
        // Stopped: a load not started does not start (nor its connection open).
        let ran = match stop() {
            true => Err(Error::Interrupted),
            false => engine::run(target, &load.spec, load.from.source(), &mut watch),
        };
        match ran {
            Ok(report) => {
                total.add(report);
                if let Some(mark) = load.mark.as_ref().filter(|m| m.item.is_empty()) {
                    watermark = Some(mark.value.clone());
                }
            }
            // The loads before this one stay committed: the files before it, each with
            // its mark.
            Err(e) => {
                let error = Some(e.to_string());
                return StreamReport {
                    stream: job.stream.clone(),
                    status: Status::Failed,
                    report: total,
                    error,
                    watermark,
                };
            }
        }
    }
    StreamReport { stream: job.stream.clone(), status: Status::Ok, report: total, error: None, watermark }
}
