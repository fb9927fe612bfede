//! `--changes` for SQLite. The statements that write the rows hand them over themselves:
//! each calls the SQL function [`TOLD`] on every row it writes, with the row's values (the
//! table's, before the write, beside the staged ones), so the join the merge makes anyway
//! is the only one (see [`telling`]). Where that cannot be, a statement of its own reads
//! the rows first, under the write lock the load holds from its start, so nothing else
//! changes them in between: the merge's rows without a key or under `--history`
//! (`sql::written_select`), rows too wide for a function call, and deletions from a table
//! whose scan is not in key order (`delete.rs`).

use super::sql::q;
use super::sql::{column_differs, target, will_change};
use super::stage::STAGE;
use crate::db::sql::{self, stage_col};
use crate::db::{tell_written, ChangeOp, ChangeRow, ChangeSink};
use crate::error::{Error, Result};
use crate::plan::Plan;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use std::sync::{mpsc, Arc, Mutex};

/// The SQL function a statement calls on each row it writes: `upsertx_told(op, v1, v2,
/// ...)`, `op` the row's [`ChangeOp`] (as a number), then its values as that op lays
/// them out. It returns 1.
const TOLD: &str = "upsertx_told";

/// Columns per integer of an update's change mask: an update's values start with how
/// many integers its mask takes, then the integers (bit `b` of the `n`-th: update column
/// `n * MASK_BITS + b` changes), made the text mask of [`ChangeOp::Update`] here.
pub(super) const MASK_BITS: usize = 62;

/// `upsertx_told(op, values...)` as SQL, when a function call takes that many values.
pub(super) fn told(conn: &rusqlite::Connection, op: ChangeOp, values: &[String]) -> Option<String> {
    let most = conn.limit(rusqlite::limits::Limit::SQLITE_LIMIT_FUNCTION_ARG).unwrap_or(0);
    (values.len() < most as usize).then(|| format!("{TOLD}({}, {})", op as u8, values.join(", ")))
}

pub(crate) fn tell(conn: &rusqlite::Connection, plan: &Plan, sink: &mut dyn ChangeSink) -> Result<()> {
    let sql = sql::written_select(
        plan,
        q,
        &target(plan),
        STAGE,
        |i| format!("s.{}", stage_col(i)),
        |i| column_differs(plan, i),
        sql::concat_pipes,
        will_change(plan).as_deref(),
        |_, e| e,
    );
    let mut told = crate::db::Told::default();
    read_rows(conn, &sql, "reading the rows the load writes (--changes)", |row| tell_written(sink, row, &mut told))
}

/// Runs `sql` and hands `each` its rows one at a time.
pub(super) fn read_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    ctx: &str,
    mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
) -> Result<()> {
    let db = |e| Error::db(ctx, e);
    let mut stmt = conn.prepare(sql).map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    // One buffer for the values that need formatting, reused.
    let mut buf = String::new();
    while let Some(row) = rows.next().map_err(db)? {
        each(&mut Row { row, buf: &mut buf })?;
    }
    Ok(())
}

/// A row of SQLite's, its values as text: numbers as SQLite prints them, blobs as `\x`
/// and hex, text as it is.
struct Row<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    buf: &'a mut String,
}

impl ChangeRow for Row<'_, '_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        value_text(self.row.get_ref(i).ok()?, self.buf)
    }
}

/// A value of SQLite's as text: numbers as SQLite prints them, blobs as `\x` and hex,
/// text as it is; `buf` holds what had to be made. `None` for NULL.
fn value_text<'a>(v: ValueRef<'a>, buf: &'a mut String) -> Option<&'a str> {
    use std::fmt::Write;
    buf.clear();
    match v {
        ValueRef::Null => return None,
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => return Some(s),
            Err(_) => buf.push_str(&String::from_utf8_lossy(t)),
        },
        ValueRef::Integer(n) => buf.push_str(itoa::Buffer::new().format(n)),
        ValueRef::Real(f) => write!(buf, "{f}").unwrap_or_default(),
        ValueRef::Blob(b) => buf.push_str(&crate::value::blob_text(b)),
    }
    Some(buf)
}

/// Rows [`TOLD`] took, on their way to the sink: their values as SQLite has them, made
/// text on the sink's side, so the statement's thread only copies them.
#[derive(Default)]
struct Told {
    /// Each row's op and where its values start.
    rows: Vec<(ChangeOp, usize)>,
    values: Vec<Taken>,
    /// The bytes of text and blob values.
    data: Vec<u8>,
}

/// A value [`TOLD`] took: text and blobs as their span in [`Told::data`].
#[derive(Clone, Copy)]
enum Taken {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

/// Rows per batch handed from the statement's thread to the sink's.
const TOLD_ROWS: usize = 4096;

impl Told {
    fn take(&mut self, ctx: &rusqlite::functions::Context<'_>) {
        let op = match ctx.get_raw(0) {
            ValueRef::Integer(0) => ChangeOp::Insert,
            ValueRef::Integer(1) => ChangeOp::Update,
            _ => ChangeOp::Delete,
        };
        self.rows.push((op, self.values.len()));
        let mut first = 1;
        if op == ChangeOp::Update {
            let masks = match ctx.get_raw(1) {
                ValueRef::Integer(n) => n.max(0) as usize,
                _ => 0,
            };
            let start = self.data.len();
            for m in 2..2 + masks {
                let bits = match ctx.get_raw(m) {
                    ValueRef::Integer(n) => n,
                    _ => 0,
                };
                self.data.extend((0..MASK_BITS).map(|b| if bits >> b & 1 == 1 { b'1' } else { b'0' }));
            }
            self.values.push(Taken::Text(start, self.data.len()));
            first = 2 + masks;
        }
        for i in first..ctx.len() {
            let mut bytes = |b: &[u8]| {
                self.data.extend_from_slice(b);
                (self.data.len() - b.len(), self.data.len())
            };
            let v = match ctx.get_raw(i) {
                ValueRef::Null => Taken::Null,
                ValueRef::Integer(n) => Taken::Integer(n),
                ValueRef::Real(f) => Taken::Real(f),
                ValueRef::Text(t) => {
                    let (a, z) = bytes(t);
                    Taken::Text(a, z)
                }
                ValueRef::Blob(b) => {
                    let (a, z) = bytes(b);
                    Taken::Blob(a, z)
                }
            };
            self.values.push(v);
        }
    }
}

/// Row `row` of a [`Told`] batch; `buf` holds a value made text.
struct ToldRow<'a> {
    told: &'a Told,
    row: usize,
    buf: &'a mut String,
}

impl ChangeRow for ToldRow<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        let told = self.told;
        let start = told.rows[self.row].1;
        let end = told.rows.get(self.row + 1).map_or(told.values.len(), |r| r.1);
        let v = match *told.values[start..end].get(i)? {
            Taken::Null => ValueRef::Null,
            Taken::Integer(n) => ValueRef::Integer(n),
            Taken::Real(f) => ValueRef::Real(f),
            Taken::Text(a, z) => ValueRef::Text(&told.data[a..z]),
            Taken::Blob(a, z) => ValueRef::Blob(&told.data[a..z]),
        };
        value_text(v, self.buf)
    }
}

/// Runs `sql`, a statement that calls [`TOLD`] on each row it writes, on a thread of its
/// own, while this one hands `sink` the rows it tells. The outer error is the sink's (the
/// statement then stops), the inner one the statement's, for the caller to explain.
pub(super) fn telling(
    conn: &mut rusqlite::Connection,
    sql: &str,
    params: Vec<String>,
    sink: &mut dyn ChangeSink,
) -> Result<rusqlite::Result<usize>> {
    let (tx, rx) = mpsc::sync_channel::<Told>(4);
    let taking: Arc<Taking> = Arc::new(Mutex::new((Told::default(), Some(tx))));
    let ran = std::thread::scope(|s| {
        let (conn, taking, params) = (&mut *conn, &taking, &params);
        let run = s.spawn(move || {
            // However the thread ends, the rows in hand go, then the end of the rows, so
            // that the loop below ends.
            let _end = EndOfRows(taking);
            let state = Arc::clone(taking);
            conn.create_scalar_function(
                TOLD,
                -1,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                move |ctx| {
                    let mut guard = state.lock().map_err(|_| stopped())?;
                    let (told, tx) = &mut *guard;
                    told.take(ctx);
                    if told.rows.len() >= TOLD_ROWS {
                        let full = std::mem::take(told);
                        tx.as_ref().ok_or_else(stopped)?.send(full).map_err(|_| stopped())?;
                    }
                    Ok(1)
                },
            )?;
            let done = conn.execute(sql, rusqlite::params_from_iter(params));
            conn.remove_function(TOLD, -1)?;
            done
        });
        let (mut failed, mut buf) = (None, String::new());
        'rows: for told in rx.iter() {
            for row in 0..told.rows.len() {
                if let Err(e) = sink.row(told.rows[row].0, &mut ToldRow { told: &told, row, buf: &mut buf }) {
                    failed = Some(e);
                    break 'rows;
                }
            }
        }
        // Dropping the receiver stops the statement at its next row, if it still runs.
        drop(rx);
        (failed, run.join())
    });
    match ran {
        (Some(e), _) => Err(e),
        (None, Ok(done)) => Ok(done),
        (None, Err(_)) => Err(Error::Io("--changes: the statement's thread panicked".into())),
    }
}

/// What [`TOLD`] takes its rows into, and where it sends them.
type Taking = Mutex<(Told, Option<mpsc::SyncSender<Told>>)>;

/// Sends the rows still in hand and ends the rows, when dropped.
struct EndOfRows<'a>(&'a Taking);

impl Drop for EndOfRows<'_> {
    fn drop(&mut self) {
        let mut guard = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (told, tx) = &mut *guard;
        if let Some(tx) = tx.take() {
            let _ = tx.send(std::mem::take(told));
        }
    }
}

/// The error that stops a statement whose rows nobody takes any more.
fn stopped() -> rusqlite::Error {
    rusqlite::Error::UserFunctionError("--changes: the rows are no longer taken".into())
}
