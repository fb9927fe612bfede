//! Staging and merging for SQLite.
//!
//! Rows are staged into a temporary `WITHOUT ROWID` table whose primary key is the
//! load's key, with one prepared INSERT reused per row. The primary key does the
//! de-duplication while staging (`OR REPLACE`: last wins, `OR IGNORE`: first wins,
//! plain: error) and leaves the stage in key order, so the merge walks the target's
//! key index in order. Then, in the load's transaction:
//!
//! 1. `UPDATE target SET ... FROM stage WHERE key matches AND some column differs`
//!    (NULL-safe `IS NOT`, binary collation): its change count is `updated`;
//! 2. `INSERT INTO target SELECT ... FROM stage WHERE NOT EXISTS (key in target)`:
//!    its change count is `inserted`.
//!
//! Only rows known to be new are inserted, so the target's generated ids never skip,
//! and rows updated through another unique key keep theirs. Everything else follows:
//! matched = staged - inserted, unchanged = matched - updated.

use super::q;
use crate::dialect::{Batch, MergeCounts};
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::schema::Column;
use crate::spec::{Duplicates, OnConflict};
use crate::value::{SqlType, Value};
use rusqlite::{ErrorCode, OptionalExtension};

const STAGE: &str = "temp.upsertx_stage";

fn stage_col(i: usize) -> String {
    format!("c{i}")
}

/// `"a" = s.c0 AND "b" = s.c1` for the key.
/// `t."a" = s.c0 AND ...` over the key; for a partial unique index, only the rows its
/// condition holds for (the condition as the database shows it, never user text).
fn key_match(plan: &Plan, target: &str) -> String {
    let mut sql = plan
        .key
        .iter()
        .map(|&i| format!("{target}.{} = s.{}", q(&plan.columns[i].name), stage_col(i)))
        .collect::<Vec<_>>()
        .join(" AND ");
    if let Some(p) = &plan.key_constraint.predicate {
        sql.push_str(&format!(" AND ({p})"));
    }
    sql
}

fn target(plan: &Plan) -> String {
    format!("main.{}", q(&plan.table.name))
}

pub(crate) fn ddl_type(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => "INTEGER",
        SqlType::Real { .. } => "REAL",
        SqlType::Numeric | SqlType::Decimal => "NUMERIC",
        // JSON is stored as TEXT: a declared JSON type would have NUMERIC affinity.
        SqlType::Text { .. } | SqlType::Json => "TEXT",
        SqlType::Blob => "BLOB",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::TimestampTz => "TIMESTAMP",
        SqlType::Uuid => "TEXT",
        SqlType::Any | SqlType::Other | SqlType::Array(_) => "",
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String]) -> String {
    crate::dialect::create_table_sql(&format!("main.{}", q(table)), columns, key, q, |c, _| ddl_type(&c.ty))
}

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
    for (r, (row, line)) in batch.rows.iter().enumerate() {
        let bound = (|| {
            stmt.raw_bind_parameter(1, *row as i64)?;
            for i in 0..width {
                stmt.raw_bind_parameter(i + 2, batch.value(r, i))?;
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

pub(crate) fn merge(conn: &rusqlite::Connection, plan: &Plan) -> Result<MergeCounts> {
    let ctx = format!("merging into table {}", q(&plan.table.name));
    let db = |e: rusqlite::Error| Error::db(ctx.clone(), e);
    let staged: i64 = conn.query_row(&format!("SELECT count(*) FROM {STAGE}"), [], |r| r.get(0)).map_err(db)?;
    let staged = staged as u64;
    let t = target(plan);

    if plan.spec.on_conflict == OnConflict::Error {
        if let Some((row, key)) = first_row(conn, plan, "EXISTS").map_err(db)? {
            return Err(plan.key_exists(row, &key));
        }
    }

    let mut updated = 0;
    if plan.spec.on_conflict == OnConflict::Update && !plan.update.is_empty() {
        let set: Vec<String> =
            plan.update.iter().map(|&i| format!("{} = s.{}", q(&plan.columns[i].name), stage_col(i))).collect();
        let mut sql =
            format!("UPDATE {t} AS t SET {} FROM {STAGE} AS s WHERE {}", set.join(", "), key_match(plan, "t"));
        if !plan.spec.always_update {
            let differs: Vec<String> = plan
                .update
                .iter()
                .map(|&i| format!("t.{} IS NOT s.{} COLLATE BINARY", q(&plan.columns[i].name), stage_col(i)))
                .collect();
            sql.push_str(&format!(" AND ({})", differs.join(" OR ")));
        }
        updated = conn.execute(&sql, []).map_err(|e| unique_violation(conn, plan, e, &ctx))? as u64;
        crate::trace::trace("updated");
    }

    if let Some(column) = plan.missing_required() {
        // A new row cannot be inserted without it: name the first new key.
        if let Some((row, key)) = first_row(conn, plan, "NOT EXISTS").map_err(db)? {
            return Err(plan.new_row_needs(column, row, &key));
        }
    }

    let names: Vec<String> = plan.columns.iter().map(|c| q(&c.name)).collect();
    let vals: Vec<String> = (0..plan.columns.len()).map(|i| format!("s.{}", stage_col(i))).collect();
    let sql = format!(
        "INSERT INTO {t} ({}) SELECT {} FROM {STAGE} AS s WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {})",
        names.join(", "),
        vals.join(", "),
        key_match(plan, "t")
    );
    let inserted = conn.execute(&sql, []).map_err(|e| unique_violation(conn, plan, e, &ctx))? as u64;
    crate::trace::trace("inserted");
    conn.execute_batch(&format!("DROP TABLE {STAGE}")).map_err(db)?;

    let matched = staged - inserted;
    Ok(match plan.spec.on_conflict {
        OnConflict::Update => MergeCounts { staged, inserted, updated, unchanged: matched - updated, ignored: 0 },
        OnConflict::Ignore => MergeCounts { staged, inserted, updated: 0, unchanged: 0, ignored: matched },
        OnConflict::Error => MergeCounts { staged, inserted, ..Default::default() },
    })
}

/// The first staged row (and its key) for which `EXISTS` or `NOT EXISTS` a target row
/// with its key.
fn first_row(
    conn: &rusqlite::Connection,
    plan: &Plan,
    exists: &str,
) -> rusqlite::Result<Option<(u64, Vec<Value<'static>>)>> {
    let key_cols: Vec<String> = plan.key.iter().map(|&i| format!("s.{}", stage_col(i))).collect();
    let sql = format!(
        "SELECT s.ord, {} FROM {STAGE} AS s WHERE {exists} (SELECT 1 FROM {} AS t WHERE {}) ORDER BY s.ord LIMIT 1",
        key_cols.join(", "),
        target(plan),
        key_match(plan, "t")
    );
    conn.query_row(&sql, [], |r| {
        let row: i64 = r.get(0)?;
        let key = (0..plan.key.len()).map(|i| sqlite_value(r.get_ref(i + 1)?)).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((row as u64, key))
    })
    .optional()
}

/// Explains a unique-constraint failure of the merge by finding the first input row
/// that collides on a unique key other than the load's key: with an existing row of
/// another key, or with another input row. Runs only after a failure.
fn unique_violation(conn: &rusqlite::Connection, plan: &Plan, e: rusqlite::Error, ctx: &str) -> Error {
    if e.sqlite_error_code() != Some(ErrorCode::ConstraintViolation) {
        return Error::db(ctx, e);
    }
    let t = target(plan);
    for uk in plan.table.keys.iter().filter(|k| **k != plan.key_constraint && !k.is_partial()) {
        let Some(cols) =
            uk.columns.iter().map(|c| plan.columns.iter().position(|pc| &pc.name == c)).collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let vals = cols.iter().map(|&i| format!("s.{}", stage_col(i))).collect::<Vec<_>>().join(", ");
        let raw = cols.iter().map(|&i| stage_col(i)).collect::<Vec<_>>().join(", ");
        let same = cols
            .iter()
            .map(|&i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let dup = cols.iter().map(|&i| format!("d.{c} = s.{c}", c = stage_col(i))).collect::<Vec<_>>().join(" AND ");
        // Only on this failure path: an index, so the input-against-input probe is not quadratic.
        let _ = conn.execute_batch(&format!("CREATE INDEX IF NOT EXISTS temp.upsertx_diag ON upsertx_stage ({raw})"));
        let name = uk.name.as_deref().map(|n| format!(" (unique index {})", q(n))).unwrap_or_default();
        let probes = [
            (
                format!(
                    "SELECT s.ord, {vals} FROM {STAGE} AS s JOIN {t} AS t ON {same} WHERE NOT ({}) ORDER BY s.ord LIMIT 1",
                    key_match(plan, "t")
                ),
                format!("already used by another row of table {}{name}", q(&plan.table.name)),
            ),
            (
                format!(
                    "SELECT s.ord, {vals}, (SELECT min(d.ord) FROM {STAGE} AS d WHERE {dup}) FROM {STAGE} AS s
                     WHERE EXISTS (SELECT 1 FROM {STAGE} AS d WHERE {dup} AND d.ord < s.ord) ORDER BY s.ord LIMIT 1"
                ),
                "also on input row".to_string(),
            ),
        ];
        for (sql, what) in probes {
            let found = conn
                .query_row(&sql, [], |r| {
                    let v = (0..cols.len())
                        .map(|i| sqlite_value(r.get_ref(i + 1)?))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let other: Option<i64> =
                        if r.as_ref().column_count() > cols.len() + 1 { r.get(cols.len() + 1)? } else { None };
                    Ok((r.get::<_, i64>(0)? as u64, v, other))
                })
                .optional();
            if let Ok(Some((row, values, other))) = found {
                let what = match other {
                    Some(first) => format!("{what} {first} with a different key{name}"),
                    None => what,
                };
                return Error::Conflict {
                    at: Location { input: plan.input.clone(), row, line: None },
                    reason: format!(
                        "{} is {what}; the load's key is ({}), so the row can be neither inserted nor updated",
                        plan.show_columns(&cols, &values),
                        plan.key.iter().map(|&i| q(&plan.columns[i].name)).collect::<Vec<_>>().join(", ")
                    ),
                };
            }
        }
    }
    Error::db(ctx, e)
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<Value<'static>> {
    use rusqlite::types::ValueRef as V;
    Ok(match v {
        V::Null => Value::Null,
        V::Integer(i) => Value::Int(i),
        V::Real(f) => Value::Real(f),
        V::Text(t) => Value::text(String::from_utf8_lossy(t).into_owned()),
        V::Blob(b) => Value::Blob(b.to_vec().into()),
    })
}
