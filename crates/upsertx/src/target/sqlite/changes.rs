//! `--changes` for SQLite: before the merge, one pass over the stage joined with the
//! table reads the rows the merge will insert or update (`sql::written_select`); the rows
//! to delete are read just before the deletion (`delete.rs`). The load holds the
//! database's write lock throughout: nothing else changes those rows in between.

use super::merge::{column_differs, target, will_change};
use super::q;
use super::stage::STAGE;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::sql::{self, stage_col};
use crate::target::{tell_written, ChangeRow, ChangeSink};
use rusqlite::types::ValueRef;

pub(crate) fn tell(conn: &rusqlite::Connection, plan: &Plan, sink: &mut ChangeSink<'_>) -> Result<()> {
    let sql = sql::written_select(
        plan,
        q,
        &target(plan),
        STAGE,
        |i| format!("s.{}", stage_col(i)),
        |i| column_differs(plan, i),
        sql::concat_pipes,
        will_change(plan).as_deref(),
        |e| e,
        false,
    );
    read_rows(conn, &sql, "reading the rows the load writes (--changes)", |row| tell_written(sink, row))
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
        use std::fmt::Write;
        let v = self.row.get_ref(i).ok()?;
        self.buf.clear();
        match v {
            ValueRef::Null => return None,
            ValueRef::Text(t) => match std::str::from_utf8(t) {
                Ok(s) => return Some(s),
                Err(_) => self.buf.push_str(&String::from_utf8_lossy(t)),
            },
            ValueRef::Integer(n) => self.buf.push_str(itoa::Buffer::new().format(n)),
            ValueRef::Real(f) => write!(self.buf, "{f}").unwrap_or_default(),
            ValueRef::Blob(b) => self.buf.push_str(&crate::value::blob_text(b)),
        }
        Some(self.buf)
    }
}
