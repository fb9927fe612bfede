//! Staging for SQLite: rows go into a temporary `WITHOUT ROWID` table whose primary
//! key is the load's key, with one prepared INSERT reused per row, which leaves the
//! stage in key order, so the merge walks the target's key index in order. See
//! [`Stager`] for the order the rows arrive in and where duplicates are dropped.

use super::sql::q;
use crate::batch::{Batch, Column};
use crate::db::sorted::{batch_keys, sortable, InOrder, Sorter};
use crate::db::sql::{self, stage_col};
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::spec::Duplicates;
use crate::value::Value;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ErrorCode, OptionalExtension, ToSql};

pub(super) const STAGE: &str = "temp.upsertx_stage";

/// The definition of staged column `i` in a temporary table: a key column NOT NULL with
/// its index's collation (so that keys compare as the target's do).
pub(super) fn column_def(plan: &Plan, i: usize) -> String {
    let coll = plan
        .key
        .iter()
        .position(|&k| k == i)
        .and_then(|pos| plan.key_constraint.collations.get(pos).cloned().flatten())
        .map(|c| format!(" COLLATE {}", q(&c)))
        .unwrap_or_default();
    let not_null = if plan.columns[i].is_key { " NOT NULL" } else { "" };
    format!("{}{not_null}{coll}", stage_col(i))
}

pub(crate) fn stage_table_sql(plan: &Plan) -> String {
    let mut defs = vec!["ord INTEGER NOT NULL".to_string()];
    defs.extend((0..plan.columns.len()).map(|i| column_def(plan, i)));
    // Without a key (see `Plan::keyless`), every input row is staged.
    let key: Vec<String> = match plan.keyless() {
        true => vec!["ord".into()],
        false => plan.key.iter().map(|&i| stage_col(i)).collect(),
    };
    format!(
        "DROP TABLE IF EXISTS {STAGE}; CREATE TABLE {STAGE} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
        defs.join(", "),
        key.join(", ")
    )
}

/// Stages a load's rows. Integer keys: batches go straight into the stage while the keys
/// arrive in increasing order (an export sorted by its key: staging overlaps reading);
/// from the first key out of order on, through a [`Sorter`], staged once every row is
/// in, in key order, one per key (the stage then only appends, and needs little cache).
/// Other keys: batch by batch. The stage's primary key applies the duplicates policy
/// between rows staged at different times (`OR REPLACE`, `OR IGNORE`, or an error).
pub(crate) struct Stager {
    sorter: Option<Sorter>,
    /// Whether every key so far came in increasing order.
    in_order: InOrder,
    /// [`RUN_BYTES`]; smaller in tests, to cross run boundaries with a few rows.
    pub(super) run_bytes: usize,
}

impl Default for Stager {
    fn default() -> Stager {
        Stager { sorter: None, in_order: InOrder::default(), run_bytes: RUN_BYTES }
    }
}

/// What a run of sorted rows may hold before it is spilled to a temporary file.
const RUN_BYTES: usize = 32 << 20;
/// The stage's page cache when rows arrive in key order, and when they do not.
const SORTED_STAGE_CACHE: usize = 8 << 20;
const STAGE_CACHE: usize = 64 << 20;

impl Stager {
    pub(crate) fn create(&mut self, conn: &rusqlite::Connection, plan: &Plan) -> Result<()> {
        // Rows arriving in key order only append to the stage: a small cache does.
        let cache = if sortable(plan) { SORTED_STAGE_CACHE } else { STAGE_CACHE };
        let sql = format!("PRAGMA temp.cache_size = -{}; {}", cache >> 10, stage_table_sql(plan));
        conn.execute_batch(&sql).map_err(|e| Error::db("creating the staging table", e))?;
        self.sorter = sortable(plan).then(|| Sorter::new(8 * plan.key.len(), self.run_bytes));
        self.in_order = InOrder::default();
        Ok(())
    }

    pub(crate) fn push(&mut self, conn: &rusqlite::Connection, plan: &Plan, batch: &Batch) -> Result<()> {
        // SQLite keeps dates and times as text: format each typed column once, into one buffer.
        let texts: Vec<Option<Column>> = batch.columns.iter().map(Column::temporal_as_text).collect();
        let columns: Vec<&Column> = texts.iter().zip(&batch.columns).map(|(t, c)| t.as_ref().unwrap_or(c)).collect();
        let Some(sorter) = &mut self.sorter else { return insert_batch(conn, plan, batch, &columns) };
        let w = 8 * plan.key.len();
        let keys = batch_keys(plan, batch)?;
        if self.in_order.still(&keys, w) {
            return insert_batch(conn, plan, batch, &columns);
        }
        let key = |r: usize| &keys[r * w..(r + 1) * w];
        for (r, &(row, line)) in batch.rows.iter().enumerate() {
            sorter.push(key(r), row, line, |out| {
                for c in &columns {
                    encode(out, c.get(r));
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Stages the sorted rows: call once every batch is pushed.
    pub(crate) fn finish(&mut self, conn: &rusqlite::Connection, plan: &Plan) -> Result<()> {
        let Some(sorter) = self.sorter.take() else { return Ok(()) };
        let params: Vec<String> = (1..=plan.columns.len() + 1).map(|i| format!("?{i}")).collect();
        // One row per key arrives, but rows staged straight (earlier in the input) may
        // hold its key already.
        let sql = format!("{} INTO {STAGE} VALUES ({})", verb(plan), params.join(", "));
        let mut stmt = conn.prepare(&sql).map_err(|e| Error::db("staging rows", e))?;
        // `--duplicates error`: the first duplicate in input order, of a staged row or
        // of another sorted one.
        let mut first: Option<(u64, Option<u64>, Vec<Value<'static>>, u64)> = None;
        let sorted = sorter.drain(plan.spec.duplicates, |r| {
            let bound = (|| {
                stmt.raw_bind_parameter(1, r.row as i64)?;
                for (i, v) in decode(r.payload).enumerate() {
                    stmt.raw_bind_parameter(i + 2, ToSqlOutput::Borrowed(v))?;
                }
                stmt.raw_execute()
            })();
            match bound {
                Ok(_) => Ok(()),
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    let key = key_of(plan, r.payload);
                    let earlier = first_row_of(conn, plan, &key)?.unwrap_or(0);
                    if first.as_ref().is_none_or(|f| r.row < f.0) {
                        first = Some((r.row, r.line, key, earlier));
                    }
                    Ok(())
                }
                Err(e) => {
                    let at = Location { input: plan.input.clone(), row: r.row, line: r.line };
                    Err(Error::db(format!("{at}: staging the row"), e))
                }
            }
        })?;
        crate::trace::trace("sorted the rows");
        let sorted = sorted.map(|d| (d.row, d.line, key_of(plan, &d.payload), d.first_row));
        let duplicate = match (first, sorted) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some((row, line, key, first_row)) = duplicate {
            let at = Location { input: plan.input.clone(), row, line };
            return Err(Error::DuplicateKey { at, key: plan.show_key(&key), first_row });
        }
        Ok(())
    }
}

/// The key of a sorted row's payload.
fn key_of(plan: &Plan, payload: &[u8]) -> Vec<Value<'static>> {
    let values: Vec<ValueRef> = decode(payload).collect();
    plan.key.iter().map(|&k| from_ref(values[k]).into_owned()).collect()
}

/// How the stage takes a row whose key it holds: the last wins, the first, or an error.
fn verb(plan: &Plan) -> &'static str {
    match plan.spec.duplicates {
        Duplicates::Last => "INSERT OR REPLACE",
        Duplicates::First => "INSERT OR IGNORE",
        Duplicates::Error => "INSERT",
    }
}

/// A staged value as the key shown in a message.
fn from_ref(v: ValueRef<'_>) -> Value<'_> {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.into()),
    }
}

/// One value in a sorted row's payload: a tag byte, then 8 bytes for a number, or a
/// length (4 bytes) and the bytes of a text or blob.
fn encode(out: &mut Vec<u8>, v: Value<'_>) {
    let mut bytes = |tag: u8, b: &[u8]| {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    match v {
        Value::Null => out.push(0),
        Value::Bool(b) => {
            out.push(1);
            out.extend_from_slice(&(b as i64).to_le_bytes());
        }
        Value::Int(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Real(f) => {
            out.push(2);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Text(s) => bytes(3, s.as_bytes()),
        Value::Blob(b) => bytes(4, &b),
        // Formatted as text by `temporal_as_text` before they get here; if not, as `to_sql`.
        v @ (Value::Date(_) | Value::Time(_) | Value::Timestamp { .. }) => {
            bytes(3, v.temporal_text().unwrap_or_default().as_bytes())
        }
    }
}

/// The values [`encode`] wrote, in order.
fn decode(mut p: &[u8]) -> impl Iterator<Item = ValueRef<'_>> {
    std::iter::from_fn(move || {
        let (&tag, rest) = p.split_first()?;
        let (value, rest) = match tag {
            0 => (ValueRef::Null, rest),
            1 | 2 => {
                let (n, rest) = rest.split_at(8);
                let n: [u8; 8] = n.try_into().ok()?;
                let v = if tag == 1 {
                    ValueRef::Integer(i64::from_le_bytes(n))
                } else {
                    ValueRef::Real(f64::from_le_bytes(n))
                };
                (v, rest)
            }
            _ => {
                let (len, rest) = rest.split_at(4);
                let (b, rest) = rest.split_at(u32::from_le_bytes(len.try_into().ok()?) as usize);
                (if tag == 3 { ValueRef::Text(b) } else { ValueRef::Blob(b) }, rest)
            }
        };
        p = rest;
        Some(value)
    })
}

/// The statement that stages one row. Under `--newer-by` a row whose key is staged
/// already replaces it only when it wins (`sql::wins_in_input`).
fn insert_sql(plan: &Plan) -> String {
    let params: Vec<String> = (1..=plan.columns.len() + 1).map(|i| format!("?{i}")).collect();
    let values = params.join(", ");
    match sql::wins_in_input(plan, |c| format!("excluded.{c}"), |c| c.to_string(), "IS") {
        Some(wins) if plan.spec.duplicates != Duplicates::Error => {
            let sets = std::iter::once("ord".to_string())
                .chain((0..plan.columns.len()).filter(|&i| !plan.columns[i].is_key).map(stage_col))
                .map(|c| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let keys = sql::list(&plan.key, stage_col, ", ");
            format!("INSERT INTO {STAGE} VALUES ({values}) ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {wins}")
        }
        _ => format!("{} INTO {STAGE} VALUES ({values})", verb(plan)),
    }
}

/// Stages a batch as it comes, through the stage's primary key.
fn insert_batch(conn: &rusqlite::Connection, plan: &Plan, batch: &Batch, columns: &[&Column]) -> Result<()> {
    let sql = insert_sql(plan);
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| Error::db("staging rows", e))?;
    for (r, (row, line)) in batch.rows.iter().enumerate() {
        let bound = (|| {
            stmt.raw_bind_parameter(1, *row as i64)?;
            for (i, column) in columns.iter().enumerate() {
                stmt.raw_bind_parameter(i + 2, column.get(r))?;
            }
            stmt.raw_execute()
        })();
        if let Err(e) = bound {
            let at = Location { input: plan.input.clone(), row: *row, line: *line };
            let key: Vec<Value> = plan.key.iter().map(|&i| batch.value(r, i)).collect();
            if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
                let first_row = first_row_of(conn, plan, &key)?.unwrap_or(0);
                return Err(Error::DuplicateKey { at, key: plan.show_key(&key), first_row });
            }
            return Err(Error::db(format!("{at}: staging the row"), e));
        }
    }
    Ok(())
}

/// The input row at which a staged key was first seen.
fn first_row_of(conn: &rusqlite::Connection, plan: &Plan, key: &[Value<'_>]) -> Result<Option<u64>> {
    let cond: Vec<String> =
        plan.key.iter().enumerate().map(|(n, &i)| format!("{} = ?{}", stage_col(i), n + 1)).collect();
    conn.query_row(
        &format!("SELECT ord FROM {STAGE} WHERE {}", cond.join(" AND ")),
        rusqlite::params_from_iter(key.iter()),
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|o| o.map(|v| v as u64))
    .map_err(|e| Error::db("looking up a duplicate key", e))
}
impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Integer(*b as i64),
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
            // SQLite keeps dates and times as ISO 8601 text.
            Value::Date(_) | Value::Time(_) | Value::Timestamp { .. } => {
                return Ok(ToSqlOutput::Owned(rusqlite::types::Value::Text(self.temporal_text().unwrap_or_default())))
            }
        }))
    }
}
