//! `--changes` for PostgreSQL: before the merge, the table's rows the input's keys match
//! are copied (`FOR UPDATE`, in key order, so nothing else changes them until commit) into
//! an indexed temporary table; the rows to delete are copied the same way before the
//! deletion (`delete.rs`); after both, three reads: the de-duplicated input's rows whose
//! key was not in the table, the copied rows beside the table's rows now, and the deleted
//! ones. Locking the matched rows and then inserting the new ones are two phases, so
//! such loads into one table take turns (`merge::take_turn`).

use super::merge::{source, source_value, take_turn, will_change};
use super::stage::{KeyOrder, SRC, STAGE};
use super::{message, q};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::sql::{self, list, stage_col, BEFORE, DELETED};
use crate::target::{ChangeOp, ChangeSink};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

fn before() -> String {
    format!("pg_temp.{BEFORE}")
}

pub(super) fn deleted() -> String {
    format!("pg_temp.{DELETED}")
}

fn text(e: String) -> String {
    format!("({e})::text")
}

pub(crate) fn prepare(client: &mut Client, plan: &Plan, target: &str, order: &mut KeyOrder) -> Result<()> {
    let ctx = "recording the rows before the load (--changes)";
    take_turn(client, target, ctx)?;
    let (src, _) = source(client, plan, order)?;
    let mut sql = format!("DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};", before(), deleted());
    if !plan.keyless() {
        // The rows to update locked (in key order), typed as the table's.
        let changes = will_change(plan).unwrap_or_else(|| "FALSE".into());
        let changing = sql::changing_select(plan, q, target, src, &changes);
        let new_keys = sql::new_keys_select(plan, q, target, src, |i| source_value(plan, i));
        let keys = list(&plan.key, stage_col, ", ");
        sql += &format!(
            "CREATE TEMP TABLE {BEFORE} ON COMMIT DROP AS {changing} FOR UPDATE OF t;
             INSERT INTO {b} {new_keys}; CREATE UNIQUE INDEX ON {b} ({keys}); ANALYZE {b};",
            b = before()
        );
    }
    client.batch_execute(&sql).map_err(|e| Error::db(ctx, message(&e)))
}

/// The statement that copies the rows `cond` finds (the ones to delete), locked in key
/// order.
pub(super) fn copy_deleted(plan: &Plan, target: &str, cond: &str) -> String {
    format!(
        "CREATE TEMP TABLE {DELETED} ON COMMIT DROP AS {} FOR UPDATE OF t",
        sql::deleted_select(plan, q, target, cond)
    )
}

pub(crate) fn read(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &KeyOrder,
    sink: &mut ChangeSink<'_>,
) -> Result<()> {
    // The de-duplicated input: see `merge.rs` (a keyless load stages every row).
    let src = if order.sorted || plan.keyless() { STAGE } else { SRC };
    let mut reads = vec![(ChangeOp::Insert, sql::inserted_read(plan, src, &before(), |i| source_value(plan, i), text))];
    if !plan.keyless() {
        reads.push((ChangeOp::Update, sql::updated_read(plan, q, target, &before(), text)));
    }
    if plan.spec.deletes() {
        reads.push((ChangeOp::Delete, sql::deleted_read(plan, &deleted(), text)));
    }
    let db = |e: postgres::Error| Error::db("reading the changes (--changes)", message(&e));
    for (op, sql) in reads {
        crate::trace::trace(&format!("changes: reading {op:?}"));
        let mut rows = client.query_raw(sql.as_str(), std::iter::empty::<i32>()).map_err(db)?;
        let mut values = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            values.clear();
            for i in 0..row.len() {
                values.push(row.get::<_, Option<String>>(i));
            }
            sink(op, &values)?;
        }
    }
    Ok(())
}
