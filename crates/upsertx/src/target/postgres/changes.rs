//! `--changes` for PostgreSQL: before the merge, the table is locked against other
//! writers until commit (`SHARE ROW EXCLUSIVE`: readers go on, writers wait; PostgreSQL
//! locks no row of an outer join's nullable side, nor a key that does not exist yet),
//! then one read of the de-duplicated input (`merge::source`) joined with the table hands
//! over the rows the merge will insert or update (walking the input's and the table's
//! keys together, through an index made on the input's). The deletion returns the rows
//! it deletes itself (`delete.rs`).

use super::merge::{column_differs, source, source_value, take_turn, will_change};
use super::stage::declared;
use super::{message, q};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::target::sql;
use crate::target::{tell_written, ChangeRow, ChangeSink};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

/// An expression as text (the form the sink reads).
pub(super) fn text(e: String) -> String {
    format!("({e})::text")
}

/// The rows the read found the merge will write: the table is locked against other
/// writers, so they are the rows it does write (short of a trigger: the engine checks).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Told {
    pub(super) inserts: u64,
    pub(super) updates: u64,
}

pub(super) fn tell(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &mut super::stage::KeyOrder,
    sink: &mut ChangeSink<'_>,
) -> Result<Told> {
    let ctx = "reading the rows the load writes (--changes)";
    // Other upsertx loads that take turns first, as they do.
    take_turn(client, target, ctx)?;
    client
        .batch_execute(&format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE"))
        .map_err(|e| Error::db(format!("{ctx} (waiting for the other writers of the table)"), message(&e)))?;
    let (src, _) = source(client, plan, order)?;
    // An index on the input's keys (in key order already) lets the read walk the input
    // and the table's key together, with no sort; compiling the read's expressions (JIT)
    // costs more than it saves.
    let index = match plan.keyless() {
        true => String::new(),
        false => format!("CREATE INDEX ON {src} ({}); ANALYZE {src}; ", sql::list(&plan.key, sql::stage_col, ", ")),
    };
    client.batch_execute(&format!("{index}SET LOCAL jit = off")).map_err(|e| Error::db(ctx, message(&e)))?;
    // As the table stores it: cast to the column's own type (`numeric(10,2)` pads).
    let value = |i| match declared(plan, i) {
        "" => source_value(plan, i),
        ty => format!("({})::{ty}", source_value(plan, i)),
    };
    let sql = sql::written_select(
        plan,
        q,
        target,
        src,
        value,
        |i| column_differs(plan, i),
        sql::concat_pipes,
        will_change(plan).as_deref(),
        text,
        true,
    );
    let mut told = Told::default();
    copy_rows(client, &sql, ctx, |row| {
        match row.text(0) {
            None => told.inserts += 1,
            Some(_) => told.updates += 1,
        }
        tell_written(sink, row)
    })?;
    client.batch_execute("RESET jit").map_err(|e| Error::db(ctx, message(&e)))?;
    Ok(told)
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

/// Runs `sql` (its values `::text`) as `COPY (sql) TO STDOUT` and hands `each` its rows
/// one at a time: a line of COPY's text costs the client less to take apart than a
/// result row whose values are fetched one by one (each looked up, type-checked and
/// checked as UTF-8). Not for a statement with parameters (COPY takes none).
pub(super) fn copy_rows(
    client: &mut Client,
    sql: &str,
    ctx: &str,
    mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
) -> Result<()> {
    use std::io::BufRead;
    let mut reader =
        client.copy_out(&format!("COPY ({sql}) TO STDOUT")).map_err(|e| Error::db(ctx, message(&e)))?;
    let (mut line, mut row) = (Vec::new(), CopyRow::default());
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(|e| copy_error(ctx, e))? == 0 {
            return Ok(());
        }
        row.parse(&line).map_err(|e| Error::db(ctx, format!("the server sent text that is not UTF-8: {e}")))?;
        each(&mut row)?;
    }
}

/// The database's own error when COPY's stream ended in one.
fn copy_error(ctx: &str, e: std::io::Error) -> Error {
    match e.get_ref().and_then(|e| e.downcast_ref::<postgres::Error>()) {
        Some(e) => Error::db(ctx, message(e)),
        None => Error::db(ctx, e.to_string()),
    }
}

/// A line of COPY's text format, its fields unescaped into `text`.
#[derive(Default)]
struct CopyRow {
    text: String,
    /// Each field's span in `text`, `None` for NULL (`\N`).
    fields: Vec<Option<(usize, usize)>>,
}

impl CopyRow {
    fn parse(&mut self, line: &[u8]) -> std::result::Result<(), std::str::Utf8Error> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut text = std::mem::take(&mut self.text).into_bytes();
        text.clear();
        self.fields.clear();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\t', line).chain([line.len()]) {
            let field = &line[start..end];
            start = end + 1;
            if field == b"\\N" {
                self.fields.push(None);
                continue;
            }
            let from = text.len();
            unescape(field, &mut text);
            self.fields.push(Some((from, text.len())));
        }
        self.text = String::from_utf8(text).map_err(|e| e.utf8_error())?;
        Ok(())
    }
}

impl ChangeRow for CopyRow {
    fn text(&mut self, i: usize) -> Option<&str> {
        self.fields[i].map(|(a, b)| &self.text[a..b])
    }
}

/// COPY's text escapes undone: `\\`, `\t`, `\n`, `\r` and the rarer `\b`, `\f`, `\v`
/// (the ones PostgreSQL writes).
fn unescape(mut field: &[u8], out: &mut Vec<u8>) {
    while let Some(i) = memchr::memchr(b'\\', field) {
        out.extend_from_slice(&field[..i]);
        let escaped = field.get(i + 1).copied().unwrap_or(b'\\');
        out.push(match escaped {
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            other => other,
        });
        field = &field[(i + 2).min(field.len())..];
    }
    out.extend_from_slice(field);
}

struct Row<'a>(&'a postgres::Row);

impl ChangeRow for Row<'_> {
    fn text(&mut self, i: usize) -> Option<&str> {
        self.0.try_get(i).ok().flatten()
    }
}
