//! `--changes` for PostgreSQL: before the merge, the table is locked against other
//! writers until commit (`SHARE ROW EXCLUSIVE`: readers go on, writers wait; PostgreSQL
//! locks no row of an outer join's nullable side, nor a key that does not exist yet),
//! then one read of the de-duplicated input (`merge::source`) joined with the table hands
//! over the rows the merge will insert or update (walking the input's and the table's
//! keys together, through an index made on the input's). The deletion returns the rows
//! it deletes itself (`delete.rs`).

use super::merge::{column_differs, source, source_value, take_turn, will_change};
use super::session::message;
use super::sql::q;
use super::stage::declared;
use super::wire::{self, Wire};
use crate::db::sql;
use crate::db::{tell_written, ChangeOp, ChangeRow, ChangeSink, Told};
use crate::error::{Error, Result};
use crate::plan::Plan;
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

pub(super) fn tell(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &mut super::stage::KeyOrder,
    sink: &mut dyn ChangeSink,
) -> Result<Told> {
    let ctx = "reading the rows the load writes (--changes)";
    // Other upsertx loads that take turns first, as they do.
    take_turn(client, target, ctx)?;
    client
        .batch_execute(&format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE"))
        .map_err(|e| Error::db(format!("{ctx} (waiting for the other writers of the table)"), message(&e)))?;
    let (src, _) = source(client, plan, order)?;
    // An index on the input's keys (in key order already) lets the read walk the input
    // and the table's key together, with no sort (the planner finds that walk from the
    // table's size alone: ANALYZE would cost 0.3 s of a million rows for the same plan);
    // compiling the read's expressions (JIT) costs more than it saves.
    let index = match plan.keyless() {
        true => String::new(),
        false => format!("CREATE INDEX ON {src} ({}); ", sql::list(&plan.key, sql::stage_col, ", ")),
    };
    // Dates and times the read sends in binary are written as ISO text, doubles with the
    // fewest digits that read back the same: so are those sent as text (the deletion's
    // too), whatever the server's DateStyle and extra_float_digits.
    client
        .batch_execute(&format!(
            "{index}SET LOCAL jit = off; SET LOCAL DateStyle = 'ISO'; SET LOCAL extra_float_digits = 1"
        ))
        .map_err(|e| Error::db(ctx, message(&e)))?;
    // As the table stores it: cast to the column's own type (`numeric(10,2)` pads).
    let value = |i| match declared(plan, i) {
        "" => source_value(plan, i),
        ty => format!("({})::{ty}", source_value(plan, i)),
    };
    // The values PostgreSQL sends cheaper in binary than as text come so (`wire.rs`).
    let sent = |i: Option<usize>, e| match i.map(|i| Wire::of(plan, i)) {
        Some(Wire::Text) | None => super::sql::text(e),
        Some(_) => e,
    };
    // Which updated columns an update changes: those whose text tells it compared here
    // (their mask digit a constant `0` the planner folds), the others by the server.
    let pairs = compared_here(client, plan, target)?;
    let by_server = |i| !pairs.iter().any(|p| plan.update[p.0] == i);
    let sql = sql::written_select(
        plan,
        q,
        target,
        src,
        value,
        |i| if by_server(i) { column_differs(plan, i) } else { "false".into() },
        sql::concat_pipes,
        will_change(plan).as_deref(),
        sent,
    );
    // The mask, every plan column, then the updated ones as they were (not without a key).
    let before = if plan.keyless() { &[][..] } else { &plan.update[..] };
    let wires: Vec<Wire> = std::iter::once(Wire::Text)
        .chain(plan.all_columns().into_iter().chain(before.iter().copied()).map(|i| Wire::of(plan, i)))
        .collect();
    let mut told = Told::default();
    let (mut mask, mut first) = (String::new(), String::new());
    wire::copy_rows(client, &sql, &wires, ctx, |row| {
        let mut row = Masked { row, pairs: &pairs, mask: &mut mask, first: &mut first, made: false };
        tell_written(sink, &mut row, &mut told)
    })?;
    // The inserts' lines are joined to the updates' while the merge runs.
    sink.done(ChangeOp::Insert)?;
    client.batch_execute("RESET jit").map_err(|e| Error::db(ctx, message(&e)))?;
    crate::trace::trace("read the rows it writes (--changes)");
    Ok(told)
}

/// An updated column whose change shows in the text the read sends: `(n, a, b, double)`,
/// the column `plan.update[n]`, its new value the read's `a`-th, its current one the
/// `b`-th. Integers, booleans, dates, timestamps and doubles (whose text is one per
/// value, but for `-0`, equal to 0), and text under a deterministic collation (or json,
/// compared as text anyway); not numeric (`1.5` equals `1.50`), char(n) (trailing
/// spaces), citext or a case-insensitive collation.
fn compared_here(client: &mut Client, plan: &Plan, target: &str) -> Result<Vec<(usize, usize, usize, bool)>> {
    // Columns under a collation that is not deterministic (PostgreSQL 12 and later; the
    // column read through JSON is absent, so true, before).
    let loose: Vec<String> = client
        .query(
            "SELECT a.attname::text FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0
               AND NOT coalesce((to_jsonb(c) ->> 'collisdeterministic')::boolean, true)",
            &[&target],
        )
        .map_err(|e| Error::db("reading the table's collations (--changes)", message(&e)))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all = plan.all_columns();
    let here = |i: usize| match Wire::of(plan, i) {
        Wire::Bool | Wire::Int2 | Wire::Int4 | Wire::Int8 | Wire::Date | Wire::Timestamp | Wire::Float8 => true,
        Wire::Bytes => {
            matches!(super::stage::native(plan, i), "text" | "varchar" | "name" | "enum" | "json")
                && !loose.contains(&plan.columns[i].name)
        }
        Wire::Text => false,
    };
    Ok(plan
        .update
        .iter()
        .enumerate()
        .filter(|&(_, &i)| here(i))
        .filter_map(|(n, &i)| {
            let a = 1 + all.iter().position(|&c| c == i)?;
            Some((n, a, 1 + all.len() + n, Wire::of(plan, i) == Wire::Float8))
        })
        .collect())
}

/// A row of the read whose update mask gets the digits of the columns compared here
/// ([`compared_here`]) once asked for.
struct Masked<'a> {
    row: &'a mut dyn ChangeRow,
    pairs: &'a [(usize, usize, usize, bool)],
    mask: &'a mut String,
    /// The first value of a pair, copied while the second is read.
    first: &'a mut String,
    made: bool,
}

impl ChangeRow for Masked<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        if i != 0 || self.pairs.is_empty() {
            return self.row.text(i);
        }
        if !self.made {
            // An insert's mask is NULL.
            let server = self.row.text(0)?;
            self.mask.clear();
            self.mask.push_str(server);
            for &(n, a, b, double) in self.pairs {
                self.first.clear();
                let was_null = match self.row.text(a) {
                    Some(t) => {
                        self.first.push_str(t);
                        false
                    }
                    None => true,
                };
                // NULL-safe, as `IS DISTINCT FROM`.
                let same = match (was_null, self.row.text(b)) {
                    (true, None) => true,
                    (true, Some(_)) | (false, None) => false,
                    (false, Some(t)) => t == self.first.as_str() || (double && is_zero(t) && is_zero(self.first)),
                };
                if !same {
                    // ASCII digits: one byte each.
                    self.mask.replace_range(n..n + 1, "1");
                }
            }
            self.made = true;
        }
        Some(self.mask)
    }
}

/// `0` or `-0`, a double's zero as text.
fn is_zero(t: &str) -> bool {
    matches!(t, "0" | "-0")
}

/// Runs `sql` (its values `::text`, those the sink reads first) and hands `each` its rows
/// one at a time.
pub(super) fn read_rows(
    client: &mut Client,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    ctx: &str,
    mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
) -> Result<()> {
    let db = |e: postgres::Error| Error::db(ctx, message(&e));
    let mut rows = client.query_raw(sql, params.iter().copied()).map_err(db)?;
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
