//! Staging and merging for MySQL and MariaDB.
//!
//! Rows are staged into a temporary table keyed like the target (same column types, the
//! key's collations), by prepared multi-row INSERTs sized from the 65,535-placeholder
//! limit. The stage's primary key applies the duplicates policy while staging:
//! `ON DUPLICATE KEY UPDATE` with the new values (last wins), a no-op update (first
//! wins), or the duplicate-key error (error). Then, in the load's transaction:
//!
//! 1. other unique keys are checked: a row whose value for another unique index is
//!    already held by a row with a different key (or by another input row) fails the
//!    load, naming the row, instead of updating or replacing the wrong row;
//! 2. one query counts the matched keys;
//! 3. `UPDATE target JOIN stage ... WHERE NOT (all equal)` writes the changed rows (NULL-safe
//!    `<=>`, text compared as bytes so case changes are seen under `_ci` collations); its
//!    row count is `updated`, and the other matched rows were unchanged;
//! 4. `INSERT INTO target SELECT ... WHERE NOT EXISTS (key in target)` adds the new keys.
//!
//! `ON DUPLICATE KEY UPDATE` and `INSERT IGNORE` are never used against the target: the
//! first fires on any unique key, the second swallows truncation and bad-date errors.

use super::q;
use crate::convert::{format_micros, to_micros_and_offset};
use crate::dialect::{list, Batch, MergeCounts};
use crate::error::{quote_ident, Error, Location, Result};
use crate::plan::Plan;
use crate::schema::Column;
use crate::spec::{Duplicates, OnConflict};
use crate::value::{SqlType, Value};
use mysql::prelude::Queryable;
use mysql::Conn;

const STAGE: &str = "upsertx_stage";
const MAX_PLACEHOLDERS: usize = 65_535;
const MAX_ROWS_PER_STATEMENT: usize = 2_000;

fn stage_col(i: usize) -> String {
    format!("c{i}")
}

fn column<'a>(plan: &'a Plan, name: &str) -> Option<&'a Column> {
    plan.table.columns.iter().find(|c| c.name == name)
}

pub(crate) fn ddl_type(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Integer { .. } | SqlType::Unsigned { .. } => "BIGINT",
        SqlType::Real { .. } => "DOUBLE",
        SqlType::Numeric | SqlType::Decimal => "DECIMAL(65,30)",
        SqlType::Text { .. } | SqlType::Any | SqlType::Other | SqlType::Array(_) => "TEXT",
        SqlType::Blob => "LONGBLOB",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME(6)",
        SqlType::Timestamp | SqlType::TimestampTz => "DATETIME(6)",
        SqlType::Json => "JSON",
        SqlType::Uuid => "CHAR(36)",
    }
}

pub(crate) fn create_table_sql(table: &str, columns: &[Column], key: &[String]) -> String {
    crate::dialect::create_table_sql(&q(table), columns, key, q, |c, is_key| match (&c.ty, is_key) {
        // A key must be indexable: text keys become VARCHAR.
        (SqlType::Text { .. } | SqlType::Uuid, true) => "VARCHAR(255)",
        (t, _) => ddl_type(t),
    })
}

pub(crate) fn stage_table_sql(plan: &Plan) -> String {
    let defs: Vec<String> = plan
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let declared = column(plan, &c.name).map(|c| c.declared.clone()).unwrap_or_else(|| "TEXT".into());
            let collate = plan
                .key
                .iter()
                .position(|&k| k == i)
                .and_then(|pos| plan.key_constraint.collations.get(pos).cloned().flatten())
                .map(|c| format!(" COLLATE {c}"))
                .unwrap_or_default();
            let null = if c.is_key { " NOT NULL" } else { " NULL" };
            format!("{} {declared}{collate}{null}", stage_col(i))
        })
        .collect();
    format!(
        "DROP TEMPORARY TABLE IF EXISTS {STAGE}; CREATE TEMPORARY TABLE {STAGE} (ord BIGINT NOT NULL, {}, PRIMARY KEY ({}))",
        defs.join(", "),
        list(&plan.key, stage_col, ", ")
    )
}

/// A value as the server should receive it. Timestamps are normalized to
/// `YYYY-MM-DD HH:MM:SS.ffffff`: a `timestamp` column gets the UTC instant (the session
/// is pinned to UTC), a `datetime` keeps the wall time and drops an offset.
fn bind(plan: &Plan, i: usize, v: &Value) -> std::result::Result<mysql::Value, String> {
    Ok(match v {
        Value::Null => mysql::Value::NULL,
        Value::Bool(b) => mysql::Value::Int(*b as i64),
        Value::Int(n) => mysql::Value::Int(*n),
        Value::Real(f) => mysql::Value::Double(*f),
        Value::Blob(b) => mysql::Value::Bytes(b.clone()),
        Value::Text(s) => match plan.columns[i].ty {
            SqlType::Timestamp | SqlType::TimestampTz => {
                let (local, offset) = to_micros_and_offset(s)?;
                let micros = if plan.columns[i].ty == SqlType::TimestampTz {
                    local - offset.unwrap_or(0) * 1_000_000
                } else {
                    local
                };
                mysql::Value::Bytes(format_micros(micros).into_bytes())
            }
            _ => mysql::Value::Bytes(s.as_bytes().to_vec()),
        },
    })
}

pub(crate) fn stage(conn: &mut Conn, plan: &Plan, batch: &Batch) -> Result<()> {
    let width = plan.columns.len();
    let per_statement = (MAX_PLACEHOLDERS / (width + 1)).clamp(1, MAX_ROWS_PER_STATEMENT);
    let on_duplicate = on_duplicate(plan);
    let placeholders = format!("({})", vec!["?"; width + 1].join(", "));
    let mut start = 0;
    while start < batch.rows.len() {
        let n = per_statement.min(batch.rows.len() - start);
        let sql = format!("INSERT INTO {STAGE} VALUES {}{on_duplicate}", vec![placeholders.as_str(); n].join(", "));
        let mut params = Vec::with_capacity(n * (width + 1));
        for r in start..start + n {
            let (row, line) = batch.rows[r];
            params.push(mysql::Value::Int(row as i64));
            for i in 0..width {
                let v = &batch.values[r * width + i];
                params.push(bind(plan, i, v).map_err(|reason| Error::Value {
                    at: Location { input: plan.input.clone(), row, line },
                    column: plan.columns[i].name.clone(),
                    value: v.shown(),
                    reason,
                })?);
            }
        }
        if let Err(e) = conn.exec_drop(&sql, params) {
            return Err(stage_error(conn, plan, batch, start, n, e));
        }
        start += n;
    }
    Ok(())
}

/// The server or client does not allow `LOAD DATA LOCAL INFILE`.
pub(crate) struct LoadDataRefused;

/// Stages a batch with `LOAD DATA LOCAL INFILE`, streamed from memory: tab-separated,
/// `\N` for NULL, backslash escapes. `REPLACE` keeps the last of duplicate keys, `IGNORE`
/// the first. Under LOCAL the server reports bad values as warnings rather than errors
/// (it cannot stop the stream), so any warning after the load fails it, naming the row.
pub(crate) fn load_data(
    conn: &mut Conn,
    plan: &Plan,
    batch: &Batch,
    infile: &std::sync::Mutex<Vec<u8>>,
) -> std::result::Result<Result<()>, LoadDataRefused> {
    let width = plan.columns.len();
    {
        let mut buf = infile.lock().expect("staging buffer");
        buf.clear();
        for (r, (row, line)) in batch.rows.iter().enumerate() {
            buf.extend_from_slice(row.to_string().as_bytes());
            for i in 0..width {
                buf.push(b'\t');
                let v = &batch.values[r * width + i];
                match bind(plan, i, v) {
                    Ok(mysql::Value::NULL) => buf.extend_from_slice(b"\\N"),
                    Ok(mysql::Value::Int(n)) => buf.extend_from_slice(n.to_string().as_bytes()),
                    Ok(mysql::Value::Double(f)) => buf.extend_from_slice(f.to_string().as_bytes()),
                    Ok(mysql::Value::Bytes(b)) => escape(&mut buf, &b),
                    Ok(other) => escape(&mut buf, other.as_sql(true).trim_matches('\'').as_bytes()),
                    Err(reason) => {
                        return Ok(Err(Error::Value {
                            at: Location { input: plan.input.clone(), row: *row, line: *line },
                            column: plan.columns[i].name.clone(),
                            value: v.shown(),
                            reason,
                        }))
                    }
                }
            }
            buf.push(b'\n');
        }
    }
    let mode = match plan.spec.duplicates {
        Duplicates::Last => "REPLACE ",
        Duplicates::First | Duplicates::Error => "IGNORE ",
    };
    let columns = std::iter::once("ord".to_string()).chain((0..width).map(stage_col)).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "LOAD DATA LOCAL INFILE 'upsertx-stage' {mode}INTO TABLE {STAGE} CHARACTER SET utf8mb4
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})"
    );
    match conn.query_drop(&sql) {
        Ok(()) => {}
        // LOCAL INFILE disabled: 1148 (older servers), 4166 (MariaDB 10.6+), 3948 (MySQL 8),
        // 2068 (the client).
        Err(mysql::Error::MySqlError(e)) if matches!(e.code, 1148 | 4166 | 3948 | 2068) => return Err(LoadDataRefused),
        Err(mysql::Error::DriverError(_)) => return Err(LoadDataRefused),
        // Strict mode can refuse a value outright ("... at row N" is the row of this load).
        Err(e) => return Ok(Err(stage_error(conn, plan, batch, 0, batch.rows.len(), e))),
    }
    if conn.warnings() == 0 {
        return Ok(Ok(()));
    }
    let warnings: Vec<(String, u32, String)> = match conn.query("SHOW WARNINGS") {
        Ok(w) => w,
        Err(e) => return Ok(Err(Error::db("staging rows", e))),
    };
    for (level, code, message) in warnings {
        // IGNORE turns later duplicates into warnings: that is the first-wins policy. Notes
        // (a decimal rounded to its column's scale) pass, as they do for INSERT.
        if level == "Note" || (code == 1062 && plan.spec.duplicates == Duplicates::First) {
            continue;
        }
        let e = mysql::Error::MySqlError(mysql::MySqlError { state: String::new(), code: code as u16, message });
        return Ok(Err(stage_error(conn, plan, batch, 0, batch.rows.len(), e)));
    }
    Ok(Ok(()))
}

/// LOAD DATA's escapes for one field.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

/// Names the input row of a failed staging statement: a duplicate key (found row by
/// row), or a value the server refused "at row N" of the statement.
fn stage_error(conn: &mut Conn, plan: &Plan, batch: &Batch, start: usize, n: usize, e: mysql::Error) -> Error {
    let width = plan.columns.len();
    let (code, message) = match &e {
        mysql::Error::MySqlError(m) => (m.code, m.message.clone()),
        _ => return Error::db("staging rows", e),
    };
    let at = |r: usize| Location { input: plan.input.clone(), row: batch.rows[r].0, line: batch.rows[r].1 };
    let key_of = |r: usize| plan.key.iter().map(|&i| batch.values[r * width + i].clone()).collect::<Vec<_>>();
    if code == 1062 && plan.spec.duplicates == Duplicates::Error {
        for r in start..start + n {
            let key = key_of(r);
            // An earlier row of this statement, or a row staged by an earlier one.
            if let Some(first) = (start..r).find(|&p| key_of(p) == key) {
                return Error::DuplicateKey { at: at(r), key: plan.show_key(&key), first_row: batch.rows[first].0 };
            }
            let cond = list(&plan.key, |i| format!("{} = ?", stage_col(i)), " AND ");
            let params: Vec<mysql::Value> = plan
                .key
                .iter()
                .map(|&i| bind(plan, i, &batch.values[r * width + i]).unwrap_or(mysql::Value::NULL))
                .collect();
            if let Ok(Some(first)) =
                conn.exec_first::<i64, _, _>(format!("SELECT ord FROM {STAGE} WHERE {cond}"), params)
            {
                // LOAD DATA ... IGNORE kept the first occurrence: that row is not its own duplicate.
                if first as u64 != batch.rows[r].0 {
                    return Error::DuplicateKey { at: at(r), key: plan.show_key(&key), first_row: first as u64 };
                }
            }
        }
    }
    // "Out of range value for column 'c3' at row 2" and the like.
    let row = message.rsplit("at row ").next().and_then(|s| s.trim().parse::<usize>().ok());
    let col = message
        .split("column '")
        .nth(1)
        .and_then(|s| s.strip_prefix('c'))
        .and_then(|s| s.split('\'').next().and_then(|d| d.parse::<usize>().ok()));
    match (row.filter(|r| (1..=n).contains(r)).map(|r| start + r - 1), col.filter(|c| *c < width)) {
        (Some(r), Some(c)) => Error::Value {
            at: at(r),
            column: plan.columns[c].name.clone(),
            value: batch.values[r * width + c].shown(),
            reason: message.split(" for column").next().unwrap_or(&message).to_string(),
        },
        (Some(r), None) => Error::Input { at: at(r), reason: message },
        _ => Error::db("staging rows", e),
    }
}

/// `t.k = s.c0 AND ...` over the key.
fn key_match(plan: &Plan) -> String {
    list(&plan.key, |i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)), " AND ")
}

fn is_text(plan: &Plan, i: usize) -> bool {
    matches!(
        column(plan, &plan.columns[i].name).map(|c| c.native.as_str()),
        Some("char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set")
    )
}

/// Every updated column equal (NULL-safe; text as bytes).
fn all_equal(plan: &Plan) -> String {
    if plan.update.is_empty() {
        return "1".into();
    }
    list(
        &plan.update,
        |i| {
            let (t, s) = (format!("t.{}", q(&plan.columns[i].name)), format!("s.{}", stage_col(i)));
            if is_text(plan, i) {
                format!("CAST({t} AS BINARY) <=> CAST({s} AS BINARY)")
            } else {
                format!("{t} <=> {s}")
            }
        },
        " AND ",
    )
}

pub(crate) fn merge(conn: &mut Conn, plan: &Plan, target: &str) -> Result<MergeCounts> {
    let ctx = format!("merging into table {}", quote_ident(&plan.table.name));
    let db = |e: mysql::Error| Error::db(ctx.clone(), e);
    let staged: u64 = conn.query_first(format!("SELECT COUNT(*) FROM {STAGE}")).map_err(db)?.unwrap_or(0);
    check_other_keys(conn, plan, target)?;
    if plan.spec.on_conflict != OnConflict::Error && one_statement_is_safe(plan) {
        return merge_in_one_statement(conn, plan, target, staged);
    }
    let on = key_match(plan);
    let equal = all_equal(plan);
    let matched: u64 = conn
        .query_first(format!("SELECT COUNT(*) FROM {STAGE} AS s JOIN {target} AS t ON {on}"))
        .map_err(db)?
        .unwrap_or(0);
    crate::engine::trace("classified");

    if plan.spec.on_conflict == OnConflict::Error && matched > 0 {
        let keys = list(&plan.key, |i| format!("CAST(s.{} AS CHAR)", stage_col(i)), ", ");
        let sql = format!("SELECT s.ord, {keys} FROM {STAGE} AS s JOIN {target} AS t ON {on} ORDER BY s.ord LIMIT 1");
        let row: Option<mysql::Row> = conn.query_first(sql).map_err(db)?;
        if let Some(row) = row {
            let ord: i64 = row.get(0).unwrap_or(0);
            let key = (0..plan.key.len()).map(|n| plan.typed_value(plan.key[n], row.get(n + 1))).collect::<Vec<_>>();
            return Err(Error::KeyExists {
                at: Location { input: plan.input.clone(), row: ord as u64, line: None },
                key: plan.show_key(&key),
                table: plan.table.name.clone(),
            });
        }
    }

    let mut updated = 0;
    if plan.spec.on_conflict == OnConflict::Update && !plan.update.is_empty() {
        let set = list(&plan.update, |i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)), ", ");
        let guard = if plan.spec.always_update { String::new() } else { format!(" WHERE NOT ({equal})") };
        conn.query_drop(format!("UPDATE {target} AS t JOIN {STAGE} AS s ON {on} SET {set}{guard}")).map_err(db)?;
        updated = if plan.spec.always_update { matched } else { conn.affected_rows() };
        crate::engine::trace("updated");
    }

    let all: Vec<usize> = (0..plan.columns.len()).collect();
    let names = list(&all, |i| q(&plan.columns[i].name), ", ");
    let values = list(&all, |i| format!("s.{}", stage_col(i)), ", ");
    let keys = list(&plan.key, |i| format!("s.{}", stage_col(i)), ", ");
    conn.query_drop(format!(
        "INSERT INTO {target} ({names}) SELECT {values} FROM {STAGE} AS s
         WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {on}) ORDER BY {keys}"
    ))
    .map_err(db)?;
    let inserted = conn.affected_rows();
    crate::engine::trace("inserted");
    conn.query_drop(format!("DROP TEMPORARY TABLE {STAGE}")).map_err(db)?;
    Ok(match plan.spec.on_conflict {
        OnConflict::Update => {
            // The UPDATE's own row count (rows that differed) is what happened.
            MergeCounts { staged, inserted, updated, unchanged: matched.saturating_sub(updated), ignored: 0 }
        }
        OnConflict::Ignore => MergeCounts { staged, inserted, updated: 0, unchanged: 0, ignored: matched },
        OnConflict::Error => MergeCounts { staged, inserted, ..Default::default() },
    })
}

/// The staging statements' duplicate-key clause: the later row's values (last wins), a
/// no-op (first wins), or none (the duplicate-key error, explained with both rows).
fn on_duplicate(plan: &Plan) -> String {
    let width = plan.columns.len();
    match plan.spec.duplicates {
        Duplicates::Last => {
            let mut sets = vec!["ord = VALUES(ord)".to_string()];
            sets.extend(
                (0..width).filter(|i| !plan.columns[*i].is_key).map(|i| format!("{0} = VALUES({0})", stage_col(i))),
            );
            format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
        }
        Duplicates::First => " ON DUPLICATE KEY UPDATE ord = ord".to_string(),
        Duplicates::Error => String::new(),
    }
}

/// `INSERT ... ON DUPLICATE KEY UPDATE` is safe against the target only when it cannot
/// fire on another unique key (the load's key is the table's only one) and cannot burn
/// auto-increment values (no auto-increment column is missing from the input).
fn one_statement_is_safe(plan: &Plan) -> bool {
    plan.table.keys.len() == 1
        && plan.table.keys[0] == plan.key_constraint
        && !plan.table.columns.iter().any(|c| c.sequence_default && !plan.columns.iter().any(|p| p.name == c.name))
}

/// One `INSERT ... SELECT ... ORDER BY key ON DUPLICATE KEY UPDATE`, counted exactly:
/// the table's row count before and after (this transaction's snapshot) gives the
/// inserts; affected rows are 1 per insert and 2 per changed row (MySQL skips rows
/// whose values are all equal), which gives the updates; the rest were unchanged.
fn merge_in_one_statement(conn: &mut Conn, plan: &Plan, target: &str, staged: u64) -> Result<MergeCounts> {
    let ctx = format!("merging into table {}", quote_ident(&plan.table.name));
    let db = |e: mysql::Error| Error::db(ctx.clone(), e);
    let all: Vec<usize> = (0..plan.columns.len()).collect();
    let names = list(&all, |i| q(&plan.columns[i].name), ", ");
    let values = list(&all, |i| format!("s.{}", stage_col(i)), ", ");
    let keys = list(&plan.key, |i| format!("s.{}", stage_col(i)), ", ");
    let set = match plan.spec.on_conflict {
        OnConflict::Update if !plan.update.is_empty() => {
            list(&plan.update, |i| format!("{0} = VALUES({0})", q(&plan.columns[i].name)), ", ")
        }
        _ => {
            let k = q(&plan.columns[plan.key[0]].name);
            format!("{k} = {k}")
        }
    };
    let count = format!("SELECT COUNT(*) FROM {target}");
    let before: u64 = conn.query_first(&count).map_err(db)?.unwrap_or(0);
    conn.query_drop(format!(
        "INSERT INTO {target} ({names}) SELECT {values} FROM {STAGE} AS s ORDER BY {keys} ON DUPLICATE KEY UPDATE {set}"
    ))
    .map_err(db)?;
    let affected = conn.affected_rows();
    let after: u64 = conn.query_first(&count).map_err(db)?.unwrap_or(0);
    crate::engine::trace("merged");
    conn.query_drop(format!("DROP TEMPORARY TABLE {STAGE}")).map_err(db)?;
    let inserted = after.saturating_sub(before);
    let matched = staged.saturating_sub(inserted);
    Ok(match plan.spec.on_conflict {
        OnConflict::Update if plan.spec.always_update => {
            MergeCounts { staged, inserted, updated: matched, unchanged: 0, ignored: 0 }
        }
        OnConflict::Update => {
            let updated = (affected.saturating_sub(inserted) / 2).min(matched);
            MergeCounts { staged, inserted, updated, unchanged: matched - updated, ignored: 0 }
        }
        _ => MergeCounts { staged, inserted, updated: 0, unchanged: 0, ignored: matched },
    })
}

/// Fails on the first input row whose value for a unique key other than the load's is
/// held by a row with another key, or by another input row.
fn check_other_keys(conn: &mut Conn, plan: &Plan, target: &str) -> Result<()> {
    let db = |e: mysql::Error| Error::db("checking the other unique keys", e);
    for uk in plan.table.keys.iter().filter(|k| **k != plan.key_constraint) {
        let Some(cols) =
            uk.columns.iter().map(|c| plan.columns.iter().position(|p| &p.name == c)).collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let name = uk.name.clone().unwrap_or_default();
        let shown = list(&cols, |i| format!("CAST(s.{} AS CHAR)", stage_col(i)), ", ");
        let same = list(&cols, |i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)), " AND ");
        let sql = format!(
            "SELECT s.ord, {shown} FROM {STAGE} AS s JOIN {target} AS t ON {same} WHERE NOT ({}) ORDER BY s.ord LIMIT 1",
            key_match(plan)
        );
        let hit: Option<mysql::Row> = conn.query_first(sql).map_err(db)?;
        let mut found = hit.map(|row| (row.get::<i64, _>(0).unwrap_or(0) as u64, None, row));
        if found.is_none() {
            // Two input rows (distinct keys, since the stage is keyed) sharing the value.
            let raw = list(&cols, stage_col, ", ");
            let not_null = list(&cols, |i| format!("{} IS NOT NULL", stage_col(i)), " AND ");
            let dup: Option<mysql::Row> = conn
                .query_first(format!(
                    "SELECT MIN(ord), MAX(ord) FROM {STAGE} WHERE {not_null} GROUP BY {raw} HAVING COUNT(*) > 1 ORDER BY MAX(ord) LIMIT 1"
                ))
                .map_err(db)?;
            if let Some(dup) = dup {
                let (first, last): (i64, i64) = (dup.get(0).unwrap_or(0), dup.get(1).unwrap_or(0));
                let row: Option<mysql::Row> = conn
                    .query_first(format!("SELECT s.ord, {shown} FROM {STAGE} AS s WHERE s.ord = {last}"))
                    .map_err(db)?;
                found = row.map(|r| (last as u64, Some(first), r));
            }
        }
        if let Some((row, first, values)) = found {
            let shown_values: Vec<Value> =
                (0..cols.len()).map(|n| plan.typed_value(cols[n], values.get(n + 1))).collect();
            let what = match first {
                Some(first) => {
                    format!("also on input row {first} with a different key (unique index {})", quote_ident(&name))
                }
                None => {
                    format!(
                        "already used by another row of table {} (unique index {})",
                        quote_ident(&plan.table.name),
                        quote_ident(&name)
                    )
                }
            };
            return Err(Error::Conflict {
                at: Location { input: plan.input.clone(), row, line: None },
                reason: format!(
                    "{} is {what}; the load's key is ({}), so the row can be neither inserted nor updated",
                    plan.show_columns(&cols, &shown_values),
                    list(&plan.key, |i| quote_ident(&plan.columns[i].name), ", ")
                ),
            });
        }
    }
    Ok(())
}
