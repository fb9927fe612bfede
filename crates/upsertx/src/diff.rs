//! The keys a table has and its source lacks, found in memory: how `upsertx sync`'s
//! incremental deletes avoid staging every source key (see `engine::delete_by_keys`).
//!
//! The table's keys (read in the load's transaction, after the merge) and the source's
//! are both checked against the key's plan columns, so a key is the same value on both
//! sides when its checked values are the same (compared bit for bit). The table's keys go
//! into a hash table; each source key marks the one it finds. The table's keys left
//! unmarked are the ones to delete, exactly, on one condition: every source key found one.
//! Two checked values that differ may still be equal to the database (`'a'` and `'A'`
//! under a case-insensitive collation, `1.5` and `1.50`), so a source key that found
//! none might be one the database holds under another spelling; then [`Keys::gone`]
//! says it cannot tell and the caller stages every source key instead. So it does when
//! the table's keys cannot be held this way (a NULL in a key, two rows whose keys check
//! to the same value, a value the check refuses).

use crate::batch::{Batch, Column, ColumnBuilder};
use crate::check;
use crate::error::{quote_ident, Error, Result};
use crate::plan::{Plan, PlanColumn};
use crate::source::Input;
use crate::value::Value;
use arrow_array::Array;
use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Rows per batch of keys read.
const BATCH_ROWS: usize = 4096;

/// The table's keys, each marked once a source key finds it.
pub(crate) struct Keys {
    batches: Vec<Batch>,
    found: Vec<Vec<bool>>,
    /// Each key's hash, by batch.
    hashes: Vec<Vec<u64>>,
    /// (batch, row) of each key, by its hash.
    index: HashTable<(u32, u32)>,
    state: DefaultHashBuilder,
    /// Source keys that found no table key.
    strays: u64,
}

impl Keys {
    /// Reads the table's keys (`input`: the key columns, by name); `None` when they
    /// cannot be held as distinct checked values (see the module's docs).
    pub(crate) fn read(plan: &Plan, mut input: Input, name: &str) -> Result<Option<Keys>> {
        let columns = key_columns(plan, input.columns(), name)?;
        let mut keys = Keys::new();
        loop {
            let batch = match check::next_batch(&mut input, &columns, name, BATCH_ROWS) {
                Ok(Some(b)) => b,
                Ok(None) => break,
                // A value the check refuses (a NULL in a key): not comparable here.
                Err(Error::Value { .. } | Error::Input { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            if !keys.add(batch) {
                return Ok(None);
            }
        }
        Ok(Some(keys))
    }

    fn new() -> Keys {
        Keys {
            batches: Vec::new(),
            found: Vec::new(),
            hashes: Vec::new(),
            index: HashTable::new(),
            state: DefaultHashBuilder::default(),
            strays: 0,
        }
    }

    /// Adds a batch of the table's keys; `false` when one of them is there already.
    fn add(&mut self, mut batch: Batch) -> bool {
        let b = self.batches.len();
        self.found.push(vec![false; batch.rows.len()]);
        self.hashes.push(hashes(&self.state, &batch));
        // Where each row was read: not needed again (24 bytes a key).
        batch.rows = Vec::new();
        self.batches.push(batch);
        let Keys { batches, index, hashes, .. } = self;
        let batch = &batches[b];
        for (r, &hash) in hashes[b].iter().enumerate() {
            if index.find(hash, |&(ob, or)| same_key(&batches[ob as usize], or as usize, batch, r)).is_some() {
                return false;
            }
            index.insert_unique(hash, (b as u32, r as u32), |&(ob, or)| hashes[ob as usize][or as usize]);
        }
        true
    }

    /// How many keys the table has.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Marks the table's keys that the source's keys in `batch` (checked against
    /// [`key_columns`]) find.
    pub(crate) fn find(&mut self, batch: &Batch) {
        for (r, hash) in hashes(&self.state, batch).into_iter().enumerate() {
            let batches = &self.batches;
            match self.index.find(hash, |&(b, row)| same_key(&batches[b as usize], row as usize, batch, r)) {
                Some(&(b, row)) => self.found[b as usize][row as usize] = true,
                None => self.strays += 1,
            }
        }
    }

    /// The table's keys no source key found, in batches of the key columns; `None` when
    /// a source key found none, so that the database must compare them (see the
    /// module's docs).
    pub(crate) fn gone(self) -> Option<Vec<Batch>> {
        if self.strays > 0 {
            return None;
        }
        let width = self.batches.first().map_or(0, |b| b.columns.len());
        let mut out = Vec::new();
        let mut builders: Vec<ColumnBuilder> = Vec::new();
        let mut rows = Vec::new();
        let mut staged = 0u64;
        for (batch, found) in self.batches.iter().zip(&self.found) {
            for r in (0..found.len()).filter(|&r| !found[r]) {
                if rows.is_empty() {
                    builders = (0..width).map(|_| ColumnBuilder::new(BATCH_ROWS)).collect();
                }
                for (c, b) in builders.iter_mut().enumerate() {
                    b.push(batch.value(r, c));
                }
                staged += 1;
                rows.push((staged, None));
                if rows.len() == BATCH_ROWS {
                    let columns = std::mem::take(&mut builders).into_iter().map(ColumnBuilder::finish).collect();
                    out.push(Batch { columns, rows: std::mem::take(&mut rows) });
                }
            }
        }
        if !rows.is_empty() {
            out.push(Batch { columns: builders.into_iter().map(ColumnBuilder::finish).collect(), rows });
        }
        Some(out)
    }
}

/// The plan's key columns as the columns of an input that holds them (by name, as the
/// table spells them or in another case), in key order: what both sides' keys are
/// checked against.
pub(crate) fn key_columns(plan: &Plan, input: &[String], name: &str) -> Result<Vec<PlanColumn>> {
    plan.key
        .iter()
        .map(|&i| {
            let c = &plan.columns[i];
            let at = input
                .iter()
                .position(|n| *n == c.name)
                .or_else(|| input.iter().position(|n| n.eq_ignore_ascii_case(&c.name)))
                .ok_or_else(|| Error::Schema(format!("{name}: key column {} is not in it", quote_ident(&c.name))))?;
            Ok(PlanColumn { input: at, fill: None, ..c.clone() })
        })
        .collect()
}

/// A batch of the key columns (in key order) as a batch of the plan's columns, for the
/// stage: the key's values, what the load fills, NULL in the others.
pub(crate) fn as_plan_rows(plan: &Plan, keys: Batch) -> Batch {
    let n = keys.rows.len();
    let mut key_columns: Vec<Option<check::Column>> = keys.columns.into_iter().map(Some).collect();
    let columns = plan
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match plan.key.iter().position(|&k| k == i) {
            Some(at) => key_columns[at].take().expect("each key column once"),
            None => check::filled(c, n),
        })
        .collect();
    Batch { columns, rows: keys.rows }
}

/// The hash of each row's key, a column at a time.
fn hashes(state: &DefaultHashBuilder, batch: &Batch) -> Vec<u64> {
    let mut out = vec![0u64; batch.rows.len()];
    for column in &batch.columns {
        match column {
            Column::Int(a) => {
                for (r, h) in out.iter_mut().enumerate() {
                    *h = state.hash_one((*h, a.is_valid(r).then(|| a.value(r))));
                }
            }
            Column::Text(a) => {
                for (r, h) in out.iter_mut().enumerate() {
                    *h = state.hash_one((*h, a.is_valid(r).then(|| a.value(r))));
                }
            }
            other => {
                for (r, h) in out.iter_mut().enumerate() {
                    *h = match other.get(r) {
                        Value::Null => state.hash_one((*h, 0u8)),
                        Value::Bool(b) => state.hash_one((*h, 1u8, b)),
                        Value::Int(i) => state.hash_one((*h, Some(i))),
                        Value::Real(f) => state.hash_one((*h, 3u8, f.to_bits())),
                        Value::Text(s) => state.hash_one((*h, Some(&*s))),
                        Value::Blob(b) => state.hash_one((*h, 5u8, &*b)),
                        Value::Date(d) => state.hash_one((*h, 6u8, d)),
                        Value::Time(t) => state.hash_one((*h, 7u8, t)),
                        Value::Timestamp { micros, zoned } => state.hash_one((*h, 8u8, micros, zoned)),
                    };
                }
            }
        }
    }
    out
}

/// Whether row `r` of `a` and row `s` of `b` hold the same key, bit for bit.
fn same_key(a: &Batch, r: usize, b: &Batch, s: usize) -> bool {
    a.columns.iter().zip(&b.columns).all(|(x, y)| match (x, y) {
        (Column::Int(x), Column::Int(y)) => (x.is_valid(r), x.value(r)) == (y.is_valid(s), y.value(s)),
        (Column::Text(x), Column::Text(y)) => (x.is_valid(r), x.value(r)) == (y.is_valid(s), y.value(s)),
        _ => match (x.get(r), y.get(s)) {
            (Value::Real(p), Value::Real(q)) => p.to_bits() == q.to_bits(),
            (p, q) => p == q,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: &[(i64, &str)]) -> Batch {
        Batch::from_rows(
            rows.iter()
                .enumerate()
                .map(|(i, (n, s))| (i as u64 + 1, None, vec![Value::Int(*n), Value::text(s.to_string())]))
                .collect(),
        )
    }

    fn keys(rows: &[(i64, &str)]) -> Keys {
        let mut k = Keys::new();
        assert!(k.add(batch(rows)));
        k
    }

    fn gone(k: Keys) -> Option<Vec<(i64, String)>> {
        k.gone().map(|batches| {
            batches
                .iter()
                .flat_map(|b| {
                    (0..b.rows.len()).map(move |r| match (b.value(r, 0), b.value(r, 1)) {
                        (Value::Int(n), Value::Text(s)) => (n, s.into_owned()),
                        other => panic!("{other:?}"),
                    })
                })
                .collect()
        })
    }

    #[test]
    fn the_keys_no_source_key_found_are_gone() {
        let mut k = keys(&[(1, "a"), (2, "a"), (3, "b")]);
        assert_eq!(k.len(), 3);
        k.find(&batch(&[(3, "b"), (1, "a")]));
        // A source key twice finds its table key twice.
        k.find(&batch(&[(1, "a")]));
        assert_eq!(gone(k), Some(vec![(2, "a".to_string())]));
    }

    #[test]
    fn a_source_key_the_table_lacks_leaves_it_to_the_database() {
        let mut k = keys(&[(1, "a"), (2, "a")]);
        // 'A' may be 'a' to a case-insensitive collation: only the database can say.
        k.find(&batch(&[(1, "A"), (2, "a")]));
        assert_eq!(gone(k), None);
    }

    #[test]
    fn a_key_twice_in_the_table_is_not_held() {
        let mut k = keys(&[(1, "a")]);
        assert!(k.add(batch(&[(2, "a")])));
        assert!(!k.add(batch(&[(1, "a")])));
    }
}
