//! A query on MySQL or MariaDB, in the binary protocol (a prepared statement), streamed
//! row by row off the socket. Each column's type comes from the result's metadata:
//! `tinyint(1)` is a boolean, DECIMAL keeps its digits, DATETIME is a wall time and
//! TIMESTAMP an instant (the session runs in UTC), binary strings are bytes.

use crate::db::mysql::session::db_error;
use crate::db::rows::{decimal_kind, Columns, Kind, Out, Val};
use crate::error::Result;
use crate::value::days_from_civil;
use mysql::consts::{ColumnFlags, ColumnType as T};
use mysql::prelude::Queryable;
use mysql::Value;

/// MySQL's character set number for binary strings.
const BINARY: u16 = 63;

pub(in crate::db) fn run(url: &str, sql: &str, out: &Out<'_>) -> Result<()> {
    let (builder, _, _) = crate::db::mysql::session::options(url)?;
    let mut conn = crate::db::mysql::session::connect(builder, url)?;
    read(&mut conn, sql, out)
}

/// The rows of `sql` on `conn`.
pub(in crate::db) fn read(conn: &mut mysql::Conn, sql: &str, out: &Out<'_>) -> Result<()> {
    let mut result = conn.exec_iter(sql, ()).map_err(|e| db_error("running the query", e))?;
    let meta: Vec<mysql::Column> = result.columns().as_ref().to_vec();
    let names: Vec<String> = meta.iter().map(|c| c.name_str().into_owned()).collect();
    let kinds: Vec<Kind> = meta.iter().map(kind).collect();
    let mut columns = Columns::new(&names, kinds);
    if !out.schema(columns.schema.clone()) {
        return Ok(());
    }
    for (row_number, row) in (1u64..).zip(result.by_ref()) {
        let row = row.map_err(|e| db_error("reading the query's rows", e))?;
        for (i, name) in names.iter().enumerate() {
            let value = row.as_ref(i).unwrap_or(&Value::NULL);
            let bad = |reason: String| out.bad_value(row_number, name, shown(value), reason);
            let text;
            let v = match (value, &columns.kinds[i]) {
                (Value::NULL, _) => Val::Null,
                (Value::Int(x), _) => Val::Int(*x),
                (Value::UInt(x), _) => Val::UInt(*x),
                (Value::Float(x), _) => Val::Float(*x as f64),
                (Value::Double(x), _) => Val::Float(*x),
                (Value::Bytes(b), Kind::Bytes) => Val::Bytes(b),
                (Value::Bytes(b), Kind::UInt64) => {
                    // BIT(n): big-endian bytes.
                    Val::UInt(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64))
                }
                (Value::Bytes(b), kind) => {
                    text = std::str::from_utf8(b).map_err(|_| bad("text that is not UTF-8".into()))?;
                    if matches!(kind, Kind::Decimal(..) | Kind::Text { sql: Some("decimal") }) {
                        Val::Decimal(text)
                    } else {
                        Val::Text(text)
                    }
                }
                (Value::Date(y, m, d, h, mi, s, us), kind) => {
                    let days = days_from_civil(*y as i64, *m as i64, *d as i64);
                    if *kind == Kind::Date {
                        Val::Date(days as i32)
                    } else {
                        let secs = days * 86_400 + *h as i64 * 3600 + *mi as i64 * 60 + *s as i64;
                        Val::Timestamp(secs * 1_000_000 + *us as i64)
                    }
                }
                (Value::Time(neg, d, h, mi, s, us), _) => {
                    if *neg || *d > 0 {
                        return Err(bad("a duration, not a time of day (TIME outside 00:00:00 to 23:59:59)".into()));
                    }
                    Val::Time(((*h as i64 * 60 + *mi as i64) * 60 + *s as i64) * 1_000_000 + *us as i64)
                }
            };
            columns.push(i, v).map_err(bad)?;
        }
        if !columns.end_row(out) {
            return Ok(());
        }
    }
    columns.end(out);
    Ok(())
}

fn shown(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
    }
}

/// The Arrow column for a result column.
fn kind(c: &mysql::Column) -> Kind {
    let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = c.character_set() == BINARY;
    match c.column_type() {
        T::MYSQL_TYPE_TINY if c.column_length() == 1 => Kind::Bool,
        T::MYSQL_TYPE_TINY | T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_YEAR => Kind::Int32,
        T::MYSQL_TYPE_INT24 | T::MYSQL_TYPE_LONG => Kind::Int64,
        T::MYSQL_TYPE_LONGLONG if unsigned => Kind::UInt64,
        T::MYSQL_TYPE_LONGLONG => Kind::Int64,
        T::MYSQL_TYPE_BIT => Kind::UInt64,
        T::MYSQL_TYPE_FLOAT => Kind::Float32,
        T::MYSQL_TYPE_DOUBLE => Kind::Float64,
        T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => {
            // The display length counts the sign (when signed) and the point.
            let scale = c.decimals() as u32;
            let precision = c.column_length().saturating_sub(u32::from(scale > 0) + u32::from(!unsigned));
            decimal_kind(precision, scale)
        }
        T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => Kind::Date,
        T::MYSQL_TYPE_TIME | T::MYSQL_TYPE_TIME2 => Kind::Time,
        T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_DATETIME2 => Kind::Timestamp,
        T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_TIMESTAMP2 => Kind::TimestampTz,
        T::MYSQL_TYPE_JSON => Kind::Text { sql: Some("json") },
        T::MYSQL_TYPE_GEOMETRY => Kind::Bytes,
        T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_VAR_STRING
        | T::MYSQL_TYPE_VARCHAR
            if binary =>
        {
            Kind::Bytes
        }
        _ => Kind::Text { sql: None },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_days() {
        use crate::value::days_from_civil;
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(days_from_civil(1815, 12, 10), -56_270);
    }
}
