//! `--changes`: one NDJSON line per row a load inserted, updated or deleted, for the
//! consumers downstream of the table:
//!
//! ```json
//! {"op":"insert","key":{"id":4},"before":null,"after":{"id":4,"name":"Ada","qty":1}}
//! {"op":"update","key":{"id":1},"before":{"qty":1},"after":{"qty":10}}
//! {"op":"delete","key":{"id":2},"before":{"id":2,"name":"Bob","qty":2},"after":null}
//! ```
//!
//! An insert's `after` and a delete's `before` hold every column the load knows (the
//! input's, and the `--soft-delete` column); an update's `before` and `after` only the
//! columns that changed. A `--soft-delete` mark is a delete whose `after` is the mark.
//! Lines come grouped in the order a keyed load applies them, each group in key order:
//! updates, inserts, then deletes (SQLite's statements hand them over in that order and
//! the lines go straight into the file; PostgreSQL and MySQL read the inserts and the
//! updates mixed: the inserts wait in a file of their own until the database says the
//! updates are all in, see [`ChangeSink::done`], and are joined while it merges).
//!
//! The database hands over the rows as text ([`ChangeOp`] says which values); this
//! module writes them as JSON typed by their column: numbers as numbers, booleans as
//! booleans, the rest as strings. The lines go to a temporary file first, moved into
//! place (copied into a named pipe or a device, or to stdout) once the load has
//! committed, or rolled back for a dry run: a load that fails leaves no changes behind.

pub(crate) use crate::db::{ChangeOp, ChangeRow, ChangeSink};
use crate::error::{Error, Result};
use crate::plan::{Mark, Plan};
use crate::spec::ChangesTo;
use crate::value::SqlType;
use out::Out;
use std::io::{Seek, Write};
use std::sync::mpsc;

mod out;

/// The lines of one load, on their way to [`ChangesTo`]. The load's thread copies each
/// row's values into batches ([`Rows`]); a thread of its own writes them as JSON, so that
/// the database's next rows are read meanwhile.
pub(crate) struct ChangeLog {
    dest: Dest,
    writer: Writer,
    /// The batch being filled.
    rows: Rows,
    /// An update's changed columns, by their place among the updated ones (reused).
    changed: Vec<usize>,
    /// The rows handed over, by op (insert, update, delete), lines written or not.
    pub(crate) seen: [u64; 3],
}

/// Where the lines go once the load has committed.
enum Dest {
    /// A file, new or replaced (renamed into place: a reader never sees half of it). A
    /// symbolic link is followed: the file it names is replaced, the link stays.
    Replace(std::path::PathBuf),
    /// Something else that exists (a device such as `/dev/null`, a named pipe): written
    /// into, never replaced. Opened before the load starts (a pipe must have a reader,
    /// see [`open_into`]), written once it has committed.
    Into(std::path::PathBuf, std::fs::File),
    Stdout,
}

/// How long `--changes` waits for a process to open a named pipe for reading before
/// the load starts (then fails, nothing written).
const PIPE_READER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens a device or a named pipe for writing. A pipe nobody reads would block the
/// open forever: it is opened without blocking, retried until a reader comes (at most
/// [`PIPE_READER_WAIT`]), then switched back to blocking writes.
fn open_into(path: &std::path::Path) -> Result<std::fs::File> {
    let shown = path.display().to_string();
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        use std::os::unix::fs::OpenOptionsExt;
        let started = std::time::Instant::now();
        loop {
            let opened =
                std::fs::OpenOptions::new().write(true).custom_flags(OFlags::NONBLOCK.bits() as i32).open(path);
            match opened {
                Ok(file) => {
                    let flags = fcntl_getfl(&file).map_err(|e| io(&shown, e))?;
                    fcntl_setfl(&file, flags - OFlags::NONBLOCK).map_err(|e| io(&shown, e))?;
                    return Ok(file);
                }
                // ENXIO: a pipe with no reader yet.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
                    if started.elapsed() >= PIPE_READER_WAIT {
                        return Err(Error::Io(format!(
                            "--changes {shown}: no process opened the pipe for reading within {} s; nothing was \
                             written",
                            PIPE_READER_WAIT.as_secs()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(io(&shown, e)),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    std::fs::OpenOptions::new().write(true).open(path).map_err(|e| io(&shown, e))
}

impl Dest {
    fn of(to: &ChangesTo) -> Result<Dest> {
        let path = match to {
            ChangesTo::Stdout => return Ok(Dest::Stdout),
            ChangesTo::Path(path) => path,
        };
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() && !m.is_dir() => Ok(Dest::Into(path.clone(), open_into(path)?)),
            Ok(m) if m.is_dir() => Err(Error::Usage(format!("--changes {}: is a folder", path.display()))),
            Ok(_) => std::fs::canonicalize(path).map(Dest::Replace).map_err(|e| io(&path.display().to_string(), e)),
            Err(_) => {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                match dir.is_dir() {
                    true => Ok(Dest::Replace(path.clone())),
                    false => Err(Error::Usage(format!(
                        "--changes {}: the folder {} does not exist",
                        path.display(),
                        dir.display()
                    ))),
                }
            }
        }
    }
}

/// Rows in a batch before [`ROWS_PER_BATCH`] rows or [`BYTES_PER_BATCH`] bytes of values.
const ROWS_PER_BATCH: usize = 4096;
const BYTES_PER_BATCH: usize = 4 << 20;

enum Writer {
    /// Until the first row: the files.
    Idle(Files),
    /// The thread writing the lines, and the batches it hands back for reuse.
    Busy { tx: mpsc::SyncSender<Rows>, back: mpsc::Receiver<Rows>, thread: std::thread::JoinHandle<Result<Files>> },
    /// Its thread failed (its error told once).
    Gone,
}

/// Where an op's lines go among the groups of the file: updates, inserts, deletes.
fn group(op: ChangeOp) -> usize {
    match op {
        ChangeOp::Update => 0,
        ChangeOp::Insert => 1,
        ChangeOp::Delete => 2,
    }
}

/// Where the lines go: the file, into which a group's lines go straight once the groups
/// before it are complete, and before that into a file of their own, joined then.
struct Files {
    file: Out,
    /// Where `file` is, until it is moved into place (removed with it if it is not).
    path: tempfile::TempPath,
    /// The lines of each group (by [`group`]) that came before their turn.
    later: [Option<Out>; 3],
    /// The groups up to this one go straight into `file`.
    direct: usize,
}

impl Files {
    /// The groups before `op`'s and its own are complete: the lines of the groups after
    /// them that came early, appended in turn; from the next group on, lines go straight in.
    fn done(&mut self, op: ChangeOp) -> Result<()> {
        let next = group(op) + 1;
        if next <= self.direct {
            return Ok(());
        }
        for later in self.later[self.direct + 1..].iter_mut().take(next - self.direct).filter_map(Option::take) {
            self.file.append(later).map_err(|e| io("writing", e))?;
        }
        self.direct = next.min(self.later.len() - 1);
        Ok(())
    }

    /// Where a line of `op` goes now.
    fn of(&mut self, op: ChangeOp) -> Result<&mut dyn Write> {
        let g = group(op);
        if g <= self.direct {
            return Ok(&mut self.file);
        }
        Ok(match &mut self.later[g] {
            Some(f) => f,
            slot => slot.insert(Out::new(tempfile::tempfile().map_err(|e| io("a temporary file", e))?)),
        })
    }
}

/// What the writer needs of the plan.
struct Shape {
    /// Each plan column's name as a JSON object member's start (`"name":`).
    names: Vec<Vec<u8>>,
    types: Vec<SqlType>,
    key: Vec<usize>,
    /// A `--soft-delete` mark: its column and value.
    mark: Option<(usize, String)>,
}

/// A batch of rows' values, copied from the database's rows. Per op, the values of a row:
/// an insert's every column; an update's key, then its changed columns (listed in
/// `cols`) before, then after; a delete's every column.
#[derive(Default)]
struct Rows {
    /// Each row's op and where its changed columns and its values start.
    heads: Vec<(ChangeOp, usize, usize)>,
    cols: Vec<usize>,
    /// Each value's span in `data`, `None` for NULL.
    values: Vec<Option<(usize, usize)>>,
    data: String,
    /// The groups complete once this batch's rows were taken ([`ChangeLog::done`]).
    done: Option<ChangeOp>,
}

impl Rows {
    fn push(&mut self, v: Option<&str>) {
        self.values.push(v.map(|v| {
            let start = self.data.len();
            self.data.push_str(v);
            (start, self.data.len())
        }));
    }

    fn clear(&mut self) {
        self.heads.clear();
        self.cols.clear();
        self.values.clear();
        self.data.clear();
        self.done = None;
    }

    fn value(&self, n: usize) -> Option<&str> {
        self.values[n].map(|(a, b)| &self.data[a..b])
    }
}

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("--changes: {what}: {e}"))
}

impl ChangeLog {
    /// A temporary file beside the destination (so that it can be renamed into place),
    /// or anywhere for stdout.
    pub(crate) fn open(to: &ChangesTo) -> Result<ChangeLog> {
        let dest = Dest::of(to)?;
        let file = match &dest {
            Dest::Replace(path) => {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                temporary(dir, std::fs::metadata(path).ok()).map_err(|e| io(&path.display().to_string(), e))?
            }
            Dest::Into(..) | Dest::Stdout => {
                temporary(&std::env::temp_dir(), None).map_err(|e| io("a temporary file", e))?
            }
        };
        let (file, path) = file.into_parts();
        let files = Files { file: Out::new(file), path, later: [None, None, None], direct: 0 };
        Ok(ChangeLog { dest, writer: Writer::Idle(files), rows: Rows::default(), changed: Vec::new(), seen: [0; 3] })
    }

    /// Takes one row's line: the values of `row` laid out as [`ChangeOp`] says.
    pub(crate) fn write(&mut self, plan: &Plan, op: ChangeOp, row: &mut dyn ChangeRow) -> Result<()> {
        self.seen[op as usize] += 1;
        let n = plan.columns.len();
        let rows = &mut self.rows;
        let head = (op, rows.cols.len(), rows.values.len());
        match op {
            ChangeOp::Insert => (1..=n).for_each(|i| rows.push(row.text(i))),
            ChangeOp::Update => {
                // The updated columns the mask marks as changed.
                let mask = row.text(0).unwrap_or_default().as_bytes();
                let changed = &mut self.changed;
                changed.clear();
                changed.extend((0..plan.update.len()).filter(|&u| mask.get(u) == Some(&b'1')));
                if changed.is_empty() {
                    return Ok(());
                }
                rows.cols.extend(changed.iter().map(|&u| plan.update[u]));
                plan.key.iter().for_each(|&k| rows.push(row.text(1 + k)));
                changed.iter().for_each(|&u| rows.push(row.text(1 + n + u)));
                changed.iter().for_each(|&u| rows.push(row.text(1 + plan.update[u])));
            }
            ChangeOp::Delete => (0..n).for_each(|i| rows.push(row.text(i))),
        }
        rows.heads.push(head);
        if rows.heads.len() >= ROWS_PER_BATCH || rows.data.len() >= BYTES_PER_BATCH {
            self.send(plan)?;
        }
        Ok(())
    }

    /// Hands the batch to the writer thread (started on the first).
    fn send(&mut self, plan: &Plan) -> Result<()> {
        if let Writer::Idle(_) = self.writer {
            let Writer::Idle(files) = std::mem::replace(&mut self.writer, Writer::Gone) else { unreachable!() };
            let shape = Shape {
                names: plan.columns.iter().map(|c| member(&c.name)).collect(),
                types: plan.columns.iter().map(|c| c.ty.clone()).collect(),
                key: plan.key.clone(),
                mark: plan.soft_delete.map(|(i, mark)| match mark {
                    Mark::Flag => (i, "true".to_string()),
                    Mark::Time => (i, crate::db::sql::mark_time(plan)),
                }),
            };
            let (tx, rx) = mpsc::sync_channel::<Rows>(2);
            let (give_back, back) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name("upsertx-changes".into())
                .spawn(move || write_lines(files, &shape, rx, give_back))
                .map_err(|e| io("starting its thread", e))?;
            self.writer = Writer::Busy { tx, back, thread };
        }
        let Writer::Busy { tx, back, .. } = &self.writer else {
            return Err(io("writing", "the writer stopped"));
        };
        let next = back.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.rows, next);
        if tx.send(full).is_err() {
            // The thread ended early: its error says why.
            return Err(self.stop().err().unwrap_or_else(|| io("writing", "the writer stopped")));
        }
        Ok(())
    }

    /// Waits for the writer thread: its files, or its error.
    fn stop(&mut self) -> Result<Files> {
        match std::mem::replace(&mut self.writer, Writer::Gone) {
            Writer::Idle(files) => Ok(files),
            Writer::Busy { tx, thread, .. } => {
                drop(tx);
                thread.join().map_err(|_| io("writing", "its thread panicked"))?
            }
            Writer::Gone => Err(io("writing", "the writer stopped")),
        }
    }

    /// Every row of `op`'s group and of the groups before it is in (see [`group`]): the
    /// writer joins the lines of the next groups that came early now, while the database
    /// goes on; later lines of those groups go straight after them.
    pub(crate) fn done(&mut self, plan: &Plan, op: ChangeOp) -> Result<()> {
        self.rows.done = Some(op);
        self.send(plan)
    }

    /// Hands the rows taken so far to the writer: call once every row is in.
    pub(crate) fn flush(&mut self, plan: &Plan) -> Result<()> {
        match self.rows.heads.is_empty() {
            true => Ok(()),
            false => self.send(plan),
        }
    }

    /// Moves the lines where they belong: call after [`flush`](ChangeLog::flush), once the
    /// load has committed (or rolled back a dry run). When they cannot go there, they
    /// are kept in a file of their own if they were all written ([`NotWritten`]).
    pub(crate) fn finish(mut self) -> std::result::Result<(), NotWritten> {
        let lost = |reason: Error| NotWritten { reason: reason.to_string(), kept: None };
        let mut files = self.stop().map_err(lost)?;
        files.done(ChangeOp::Delete).map_err(lost)?;
        let mut file = files.file.finish().map_err(|e| lost(io("writing", e)))?;
        let path = files.path;
        let failed = match &mut self.dest {
            Dest::Replace(dest) => match path.persist(&*dest) {
                Ok(()) => return Ok(()),
                Err(e) => (io(&dest.display().to_string(), e.error), e.path),
            },
            Dest::Into(dest, out) => {
                // A device or a pipe stays what it is: the lines are written into it.
                match file.rewind().and_then(|_| std::io::copy(&mut file, out)) {
                    Ok(_) => return Ok(()),
                    Err(e) => (io(&dest.display().to_string(), e), path),
                }
            }
            Dest::Stdout => {
                let copied = file.rewind().and_then(|_| {
                    let mut out = std::io::stdout().lock();
                    std::io::copy(&mut file, &mut out).and_then(|_| out.flush())
                });
                match copied {
                    Ok(_) => return Ok(()),
                    Err(e) => (io("standard output", e), path),
                }
            }
        };
        let (reason, path) = failed;
        Err(NotWritten { reason: reason.to_string(), kept: self.keep(path) })
    }

    /// The complete lines' file, kept under a name that says what it is (beside the
    /// destination for a file, else in the temporary folder).
    fn keep(&self, path: tempfile::TempPath) -> Option<std::path::PathBuf> {
        let name = match &self.dest {
            Dest::Replace(dest) | Dest::Into(dest, _) => dest.file_name()?.to_string_lossy().into_owned(),
            Dest::Stdout => "stdout".into(),
        };
        let kept = path.parent()?.join(format!("{name}.upsertx-{}.ndjson", std::process::id()));
        path.persist(&kept).ok()?;
        Some(kept)
    }
}

/// The name of a change log's temporary file starts with this and the process's id.
const TEMPORARY: &str = ".upsertx-changes-";

/// A temporary file in `dir` for the lines, named [`TEMPORARY`]`<pid>-...`. Its mode is
/// the file it replaces' (`existing`), else what the umask leaves of `rw-rw-rw-`, as
/// for a file the shell creates. Files of this kind left by a process that no longer
/// runs (killed before it could remove its own) are removed first.
fn temporary(dir: &std::path::Path, existing: Option<std::fs::Metadata>) -> std::io::Result<tempfile::NamedTempFile> {
    remove_stale(dir);
    let prefix = format!("{TEMPORARY}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let file = builder.tempfile_in(dir)?;
    if let Some(m) = existing {
        file.as_file().set_permissions(m.permissions())?;
    }
    Ok(file)
}

/// Removes the temporary files of change logs (see [`temporary`]) in `dir` whose
/// process has ended: what a `kill -9`, or a signal that ended the process before it
/// could clean up, left behind.
fn remove_stale(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(TEMPORARY)).and_then(|r| r.split('-').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok_and(|pid| !running(pid)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` runs (on Linux: it has a `/proc` entry; elsewhere assumed).
fn running(pid: u32) -> bool {
    match cfg!(target_os = "linux") {
        true => pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists(),
        false => true,
    }
}

/// The change log of a committed load that could not be written where it was asked for.
#[derive(Debug)]
pub(crate) struct NotWritten {
    pub(crate) reason: String,
    /// Where its lines are, all of them, when they could be kept.
    pub(crate) kept: Option<std::path::PathBuf>,
}

/// What hands the rows a load writes to its [`ChangeLog`].
pub(crate) struct Sink<'a> {
    pub(crate) log: &'a mut ChangeLog,
    pub(crate) plan: &'a Plan,
}

impl ChangeSink for Sink<'_> {
    fn row(&mut self, op: ChangeOp, row: &mut dyn ChangeRow) -> Result<()> {
        self.log.write(self.plan, op, row)
    }

    fn done(&mut self, op: ChangeOp) -> Result<()> {
        self.log.done(self.plan, op)
    }
}

/// A load that fails drops its lines: the writer thread ends and its temporary files go
/// with it (unless joined here, a process ending right after would leave them behind).
impl Drop for ChangeLog {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The writer thread: each batch's lines into `files`, the batch handed back.
fn write_lines(mut files: Files, shape: &Shape, rx: mpsc::Receiver<Rows>, back: mpsc::Sender<Rows>) -> Result<Files> {
    let mut line = Vec::new();
    for mut rows in rx {
        for (r, &(op, c, v)) in rows.heads.iter().enumerate() {
            let c_end = rows.heads.get(r + 1).map_or(rows.cols.len(), |h| h.1);
            line.clear();
            format_line(&mut line, shape, op, &rows.cols[c..c_end], |n| rows.value(v + n));
            files.of(op)?.write_all(&line).map_err(|e| io("writing", e))?;
        }
        if let Some(op) = rows.done {
            files.done(op)?;
        }
        rows.clear();
        let _ = back.send(rows);
    }
    Ok(files)
}

/// One row's line into `line`: `cols` an update's changed columns, `value(n)` the row's
/// value `n` (see [`Rows`]).
fn format_line<'a>(
    line: &mut Vec<u8>,
    shape: &Shape,
    op: ChangeOp,
    cols: &[usize],
    value: impl Fn(usize) -> Option<&'a str>,
) {
    let all = shape.names.len();
    let every: &dyn Fn(&mut Vec<u8>) = &|line: &mut Vec<u8>| object(line, shape, 0..all, &value);
    match op {
        ChangeOp::Insert => {
            line.extend_from_slice(b"{\"op\":\"insert\",\"key\":");
            object(line, shape, shape.key.iter().copied(), &value);
            line.extend_from_slice(b",\"before\":null,\"after\":");
            every(line);
        }
        ChangeOp::Update => {
            let k = shape.key.len();
            // Key column `i` is the key's `n`-th: its value is `n`.
            line.extend_from_slice(b"{\"op\":\"update\",\"key\":");
            object(line, shape, shape.key.iter().copied(), |i| {
                value(shape.key.iter().position(|&c| c == i).unwrap_or_default())
            });
            let at = |i: usize| cols.iter().position(|&c| c == i).unwrap_or_default();
            line.extend_from_slice(b",\"before\":");
            object(line, shape, cols.iter().copied(), |i| value(k + at(i)));
            line.extend_from_slice(b",\"after\":");
            object(line, shape, cols.iter().copied(), |i| value(k + cols.len() + at(i)));
        }
        ChangeOp::Delete => {
            line.extend_from_slice(b"{\"op\":\"delete\",\"key\":");
            object(line, shape, shape.key.iter().copied(), &value);
            line.extend_from_slice(b",\"before\":");
            every(line);
            line.extend_from_slice(b",\"after\":");
            match &shape.mark {
                Some((i, mark)) => object(line, shape, [*i], |_| Some(mark)),
                None => line.extend_from_slice(b"null"),
            }
        }
    }
    line.extend_from_slice(b"}\n");
}

/// `"name":`, the start of an object member.
fn member(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    json_string(&mut out, name);
    out.push(b':');
    out
}

/// `{"a":1,"b":"x"}` of plan columns `cols`, `value(i)` the text of column `i`.
fn object<'a>(
    out: &mut Vec<u8>,
    shape: &Shape,
    cols: impl IntoIterator<Item = usize>,
    value: impl Fn(usize) -> Option<&'a str>,
) {
    out.push(b'{');
    for (n, i) in cols.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&shape.names[i]);
        json_value(out, &shape.types[i], value(i));
    }
    out.push(b'}');
}

/// A value as its column's kind reads in JSON: numbers as numbers (when the text is a
/// JSON number: not NaN or infinity), booleans as booleans, the rest as strings.
fn json_value(out: &mut Vec<u8>, ty: &SqlType, text: Option<&str>) {
    let Some(text) = text else {
        out.extend_from_slice(b"null");
        return;
    };
    match ty {
        SqlType::Boolean => match text {
            "t" | "true" | "1" => return out.extend_from_slice(b"true"),
            "f" | "false" | "0" => return out.extend_from_slice(b"false"),
            _ => {}
        },
        SqlType::Integer { .. }
        | SqlType::Unsigned { .. }
        | SqlType::Real { .. }
        | SqlType::Numeric
        | SqlType::Decimal
            if is_json_number(text) =>
        {
            return out.extend_from_slice(text.as_bytes());
        }
        _ => {}
    }
    json_string(out, text);
}

/// Whether a database's text of a number is a JSON number as it is: `-`, digits, at most
/// one `.` followed by digits, an exponent (`1e+20`). Not `NaN`, `Infinity`, `.5`, `1.`.
fn is_json_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(b);
    if n == 0 || (n > 1 && b[0] == b'0') {
        return false;
    }
    let mut rest = &b[n..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp.strip_prefix(b"+").or_else(|| exp.strip_prefix(b"-")).unwrap_or(exp);
        let n = digits(exp);
        return n > 0 && n == exp.len();
    }
    rest.is_empty()
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Most values need no escape: copied as they are.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::is_json_number;

    #[test]
    fn json_strings_escape_what_json_needs() {
        for s in ["plain", "", "é ü 東京", "a\"b", "back\\slash", "tab\there", "nl\n", "\u{1}"] {
            let mut out = Vec::new();
            super::json_string(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn json_numbers_as_databases_print_them() {
        for s in ["0", "-1", "1.50", "12345678901234567890.123", "1e+20", "-2.5E-3", "0.1"] {
            assert!(is_json_number(s), "{s}");
            assert!(serde_json::from_str::<serde_json::Number>(s).is_ok(), "{s}");
        }
        for s in ["", "-", "NaN", "Infinity", "-Infinity", ".5", "1.", "01", "1e", "1e+", "0x10", "1 ", "+1"] {
            assert!(!is_json_number(s), "{s}");
        }
    }
}
