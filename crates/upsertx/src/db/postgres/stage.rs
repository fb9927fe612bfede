//! Staging for PostgreSQL: rows are sent by binary COPY (one COPY per about 1 MB) into a
//! temporary table typed like the target, with the input row number as `ord`: type
//! errors the server finds (a domain's CHECK, numeric precision) name their COPY line,
//! which maps back to the input row.

use super::copy::{self, Kind};
use super::session::message;
use crate::batch::Batch;
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
}

impl Pending {
    /// The co-located stage the rows go to, if they go to one (`colocated.rs`).
    pub(crate) fn colocated(&self) -> Option<&str> {
        (self.into != STAGE).then_some(self.into.as_str())
    }
}

impl Default for Pending {
    fn default() -> Self {
        Pending { buf: Vec::new(), batches: Vec::new(), into: STAGE.to_string(), copy_bytes: COPY_BYTES }
    }
}

/// About how many encoded bytes one COPY sends.
const COPY_BYTES: usize = 1 << 20;

/// Encodes `batch` for the stage; sends what waits once it is [`COPY_BYTES`].
pub(crate) fn stage(client: &mut Client, plan: &Plan, pending: &mut Pending, batch: Batch) -> Result<()> {
    let kinds = kinds(plan);
    let buf = &mut pending.buf;
    if buf.is_empty() {
        buf.reserve(pending.copy_bytes + pending.copy_bytes / 8);
        buf.extend_from_slice(copy::HEADER);
    }
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

/// Sends the rows that wait, by one COPY.
pub(crate) fn finish(client: &mut Client, plan: &Plan, pending: &mut Pending) -> Result<()> {
    if pending.batches.is_empty() {
        return Ok(());
    }
    pending.buf.extend_from_slice(copy::TRAILER);
    let sent = (|| {
        let mut writer = client.copy_in(&format!("COPY {} FROM STDIN (FORMAT binary)", pending.into))?;
        writer.write_all(&pending.buf).map_err(|e| std::io::Error::other(e.to_string())).ok();
        writer.finish()
    })();
    let done = sent.map(|_| ()).map_err(|e| copy_error(plan, &pending.batches, &e));
    pending.buf.clear();
    pending.batches.clear();
    done
}

/// Maps a COPY error's "line N, column cI" back to the input row and column.
fn copy_error(plan: &Plan, batches: &[Batch], e: &postgres::Error) -> Error {
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
