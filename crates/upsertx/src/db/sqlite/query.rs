//! A query on SQLite. Columns take their Arrow type from the declared type of the table
//! column behind them, by SQLite's affinity rules (`BOOL*`, `DATE`, `TIME`, `DATETIME`,
//! `TIMESTAMP`, `JSON` recognised as the target side does); an expression has no
//! declared type and is read as text. SQLite lets any value into any column: a value that
//! does not fit its column's declared type is an error naming its row and column.

use crate::db::rows::{Columns, Kind, Out, Val};
use crate::error::{Error, Result};
use crate::net::url::SqliteTarget;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

pub(in crate::db) fn run(target: &SqliteTarget, sql: &str, out: &Out<'_>) -> Result<()> {
    let conn = match target {
        SqliteTarget::File(path) => {
            if !path.exists() {
                return Err(Error::Usage(format!("{}: no such SQLite database", path.display())));
            }
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        }
        SqliteTarget::Memory => Connection::open_in_memory(),
    }
    .map_err(|e| Error::db("opening the source database", e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| Error::db("opening the source database", e))?;
    read(&conn, sql, out)
}

/// The rows of `sql` on `conn`.
pub(in crate::db) fn read(conn: &Connection, sql: &str, out: &Out<'_>) -> Result<()> {
    let mut stmt = conn.prepare(sql).map_err(|e| Error::db("preparing the query", e))?;
    let (names, kinds): (Vec<String>, Vec<Kind>) =
        stmt.columns().map(|c| (c.name().to_owned(), kind(c.decl_type()))).unzip();
    let mut columns = Columns::new(&names, kinds);
    if !out.schema(columns.schema.clone()) {
        return Ok(());
    }
    let mut rows = stmt.query([]).map_err(|e| Error::db("running the query", e))?;
    let mut row_number = 0u64;
    while let Some(row) = rows.next().map_err(|e| Error::db("reading the query's rows", e))? {
        row_number += 1;
        for (i, name) in names.iter().enumerate() {
            let value = row.get_ref(i).map_err(|e| Error::db("reading the query's rows", e))?;
            let kind = columns.kinds[i].clone();
            let text;
            let v = match (value, &kind) {
                (ValueRef::Null, _) => Val::Null,
                (ValueRef::Integer(x), Kind::Bool) => Val::Int(x),
                (ValueRef::Integer(x), _) => Val::Int(x),
                (ValueRef::Real(x), Kind::Text { .. }) => {
                    text = x.to_string();
                    Val::Text(&text)
                }
                (ValueRef::Real(x), _) => Val::Float(x),
                (ValueRef::Text(t), _) => match std::str::from_utf8(t) {
                    Ok(t) => Val::Text(t),
                    Err(_) => return Err(out.bad_value(row_number, name, None, "text that is not UTF-8")),
                },
                (ValueRef::Blob(b), _) => Val::Bytes(b),
            };
            let shown = || shown(value);
            columns.push(i, v).map_err(|reason| out.bad_value(row_number, name, shown(), reason))?;
        }
        if !columns.end_row(out) {
            return Ok(());
        }
    }
    columns.end(out);
    Ok(())
}

fn shown(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(x) => Some(x.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(crate::value::blob_text(b)),
    }
}

/// The Arrow column for a declared type. SQLite keeps dates and times as the text given,
/// so they stay text, marked with their SQL type for `--create`.
fn kind(declared: Option<&str>) -> Kind {
    let d = declared.unwrap_or("").to_ascii_uppercase();
    if d.starts_with("BOOL") {
        Kind::Bool
    } else if d.contains("INT") {
        Kind::Int64
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        Kind::Text { sql: None }
    } else if d.contains("BLOB") {
        Kind::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        Kind::Float64
    } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
        Kind::Text { sql: Some("timestamp") }
    } else if d.contains("DATE") {
        Kind::Text { sql: Some("date") }
    } else if d.contains("TIME") {
        Kind::Text { sql: Some("time") }
    } else if d.contains("JSON") {
        Kind::Text { sql: Some("json") }
    } else if d.is_empty() {
        Kind::Text { sql: None }
    } else {
        // NUMERIC affinity (NUMERIC, DECIMAL(10,2)): integers or reals, kept as written.
        Kind::Text { sql: Some("decimal") }
    }
}
