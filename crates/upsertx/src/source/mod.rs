//! Readers: where rows come from. Text formats (CSV, TSV, JSON) yield rows of
//! [`RawRef`] values under a fixed list of column names; typed formats (Parquet, Arrow
//! IPC, any Arrow `RecordBatchReader`) yield Arrow record batches. The check step
//! ([`crate::check`]) holds both against the target's column types before anything
//! reaches the database.

pub(crate) mod arrow;
pub(crate) mod csv;
pub(crate) mod json;
#[cfg(feature = "parquet")]
pub(crate) mod parquet;

pub(crate) use self::arrow::BatchReader;
use arrow_array::RecordBatchReader;

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (PostgreSQL CSV convention: an empty
    /// unquoted field is NULL, a quoted empty field `""` is the empty string).
    Csv,
    /// Like CSV, separated by tabs.
    Tsv,
    /// JSON objects one after another (one per line, usually).
    Ndjson,
    /// A JSON array of objects. Objects one after another are accepted too.
    Json,
    /// Apache Parquet (read by row group). Needs the `parquet` cargo feature (on by default).
    Parquet,
    /// Arrow IPC: the file format (Feather v2) or the stream format.
    Arrow,
}

/// The names `--format` takes, for messages.
const FORMATS: &str = "csv, tsv, ndjson, json, parquet, arrow";

impl Format {
    /// The format a file name's extension implies, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "json" => Some(Format::Json),
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "arrows" | "feather" | "ipc" => Some(Format::Arrow),
            _ => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "tsv" => Ok(Format::Tsv),
            "ndjson" | "jsonl" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            "arrow" | "ipc" | "feather" => Ok(Format::Arrow),
            other => Err(format!("unknown format {other:?} (expected one of: {FORMATS})")),
        }
    }
}

/// One value as it stands in the input, before it is checked against a column type.
#[derive(Debug, Clone, Copy)]
pub enum RawRef<'a> {
    Null,
    Text(&'a str),
    Json(&'a serde_json::Value),
}

impl RawRef<'_> {
    /// About how many bytes the value holds (a text's length; 8 for other values).
    pub(crate) fn size(&self) -> usize {
        match self {
            RawRef::Text(s) => s.len(),
            RawRef::Json(serde_json::Value::String(s)) => s.len(),
            _ => 8,
        }
    }

    /// The value as the user wrote it, for error messages (`None` for NULL).
    pub fn shown(&self) -> Option<String> {
        match self {
            RawRef::Null | RawRef::Json(serde_json::Value::Null) => None,
            RawRef::Text(s) => Some((*s).to_owned()),
            RawRef::Json(serde_json::Value::String(s)) => Some(s.clone()),
            RawRef::Json(v) => Some(v.to_string()),
        }
    }
}

/// A reader of rows under fixed column names.
pub trait RowReader: Send {
    /// The input's column names, in input order.
    fn columns(&self) -> &[String];
    /// Moves to the next row; `Ok(false)` at the end of the input.
    fn advance(&mut self) -> Result<bool>;
    /// Value `i` (in [`RowReader::columns`] order) of the current row.
    fn value(&self, i: usize) -> RawRef<'_>;
    /// The current row's 1-based number, and the line it starts on where there are lines.
    fn position(&self) -> (u64, Option<u64>);
}

enum Origin {
    Path(PathBuf),
    Stdin,
    Reader(Option<Box<dyn Read + Send>>),
    Spooled(tempfile::NamedTempFile),
    Batches(Option<Box<dyn RecordBatchReader + Send>>),
    /// The rows of a query on another database.
    Query {
        url: String,
        sql: String,
    },
}

/// An opened input: rows of text or JSON values, or typed record batches.
pub(crate) enum Input {
    Rows(Box<dyn RowReader>),
    Batches(BatchReader),
}

impl Input {
    /// The input's column names, in input order.
    pub(crate) fn columns(&self) -> &[String] {
        match self {
            Input::Rows(r) => r.columns(),
            Input::Batches(b) => b.columns(),
        }
    }
}

/// Where the rows of a load come from: a file, standard input, any reader, or Arrow
/// record batches.
///
/// ```
/// use upsertx::{Format, Source};
/// let from_file = Source::path("examples/customers.csv");
/// let from_bytes = Source::reader("inline", &b"id,name\n1,Ada\n"[..]).format(Format::Csv);
/// assert_eq!(from_bytes.name(), "inline");
/// # let _ = from_file;
/// ```
pub struct Source {
    origin: Origin,
    name: String,
    format: Option<Format>,
    /// An Arrow IPC stream must end with its end-of-stream marker (see
    /// [`Source::require_whole`]).
    whole: bool,
}

impl Source {
    /// A file; its format comes from its extension unless set with [`Source::format`].
    pub fn path(path: impl AsRef<Path>) -> Source {
        let path = path.as_ref().to_path_buf();
        Source { name: path.display().to_string(), origin: Origin::Path(path), format: None, whole: false }
    }

    /// Standard input; the format must be set with [`Source::format`].
    pub fn stdin() -> Source {
        Source { origin: Origin::Stdin, name: "<stdin>".into(), format: None, whole: false }
    }

    /// Any reader, named `name` in messages; the format must be set.
    pub fn reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> Source {
        Source { origin: Origin::Reader(Some(Box::new(reader))), name: name.into(), format: None, whole: false }
    }

    /// Arrow record batches from any [`RecordBatchReader`] (a DataFrame handed over by
    /// a binding, an Arrow IPC reader, a query result), named `name` in messages. Their
    /// values are checked against the table's column types as strictly as text is, and
    /// `create` takes the column types from the schema.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use upsertx::arrow::array::{Int64Array, RecordBatch, RecordBatchIterator, StringArray};
    /// use upsertx::{Source, Upsert};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    /// let batch = RecordBatch::try_from_iter([
    ///     ("id", Arc::new(Int64Array::from(vec![1, 2])) as _),
    ///     ("name", Arc::new(StringArray::from(vec![Some("Ada"), None])) as _),
    /// ])
    /// .unwrap();
    /// let schema = batch.schema();
    /// let batches = RecordBatchIterator::new([Ok(batch)], schema);
    /// let report = Upsert::new(&db).table("people").key(["id"]).create(true).run(Source::arrow("people", batches))?;
    /// assert_eq!(report.inserted, 2);
    /// # Ok::<(), upsertx::Error>(())
    /// ```
    pub fn arrow(name: impl Into<String>, reader: impl RecordBatchReader + Send + 'static) -> Source {
        Source {
            origin: Origin::Batches(Some(Box::new(reader))),
            name: name.into(),
            format: Some(Format::Arrow),
            whole: false,
        }
    }

    /// The rows of a query on another database (`sqlite://`, `postgres://`,
    /// `mysql://` URLs, as for the target), streamed with the types the database reports:
    /// never the whole result in memory. Errors name the query's row numbers.
    ///
    /// ```
    /// use upsertx::{Source, Upsert};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let source = format!("sqlite://{}", dir.path().join("shop.db").display());
    /// # let warehouse = format!("sqlite://{}", dir.path().join("warehouse.db").display());
    /// # let csv = "id,name,price\n1,tea,2.50\n2,cake,4\n";
    /// # Upsert::new(&source).table("products").key(["id"]).create(true)
    /// #     .run(Source::reader("p.csv", csv.as_bytes()).format(upsertx::Format::Csv))?;
    /// let report = Upsert::new(&warehouse)
    ///     .table("products")
    ///     .key(["id"])
    ///     .create(true)
    ///     .run(Source::query(&source, "SELECT id, name, price FROM products WHERE price > 3"))?;
    /// assert_eq!(report.inserted, 1);
    /// # Ok::<(), upsertx::Error>(())
    /// ```
    pub fn query(url: impl Into<String>, sql: impl Into<String>) -> Source {
        let url = url.into();
        Source {
            name: format!("query on {}", crate::net::url::redact(&url)),
            origin: Origin::Query { url, sql: sql.into() },
            format: Some(Format::Arrow),
            whole: false,
        }
    }

    /// Sets the input format explicitly.
    pub fn format(mut self, format: Format) -> Source {
        self.format = Some(format);
        self
    }

    /// The name used for this input in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A file's stem, the default table name.
    pub(crate) fn stem(&self) -> Option<String> {
        match &self.origin {
            Origin::Path(p) => p.file_stem().and_then(|s| s.to_str()).map(str::to_owned),
            _ => None,
        }
    }

    pub(crate) fn resolved_format(&self) -> Result<Format> {
        if let Some(f) = self.format {
            return Ok(f);
        }
        match &self.origin {
            Origin::Path(p) => Format::from_path(p).ok_or_else(|| {
                Error::Usage(format!(
                    "{}: cannot tell the format from the file name; pass --format (one of: {FORMATS})",
                    self.name
                ))
            }),
            _ => {
                Err(Error::Usage(format!("{}: the input format must be given (--format: one of {FORMATS})", self.name)))
            }
        }
    }

    /// Whether the input carries its own column types (Parquet, Arrow): then `create`
    /// needs no inference pass.
    pub(crate) fn is_typed(&self) -> bool {
        matches!(self.format, Some(Format::Parquet | Format::Arrow))
            || matches!(&self.origin, Origin::Path(p) if matches!(Format::from_path(p), Some(Format::Parquet | Format::Arrow)))
    }

    /// Whether [`open`](Source::open) can read the input again from its start as it was:
    /// a file (or a stream already copied into one).
    pub(crate) fn reopens(&self) -> bool {
        matches!(self.origin, Origin::Path(_) | Origin::Spooled(_))
    }

    /// Makes the source readable twice (for type inference, then the load) by copying a
    /// stream into a temporary file. Files are left as they are.
    pub(crate) fn make_rereadable(&mut self) -> Result<()> {
        let mut input: Box<dyn Read + Send> = match &mut self.origin {
            Origin::Path(_) | Origin::Spooled(_) | Origin::Batches(_) | Origin::Query { .. } => return Ok(()),
            Origin::Stdin => Box::new(std::io::stdin()),
            Origin::Reader(r) => r.take().ok_or_else(|| Error::Io(format!("{}: already read", self.name)))?,
        };
        let mut file = tempfile::NamedTempFile::new().map_err(|e| Error::Io(format!("temporary file: {e}")))?;
        std::io::copy(&mut input, &mut file).map_err(|e| self.io_error(e))?;
        self.origin = Origin::Spooled(file);
        Ok(())
    }

    /// Makes an Arrow IPC stream (from a file or a reader) that ends without its
    /// end-of-stream marker an error rather than a complete input: the format allows
    /// such a stream, so one cut at a batch boundary looks whole, and a load that
    /// deletes what its input lacks (`--delete-missing`, `--replace-where`) would delete
    /// the rows cut off.
    pub(crate) fn require_whole(&mut self) {
        self.whole = true;
    }

    /// Opens the input and reads its header (CSV), first object (JSON) or schema.
    pub(crate) fn open(&mut self) -> Result<Input> {
        let format = self.resolved_format()?;
        let name = self.name.clone();
        match &mut self.origin {
            Origin::Batches(b) => {
                let reader = b.take().ok_or_else(|| Error::Io(format!("{name}: already read")))?;
                return Ok(Input::Batches(BatchReader::new(name, reader)?));
            }
            Origin::Query { url, sql } => {
                let (name, reader) = crate::db::query::query(url, sql)?;
                return Ok(Input::Batches(BatchReader::new(name, reader)?));
            }
            _ => {}
        }
        if format == Format::Parquet {
            return self.open_parquet();
        }
        if format == Format::Arrow {
            if let Some(file) = self.file()? {
                return Ok(Input::Batches(arrow::ipc_file(name, file, self.whole)?));
            }
        }
        let input: Box<dyn Read + Send> = match &mut self.origin {
            Origin::Path(p) => Box::new(File::open(&*p).map_err(|e| self.io_error(e))?),
            Origin::Spooled(f) => Box::new(f.reopen().map_err(|e| self.io_error(e))?),
            Origin::Stdin => Box::new(std::io::stdin()),
            Origin::Reader(r) => r.take().ok_or_else(|| Error::Io(format!("{}: already read", self.name)))?,
            Origin::Batches(_) | Origin::Query { .. } => unreachable!("handled above"),
        };
        let input = BufReader::with_capacity(256 * 1024, input);
        Ok(match format {
            Format::Csv => Input::Rows(Box::new(csv::CsvReader::new(input, name, b',')?)),
            Format::Tsv => Input::Rows(Box::new(csv::CsvReader::new(input, name, b'\t')?)),
            Format::Ndjson | Format::Json => Input::Rows(Box::new(json::JsonReader::new(input, name)?)),
            Format::Arrow => Input::Batches(arrow::ipc(name, input, self.whole)?),
            Format::Parquet => unreachable!("handled above"),
        })
    }

    /// The input opened as a file, when it is one.
    fn file(&self) -> Result<Option<File>> {
        match &self.origin {
            Origin::Path(p) => File::open(p).map(Some),
            Origin::Spooled(f) => f.reopen().map(Some),
            _ => return Ok(None),
        }
        .map_err(|e| self.io_error(e))
    }

    /// Parquet needs a file it can seek in: a stream is copied into a temporary file first.
    #[cfg(feature = "parquet")]
    fn open_parquet(&mut self) -> Result<Input> {
        self.make_rereadable()?;
        let file = self.file()?.expect("make_rereadable leaves a file");
        Ok(Input::Batches(parquet::open(self.name.clone(), file)?))
    }

    #[cfg(not(feature = "parquet"))]
    fn open_parquet(&mut self) -> Result<Input> {
        Err(Error::Usage(format!(
            "{}: this build of upsertx reads no Parquet (it was built without the `parquet` cargo feature)",
            self.name
        )))
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::Source { input: self.name.clone(), reason: e.to_string() }
    }
}

/// Checks a header: no empty names, no name twice.
fn check_columns(input: &str, columns: &[String]) -> Result<()> {
    let bad = |reason: String| Err(Error::Source { input: input.to_owned(), reason });
    if columns.is_empty() {
        return bad("no columns in the input".into());
    }
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return bad(format!("column {} of the header has no name", i + 1));
        }
        if columns[..i].contains(c) {
            return bad(format!("column {c:?} appears twice in the header"));
        }
    }
    Ok(())
}
