//! `--changes` for MySQL and MariaDB: before the merge, under the load's merge lock, the
//! table's rows the input's keys match are copied (a locking read: nothing else changes
//! them until commit) into an indexed temporary table; the rows to delete are copied the
//! same way before the deletion (`delete.rs`); after both, three reads: the staged rows
//! whose key was not in the table, the copied rows beside the table's rows now, and the
//! deleted ones. A load that went straight into an empty table does not happen here
//! (see `mod.rs`): its rows would not be in the stage.

use super::merge::will_change;
use super::stage::{column_def, stage_name};
use super::{db_error, q, MyConnection};
use crate::error::Result;
use crate::plan::Plan;
use crate::target::sql::{self, list, stage_col, BEFORE, DELETED};
use crate::target::{ChangeOp, ChangeSink};
use mysql::prelude::Queryable;

fn text(e: String) -> String {
    format!("CAST({e} AS CHAR)")
}

/// The statement that copies the rows `cond` finds (the ones to delete), locked.
pub(super) fn copy_deleted(plan: &Plan, target: &str, cond: &str) -> String {
    format!("CREATE TEMPORARY TABLE {DELETED} AS {} FOR UPDATE", sql::deleted_select(plan, q, target, cond))
}

impl MyConnection {
    pub(super) fn copy_before(&mut self, plan: &Plan) -> Result<()> {
        let (schema, name) = self.target.clone().expect("reflect runs before the merge");
        self.lock_merges(&schema, &name)?;
        let mut sql = format!("DROP TEMPORARY TABLE IF EXISTS {BEFORE}; DROP TEMPORARY TABLE IF EXISTS {DELETED};");
        if !plan.keyless() {
            // Locking reads, under repeatable read: the matched rows and the gaps of the
            // new keys stay as they are until commit.
            let (t, s) = (self.target_name(), stage_name(plan));
            let keys = list(&plan.key, stage_col, ", ");
            let defs = list(&sql::before_columns(plan), |i| column_def(plan, i), ", ");
            sql += &format!("CREATE TEMPORARY TABLE {BEFORE} (existed INT NOT NULL, {defs}, PRIMARY KEY ({keys}));");
            if let Some(changes) = will_change(plan) {
                sql += &format!("INSERT INTO {BEFORE} {} FOR UPDATE;", sql::changing_select(plan, q, &t, s, &changes));
            }
            let new_keys = sql::new_keys_select(plan, q, &t, s, |i| format!("s.{}", stage_col(i)));
            sql += &format!("INSERT INTO {BEFORE} {new_keys} FOR UPDATE;");
        }
        self.conn.query_drop(sql).map_err(|e| db_error("recording the rows before the load (--changes)", e))
    }

    pub(super) fn read_changes(&mut self, plan: &Plan, sink: &mut ChangeSink<'_>) -> Result<()> {
        let stage = stage_name(plan);
        let target = self.target_name();
        let mut reads =
            vec![(ChangeOp::Insert, sql::inserted_read(plan, stage, BEFORE, |i| format!("s.{}", stage_col(i)), text))];
        if !plan.keyless() {
            reads.push((ChangeOp::Update, sql::updated_read(plan, q, &target, BEFORE, text)));
        }
        if plan.spec.deletes() {
            reads.push((ChangeOp::Delete, sql::deleted_read(plan, DELETED, text)));
        }
        let db = |e| db_error("reading the changes (--changes)", e);
        for (op, sql) in reads {
            crate::trace::trace(&format!("changes: reading {op:?}"));
            let mut rows = self.conn.query_iter(sql).map_err(db)?;
            let mut values = Vec::new();
            for row in rows.by_ref() {
                let row = row.map_err(db)?;
                values.clear();
                for i in 0..row.len() {
                    let v: Option<Vec<u8>> = row.get(i).flatten();
                    values.push(v.map(|b| String::from_utf8_lossy(&b).into_owned()));
                }
                sink(op, &values)?;
            }
        }
        Ok(())
    }
}
