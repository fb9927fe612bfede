//! `--changes` for MySQL and MariaDB: before the merge, under the load's merge lock, one
//! locking read over the stage joined with the table (`sql::written_select`: under
//! repeatable read, the matched rows and the gaps of the new keys stay as they are until
//! commit) hands over the rows the merge will insert or update; the rows to delete are
//! read the same way just before the deletion (`delete.rs`). A load that went straight
//! into an empty table does not happen here (see `mod.rs`): its rows would not be in the
//! stage.

use super::merge::{same, will_change};
use super::stage::stage_name;
use super::{db_error, q, MyConnection};
use crate::error::Result;
use crate::plan::Plan;
use crate::target::sql::{self, stage_col};
use crate::target::{tell_written, ChangeOp, ChangeRow, ChangeSink, Told};
use mysql::prelude::Queryable;

/// An expression as text, for a statement whose values come typed (a prepared one, in
/// the binary protocol). A plain query's come as text already, the same text.
pub(super) fn text(e: String) -> String {
    format!("CAST({e} AS CHAR)")
}

impl MyConnection {
    pub(super) fn tell_changes(&mut self, plan: &Plan, sink: &mut dyn ChangeSink) -> Result<Told> {
        let (schema, name) = self.target.clone().expect("reflect runs before the merge");
        self.lock_merges(&schema, &name)?;
        let sql = sql::written_select(
            plan,
            q,
            &self.target_name(),
            stage_name(plan),
            |i| format!("s.{}", stage_col(i)),
            |i| format!("NOT ({})", same(plan, i)),
            concat,
            will_change(plan).as_deref(),
            // Integers, doubles and dates come in binary, written here as the server
            // writes them (`text.rs`); the other values as text.
            |i, e| match i {
                Some(i) => super::text::sent(plan, i, e),
                None => e,
            },
        );
        let mut told = Told::default();
        self.read_rows(&format!("{sql} FOR UPDATE"), "reading the rows the load writes (--changes)", |row| {
            tell_written(sink, row, &mut told)
        })?;
        // The inserts' lines are joined to the updates' while the merge runs.
        sink.done(ChangeOp::Insert)?;
        crate::trace::trace("read the rows it writes (--changes)");
        Ok(told)
    }

    /// Runs `sql` (its values as [`super::text::sent`] selects them) as a prepared statement,
    /// and hands `each` its rows one at a time.
    pub(super) fn read_rows(
        &mut self,
        sql: &str,
        ctx: &str,
        mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
    ) -> Result<()> {
        let db = |e| db_error(ctx, e);
        let statement = self.conn.prep(sql).map_err(db)?;
        let mut rows = self.conn.exec_iter(&statement, ()).map_err(db)?;
        let mut buf = String::new();
        for row in rows.by_ref() {
            let row = row.map_err(db)?;
            each(&mut Row { row: &row, buf: &mut buf })?;
        }
        Ok(())
    }
}

/// `CONCAT(a, b, c)`.
fn concat(parts: Vec<String>) -> String {
    format!("CONCAT({})", parts.join(", "))
}

/// A row of the binary protocol: text as it comes, other values written as the text
/// protocol writes them (`text.rs`).
struct Row<'a> {
    row: &'a mysql::Row,
    buf: &'a mut String,
}

impl ChangeRow for Row<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        match self.row.as_ref(i)? {
            mysql::Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Some(s),
                Err(_) => {
                    *self.buf = String::from_utf8_lossy(b).into_owned();
                    Some(self.buf)
                }
            },
            mysql::Value::NULL => None,
            v => {
                self.buf.clear();
                super::text::push(self.buf, v, &self.row.columns_ref()[i]);
                Some(self.buf)
            }
        }
    }
}
