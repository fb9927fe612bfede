//! `--delete-missing` for MySQL and MariaDB: the scope's values copied from the stage
//! into an indexed temporary table (a query cannot open one temporary table twice), then
//! one `DELETE t FROM target AS t WHERE ... NOT EXISTS (key in stage)`, which InnoDB
//! runs along the primary key, under the load's merge lock. A load that went straight
//! into an empty table (see `mod.rs`) has nothing to delete.

use super::session::db_error;
use super::sql::q;
use super::stage::stage_name;
use super::text;
use super::MyConnection;
use crate::db::sql::{self, list, stage_col, SCOPE};
use crate::db::{history, ChangeOp, ChangeSink};
use crate::error::Result;
use crate::plan::{Mark, Plan};
use mysql::prelude::Queryable;

impl MyConnection {
    pub(super) fn prepare_scope(&mut self, plan: &Plan) -> Result<()> {
        if let Some(check) = sql::first_outside(plan, q, stage_name(plan), |i| format!("s.{}", stage_col(i))) {
            match self.conn.query_first::<u64, _>(check) {
                Ok(Some(row)) => return Err(plan.outside_replace_where(Some(row), None)),
                Ok(None) => {}
                Err(e) => return Err(plan.outside_replace_where(None, Some(e.to_string()))),
            }
        }
        let mut sql = format!("DROP TEMPORARY TABLE IF EXISTS {SCOPE};");
        if !plan.scope.is_empty() && self.stager.into_target.is_none() {
            let select = sql::scope_select(plan, stage_name(plan), |i| format!("s.{}", stage_col(i)));
            let cols = list(&plan.scope, stage_col, ", ");
            sql += &format!("CREATE TEMPORARY TABLE {SCOPE} (INDEX ({cols})) AS {select};");
        }
        self.conn.query_drop(sql).map_err(|e| db_error("recording the delete scope", e))
    }

    pub(super) fn rows_in_scope(&mut self, plan: &Plan) -> Result<u64> {
        if self.stager.into_target.is_some() {
            return Ok(0);
        }
        let sql = format!(
            "SELECT COUNT(*) FROM {} AS t WHERE {}",
            self.target_name(),
            sql::in_scope(plan, q, "t", SCOPE, sql::equals)
        );
        let n: Option<u64> = self
            .conn
            .query_first(sql)
            .map_err(|e| db_error(format!("counting the rows of table {} in scope", q(&plan.table.name)), e))?;
        Ok(n.unwrap_or(0))
    }

    pub(super) fn delete_missing_rows(&mut self, plan: &Plan, tell: Option<&mut dyn ChangeSink>) -> Result<u64> {
        if self.stager.into_target.is_some() {
            return Ok(0);
        }
        let (verb, what) = match sql::soft_set(plan, q, "?") {
            Some(set) => (format!("UPDATE {} AS t SET {set}", self.target_name()), "marking"),
            None => (format!("DELETE t FROM {} AS t", self.target_name()), "deleting"),
        };
        // The rows to delete, `t` the table's alias or name.
        let doomed = |t: &str| {
            format!(
                "{} AND {}",
                sql::in_scope(plan, q, t, SCOPE, sql::equals),
                sql::missing(plan, q, t, stage_name(plan), |i| format!("s.{}", stage_col(i)), sql::equals)
            )
        };
        let ctx = format!("{what} the missing rows of table {}", q(&plan.table.name));
        let time = || match plan.soft_delete {
            Some((_, Mark::Time)) => mysql::Params::Positional(vec![sql::mark_time(plan).into()]),
            _ => mysql::Params::Empty,
        };
        let target = self.target_name();
        let guards =
            plan.history.map(|h| history::delete_guards(plan, h, q, &target, &doomed("t"), "?", super::sql::text));
        // The load's time for each of a statement's `?`s.
        let times = |n: usize| mysql::Params::Positional(vec![sql::mark_time(plan).into(); n]);
        let mut instant = false;
        if let Some(g) = &guards {
            let row: Option<mysql::Row> = self.conn.exec_first(&g.latest, times(2)).map_err(|e| db_error(&ctx, e))?;
            let texts = |r: mysql::Row| (0..r.len()).map(|i| r.get::<Option<String>, _>(i).flatten()).collect();
            instant = history::check_latest(plan, row.map(texts))?;
        }
        let deleted = self.close_or_delete(plan, &verb, &doomed, tell, &ctx, time())?;
        if let Some(g) = guards.as_ref().filter(|_| instant) {
            let sql = format!("DELETE t FROM {target} AS t WHERE {}", g.instant);
            self.conn.exec_drop(sql, times(2)).map_err(|e| db_error(&ctx, e))?;
        }
        Ok(deleted)
    }

    /// Deletes (or marks: `verb`, with `params`) the rows `doomed(t)` finds (`t` the
    /// table's alias or name), told to `tell` first.
    fn close_or_delete(
        &mut self,
        plan: &Plan,
        verb: &str,
        doomed: &dyn Fn(&str) -> String,
        tell: Option<&mut dyn ChangeSink>,
        ctx: &str,
        params: mysql::Params,
    ) -> Result<u64> {
        if let Some(tell) = tell {
            if self.deletes_returning(plan)? {
                // MariaDB: the statement returns the rows it deletes, in key order. Its
                // single-table form has no alias: the table's own name stands for `t`.
                let target = self.target_name();
                let doomed = doomed(&target);
                let cols = list(&plan.all_columns(), |i| text::sent(plan, i, q(&plan.columns[i].name)), ", ");
                let keys = list(&plan.key, |i| q(&plan.columns[i].name), ", ");
                let sql = format!("DELETE FROM {target} WHERE {doomed} ORDER BY {keys} RETURNING {cols}");
                let mut deleted = 0;
                self.read_rows(&sql, ctx, &[], |row| {
                    deleted += 1;
                    tell.row(ChangeOp::Delete, row)
                })?;
                return Ok(deleted);
            }
            // A locking read: the rows the statement below finds.
            let sql = sql::deleted_select(plan, q, &self.target_name(), &doomed("t"), |i, e| text::sent(plan, i, e));
            self.read_rows(&format!("{sql} FOR UPDATE"), "reading the rows to delete (--changes)", &[], |row| {
                tell.row(ChangeOp::Delete, row)
            })?;
        }
        let sql = format!("{verb} WHERE {}", doomed("t"));
        self.conn.exec_drop(sql, params).map_err(|e| db_error(ctx, e))?;
        Ok(self.conn.affected_rows())
    }

    /// Whether the deletion can return the rows it deletes (`--changes`): MariaDB's
    /// `DELETE ... RETURNING`, for a deletion (not a `--soft-delete` mark, an UPDATE)
    /// with a key and without the user's own condition (written against the alias `t`
    /// the statement cannot have).
    fn deletes_returning(&mut self, plan: &Plan) -> Result<bool> {
        if plan.soft_delete.is_some() || plan.keyless() || plan.spec.delete_where().is_some() {
            return Ok(false);
        }
        let version: Option<String> =
            self.conn.query_first("SELECT VERSION()").map_err(|e| db_error("asking the server's version", e))?;
        Ok(version.is_some_and(|v| v.contains("MariaDB")))
    }
}
