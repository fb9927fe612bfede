//! Staging for PostgreSQL: rows are sent by binary COPY into a temporary table typed like
//! the target, with the input row number as `ord`. The batches are encoded on the load's
//! thread and written on a COPY thread of their own ([`stream`]), one COPY per about
//! [`COPY_BYTES`], so that reading, encoding and the server's work overlap. Type errors
//! the server finds (a domain's CHECK, numeric precision) name their COPY line, which maps
//! back to the input row; the value is read back from the bytes sent.

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
use std::sync::mpsc::Receiver;

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

/// The table staged rows go to: the temporary [`STAGE`], or the co-located stage
/// (`colocated.rs`).
pub(crate) struct Destination(pub(crate) String);

impl Destination {
    /// The co-located stage the rows go to, if they go to one (`colocated.rs`).
    pub(crate) fn colocated(&self) -> Option<&str> {
        (self.0 != STAGE).then_some(self.0.as_str())
    }
}

impl Default for Destination {
    fn default() -> Self {
        Destination(STAGE.to_string())
    }
}

/// About how many encoded bytes one COPY sends. A COPY is written as its rows are encoded
/// (the server reads one part while the client encodes the next), and its bytes are kept
/// until it ends, to name a row the server refuses. Fewer COPYs stage faster: 1M
/// two-column rows took 0.89 s by COPYs of 64 KB, 0.60 s of 1 MB, 0.49 s of 16 MB (each
/// COPY ends waiting for the server to take its last part; into a distributed stage, each
/// COPY also opens a stream to every shard). The bytes kept are the load's largest part of
/// memory.
pub(crate) const COPY_BYTES: usize = 8 << 20;

/// Encoded rows for the COPY stream, and each one's input row and line: the server names
/// a row it refuses by its line in the COPY, and its value is read back from the bytes.
pub(crate) struct Chunk {
    bytes: Vec<u8>,
    rows: Vec<(u64, Option<u64>)>,
}

/// Chunks on their way to the COPY thread: one may wait while the thread writes the one
/// before (each is a batch: up to 4 MB of 1 KB rows).
const CHUNKS_AHEAD: usize = 0;

/// Sends the chunks `produce` gives to `into`, by COPYs of about [`COPY_BYTES`] each,
/// written on a thread of their own while `produce` encodes the next. Returns the first
/// error: the COPY's (its rows came first in the input), else `produce`'s.
pub(crate) fn stream(
    client: &mut Client,
    plan: &Plan,
    into: &Destination,
    produce: impl FnOnce(&mut dyn FnMut(Chunk) -> Result<()>) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS_AHEAD);
        let copying = std::thread::Builder::new()
            .name("upsertx-copy".into())
            .spawn_scoped(scope, move || copy_all(client, plan, into, rx))
            .map_err(|e| Error::Io(format!("starting the COPY thread: {e}")))?;
        // A send fails only once the COPY thread has ended on an error, which is returned.
        let mut send = move |chunk: Chunk| tx.send(chunk).map_err(|_| Error::db("staging rows", "the COPY ended"));
        let produced = produce(&mut send);
        drop(send);
        let copied = copying.join().unwrap_or_else(|_| Err(Error::Io("the COPY thread panicked".into())));
        copied.and(produced)
    })
}

/// The COPY thread: one COPY per about [`COPY_BYTES`] of chunks, each chunk written as it
/// comes and kept until the COPY ends.
fn copy_all(client: &mut Client, plan: &Plan, into: &Destination, chunks: Receiver<Chunk>) -> Result<()> {
    let mut chunks = chunks.into_iter().peekable();
    let statement = format!("COPY {} FROM STDIN (FORMAT binary)", into.0);
    while chunks.peek().is_some() {
        let mut held = Vec::new();
        let sent = (|| {
            let mut writer = client.copy_in(&statement)?;
            // A write fails once the server has refused a row: its error comes at the end.
            let mut write =
                |bytes: &[u8]| writer.write_all(bytes).map_err(|e| std::io::Error::other(e.to_string())).ok();
            write(copy::HEADER);
            let mut bytes = 0;
            while bytes < COPY_BYTES {
                let Some(mut chunk) = chunks.next() else { break };
                write(&chunk.bytes);
                // Kept: without the room it grew into.
                chunk.bytes.shrink_to_fit();
                bytes += chunk.bytes.len();
                held.push(chunk);
            }
            write(copy::TRAILER);
            writer.finish()
        })();
        sent.map_err(|e| copy_error(plan, &held, &e))?;
    }
    Ok(())
}

/// Encodes `batch` for the stage: a value the COPY cannot carry is named.
pub(crate) fn encode(plan: &Plan, kinds: &[Kind], batch: Batch) -> Result<Chunk> {
    let mut bytes = Vec::with_capacity(64 * batch.rows.len());
    for (r, (row, line)) in batch.rows.iter().enumerate() {
        if let Err((i, reason)) = copy::write_row(&mut bytes, *row as i64, kinds, &batch, r) {
            return Err(refused(plan, (*row, *line), i, batch.value(r, i).shown(), reason));
        }
    }
    Ok(Chunk { bytes, rows: batch.rows })
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
        into: &Destination,
    ) -> Result<(u64, Option<Duplicate>)> {
        let kinds = kinds(plan);
        let mut rows = 0;
        let mut duplicate = None;
        stream(client, plan, into, |send| {
            let mut bytes = Vec::new();
            let mut rows_of = Vec::new();
            duplicate = self.sorter.drain(plan.spec.duplicates, |r: Record<'_>| {
                rows += 1;
                let values = decode_values(r.payload);
                if let Err((i, reason)) = copy::write_values(&mut bytes, r.row as i64, &kinds, |i| values[i].clone()) {
                    return Err(refused(plan, (r.row, r.line), i, values[i].shown(), reason));
                }
                rows_of.push((r.row, r.line));
                match bytes.len() >= CHUNK_BYTES {
                    true => send(Chunk { bytes: std::mem::take(&mut bytes), rows: std::mem::take(&mut rows_of) }),
                    false => Ok(()),
                }
            })?;
            match rows_of.is_empty() {
                true => Ok(()),
                false => send(Chunk { bytes, rows: rows_of }),
            }
        })?;
        crate::trace::trace("sorted the rows");
        Ok((rows, duplicate))
    }
}

/// About how many encoded bytes of sorted rows go to the COPY thread at once.
const CHUNK_BYTES: usize = 128 << 10;

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

/// Maps a COPY error's "line N, column cI" back to the input row and column, and reads
/// the value back from the bytes sent (`held`: the COPY's chunks, in order).
fn copy_error(plan: &Plan, held: &[Chunk], e: &postgres::Error) -> Error {
    let where_ = e.as_db_error().and_then(|d| d.where_()).unwrap_or_default();
    let number = |after: &str| {
        where_.split(after).nth(1).and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok())
    };
    let column = number("column c").filter(|&c| c < plan.columns.len());
    // Line N is the COPY's Nth row: find its chunk.
    let found = number("line ").and_then(|l| {
        let mut r = l.checked_sub(1)?;
        held.iter().find_map(|chunk| match r < chunk.rows.len() {
            true => Some((chunk, r)),
            false => {
                r -= chunk.rows.len();
                None
            }
        })
    });
    let Some((chunk, r)) = found else { return Error::db("staging rows", message(e)) };
    // Field 0 is the row's ordinal.
    let value = column.and_then(|c| copy::read_value(kinds(plan)[c], copy::read_field(&chunk.bytes, r, c + 1)?));
    match (column, value) {
        (Some(c), Some(value)) => refused(plan, chunk.rows[r], c, value.shown(), message(e)),
        _ => {
            let (row, line) = chunk.rows[r];
            Error::Input { at: Location { input: plan.input.clone(), row, line }, reason: message(e) }
        }
    }
}

/// Value `shown` of column `i` at input (row, line), refused for `reason`.
fn refused(plan: &Plan, (row, line): (u64, Option<u64>), i: usize, shown: Option<String>, reason: String) -> Error {
    Error::Value {
        at: Location { input: plan.input.clone(), row, line },
        column: plan.columns[i].name.clone(),
        value: shown,
        reason,
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

pub(crate) fn kinds(plan: &Plan) -> Vec<Kind> {
    (0..plan.columns.len()).map(|i| Kind::of(native(plan, i))).collect()
}
