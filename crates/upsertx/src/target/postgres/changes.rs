//! `--changes` for PostgreSQL: before the merge, two reads over the de-duplicated input
//! (`merge::source`): the rows whose key the table lacks, then the matched rows the merge
//! will rewrite, locked (`FOR UPDATE`, in key order: nothing else changes them until
//! commit); the rows to delete are read, locked, just before the deletion (`delete.rs`).
//! Reading the rows and then inserting the new ones are two phases, so such loads into
//! one table take turns (`merge::take_turn`).

use super::merge::{column_differs, source, source_value, take_turn, will_change};
use super::stage::declared;
use super::{message, q};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::sql::{self, Written};
use crate::target::{tell_written, ChangeRow, ChangeSink};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

/// An expression as text (the form the sink reads).
pub(super) fn text(e: String) -> String {
    format!("({e})::text")
}

pub(crate) fn tell(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &mut super::stage::KeyOrder,
    sink: &mut ChangeSink<'_>,
) -> Result<()> {
    let ctx = "reading the rows the load writes (--changes)";
    take_turn(client, target, ctx)?;
    let (src, _) = source(client, plan, order)?;
    // As the table stores it: cast to the column's own type (`numeric(10,2)` pads).
    let value = |i| match declared(plan, i) {
        "" => source_value(plan, i),
        ty => format!("({})::{ty}", source_value(plan, i)),
    };
    let changes = will_change(plan);
    let select = |which| {
        let differs = |i| column_differs(plan, i);
        sql::written_select(plan, q, target, src, value, differs, sql::concat_pipes, changes.as_deref(), which, text)
    };
    let mut reads = vec![select(Written::New)];
    if changes.is_some() && !plan.keyless() {
        reads.push(format!("{} FOR UPDATE OF t", select(Written::Matched)));
    }
    for sql in reads {
        read_rows(client, &sql, ctx, |row| tell_written(sink, row))?;
    }
    Ok(())
}

/// Runs `sql` (every value `::text`) and hands `each` its rows one at a time.
pub(super) fn read_rows(
    client: &mut Client,
    sql: &str,
    ctx: &str,
    mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
) -> Result<()> {
    let db = |e: postgres::Error| Error::db(ctx, message(&e));
    let mut rows = client.query_raw(sql, std::iter::empty::<i32>()).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        each(&mut Row(&row))?;
    }
    Ok(())
}

struct Row<'a>(&'a postgres::Row);

impl ChangeRow for Row<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        self.0.try_get(i).ok().flatten()
    }
}
