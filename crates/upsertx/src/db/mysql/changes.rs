//! `--changes` for MySQL and MariaDB: before the merge, under the load's merge lock, one
//! locking read over the stage joined with the table (`sql::written_select`: under
//! repeatable read, the matched rows and the gaps of the new keys stay as they are until
//! commit) hands over the rows the merge will insert or update; the rows to delete are
//! read the same way just before the deletion (`delete.rs`). A load that went straight
//! into an empty table does not happen here (see `mod.rs`): its rows would not be in the
//! stage. The reads run as prepared statements (binary values, written as text by
//! `text.rs`); an update's changed columns are found here from the values read.

use super::merge::{column_differs, will_change};
use super::session::db_error;
use super::sql::q;
use super::stage::stage_name;
use super::MyConnection;
use crate::db::sql::{self, stage_col};
use crate::db::{tell_written, ChangeOp, ChangeRow, ChangeSink, Told};
use crate::error::Result;
use crate::plan::Plan;
use mysql::prelude::Queryable;

impl MyConnection {
    pub(super) fn tell_changes(&mut self, plan: &Plan, sink: &mut dyn ChangeSink) -> Result<Told> {
        let (schema, name) = self.target.clone().expect("reflect runs before the merge");
        self.lock_merges(&schema, &name)?;
        // Which updated columns an update changes: compared here, from the values the
        // read sends anyway, rather than by the server (a tenth of the read's time),
        // unless one is a FLOAT (sent as its text, which rounds to six digits).
        let compare = plan.update.iter().all(|&i| super::text::compared_here(plan, i));
        let pairs = match compare {
            false => Vec::new(),
            true => {
                let all = plan.all_columns();
                let after = |i| 1 + all.iter().position(|&c| c == i).expect("an updated column is a plan column");
                plan.update.iter().enumerate().map(|(j, &i)| (after(i), 1 + all.len() + j)).collect()
            }
        };
        let sql = sql::written_select(
            plan,
            q,
            &self.target_name(),
            stage_name(plan),
            |i| format!("s.{}", stage_col(i)),
            |i| column_differs(plan, i),
            // An update's mask comes empty when it is made here.
            if compare { |_| "''".to_string() } else { concat },
            will_change(plan).as_deref(),
            // Integers, doubles and dates come in binary, written here as the server
            // writes them (`text.rs`); the other values as text.
            |i, e| match i {
                Some(i) => super::text::sent(plan, i, e),
                None => e,
            },
        );
        let mut told = Told::default();
        let ctx = "reading the rows the load writes (--changes)";
        self.read_rows(&format!("{sql} FOR UPDATE"), ctx, &pairs, |row| tell_written(sink, row, &mut told))?;
        // The inserts' lines are joined to the updates' while the merge runs.
        sink.done(ChangeOp::Insert)?;
        crate::trace::trace("read the rows it writes (--changes)");
        Ok(told)
    }

    /// Runs `sql` (its values as [`super::text::sent`] selects them) as a prepared statement,
    /// and hands `each` its rows one at a time. `pairs`: when not empty, an empty first
    /// value is the mask of the updated columns, made here: per updated column, the
    /// indexes of its new and its current value, equal as `<=>` finds them.
    pub(super) fn read_rows(
        &mut self,
        sql: &str,
        ctx: &str,
        pairs: &[(usize, usize)],
        mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
    ) -> Result<()> {
        let db = |e| db_error(ctx, e);
        let statement = self.conn.prep(sql).map_err(db)?;
        let mut rows = self.conn.exec_iter(&statement, ()).map_err(db)?;
        let (mut buf, mut mask) = (String::new(), String::new());
        for row in rows.by_ref() {
            let row = row.map_err(db)?;
            mask.clear();
            each(&mut Row { row: &row, buf: &mut buf, pairs, mask: &mut mask })?;
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
    pairs: &'a [(usize, usize)],
    /// The mask made here, once per row.
    mask: &'a mut String,
}

impl ChangeRow for Row<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        match self.row.as_ref(i)? {
            // NULL-safe (`Value::NULL` equals itself), doubles by value (0 equals -0),
            // text by its bytes.
            mysql::Value::Bytes(b) if i == 0 && b.is_empty() && !self.pairs.is_empty() => {
                if self.mask.is_empty() {
                    let same = |&(a, b): &(usize, usize)| self.row.as_ref(a) == self.row.as_ref(b);
                    self.mask.extend(self.pairs.iter().map(|p| if same(p) { '0' } else { '1' }));
                }
                Some(self.mask)
            }
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
