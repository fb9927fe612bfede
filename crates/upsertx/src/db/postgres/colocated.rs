//! `--colocated-stage` (Citus): the input staged in an unlogged table distributed like the
//! target (by the same column, into the same shards), so that the merge is one `INSERT ...
//! SELECT ... ON CONFLICT` per shard, run by the workers in parallel, instead of one pulled
//! through the coordinator from a temporary table.
//!
//! - **The stage** is created in the load's transaction (`CREATE UNLOGGED TABLE` in the
//!   target's schema, named after the session, then `create_distributed_table(...,
//!   colocate_with => target)`), filled by the same binary COPY as the temporary stage
//!   (the coordinator routes each row to its shard), and dropped before commit. A load
//!   that fails or is killed rolls its creation back with everything else: no stage is
//!   left behind (a killed coordinator session's transaction is aborted, and Citus
//!   recovers the workers' side).
//! - **Counts** by the statement's own row count, split by the existing keys counted
//!   before it, with the table locked against other writers (`SHARE ROW EXCLUSIVE`) until
//!   commit: a shard-local join (`... LEFT JOIN target ON key`), where the temporary
//!   stage needs `RETURNING` through the coordinator.
//! - **De-duplication** in the merge's own `SELECT DISTINCT ON (key) ... ORDER BY key, ord
//!   DESC`, which the workers run shard by shard (the key includes the distribution column).
//!
//! For plain upserts into a table distributed by a column: not with `--changes`,
//! `--history`, deletes, `--newer-by`, `--on-conflict error`, `--duplicates error`, nor
//! when the merge must update before it inserts; those loads use the temporary stage.

use super::citus::Placement;
use super::copy::Kind;
use super::merge;
use super::session::message;
use super::sql::q;
use super::stage::{native, KeyOrder};
use crate::db::sql::{self, list, stage_col};
use crate::db::MergeCounts;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::spec::{Duplicates, OnConflict};
use postgres::Client;

/// The stage column the co-located stage is distributed by, when the load asked for it and
/// can take it: the distribution column is one of the input's, sent in its own type.
pub(crate) fn column(plan: &Plan, placement: &Placement) -> Option<String> {
    let by = placement.column()?;
    let simple = plan.spec.colocated_stage
        && !plan.keyless()
        && plan.history.is_none()
        && plan.spec.changes.is_none()
        && !plan.spec.deletes()
        && plan.newer_by.is_none()
        && plan.spec.on_conflict != OnConflict::Error
        && plan.spec.duplicates != Duplicates::Error
        && plan.key_constraint.predicate.is_none()
        && plan.missing_required().is_none()
        && !plan.leaves_out_a_sequence();
    let i = plan.key.iter().copied().find(|&i| plan.columns[i].name == by)?;
    (simple && Kind::of(native(plan, i)) != Kind::AsText).then(|| stage_col(i))
}

/// Creates the co-located stage in `schema` and returns its name, qualified and quoted.
pub(crate) fn create(client: &mut Client, plan: &Plan, (schema, target): (&str, &str), by: &str) -> Result<String> {
    let fail = |e: postgres::Error| Error::db("creating the co-located staging table (--colocated-stage)", message(&e));
    let pid: i32 = client.query_one("SELECT pg_backend_pid()", &[]).map_err(fail)?.get(0);
    let name = format!("{}.{}", q(schema), q(&format!("upsertx_stage_{pid}")));
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {name}; CREATE UNLOGGED TABLE {name} (ord bigint NOT NULL, {})",
            super::stage::stage_columns(plan)
        ))
        .map_err(fail)?;
    client
        .execute("SELECT create_distributed_table($1::text::regclass, $2, colocate_with => $3)", &[&name, &by, &target])
        .map_err(fail)?;
    Ok(name)
}

/// Merges the co-located `stage` into `target` (see the module's docs), and drops it.
pub(crate) fn merge(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    stage: &str,
    order: &KeyOrder,
) -> Result<MergeCounts> {
    let ctx = format!("merging into table {}", q(&plan.table.name));
    let fail = |e: postgres::Error| Error::db(&ctx, message(&e));
    let keys = list(&plan.key, stage_col, ", ");
    let direction = if plan.spec.duplicates == Duplicates::First { "ASC" } else { "DESC" };
    let src = match order.sorted {
        true => stage.to_string(),
        false => format!("(SELECT DISTINCT ON ({keys}) * FROM {stage} ORDER BY {keys}, ord {direction})"),
    };
    // Keys that arrived strictly increasing are distinct already: only the existing ones
    // are counted, by an inner join (half the time of the outer join on distinct keys).
    let counted = match order.sorted {
        true => format!("SELECT {}::int8, count(*) FROM {stage} AS s JOIN {target} AS t ON {}", order.rows, sql::key_match(plan, q)),
        false => format!(
            "SELECT count(*), count(t.{}) FROM (SELECT DISTINCT {keys} FROM {stage}) AS s LEFT JOIN {target} AS t ON {}",
            q(&plan.columns[plan.key[0]].name),
            sql::key_match(plan, q)
        ),
    };
    client.batch_execute(&format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")).map_err(fail)?;
    let row = client.query_one(&counted, &[]).map_err(fail)?;
    let (staged, existing) = (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
    crate::trace::trace("counted the existing keys (co-located)");
    let insert = merge::insert_sql(plan, target, &src);
    let written = client.execute(&insert, &[]).map_err(fail)?;
    crate::trace::trace("merged (on the workers)");
    client.batch_execute(&format!("DROP TABLE {stage}")).map_err(fail)?;
    let inserted = staged - existing;
    let updated = written.saturating_sub(inserted);
    Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, updated))
}
