//! Staging for SQLite: rows go into a temporary `WITHOUT ROWID` table whose primary
//! key is the load's key, with one prepared INSERT reused per row. The primary key does
//! the de-duplication while staging (`OR REPLACE`: last wins, `OR IGNORE`: first wins,
//! plain: error) and leaves the stage in key order, so the merge walks the target's key
//! index in order.

use super::q;
use crate::check::{Batch, Column};
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::spec::Duplicates;
use crate::target::sql::stage_col;
use crate::value::Value;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ErrorCode, OptionalExtension, ToSql};

pub(super) const STAGE: &str = "temp.upsertx_stage";

pub(crate) fn stage_table_sql(plan: &Plan) -> String {
    let mut defs = vec!["ord INTEGER NOT NULL".to_string()];
    for (i, c) in plan.columns.iter().enumerate() {
        let coll = plan
            .key
            .iter()
            .position(|&k| k == i)
            .and_then(|pos| plan.key_constraint.collations.get(pos).cloned().flatten())
            .map(|c| format!(" COLLATE {}", q(&c)))
            .unwrap_or_default();
        let not_null = if c.is_key { " NOT NULL" } else { "" };
        defs.push(format!("{}{not_null}{coll}", stage_col(i)));
    }
    let key: Vec<String> = plan.key.iter().map(|&i| stage_col(i)).collect();
    format!(
        "DROP TABLE IF EXISTS {STAGE}; CREATE TABLE {STAGE} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
        defs.join(", "),
        key.join(", ")
    )
}

pub(crate) fn stage(conn: &rusqlite::Connection, plan: &Plan, batch: &Batch) -> Result<()> {
    let width = plan.columns.len();
    let verb = match plan.spec.duplicates {
        Duplicates::Last => "INSERT OR REPLACE",
        Duplicates::First => "INSERT OR IGNORE",
        Duplicates::Error => "INSERT",
    };
    let params: Vec<String> = (1..=width + 1).map(|i| format!("?{i}")).collect();
    let sql = format!("{verb} INTO {STAGE} VALUES ({})", params.join(", "));
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| Error::db("staging rows", e))?;
    // SQLite keeps dates and times as text: format each typed column once, into one buffer.
    let texts: Vec<Option<Column>> = batch.columns.iter().map(Column::temporal_as_text).collect();
    let columns: Vec<&Column> = texts.iter().zip(&batch.columns).map(|(t, c)| t.as_ref().unwrap_or(c)).collect();
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
