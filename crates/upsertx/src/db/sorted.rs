//! Rows in key order, de-duplicated, in bounded client memory: an external merge sort
//! for the stages that load faster from sorted rows (a keyed stage then only appends).
//!
//! Each row arrives as an order-preserving key (the same width for every row; see
//! [`int_key`]) and a payload, the row as its stage will send it. Rows gather in memory
//! up to a budget; a full run is sorted by key (then input order) and written to an
//! unnamed temporary file. [`Sorter::drain`] then merges the runs, and the rows still in
//! memory, into one stream in key order, keeping one row per key by the duplicates
//! policy (the last or the first in input order), or finding the first duplicate in
//! input order for `--duplicates error`.

use crate::batch::Batch;
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::spec::Duplicates;
use crate::value::{SqlType, Value};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

/// 8 bytes that sort as the integer does: the sign bit flipped, big-endian.
pub(crate) fn int_key(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(&((n as u64) ^ (1 << 63)).to_be_bytes());
}

/// True when every key column is an integer: the rows can be sorted on the client, whose
/// order and equality are then the database's. Not under `--newer-by`: which of a key's
/// rows wins depends on a column the sorter does not compare (the stage's own upsert
/// decides, see `sql::wins_in_input`).
pub(crate) fn sortable(plan: &Plan) -> bool {
    !plan.keyless()
        && plan.newer_by.is_none()
        && plan.key.iter().all(|&i| matches!(plan.columns[i].ty, SqlType::Integer { .. } | SqlType::Unsigned { .. }))
}

/// Writes the key of row `r` of the batch ([`sortable`] plans only).
pub(crate) fn batch_key(out: &mut Vec<u8>, plan: &Plan, batch: &Batch, r: usize) -> Result<()> {
    out.clear();
    for &k in &plan.key {
        match batch.value(r, k) {
            Value::Int(n) => int_key(out, n),
            // Checked against an integer column: nothing else gets here. Were it to,
            // failing beats merging two keys into one.
            other => {
                let (row, line) = batch.rows[r];
                return Err(Error::Input {
                    at: Location { input: plan.input.clone(), row, line },
                    reason: format!("key column {} holds {:?}, not an integer", plan.columns[k].name, other.shown()),
                });
            }
        }
    }
    Ok(())
}

/// The keys of every row of the batch, [`batch_key`] each, one after another.
pub(crate) fn batch_keys(plan: &Plan, batch: &Batch) -> Result<Vec<u8>> {
    let mut keys = Vec::with_capacity(batch.rows.len() * 8 * plan.key.len());
    let mut key = Vec::with_capacity(8 * plan.key.len());
    for r in 0..batch.rows.len() {
        batch_key(&mut key, plan, batch, r)?;
        keys.extend_from_slice(&key);
    }
    Ok(keys)
}

/// Whether a load's keys have arrived strictly increasing so far, batch by batch (an
/// export sorted by its key): while they have, a stage takes the rows as they come (it
/// only appends, and staging overlaps reading); from the first batch out of order on,
/// they go through a [`Sorter`]. Rows staged straight all come before the sorter's in
/// input order, so a stage that keeps the last or the first of a key's rows keeps the
/// right one.
#[derive(Default)]
pub(crate) struct InOrder {
    last: Option<Vec<u8>>,
    broken: bool,
}

impl InOrder {
    /// Takes the next batch's keys (`width` bytes each, as [`batch_keys`] writes them):
    /// true while every key so far is greater than the one before it.
    pub(crate) fn still(&mut self, keys: &[u8], width: usize) -> bool {
        if self.broken {
            return false;
        }
        let mut before = self.last.as_deref();
        for key in keys.chunks_exact(width) {
            if before.is_some_and(|b| key <= b) {
                self.broken = true;
                return false;
            }
            before = Some(key);
        }
        if let Some(key) = keys.chunks_exact(width).last() {
            self.last = Some(key.to_vec());
        }
        true
    }
}

/// Appends a value to a sorted row's payload: a tag byte, then its 8 bytes (4 for a
/// date, 1 for a boolean), or a length (4 bytes) and the bytes of a text or blob.
/// [`decode_values`] reads them back. (PostgreSQL's sorted stage; SQLite's and MySQL's
/// payloads are their own statements' encodings.)
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn encode_value(out: &mut Vec<u8>, v: &Value<'_>) {
    // A tag, then the value's own bytes (fixed width), or their length first.
    let fixed = |out: &mut Vec<u8>, tag: u8, b: &[u8]| {
        out.push(tag);
        out.extend_from_slice(b);
    };
    let bytes = |out: &mut Vec<u8>, tag: u8, b: &[u8]| {
        fixed(out, tag, &(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => fixed(out, 1, &[*b as u8]),
        Value::Int(n) => fixed(out, 2, &n.to_le_bytes()),
        Value::Real(f) => fixed(out, 3, &f.to_le_bytes()),
        Value::Text(t) => bytes(out, 4, t.as_bytes()),
        Value::Blob(b) => bytes(out, 5, b),
        Value::Date(d) => fixed(out, 6, &d.to_le_bytes()),
        Value::Time(t) => fixed(out, 7, &t.to_le_bytes()),
        Value::Timestamp { micros, zoned } => fixed(out, 8 + *zoned as u8, &micros.to_le_bytes()),
    }
}

/// The values [`encode_value`] wrote, in order.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn decode_values(mut payload: &[u8]) -> Vec<Value<'_>> {
    use std::borrow::Cow;
    let mut values = Vec::new();
    let take = |p: &mut &[u8], n: usize| -> [u8; 8] {
        let mut b = [0; 8];
        b[..n].copy_from_slice(&p[..n]);
        *p = &p[n..];
        b
    };
    while let Some((&tag, rest)) = payload.split_first() {
        payload = rest;
        values.push(match tag {
            0 => Value::Null,
            1 => Value::Bool(take(&mut payload, 1)[0] != 0),
            2 => Value::Int(i64::from_le_bytes(take(&mut payload, 8))),
            3 => Value::Real(f64::from_le_bytes(take(&mut payload, 8))),
            4 | 5 => {
                let len = u32::from_le_bytes(take(&mut payload, 4)[..4].try_into().unwrap()) as usize;
                let (b, rest) = payload.split_at(len);
                payload = rest;
                match tag {
                    4 => Value::Text(String::from_utf8_lossy(b)),
                    _ => Value::Blob(Cow::Borrowed(b)),
                }
            }
            6 => Value::Date(i32::from_le_bytes(take(&mut payload, 4)[..4].try_into().unwrap())),
            7 => Value::Time(i64::from_le_bytes(take(&mut payload, 8))),
            _ => Value::Timestamp { micros: i64::from_le_bytes(take(&mut payload, 8)), zoned: tag == 9 },
        });
    }
    values
}

/// The integer [`int_key`] wrote.
#[cfg(test)]
fn int_from_key(bytes: &[u8]) -> i64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[..8]);
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// One row as the merge yields it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub key: &'a [u8],
    /// The input row, and its line where the format has lines.
    pub row: u64,
    pub line: Option<u64>,
    pub payload: &'a [u8],
}

/// The first row in input order whose key an earlier row already had
/// (`--duplicates error`), and that earlier row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    pub row: u64,
    pub line: Option<u64>,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub first_row: u64,
}

#[derive(Clone, Copy)]
struct Meta {
    start: usize,
    row: u64,
    line: Option<u64>,
}

/// Rows gathered in memory, in input order.
#[derive(Default)]
struct Run {
    keys: Vec<u8>,
    meta: Vec<Meta>,
    payloads: Vec<u8>,
}

impl Run {
    fn record(&self, width: usize, i: usize) -> Record<'_> {
        let Meta { start, row, line } = self.meta[i];
        let end = self.meta.get(i + 1).map_or(self.payloads.len(), |m| m.start);
        Record { key: &self.keys[i * width..(i + 1) * width], row, line, payload: &self.payloads[start..end] }
    }

    /// Indexes in key order, rows of one key in input order.
    fn order(&self, width: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.meta.len() as u32).collect();
        let key = |i: u32| &self.keys[i as usize * width..(i as usize + 1) * width];
        match width {
            // One whole-number key: compared as the number its bytes sort as, not by
            // `memcmp` (a call per comparison: 10% of a 1M-row shuffled load's CPU).
            8 => order.sort_unstable_by_key(|&i| (u64::from_be_bytes(key(i).try_into().expect("8 bytes")), i)),
            _ => order.sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b))),
        }
        order
    }
}

pub(crate) struct Sorter {
    width: usize,
    budget: usize,
    run: Run,
    /// Sorted runs written out, in input order.
    spilled: Vec<File>,
}

fn io(e: std::io::Error) -> Error {
    Error::Io(format!("sorting the rows in a temporary file: {e}"))
}

impl Sorter {
    /// Keys of `width` bytes; at most about `budget` bytes held in memory.
    pub(crate) fn new(width: usize, budget: usize) -> Sorter {
        Sorter { width, budget, run: Run::default(), spilled: Vec::new() }
    }

    /// Adds a row: its key (`width` bytes), and its payload, written by `payload`.
    pub(crate) fn push(
        &mut self,
        key: &[u8],
        row: u64,
        line: Option<u64>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        debug_assert_eq!(key.len(), self.width);
        let start = self.run.payloads.len();
        if let Err(e) = payload(&mut self.run.payloads) {
            self.run.payloads.truncate(start);
            return Err(e);
        }
        self.run.keys.extend_from_slice(key);
        self.run.meta.push(Meta { start, row, line });
        if self.bytes() >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Client memory the rows in memory take (with their sort order, once sorted).
    fn bytes(&self) -> usize {
        self.run.payloads.len() + self.run.meta.len() * (std::mem::size_of::<Meta>() + self.width + 4)
    }

    fn spill(&mut self) -> Result<()> {
        let mut file = tempfile::tempfile().map_err(io)?;
        {
            let mut out = BufWriter::with_capacity(1 << 18, &mut file);
            for i in self.run.order(self.width) {
                let r = self.run.record(self.width, i as usize);
                out.write_all(r.key).map_err(io)?;
                out.write_all(&r.row.to_le_bytes()).map_err(io)?;
                out.write_all(&r.line.map_or(0, |l| l + 1).to_le_bytes()).map_err(io)?;
                out.write_all(&(r.payload.len() as u64).to_le_bytes()).map_err(io)?;
                out.write_all(r.payload).map_err(io)?;
            }
            out.flush().map_err(io)?;
        }
        file.rewind().map_err(io)?;
        self.spilled.push(file);
        self.run = Run::default();
        Ok(())
    }

    /// Yields the rows in key order, one per key by `duplicates`; for
    /// [`Duplicates::Error`], every first row of a key, and the first duplicate in input
    /// order, if any, in the end.
    pub(crate) fn drain(
        self,
        duplicates: Duplicates,
        mut emit: impl FnMut(Record<'_>) -> Result<()>,
    ) -> Result<Option<Duplicate>> {
        let width = self.width;
        let order = self.run.order(width);
        let mut cursors: Vec<Cursor> = self.spilled.into_iter().map(|f| Cursor::file(f, width)).collect();
        cursors.push(Cursor::Memory { run: &self.run, width, order: order.into_iter(), current: None });
        for c in &mut cursors {
            c.advance()?;
        }
        // The row kept for the current key (owned: its cursor moves on).
        let mut kept = Owned::default();
        let mut has_kept = false;
        let mut found: Option<Duplicate> = None;
        loop {
            // Few runs: a linear scan finds the smallest (key, run) faster than a heap.
            let mut next: Option<usize> = None;
            for (i, c) in cursors.iter().enumerate() {
                if let Some(r) = c.current() {
                    if next.is_none_or(|n| r.key < cursors[n].current().unwrap().key) {
                        next = Some(i);
                    }
                }
            }
            let Some(n) = next else { break };
            let r = cursors[n].current().unwrap();
            if has_kept && kept.key == r.key {
                match duplicates {
                    Duplicates::Last => kept.set(&r),
                    Duplicates::First => {}
                    Duplicates::Error => {
                        if found.as_ref().is_none_or(|d| r.row < d.row) {
                            found = Some(Duplicate {
                                row: r.row,
                                line: r.line,
                                key: r.key.to_vec(),
                                payload: r.payload.to_vec(),
                                first_row: kept.row,
                            });
                        }
                    }
                }
            } else {
                if has_kept {
                    emit(kept.record())?;
                }
                kept.set(&r);
                has_kept = true;
            }
            cursors[n].advance()?;
        }
        if has_kept {
            emit(kept.record())?;
        }
        Ok(found)
    }
}

#[derive(Default)]
struct Owned {
    key: Vec<u8>,
    row: u64,
    line: Option<u64>,
    payload: Vec<u8>,
}

impl Owned {
    fn set(&mut self, r: &Record<'_>) {
        self.key.clear();
        self.key.extend_from_slice(r.key);
        self.payload.clear();
        self.payload.extend_from_slice(r.payload);
        (self.row, self.line) = (r.row, r.line);
    }

    fn record(&self) -> Record<'_> {
        Record { key: &self.key, row: self.row, line: self.line, payload: &self.payload }
    }
}

/// A sorted run being read: a temporary file, or the rows still in memory.
enum Cursor<'a> {
    File { input: BufReader<File>, width: usize, current: Option<Owned> },
    Memory { run: &'a Run, width: usize, order: std::vec::IntoIter<u32>, current: Option<usize> },
}

impl<'a> Cursor<'a> {
    fn file(file: File, width: usize) -> Cursor<'a> {
        Cursor::File { input: BufReader::with_capacity(1 << 16, file), width, current: Some(Owned::default()) }
    }

    fn current(&self) -> Option<Record<'_>> {
        match self {
            Cursor::File { current, .. } => current.as_ref().map(Owned::record),
            Cursor::Memory { run, width, current, .. } => current.map(|i| run.record(*width, i)),
        }
    }

    fn advance(&mut self) -> Result<()> {
        match self {
            Cursor::Memory { order, current, .. } => *current = order.next().map(|i| i as usize),
            Cursor::File { input, width, current } => {
                let Some(owned) = current else { return Ok(()) };
                owned.key.resize(*width, 0);
                match input.read_exact(&mut owned.key) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        *current = None;
                        return Ok(());
                    }
                    Err(e) => return Err(io(e)),
                }
                let mut word = [0u8; 8];
                let mut next = || input.read_exact(&mut word).map(|()| u64::from_le_bytes(word)).map_err(io);
                owned.row = next()?;
                owned.line = next()?.checked_sub(1);
                let len = next()? as usize;
                owned.payload.resize(len, 0);
                input.read_exact(&mut owned.payload).map_err(io)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_as_they_went_in() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Real(-0.0),
            Value::text("naïve, {x}\\".into()),
            Value::Text("".into()),
            Value::Blob(vec![0, 255].into()),
            Value::Date(-719_162),
            Value::Time(86_399_999_999),
            Value::Timestamp { micros: -1, zoned: false },
            Value::Timestamp { micros: 1_700_000_000_000_000, zoned: true },
        ];
        let mut payload = Vec::new();
        for v in &values {
            encode_value(&mut payload, v);
        }
        let back = decode_values(&payload);
        assert_eq!(back.len(), values.len());
        for (a, b) in back.iter().zip(&values) {
            match (a, b) {
                (Value::Real(x), Value::Real(y)) => assert_eq!(x.to_bits(), y.to_bits()),
                _ => assert_eq!(a, b),
            }
        }
    }

    /// Sorts (key, payload) rows numbered from 1 with the given budget.
    fn sort(
        rows: &[(i64, &str)],
        budget: usize,
        duplicates: Duplicates,
    ) -> (Vec<(i64, u64, String)>, Option<Duplicate>) {
        let mut sorter = Sorter::new(8, budget);
        for (i, (k, p)) in rows.iter().enumerate() {
            let mut key = Vec::new();
            int_key(&mut key, *k);
            let row = i as u64 + 1;
            sorter
                .push(&key, row, row.is_multiple_of(2).then_some(row * 10), |out| {
                    out.extend_from_slice(p.as_bytes());
                    Ok(())
                })
                .unwrap();
        }
        let mut out = Vec::new();
        let dup = sorter
            .drain(duplicates, |r| {
                assert_eq!(r.line, r.row.is_multiple_of(2).then_some(r.row * 10));
                out.push((int_from_key(r.key), r.row, String::from_utf8(r.payload.to_vec()).unwrap()));
                Ok(())
            })
            .unwrap();
        (out, dup)
    }

    const ROWS: &[(i64, &str)] =
        &[(5, "a"), (-1, "b"), (5, "c"), (i64::MAX, ""), (3, "d"), (-1, "e"), (i64::MIN, "f"), (5, "g"), (0, "h")];

    #[test]
    fn the_same_rows_whatever_the_budget() {
        // 1 byte: every row a run of its own; 100: a few runs; 1 MiB: all in memory.
        for budget in [1, 100, 1 << 20] {
            let (last, dup) = sort(ROWS, budget, Duplicates::Last);
            assert_eq!(dup, None);
            let want = [(i64::MIN, 7, "f"), (-1, 6, "e"), (0, 9, "h"), (3, 5, "d"), (5, 8, "g"), (i64::MAX, 4, "")];
            let want: Vec<_> = want.iter().map(|&(k, r, p)| (k, r, p.to_string())).collect();
            assert_eq!(last, want, "budget {budget}");

            let (first, _) = sort(ROWS, budget, Duplicates::First);
            let firsts: Vec<u64> = first.iter().map(|r| r.1).collect();
            assert_eq!(firsts, [7, 2, 9, 5, 1, 4], "budget {budget}");

            // The first duplicate in input order is row 3 (key 5, first at row 1), though
            // key -1's duplicate (row 6) comes first in key order.
            let (kept, dup) = sort(ROWS, budget, Duplicates::Error);
            assert_eq!(kept, first);
            let dup = dup.unwrap();
            assert_eq!((int_from_key(&dup.key), dup.row, dup.line, dup.first_row), (5, 3, None, 1));
            assert_eq!(dup.payload, b"c");
        }
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert_eq!(sort(&[], 1, Duplicates::Error), (vec![], None));
    }
}
