//! `upsertx._native`: the Rust side of the Python package. It turns what the Python
//! layer (`upsertx/__init__.py`) hands over into a [`Source`] and a [`Spec`], runs the
//! load with the GIL released, and turns the report or the error back into Python
//! objects. Everything about *which* Python object is which (DataFrames, SQLAlchemy
//! engines and tables) is decided in Python; here there are only a few kinds of input:
//! an Arrow C stream capsule, an iterator of objects exporting such streams, a path, an
//! iterator of NDJSON chunks, and a query on another database.

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use std::io::Read;
use std::sync::{Arc, Mutex};
use upsertx::{Error, Format, OptionValue, Progress, Report, Source, Spec, Takes, Upsert, Words};

create_exception!(_native, NativeError, PyException, "An upsertx error: args are (kind, message, details).");

/// The details Python's exception classes carry, by kind.
fn to_py_err(e: Error) -> PyErr {
    // Options named as a Python caller names them: `evolve=True`, not `--evolve`.
    let message = e.message(Words::Python);
    let words = |reason: String| upsertx::in_words(&reason, Words::Python);
    let none = || (None, None, None, None, None);
    let (kind, (row, line, column, value, reason)) = match e {
        Error::Usage(_) => ("usage", none()),
        Error::Value { at, column, value, reason } => {
            ("value", (Some(at.row), at.line, Some(column), value, Some(words(reason))))
        }
        Error::Input { at, reason } => ("input", (Some(at.row), at.line, None, None, Some(words(reason)))),
        Error::Source { reason, .. } => ("source", (None, None, None, None, Some(words(reason)))),
        Error::DuplicateKey { at, .. } => ("duplicate_key", (Some(at.row), at.line, None, None, None)),
        Error::KeyExists { at, .. } => ("key_exists", (Some(at.row), at.line, None, None, None)),
        Error::Conflict { at, reason } => ("conflict", (Some(at.row), at.line, None, None, Some(words(reason)))),
        Error::Schema(_) => ("schema", none()),
        Error::Database { .. } => ("database", none()),
        Error::Io(_) => ("io", none()),
        Error::Refused(_) => ("refused", none()),
        Error::Interrupted => ("interrupted", none()),
        Error::ChangesNotWritten { report, kept, .. } => {
            // The load committed: the report and where the lines are come with the error.
            let extra = Python::attach(|py| -> PyResult<Py<PyAny>> {
                Ok((report_dict(py, &report)?, kept).into_pyobject(py)?.into_any().unbind())
            })
            .ok();
            return NativeError::new_err((
                "changes_not_written",
                message,
                None::<u64>,
                None::<u64>,
                None::<String>,
                None::<String>,
                None::<String>,
                extra,
            ));
        }
    };
    NativeError::new_err((kind, message, row, line, column, value, reason, None::<Py<PyAny>>))
}

/// The exception Python raised while the engine ran (in the caller's iterator, or a
/// signal handler's, such as Ctrl-C's KeyboardInterrupt): the load fails and the caller
/// gets that exception itself (a bug in a generator stays a bug in it), not an upsertx
/// error about unreadable input.
type Raised = Arc<Mutex<Option<PyErr>>>;

fn keep(raised: &Raised, e: PyErr) -> String {
    let text = e.to_string();
    raised.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
    text
}

/// Reads NDJSON from a Python iterator of `bytes` chunks (the rows of a list or an
/// iterator of dicts, encoded by the Python layer a chunk at a time).
struct Chunks {
    iter: Py<PyAny>,
    raised: Raised,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() && !self.done {
            Python::attach(|py| match self.iter.bind(py).call_method0("__next__") {
                Ok(chunk) => {
                    self.chunk =
                        chunk.extract::<Vec<u8>>().map_err(|e| std::io::Error::other(keep(&self.raised, e)))?;
                    self.at = 0;
                    Ok(())
                }
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    self.done = true;
                    Ok(())
                }
                Err(e) => Err(std::io::Error::other(keep(&self.raised, e))),
            })?;
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Record batches from a Python iterator of objects that export `__arrow_c_stream__`
/// (a polars LazyFrame's batches as it computes them): one object's stream after
/// another, each taken when the previous one ends. The schema is the first one's.
struct Streams {
    iter: Py<PyAny>,
    raised: Raised,
    current: Option<RecordBatchStreamReader>,
    schema: SchemaRef,
}

impl Streams {
    fn new(iter: Py<PyAny>, raised: Raised, py: Python<'_>) -> PyResult<Streams> {
        let first =
            next_stream(&iter, py)?.ok_or_else(|| PyValueError::new_err("the iterator of Arrow streams is empty"))?;
        Ok(Streams { iter, raised, schema: first.schema(), current: Some(first) })
    }
}

/// The next object's Arrow stream; `None` at the iterator's end.
fn next_stream(iter: &Py<PyAny>, py: Python<'_>) -> PyResult<Option<RecordBatchStreamReader>> {
    match iter.bind(py).call_method0("__next__") {
        Ok(object) => stream_reader(&object.call_method0("__arrow_c_stream__")?).map(Some),
        Err(e) if e.is_instance_of::<PyStopIteration>(py) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Iterator for Streams {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.current.as_mut().and_then(Iterator::next) {
                return Some(batch);
            }
            match Python::attach(|py| next_stream(&self.iter, py)) {
                Ok(Some(next)) => self.current = Some(next),
                Ok(None) => return None,
                Err(e) => return Some(Err(ArrowError::ExternalError(keep(&self.raised, e).into()))),
            }
        }
    }
}

impl RecordBatchReader for Streams {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Takes the Arrow C stream out of a `__arrow_c_stream__` capsule.
fn stream_reader(capsule: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    let capsule = capsule.cast::<PyCapsule>()?;
    let named = capsule.name()?.is_some_and(|n| unsafe { n.as_cstr() }.to_bytes() == b"arrow_array_stream");
    if !named {
        return Err(PyValueError::new_err("expected an Arrow C stream capsule (\"arrow_array_stream\")"));
    }
    let pointer = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // Safety: the capsule holds an FFI_ArrowArrayStream (its name says so); from_raw
    // moves the stream out and leaves a released one behind, which the capsule's
    // destructor then ignores.
    unsafe { RecordBatchStreamReader::from_raw(pointer.as_ptr() as *mut FFI_ArrowArrayStream) }
        .map_err(|e| PyValueError::new_err(format!("reading the Arrow stream: {e}")))
}

fn parse<T: std::str::FromStr<Err = String>>(what: &str, s: Option<String>) -> PyResult<Option<T>> {
    s.map(|s| s.parse::<T>().map_err(|e| to_py_err(Error::Usage(format!("--{what}: {e}"))))).transpose()
}

/// A keyword's value as the library takes an option's: `True`, `5`, `1.5`, `"text"`, a
/// list of texts. Anything else is a usage error naming the keyword.
fn option_value(name: &str, value: &Bound<'_, PyAny>) -> PyResult<OptionValue> {
    if let Ok(b) = value.extract::<bool>() {
        return Ok(OptionValue::Bool(b));
    }
    if let Ok(i) = value.extract::<i64>() {
        return Ok(OptionValue::Int(i));
    }
    if let Ok(f) = value.extract::<f64>() {
        return Ok(OptionValue::Float(f));
    }
    if let Ok(t) = value.extract::<String>() {
        return Ok(OptionValue::Text(t));
    }
    if let Ok(list) = value.extract::<Vec<String>>() {
        return Ok(OptionValue::List(list));
    }
    let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
    let flag = name.replace('_', "-");
    Err(to_py_err(Error::Usage(format!(
        "--{flag}: expected text, a number, true or false, or a list of texts, not {shown}"
    ))))
}

/// The report as a dict: its fields as its serde serialization names them (a new field
/// of [`Report`] needs no change here), and `text`, its one-line summary.
fn report_dict<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let serde_json::Value::Object(fields) = serde_json::to_value(r).expect("a report serializes") else {
        unreachable!("a report serializes as an object")
    };
    for (name, value) in fields {
        d.set_item(name, json_to_py(py, value)?)?;
    }
    d.set_item("text", r.to_string())?;
    Ok(d)
}

/// A report field's value (a string, a count, a flag, a list of strings) as Python's.
fn json_to_py(py: Python<'_>, v: serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None(),
        J::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        J::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_pyobject(py)?.into_any().unbind(),
            (None, Some(i)) => i.into_pyobject(py)?.into_any().unbind(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any().unbind(),
        },
        J::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        J::Array(items) => {
            let items = items.into_iter().map(|i| json_to_py(py, i)).collect::<PyResult<Vec<_>>>()?;
            pyo3::types::PyList::new(py, items)?.into_any().unbind()
        }
        J::Object(_) => J::to_string(&v).into_pyobject(py)?.into_any().unbind(),
    })
}

/// Runs one load. `kind` says what `data` is: `"stream"` (an Arrow C stream capsule),
/// `"streams"` (an iterator of objects exporting `__arrow_c_stream__`), `"path"` (a file path), `"ndjson"` (an iterator of NDJSON `bytes` chunks) or
/// `"query"` (`data` is the SQL, `from_db` its database). `progress`, when given, is
/// called with the number of rows staged so far, then with `None` when the merge starts.
/// Runs one load. `kind` says what `data` is: `"stream"` (an Arrow C stream capsule),
/// `"streams"` (an iterator of objects exporting `__arrow_c_stream__`), `"path"` (a file
/// path), `"ndjson"` (an iterator of NDJSON `bytes` chunks) or `"query"` (`data` is the
/// SQL, `from_db` its database). `options` maps the load's options (as
/// `load_options()` names them) to their values. `progress`, when given, is called with
/// the number of rows staged so far, then with `None` when the merge starts.
#[pyfunction]
#[pyo3(signature = (kind, data, name, db, options, *, from_db=None, format=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn upsert<'py>(
    py: Python<'py>,
    kind: &str,
    data: &Bound<'py, PyAny>,
    name: String,
    db: String,
    options: &Bound<'py, PyDict>,
    from_db: Option<String>,
    format: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let raised = Raised::default();
    let mut source = match kind {
        "stream" => Source::arrow(name, stream_reader(data)?),
        "streams" => Source::arrow(name, Streams::new(data.try_iter()?.into_any().unbind(), raised.clone(), py)?),
        "path" => Source::path(data.extract::<std::path::PathBuf>()?),
        "ndjson" => {
            let iter = data.try_iter()?.into_any().unbind();
            let chunks = Chunks { iter, raised: raised.clone(), chunk: Vec::new(), at: 0, done: false };
            Source::reader(name, chunks).format(Format::Ndjson)
        }
        "query" => Source::query(from_db.unwrap_or_default(), data.extract::<String>()?),
        other => return Err(PyValueError::new_err(format!("unknown input kind {other:?}"))),
    };
    if let Some(f) = parse::<Format>("format", format)? {
        source = source.format(f);
    }
    let mut spec = Spec::default();
    for (name, value) in options.iter() {
        let name = name.extract::<String>()?;
        let value = option_value(&name, &value)?;
        spec.set(&name, value).map_err(to_py_err)?;
    }
    let interrupted = raised.clone();
    let result = py.detach(move || {
        let mut upsert = Upsert::new(db).spec(spec);
        if let Some(callback) = progress {
            upsert = upsert.on_progress(move |p| {
                Python::attach(|py| {
                    let staged = match p {
                        Progress::Staged(rows) => Some(rows),
                        Progress::Merging => None,
                    };
                    // A failing progress display must not fail the load.
                    if let Err(e) = callback.call1(py, (staged,)) {
                        e.write_unraisable(py, None);
                    }
                })
            });
        }
        // Ctrl-C: Python's handler only notes the signal while Rust runs; run it after
        // each batch, before the merge and before the commit, and stop there (the
        // transaction rolls back) with the exception it raised.
        upsert = upsert
            .stop_when(move || Python::attach(|py| py.check_signals().map_err(|e| keep(&interrupted, e)).is_err()));
        upsert.run(source)
    });
    match result {
        Ok(report) => report_dict(py, &report),
        Err(e) => match raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(python) => Err(python),
            None => Err(to_py_err(e)),
        },
    }
}

/// Runs a pipeline (`upsertx sync`): `text` is its TOML, `name` what messages call it.
/// Returns one report dict per stream (with `stream`, `status`, `error`, `watermark`).
/// The streams run on threads of their own while this one, the GIL released between
/// looks, watches for Ctrl-C: a KeyboardInterrupt stops every stream that has not
/// committed (rolled back) and is raised once they have.
#[pyfunction]
#[pyo3(signature = (text, name, *, jobs=None, only=None, full_refresh=None, dry_run=false))]
fn sync<'py>(
    py: Python<'py>,
    text: &str,
    name: &str,
    jobs: Option<usize>,
    only: Option<Vec<String>>,
    full_refresh: Option<Vec<String>>,
    dry_run: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let pipeline = upsertx::Pipeline::parse(name, text).map_err(to_py_err)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let mut run = upsertx::SyncRun::new(pipeline)
        .only(only.unwrap_or_default())
        .full_refresh(full_refresh.unwrap_or_default())
        .dry_run(dry_run)
        .stop_when(move || stopped.load(std::sync::atomic::Ordering::Relaxed));
    if let Some(jobs) = jobs {
        run = run.jobs(jobs);
    }
    let worker = std::thread::spawn(move || run.run());
    let mut interrupt = None;
    while !worker.is_finished() {
        py.detach(|| std::thread::sleep(std::time::Duration::from_millis(50)));
        if let Err(e) = py.check_signals() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            interrupt.get_or_insert(e);
        }
    }
    let result = py.detach(|| worker.join()).map_err(|_| PyValueError::new_err("the sync's thread panicked"))?;
    if let Some(e) = interrupt {
        return Err(e);
    }
    let reports = result.map_err(to_py_err)?;
    reports
        .iter()
        .map(|r| {
            let d = report_dict(py, &r.report)?;
            d.set_item("stream", &r.stream)?;
            d.set_item("status", if r.status == upsertx::Status::Ok { "ok" } else { "failed" })?;
            d.set_item("error", r.error.as_deref())?;
            d.set_item("watermark", r.watermark.as_deref())?;
            Ok(d)
        })
        .collect()
}

/// The `upsertx` command line (the same as the Rust binary); returns its exit status.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || upsertx_cli::main(argv))
}

/// Every option of a load, as the library declares it: (keyword, what it takes, its
/// words for a choice, its docs in Python's words). `upsert()` takes these keywords and
/// shows them in its signature and docstring.
#[pyfunction]
fn load_options() -> Vec<(&'static str, &'static str, Vec<&'static str>, String)> {
    upsertx::load_options()
        .map(|o| {
            let (takes, words) = match o.takes {
                Takes::Switch => ("switch", Vec::new()),
                Takes::Names => ("names", Vec::new()),
                Takes::Choice(words) => ("choice", words.to_vec()),
                Takes::Text => ("text", Vec::new()),
                _ => ("value", Vec::new()),
            };
            (o.name, takes, words, upsertx::in_words(&o.help(), Words::Python))
        })
        .collect()
}

/// Hides the password of a database URL, for messages.
#[pyfunction]
fn redact_url(url: &str) -> String {
    upsertx::redact_url(url)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(upsert, m)?)?;
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(sync, m)?)?;
    m.add_function(wrap_pyfunction!(redact_url, m)?)?;
    m.add_function(wrap_pyfunction!(load_options, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
