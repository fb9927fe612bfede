//! `--delete-missing` for PostgreSQL: the scope's values copied from the stage (before
//! the merge drops it), then one `DELETE` of the rows a sub-select finds missing from
//! the de-duplicated input and locks in key order (`ORDER BY key FOR UPDATE`), so two
//! loads deleting overlapping rows wait for each other instead of deadlocking.

use super::changes;
use super::citus::{ctes, dml_ctes, with_clause, Placement};
use super::merge::{source_value, take_turn};
use super::session::message;
use super::sql::q;
use super::stage::{KeyOrder, SRC, STAGE};
use crate::db::sql::{self, list, SCOPE};
use crate::db::{history, ChangeOp, ChangeSink};
use crate::error::{Error, Result};
use crate::plan::{Mark, Plan};
use postgres::Client;

fn scope_table() -> String {
    format!("pg_temp.{SCOPE}")
}

/// Before the merge: the load's turn (see `merge::take_turn`: the merge then the delete
/// lock rows in two key-ordered phases), the `--replace-where` check, the scope's values.
pub(crate) fn prepare(client: &mut Client, plan: &Plan, target: &str) -> Result<()> {
    take_turn(client, target, &format!("deleting the missing rows of table {}", q(&plan.table.name)))?;
    if let Some(check) = sql::first_outside(plan, q, STAGE, |i| source_value(plan, i)) {
        match client.query_opt(&check, &[]) {
            Ok(Some(r)) => return Err(plan.outside_replace_where(Some(r.get::<_, i64>(0) as u64), None)),
            Ok(None) => {}
            Err(e) => return Err(plan.outside_replace_where(None, Some(message(&e)))),
        }
    }
    let scope = scope_table();
    let mut sql = format!("DROP TABLE IF EXISTS {scope};");
    if !plan.scope.is_empty() {
        let select = sql::scope_select(plan, STAGE, |i| source_value(plan, i));
        sql += &format!("CREATE TEMP TABLE {SCOPE} ON COMMIT DROP AS {select}; ANALYZE {scope};");
    }
    client.batch_execute(&sql).map_err(|e| Error::db("recording the delete scope", message(&e)))
}

/// The scope's values as the statements read them: the temporary table, or on Citus
/// its CTE (then also in `with`).
fn scope_source(plan: &Plan, citus: bool, with: &mut Vec<(&'static str, String)>) -> String {
    if !citus || plan.scope.is_empty() {
        return scope_table();
    }
    with.push(("upsertx_scope", format!("SELECT * FROM {}", scope_table())));
    "upsertx_scope".into()
}

pub(crate) fn count_in_scope(client: &mut Client, plan: &Plan, target: &str, citus: bool) -> Result<u64> {
    let mut with = Vec::new();
    let scope = scope_source(plan, citus, &mut with);
    let sql = format!(
        "{}SELECT count(*) FROM {target} AS t WHERE {}",
        with_clause(&ctes(&with)),
        sql::in_scope(plan, q, "t", &scope, sql::equals)
    );
    client
        .query_one(&sql, &[])
        .map(|r| r.get::<_, i64>(0) as u64)
        .map_err(|e| Error::db(format!("counting the rows of table {} in scope", q(&plan.table.name)), message(&e)))
}

/// Deletes the missing rows, or marks them (`--soft-delete`). After the merge, the
/// input's keys are in the de-duplicated source, or still in the stage when they
/// arrived in key order (see `merge.rs`).
pub(crate) fn delete_missing(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &KeyOrder,
    tell: Option<&mut dyn ChangeSink>,
    placement: &Placement,
) -> Result<u64> {
    let citus = placement.citus();
    let mut src = if order.sorted { STAGE } else { SRC };
    let mut with = Vec::new();
    let scope = scope_source(plan, citus, &mut with);
    if citus && !plan.keyless() {
        let keys = list(&plan.key, sql::stage_col, ", ");
        with.push(("upsertx_keys", format!("SELECT {keys} FROM {src}")));
        src = "upsertx_keys";
    }
    let time = plan.soft_delete.map(|(i, _)| super::merge::time_param(plan, i));
    // Without a key there is no key order to lock in: the window goes in one statement
    // (loads that delete take turns, see `prepare`), on the table's own alias `t`.
    let alias = if plan.keyless() { "t" } else { "d" };
    let (verb, from, what) = match sql::soft_set(plan, q, time.as_deref().unwrap_or_default()) {
        Some(set) => (format!("UPDATE {target} AS {alias} SET {set}"), "FROM", "marking"),
        None => (format!("DELETE FROM {target} AS {alias}"), "USING", "deleting"),
    };
    let doomed = format!(
        "{} AND {}",
        sql::in_scope(plan, q, "t", &scope, sql::equals),
        sql::missing(plan, q, "t", src, |i| source_value(plan, i), sql::equals)
    );
    let ctx = format!("{what} the missing rows of table {}", q(&plan.table.name));
    let failed = |e: postgres::Error| Error::db(&ctx, message(&e));
    let defs = dml_ctes(client, placement, &with).map_err(failed)?;
    let with = with_clause(&defs);
    let mark = sql::mark_time(plan);
    let params: &[&(dyn postgres::types::ToSql + Sync)] = match plan.soft_delete {
        Some((_, Mark::Time)) => &[&mark],
        _ => &[],
    };
    if plan.keyless() {
        if let Some(tell) = tell {
            let sql = with.clone() + &sql::deleted_select(plan, q, target, &doomed, |_, e| super::sql::text(e));
            changes::read_rows(client, &sql, &[], "reading the rows to delete (--changes)", |row| {
                tell.row(ChangeOp::Delete, row)
            })?;
        }
        return client.execute(&format!("{with}{verb} WHERE {doomed}"), params).map_err(failed);
    }
    let guards = plan.history.map(|h| {
        history::delete_guards(plan, h, q, target, &doomed, time.as_deref().unwrap_or_default(), super::sql::text)
    });
    let mut instant = false;
    if let Some(g) = &guards {
        let row = client.query_opt(&format!("{with}{}", g.latest), params).map_err(failed)?;
        instant = history::check_latest(plan, row.map(|r| (0..r.len()).map(|i| r.get(i)).collect()))?;
    }
    let col = |i: usize| q(&plan.columns[i].name);
    // The rows found, locked in key order: their keys, or every column under `--changes`
    // and `--soft-delete` (a mark returns the marked row: its values before come from
    // here). A deletion returns the deleted row itself (`d`), which costs less.
    let whole = tell.is_some() && plan.soft_delete.is_some();
    let found = match whole {
        true => list(&plan.all_columns(), |i| format!("t.{}", col(i)), ", "),
        false => list(&plan.key, |i| format!("t.{}", col(i)), ", "),
    };
    let before = if whole { "x" } else { alias };
    // The rows found by their key, and of those only the ones not marked yet: under
    // `--history` the key is the entity's, and its closed versions are never touched.
    let marked_only = sql::unmarked(plan, q, alias).map(|c| format!(" AND {c}")).unwrap_or_default();
    let sql = format!(
        "{verb} {from} (SELECT {found} FROM {target} AS t WHERE {doomed}
           ORDER BY {tkeys}{lock}) AS x WHERE {matched}",
        tkeys = list(&plan.key, |i| format!("t.{}", col(i)), ", "),
        // Citus locks no row of a multi-shard read: the loads that delete take turns
        // (`prepare`), and its own deadlock detection covers the rest.
        lock = if citus { "" } else { " FOR UPDATE OF t" },
        matched = list(&plan.key, |i| format!("{alias}.{c} = x.{c}", c = col(i)), " AND ") + &marked_only,
    );
    let deleted = match tell {
        None => client.execute(&format!("{with}{sql}"), params).map_err(failed)?,
        Some(tell) => tell_and_delete(client, plan, (&defs, &sql), before, params, tell, &ctx)?,
    };
    if let Some(g) = guards.as_ref().filter(|_| instant) {
        client.execute(&format!("DELETE FROM {target} AS t WHERE {}", g.instant), params).map_err(failed)?;
    }
    Ok(deleted)
}

/// The keyed deletion `sql` under `--changes`: each row told as it was (`before`, the
/// alias its values come from), in key order.
fn tell_and_delete(
    client: &mut Client,
    plan: &Plan,
    (defs, sql): (&[String], &str),
    before: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    tell: &mut dyn ChangeSink,
    ctx: &str,
) -> Result<u64> {
    let col = |i: usize| q(&plan.columns[i].name);
    // The statement hands the rows back as it found them, then in key order; they are
    // written as text outside it (Citus allows no function in RETURNING that is not
    // immutable, and a timestamp's text depends on the session).
    let columns = plan.all_columns();
    let returned = list(&columns, |i| format!("{before}.{} AS upsertx_v{i}", col(i)), ", ");
    let told = list(&columns, |i| super::sql::text(format!("upsertx_v{i}")), ", ");
    let keys = list(&plan.key, |i| format!("x.{} AS upsertx_k{i}", col(i)), ", ");
    // The CTEs Citus needs (`defs`, see `citus::ctes`) come first, beside `gone`.
    let mut all = defs.to_vec();
    all.push(format!("gone AS ({sql} RETURNING {returned}, {keys})"));
    let sql = format!(
        "{}SELECT {told} FROM gone ORDER BY {}",
        with_clause(&all),
        list(&plan.key, |i| format!("upsertx_k{i}"), ", ")
    );
    let mut deleted = 0;
    changes::read_rows(client, &sql, params, ctx, |row| {
        deleted += 1;
        tell.row(ChangeOp::Delete, row)
    })?;
    Ok(deleted)
}
