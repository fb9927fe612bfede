//! # upsertx
//!
//! Bulk upsert: load rows from CSV, TSV, NDJSON, JSON, Parquet or Arrow IPC files, from
//! Arrow record batches ([`Source::arrow`]) or from a query on another database
//! ([`Source::query`]) into a SQL table, inserting new keys and updating existing ones,
//! in one transaction, with an exact report of what changed.
//!
//! ```
//! use upsertx::{Source, Upsert};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = format!("sqlite://{}", dir.path().join("demo.db").display());
//! let csv = "id,name\n1,Ada\n2,Grace\n";
//! let report = Upsert::new(&db)
//!     .table("people")
//!     .key(["id"])
//!     .create(true)
//!     .run(Source::reader("people.csv", csv.as_bytes()).format(upsertx::Format::Csv))?;
//! assert_eq!((report.rows_read, report.inserted), (2, 2));
//!
//! // The same rows again, one of them changed: one update, one unchanged.
//! let csv = "id,name\n1,Ada Lovelace\n2,Grace\n";
//! let report = Upsert::new(&db)
//!     .table("people")
//!     .run(Source::reader("people.csv", csv.as_bytes()).format(upsertx::Format::Csv))?;
//! assert_eq!((report.inserted, report.updated, report.unchanged), (0, 1, 1));
//! # Ok::<(), upsertx::Error>(())
//! ```
//!
//! The flow, one direction: a reader ([`Source`]) yields rows of text or typed Arrow
//! batches; each value is checked against the target column's type on a reader thread
//! (`src/check/`); checked rows are staged into a session-private table; one set-based
//! merge applies them and counts exactly. Each database is a target behind one small
//! trait (`src/db/`: a folder per database, holding all of it).

#![warn(missing_docs)]

mod batch;
mod changes;
mod check;
mod db;
mod diff;
mod engine;
mod error;
mod evolve;
#[doc(hidden)]
pub mod fuzz;
mod ident;
mod net;
mod options;
mod plan;
mod report;
mod schema;
mod source;
mod spec;
mod sync;
mod time;
mod trace;
mod value;
mod words;

pub use check::parse_time;
pub use error::{Error, Location, Result};
pub use net::url::redact as redact_url;
pub use options::{LoadOption, OptionValue, Takes};
pub use report::{Progress, Report};
pub use source::{Format, Source};
pub use spec::load_options;
pub use spec::{ChangesTo, Duplicates, MaxDelete, OnConflict, Spec};
pub use sync::{Pipeline, Status, StreamReport, SyncEvent, SyncRun};
pub use words::{in_words, Words};

/// The Arrow crates upsertx reads typed input with, re-exported so that a caller builds
/// its [`Source::arrow`] batches with the same versions.
pub mod arrow {
    pub use arrow_array as array;
    pub use arrow_schema as schema;
}

/// A load, configured step by step, then [`run`](Upsert::run).
///
/// Every option of [`Spec`] has a setter of the same name here (`.key(["id"])`,
/// `.evolve(true)`, `.max_delete(MaxDelete::Rows(5))`). Defaults: the table is the
/// input file's stem, the key is the table's primary key, existing keys are updated,
/// unchanged rows are not rewritten, and the last of duplicate keys wins.
///
/// # Deleting what vanished
///
/// [`delete_missing`](Upsert::delete_missing) deletes the table's rows whose key is not
/// in the input, within a [`scope`](Upsert::scope) (by default the whole table). An
/// empty input is refused ([`Error::Refused`]) unless [`allow_empty`](Upsert::allow_empty).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = format!("sqlite://{}", dir.path().join("demo.db").display());
/// use upsertx::{Format, MaxDelete, Source, Upsert};
/// let csv = |text: &'static str| Source::reader("stock.csv", text.as_bytes()).format(Format::Csv);
/// Upsert::new(&db).table("stock").key(["sku"]).create(true)
///     .run(csv("sku,region,qty\na,eu,1\nb,eu,2\nc,us,3\n"))?;
/// // Tonight's extract for region "eu" no longer has "b": it goes; "us" is not touched.
/// let report = Upsert::new(&db).table("stock")
///     .delete_missing(true)
///     .scope(["region"])
///     .max_delete(MaxDelete::Percent(50.0))
///     .run(csv("sku,region,qty\na,eu,1\n"))?;
/// assert_eq!((report.unchanged, report.deleted), (1, 1));
/// # Ok::<(), upsertx::Error>(())
/// ```
///
/// # History
///
/// [`history`](Upsert::history) keeps every version of an entity (a slowly changing
/// dimension of type 2): a new entity is inserted (`inserted`); a changed one gets its
/// current version closed (`to` = the load's time) and a new version (`updated`); with
/// [`delete_missing`](Upsert::delete_missing), an absent entity's current version is
/// closed (`deleted`). The table needs a unique key on (key..., `from`), or a surrogate
/// primary key its default fills.
///
/// ```
/// use upsertx::{Format, Source, Upsert};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = format!("sqlite://{}", dir.path().join("dim.db").display());
/// let csv = |text: &'static str| Source::reader("customers.csv", text.as_bytes()).format(Format::Csv);
/// let load = |as_of: &str, text: &'static str| {
///     Upsert::new(&db)
///         .table("customers")
///         .key(["id"])
///         .create(true)
///         .history(["valid_from", "valid_to"])
///         .as_of(upsertx::parse_time(as_of).unwrap())
///         .run(csv(text))
/// };
/// load("2026-01-01", "id,city\n1,Oslo\n2,Rome\n")?;
/// let report = load("2026-02-01", "id,city\n1,Bergen\n2,Rome\n")?;
/// assert_eq!((report.inserted, report.updated, report.unchanged), (0, 1, 1));
/// // Customer 1 now has two versions: Oslo until 2026-02-01, Bergen since.
/// # Ok::<(), upsertx::Error>(())
/// ```
///
/// # Schema change
///
/// [`evolve`](Upsert::evolve) lets the table follow the input; what it changed is listed
/// in [`Report::schema_changes`].
///
/// ```
/// use upsertx::{Format, Source, Upsert};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = format!("sqlite://{}", dir.path().join("crm.db").display());
/// let csv = |text: &'static str| Source::reader("customers.csv", text.as_bytes()).format(Format::Csv);
/// Upsert::new(&db).table("customers").key(["id"]).create(true).run(csv("id,name\n1,Ann\n"))?;
/// let report = Upsert::new(&db).table("customers").evolve(true).run(csv("id,name,tier\n1,Ann,gold\n"))?;
/// assert_eq!(report.schema_changes, ["added column \"tier\" text"]);
/// assert_eq!(report.updated, 1);
/// # Ok::<(), upsertx::Error>(())
/// ```
///
/// # Change log
///
/// [`changes`](Upsert::changes) writes one NDJSON line per row the load inserts, updates
/// or deletes, once it has committed; unchanged and stale rows are not written.
///
/// ```
/// use upsertx::{ChangesTo, Format, Source, Upsert};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = format!("sqlite://{}", dir.path().join("demo.db").display());
/// let csv = |text: &'static str| Source::reader("prices.csv", text.as_bytes()).format(Format::Csv);
/// Upsert::new(&db).table("prices").key(["sku"]).create(true).run(csv("sku,price\na,1\nb,2\n"))?;
/// let out = dir.path().join("changes.ndjson");
/// let report = Upsert::new(&db)
///     .table("prices")
///     .delete_missing(true)
///     .changes(ChangesTo::Path(out.clone()))
///     .run(csv("sku,price\na,10\n"))?;
/// assert_eq!((report.updated, report.deleted), (1, 1));
/// let lines = std::fs::read_to_string(&out).unwrap();
/// assert_eq!(
///     lines,
///     "{\"op\":\"update\",\"key\":{\"sku\":\"a\"},\"before\":{\"price\":1},\"after\":{\"price\":10}}\n\
///      {\"op\":\"delete\",\"key\":{\"sku\":\"b\"},\"before\":{\"sku\":\"b\",\"price\":2},\"after\":null}\n"
/// );
/// # Ok::<(), upsertx::Error>(())
/// ```
pub struct Upsert {
    url: String,
    spec: Spec,
    progress: Option<Box<dyn FnMut(Progress)>>,
    stop: Option<Box<dyn FnMut() -> bool>>,
}

impl Upsert {
    /// A load into the database at `url`: `sqlite://path.db`, `sqlite:///abs/path.db`,
    /// `postgres://user:pw@host/db` (or a libpq `key=value` string), `mysql://user:pw@host/db`.
    pub fn new(url: impl Into<String>) -> Upsert {
        Upsert { url: url.into(), spec: Spec::default(), progress: None, stop: None }
    }

    spec::upsert_setters!();

    /// Replaces the whole specification (one read from a file with serde, or set option
    /// by option with [`Spec::set`]), including what setters called before set; setters
    /// called after change it.
    pub fn spec(mut self, spec: Spec) -> Upsert {
        self.spec = spec;
        self
    }

    /// Called after each staged batch, and once when the merge starts.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + 'static) -> Upsert {
        self.progress = Some(Box::new(f));
        self
    }

    /// Asked after each staged batch, before the merge and before the commit: when it
    /// returns true, the load stops there with [`Error::Interrupted`] and nothing is
    /// written (how the Python package turns Ctrl-C into a rollback, even during the
    /// merge).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    /// use upsertx::{Error, Source, Upsert};
    /// let csv = "id,name\n1,Ada\n";
    /// let stopped = Upsert::new(&db)
    ///     .table("people")
    ///     .key(["id"])
    ///     .create(true)
    ///     .stop_when(|| true)
    ///     .run(Source::reader("people.csv", csv.as_bytes()).format(upsertx::Format::Csv));
    /// assert!(matches!(stopped, Err(Error::Interrupted)));
    /// ```
    pub fn stop_when(mut self, f: impl FnMut() -> bool + 'static) -> Upsert {
        self.stop = Some(Box::new(f));
        self
    }

    /// Runs the load. On error nothing is written.
    pub fn run(mut self, source: Source) -> Result<Report> {
        let (mut no_progress, mut no_stop) = (|_| {}, || false);
        let mut watch = engine::Watch {
            progress: match &mut self.progress {
                Some(f) => f.as_mut(),
                None => &mut no_progress,
            },
            stop: match &mut self.stop {
                Some(f) => f.as_mut(),
                None => &mut no_stop,
            },
            mark: None,
            keys: None,
        };
        engine::run(&self.url, &self.spec, source, &mut watch)
    }
}
