//! `--changes` for SQLite: the rows the input's keys match copied (indexed by key) before
//! the merge, the rows to delete copied before the deletion (`delete.rs`), then three
//! reads: the staged rows whose key was not in the table, the copied rows beside the
//! table's rows now, and the deleted ones. The load holds the database's write lock
//! throughout: nothing else changes the rows in between.

use super::merge::target;
use super::q;
use super::stage::STAGE;
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
        let select = sql::before_select(plan, q, &target(plan), STAGE, true);
        let keys = list(&plan.key, stage_col, ", ");
        sql += &format!("CREATE TABLE {} AS {select}; CREATE INDEX {}_k ON {BEFORE} ({keys});", before(), before());
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
        let mut stmt = conn.prepare(&sql).map_err(db)?;
        let n = stmt.column_count();
        let mut rows = stmt.query([]).map_err(db)?;
        let mut values = Vec::with_capacity(n);
        while let Some(row) = rows.next().map_err(db)? {
            values.clear();
            for i in 0..n {
                values.push(text(row.get_ref(i).map_err(db)?));
            }
            sink(op, &values)?;
        }
    }
    Ok(())
}

/// A value as text: numbers as SQLite prints them, blobs as `\x` and hex.
fn text(v: ValueRef<'_>) -> Option<String> {
    Some(match v {
        ValueRef::Null => return None,
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => crate::value::blob_text(b),
    })
}
