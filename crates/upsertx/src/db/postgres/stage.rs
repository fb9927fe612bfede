//! Staging for PostgreSQL: rows are sent by binary COPY (one COPY per about 1 MB) into a
//! temporary table typed like the target, with the input row number as `ord`: type
//! errors the server finds (a domain's CHECK, numeric precision) name their COPY line,
//! which maps back to the input row.

use super::copy::{self, Kind};
use super::session::message;
use crate::batch::Batch;
use crate::db::sorted::{batch_keys, decode_values, encode_value, sortable, Duplicate, InOrder, Record, Sorter};
use crate::db::sql::stage_col;
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::value::Value;
use postgres::Client;
use std::io::Write;

pub(super) const STAGE: &str = "pg_temp.upsertx_stage";
/// The de-duplicated stage, in key order (see `merge.rs`).
pub(super) const SRC: &str = "pg_temp.upsertx_src";
/// The `ord`s of the input rows the gap-free path found (and locked) in the target.
pub(super) const MATCHED: &str = "pg_temp.upsertx_matched";

/// The native type of plan column `i`'s table column.
pub(super) fn native(plan: &Plan, i: usize) -> &str {
    plan.table_column(i).map_or("", |c| c.native.as_str())
}

/// The declared type of plan column `i`'s table column.
pub(super) fn declared(plan: &Plan, i: usize) -> &str {
    plan.table_column(i).map_or("", |c| c.declared.as_str())
}

/// The stage's columns after `ord`: each input column in its table column's type (text
/// for the types sent as text).
pub(crate) fn stage_columns(plan: &Plan) -> String {
    let defs: Vec<String> = (0..plan.columns.len())
        .map(|i| {
            let ty = if Kind::of(native(plan, i)) == Kind::AsText { "text" } else { declared(plan, i) };
            format!("{} {ty}", stage_col(i))
        })
        .collect();
    defs.join(", ")
}

pub(crate) fn stage_table_sql(plan: &Plan) -> String {
    format!(
        "DROP TABLE IF EXISTS {MATCHED}; DROP TABLE IF EXISTS {SRC}; DROP TABLE IF EXISTS {STAGE};
         CREATE TEMP TABLE upsertx_stage (ord bigint NOT NULL, {}) ON COMMIT DROP",
        stage_columns(plan)
    )
}

/// Rows encoded for COPY, not yet sent: one COPY takes them once about [`COPY_BYTES`]
/// wait, and the rest at [`finish`]. A COPY per 4096-row batch cost a statement and a
/// round trip each (0.75 s to stage 1M two-column rows, against 0.54 s by COPYs of 1 MB;
/// 11 columns: 1.64 s against 1.47 s). The batches are kept until their COPY ends, so that a row
/// the server refuses is named with its value.
pub(crate) struct Pending {
    buf: Vec<u8>,
    batches: Vec<Batch>,
    /// The table the rows go to: [`STAGE`], or the co-located stage (`colocated.rs`).
    pub(crate) into: String,
    /// About how many encoded bytes one COPY sends: [`COPY_BYTES`], more into a
    /// distributed stage (each COPY into it opens a stream to every shard).
    pub(crate) copy_bytes: usize,
    /// The input row, line and values of each sorted row in the COPY (see [`Sorting`]),
    /// to name one the server refuses.
    sorted: Vec<(u64, Option<u64>, Vec<u8>)>,
}

impl Pending {
    /// The co-located stage the rows go to, if they go to one (`colocated.rs`).
    pub(crate) fn colocated(&self) -> Option<&str> {
        (self.into != STAGE).then_some(self.into.as_str())
    }
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            buf: Vec::new(),
            batches: Vec::new(),
            into: STAGE.to_string(),
            copy_bytes: COPY_BYTES,
            sorted: Vec::new(),
        }
    }
}

/// About how many encoded bytes one COPY sends.
const COPY_BYTES: usize = 1 << 20;

/// Encodes `batch` for the stage; sends what waits once it is [`COPY_BYTES`].
pub(crate) fn stage(client: &mut Client, plan: &Plan, pending: &mut Pending, batch: Batch) -> Result<()> {
    let kinds = kinds(plan);
    pending.start();
    let buf = &mut pending.buf;
    for (r, (row, line)) in batch.rows.iter().enumerate() {
        if let Err((i, reason)) = copy::write_row(buf, *row as i64, &kinds, &batch, r) {
            return Err(Error::Value {
                at: Location { input: plan.input.clone(), row: *row, line: *line },
                column: plan.columns[i].name.clone(),
                value: batch.value(r, i).shown(),
                reason,
            });
        }
    }
    pending.batches.push(batch);
    match pending.buf.len() >= pending.copy_bytes {
        true => finish(client, plan, pending),
        false => Ok(()),
    }
}

impl Pending {
    /// The COPY's header, before its first row.
    fn start(&mut self) {
        if self.buf.is_empty() {
            self.buf.reserve(self.copy_bytes + self.copy_bytes / 8);
            self.buf.extend_from_slice(copy::HEADER);
        }
    }
}

/// Rows sorted on the client (a Citus target, whole-number keys): staged as they come
/// while their keys arrive increasing (an export in key order); from the first batch out
/// of order on, through a [`Sorter`], staged at [`Sorting::finish`] in key order, one row
/// per key. When every row went through the sorter, the stage is in key order and
/// de-duplicated: the merge reads it as it is (see `merge::source`), sparing the server a
/// sort through a table of its own (0.7 s of a 1M-row shuffled load on Citus).
pub(crate) struct Sorting {
    sorter: Sorter,
    in_order: InOrder,
}

/// What a run of sorted rows may hold in memory before it is spilled to a file.
const SORT_RUN_BYTES: usize = 32 << 20;

impl Sorting {
    pub(crate) fn new(plan: &Plan) -> Option<Sorting> {
        let sorter = Sorter::new(8 * plan.key.len(), SORT_RUN_BYTES);
        sortable(plan).then(|| Sorting { sorter, in_order: InOrder::default() })
    }

    /// Takes the batch's rows into the sorter, or gives the batch back to be staged as it
    /// comes (its keys, and all before them, increasing).
    pub(crate) fn take(&mut self, plan: &Plan, batch: Batch) -> Result<Option<Batch>> {
        let w = 8 * plan.key.len();
        let keys = batch_keys(plan, &batch)?;
        if self.in_order.still(&keys, w) {
            return Ok(Some(batch));
        }
        for (r, &(row, line)) in batch.rows.iter().enumerate() {
            self.sorter.push(&keys[r * w..(r + 1) * w], row, line, |out| {
                for i in 0..plan.columns.len() {
                    encode_value(out, &batch.value(r, i));
                }
                Ok(())
            })?;
        }
        Ok(None)
    }

    /// Stages the sorted rows (once every batch is in, and the rows staged as they came
    /// are sent: those are earlier in the input). Returns how many, and for `--duplicates
    /// error` the first duplicate among them.
    pub(crate) fn finish(
        self,
        client: &mut Client,
        plan: &Plan,
        pending: &mut Pending,
    ) -> Result<(u64, Option<Duplicate>)> {
        let kinds = kinds(plan);
        let mut rows = 0;
        let duplicate = self.sorter.drain(plan.spec.duplicates, |r: Record<'_>| {
            rows += 1;
            pending.start();
            let values = decode_values(r.payload);
            if let Err((i, reason)) = copy::write_values(&mut pending.buf, r.row as i64, &kinds, |i| values[i].clone())
            {
                return Err(Error::Value {
                    at: Location { input: plan.input.clone(), row: r.row, line: r.line },
                    column: plan.columns[i].name.clone(),
                    value: values[i].shown(),
                    reason,
                });
            }
            pending.sorted.push((r.row, r.line, r.payload.to_vec()));
            match pending.buf.len() >= pending.copy_bytes {
                true => finish(client, plan, pending),
                false => Ok(()),
            }
        })?;
        finish(client, plan, pending)?;
        crate::trace::trace("sorted the rows");
        Ok((rows, duplicate))
    }
}

/// The `--duplicates error` error for the sorter's first duplicate.
pub(crate) fn duplicate_error(plan: &Plan, d: &Duplicate) -> Error {
    let values = decode_values(&d.payload);
    let key: Vec<Value<'static>> = plan.key.iter().map(|&k| values[k].clone().into_owned()).collect();
    Error::DuplicateKey {
        at: Location { input: plan.input.clone(), row: d.row, line: d.line },
        key: plan.show_key(&key),
        first_row: d.first_row,
    }
}

/// Sends the rows that wait, by one COPY.
pub(crate) fn finish(client: &mut Client, plan: &Plan, pending: &mut Pending) -> Result<()> {
    if pending.batches.is_empty() && pending.sorted.is_empty() {
        return Ok(());
    }
    pending.buf.extend_from_slice(copy::TRAILER);
    let sent = (|| {
        let mut writer = client.copy_in(&format!("COPY {} FROM STDIN (FORMAT binary)", pending.into))?;
        writer.write_all(&pending.buf).map_err(|e| std::io::Error::other(e.to_string())).ok();
        writer.finish()
    })();
    let done = sent.map(|_| ()).map_err(|e| copy_error(plan, pending, &e));
    pending.buf.clear();
    pending.batches.clear();
    pending.sorted.clear();
    done
}

/// Maps a COPY error's "line N, column cI" back to the input row and column.
fn copy_error(plan: &Plan, pending: &Pending, e: &postgres::Error) -> Error {
    let batches = &pending.batches;
    let where_ = e.as_db_error().and_then(|d| d.where_()).unwrap_or_default();
    let line =
        where_.split("line ").nth(1).and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok());
    let column = where_
        .split("column c")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok());
    // Line N is the COPY's Nth row: find its batch.
    let found = line.and_then(|l| {
        let mut r = l.checked_sub(1)?;
        batches.iter().find_map(|b| match r < b.rows.len() {
            true => Some((b, r)),
            false => {
                r -= b.rows.len();
                None
            }
        })
    });
    // A COPY of sorted rows: line N is the Nth of them.
    if let Some((row, line, payload)) = line.and_then(|l| pending.sorted.get(l.checked_sub(1)?)) {
        let at = Location { input: plan.input.clone(), row: *row, line: *line };
        return match column.filter(|&c| c < plan.columns.len()) {
            Some(c) => Error::Value {
                at,
                column: plan.columns[c].name.clone(),
                value: decode_values(payload).get(c).and_then(Value::shown),
                reason: message(e),
            },
            None => Error::Input { at, reason: message(e) },
        };
    }
    match (found, column) {
        (Some((batch, r)), Some(c)) if c < plan.columns.len() => {
            let (row, line) = batch.rows[r];
            Error::Value {
                at: Location { input: plan.input.clone(), row, line },
                column: plan.columns[c].name.clone(),
                value: batch.value(r, c).shown(),
                reason: message(e),
            }
        }
        (Some((batch, r)), _) => {
            let (row, line) = batch.rows[r];
            Error::Input { at: Location { input: plan.input.clone(), row, line }, reason: message(e) }
        }
        _ => Error::db("staging rows", message(e)),
    }
}

impl Default for KeyOrder {
    fn default() -> Self {
        KeyOrder { last: None, sorted: true, rows: 0, deduped: None }
    }
}

impl KeyOrder {
    /// `rows` more rows whose keys a [`Sorting`] found strictly increasing, after every
    /// row before them: the order stays as it was.
    pub(crate) fn increasing(&mut self, rows: u64) {
        self.rows += rows;
    }

    /// `rows` more rows staged after those observed, in key order and one per key (from a
    /// [`Sorting`]): the stage stays in key order when no row came before them.
    pub(crate) fn sorted_after(&mut self, rows: u64) {
        self.sorted &= self.rows == 0 || rows == 0;
        self.rows += rows;
    }

    pub(crate) fn observe(&mut self, plan: &Plan, batch: &Batch) {
        self.rows += batch.rows.len() as u64;
        if !self.sorted {
            return;
        }
        for r in 0..batch.rows.len() {
            let key: Option<Vec<i64>> = plan
                .key
                .iter()
                .map(|&i| match batch.value(r, i) {
                    Value::Int(v) => Some(v),
                    _ => None,
                })
                .collect();
            match key {
                Some(k) if self.last.as_ref().is_none_or(|last| k > *last) => self.last = Some(k),
                _ => {
                    self.sorted = false;
                    return;
                }
            }
        }
    }
}

/// Tracks, while staging, whether the keys arrive as strictly increasing whole numbers.
#[derive(Debug)]
pub(crate) struct KeyOrder {
    last: Option<Vec<i64>>,
    pub(super) sorted: bool,
    pub(super) rows: u64,
    /// The rows of the de-duplicated source, once made (`merge::source`).
    pub(super) deduped: Option<u64>,
}

fn kinds(plan: &Plan) -> Vec<Kind> {
    (0..plan.columns.len()).map(|i| Kind::of(native(plan, i))).collect()
}
