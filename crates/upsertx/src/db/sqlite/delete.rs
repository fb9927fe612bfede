//! `--delete-missing` for SQLite: the scope's values copied from the stage into an
//! indexed temporary table, then one `DELETE ... WHERE NOT EXISTS (key in stage)`. The
//! load holds the database's write lock from its start, so the order rows are deleted
//! in cannot deadlock with anyone.

use super::changes::told;
use super::sql::{q, staged_side, target};
use super::stage::STAGE;
use crate::db::sql::{self, list, stage_col, SCOPE};
use crate::db::{history, ChangeOp, ChangeSink};
use crate::error::{Error, Result};
use crate::plan::{Mark, Plan};
use rusqlite::OptionalExtension;

fn scope_table() -> String {
    format!("temp.{SCOPE}")
}

pub(crate) fn prepare(conn: &rusqlite::Connection, plan: &Plan) -> Result<()> {
    if let Some(check) = sql::first_outside(plan, q, STAGE, |i| format!("s.{}", stage_col(i))) {
        match conn.query_row(&check, [], |r| r.get::<_, i64>(0)).optional() {
            Ok(Some(row)) => return Err(plan.outside_replace_where(Some(row as u64), None)),
            Ok(None) => {}
            Err(e) => return Err(plan.outside_replace_where(None, Some(e.to_string()))),
        }
    }
    let scope = scope_table();
    let mut sql = format!("DROP TABLE IF EXISTS {scope};");
    if !plan.scope.is_empty() {
        let select = sql::scope_select(plan, STAGE, |i| format!("s.{}", stage_col(i)));
        let cols = list(&plan.scope, stage_col, ", ");
        sql += &format!("CREATE TABLE {scope} AS {select}; CREATE INDEX {scope}_i ON {SCOPE} ({cols});");
    }
    conn.execute_batch(&sql).map_err(|e| Error::db("recording the delete scope", e))
}

pub(crate) fn count_in_scope(conn: &rusqlite::Connection, plan: &Plan) -> Result<u64> {
    let sql = format!(
        "SELECT count(*) FROM {} AS t WHERE {}",
        target(plan),
        sql::in_scope(plan, q, "t", &scope_table(), staged_side)
    );
    conn.query_row(&sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| Error::db(format!("counting the rows of table {} in scope", q(&plan.table.name)), e))
}

/// The table's rows `t` the load deletes.
fn doomed(plan: &Plan) -> String {
    format!(
        "{} AND {}",
        sql::in_scope(plan, q, "t", &scope_table(), staged_side),
        sql::missing(plan, q, "t", STAGE, |i| format!("s.{}", stage_col(i)), staged_side)
    )
}

/// The statement that deletes (or marks, `--soft-delete`) the missing rows; `told`, a
/// [`told`] call that takes each row it finds (`--changes`).
pub(super) fn delete_sql(plan: &Plan, told: Option<&str>) -> String {
    let (t, doomed) = (target(plan), doomed(plan));
    // Told rows come in the order the table is scanned in: its own (rowid) order, no index.
    let (table, cond) = match told {
        Some(told) => (format!("{t} AS t NOT INDEXED"), format!("CASE WHEN {doomed} THEN {told} ELSE 0 END")),
        None => (format!("{t} AS t"), doomed),
    };
    let verb = match sql::soft_set(plan, q, "?1") {
        Some(set) => format!("UPDATE {table} SET {set}"),
        None => format!("DELETE FROM {table}"),
    };
    format!("{verb} WHERE {cond}")
}

/// `--changes`: the [`told`] call that takes a deleted row, where the statement finds the
/// rows in key order (the key is the table's rowid) and one call takes every value.
fn told_deleted(conn: &rusqlite::Connection, plan: &Plan) -> Option<String> {
    let k = &plan.key_constraint;
    // A primary key without an index of its own is the rowid (`INTEGER PRIMARY KEY`).
    if !(k.primary && k.name.is_none() && plan.key.len() == 1) {
        return None;
    }
    let values: Vec<String> = plan.all_columns().iter().map(|&i| format!("t.{}", q(&plan.columns[i].name))).collect();
    told(conn, ChangeOp::Delete, &values)
}

/// Deletes the missing rows, or marks them (`--soft-delete`).
pub(crate) fn delete_missing(
    conn: &mut rusqlite::Connection,
    plan: &Plan,
    tell: Option<&mut dyn ChangeSink>,
) -> Result<u64> {
    let what = if plan.soft_delete.is_some() { "marking" } else { "deleting" };
    let params: Vec<String> = match plan.soft_delete {
        Some((_, Mark::Time)) => vec![sql::mark_time(plan)],
        _ => Vec::new(),
    };
    let ctx = || format!("{what} the missing rows of table {}", q(&plan.table.name));
    let guards = plan.history.map(|h| {
        history::delete_guards(plan, h, q, &target(plan), &doomed(plan), "?1", |e| format!("CAST({e} AS TEXT)"))
    });
    let mut instant = false;
    if let Some(g) = &guards {
        let texts = |r: &rusqlite::Row<'_>| (0..r.as_ref().column_count()).map(|i| r.get(i)).collect();
        let row = conn.query_row(&g.latest, rusqlite::params_from_iter(&params), texts).optional();
        instant = history::check_latest(plan, row.map_err(|e| Error::db(ctx(), e))?)?;
    }
    let done = match (tell, told_deleted(conn, plan)) {
        (Some(tell), Some(told)) => {
            super::changes::telling(conn, &delete_sql(plan, Some(&told)), params.clone(), tell)?
        }
        (tell, _) => {
            if let Some(tell) = tell {
                // The load holds the write lock: these are the rows the statement below finds.
                let sql = sql::deleted_select(plan, q, &target(plan), &doomed(plan), |_, e| e);
                super::changes::read_rows(conn, &sql, "reading the rows to delete (--changes)", |row| {
                    tell.row(ChangeOp::Delete, row)
                })?;
            }
            conn.execute(&delete_sql(plan, None), rusqlite::params_from_iter(&params))
        }
    };
    let deleted = done.map_err(|e| Error::db(ctx(), e))? as u64;
    if let Some(g) = guards.as_ref().filter(|_| instant) {
        let sql = format!("DELETE FROM {} AS t WHERE {}", target(plan), g.instant);
        conn.execute(&sql, rusqlite::params_from_iter(&params)).map_err(|e| Error::db(ctx(), e))?;
    }
    Ok(deleted)
}
