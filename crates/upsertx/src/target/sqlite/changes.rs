//! `--changes` for SQLite: the rows the input's keys match copied (indexed by key) before
//! the merge, the rows to delete copied before the deletion (`delete.rs`), then three
//! reads: the staged rows whose key was not in the table, the copied rows beside the
//! table's rows now, and the deleted ones. The load holds the database's write lock
//! throughout: nothing else changes the rows in between.

use super::merge::{target, will_change};
use super::q;
use super::stage::{column_def, STAGE};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::sql::{self, list, stage_col, BEFORE, DELETED};
use crate::target::{ChangeOp, ChangeSink};
use rusqlite::types::ValueRef;

fn before() -> String {
    format!("temp.{BEFORE}")
}

pub(super) fn deleted() -> String {
    format!("temp.{DELETED}")
}

pub(crate) fn prepare(conn: &rusqlite::Connection, plan: &Plan) -> Result<()> {
    let mut sql = format!("DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};", before(), deleted());
    if !plan.keyless() {
        // Keyed like the stage, and filled in key order.
        let defs = list(&sql::before_columns(plan), |i| column_def(plan, i), ", ");
        let keys = list(&plan.key, stage_col, ", ");
        let (b, t) = (before(), target(plan));
        sql += &format!("CREATE TABLE {b} (existed INTEGER NOT NULL, {defs}, PRIMARY KEY ({keys})) WITHOUT ROWID;");
        if let Some(changes) = will_change(plan) {
            sql += &format!("INSERT INTO {b} {};", sql::changing_select(plan, q, &t, STAGE, &changes));
        }
        sql += &format!(
            "INSERT INTO {b} {};",
            sql::new_keys_select(plan, q, &t, STAGE, |i| format!("s.{}", stage_col(i)))
        );
    }
    conn.execute_batch(&sql).map_err(|e| Error::db("recording the rows before the load (--changes)", e))
}

pub(crate) fn read(conn: &rusqlite::Connection, plan: &Plan, sink: &mut ChangeSink<'_>) -> Result<()> {
    let as_is = |e: String| e;
    let mut reads =
        vec![(ChangeOp::Insert, sql::inserted_read(plan, STAGE, &before(), |i| format!("s.{}", stage_col(i)), as_is))];
    if !plan.keyless() {
        reads.push((ChangeOp::Update, sql::updated_read(plan, q, &target(plan), &before(), as_is)));
    }
    if plan.spec.deletes() {
        reads.push((ChangeOp::Delete, sql::deleted_read(plan, &deleted(), as_is)));
    }
    let db = |e| Error::db("reading the changes (--changes)", e);
    for (op, sql) in reads {
        crate::trace::trace(&format!("changes: reading {op:?}"));
        let mut stmt = conn.prepare(&sql).map_err(db)?;
        let n = stmt.column_count();
        let mut rows = stmt.query([]).map_err(db)?;
        // One buffer per column, reused row after row.
        let mut values: Vec<Option<String>> = vec![None; n];
        while let Some(row) = rows.next().map_err(db)? {
            for (i, value) in values.iter_mut().enumerate() {
                text(value, row.get_ref(i).map_err(db)?);
            }
            sink(op, &values)?;
        }
    }
    Ok(())
}

/// A value as text into `out` (`None` for NULL): numbers as SQLite prints them, blobs as
/// `\x` and hex.
fn text(out: &mut Option<String>, v: ValueRef<'_>) {
    use std::fmt::Write;
    let s = match v {
        ValueRef::Null => return *out = None,
        _ => out.get_or_insert_with(String::new),
    };
    s.clear();
    match v {
        ValueRef::Integer(n) => write!(s, "{n}").unwrap_or_default(),
        ValueRef::Real(f) => write!(s, "{f}").unwrap_or_default(),
        ValueRef::Text(t) => s.push_str(&String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => s.push_str(&crate::value::blob_text(b)),
        ValueRef::Null => {}
    }
}
