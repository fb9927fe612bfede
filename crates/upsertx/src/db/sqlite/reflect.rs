//! Reading a table's shape from SQLite's pragmas.

use crate::error::{quote_ident, Error, Result};
use crate::schema::{Column, Table, UniqueKey};
use crate::value::SqlType;
use rusqlite::OptionalExtension;

/// The dialect-neutral type of a declared SQLite type, following SQLite's affinity
/// rules, with booleans, dates, times, timestamps and JSON told apart.
pub(crate) fn sql_type(declared: &str) -> SqlType {
    let d = declared.to_ascii_uppercase();
    if d.contains("BOOL") {
        SqlType::Boolean
    } else if d.contains("INT") {
        SqlType::Integer { bits: 64 }
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        SqlType::Text { max_chars: None }
    } else if d.contains("BLOB") {
        SqlType::Blob
    } else if d.trim().is_empty() {
        SqlType::Any
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        SqlType::Real { nan: false, single: false }
    } else if d.starts_with("DATETIME") || d.starts_with("TIMESTAMP") {
        SqlType::Timestamp
    } else if d.starts_with("DATE") {
        SqlType::Date
    } else if d.starts_with("TIME") {
        SqlType::Time
    } else if d.starts_with("JSON") {
        SqlType::Json
    } else {
        SqlType::Numeric
    }
}

fn db(table: &str, e: rusqlite::Error) -> Error {
    Error::db(format!("reading the definition of table {}", quote_ident(table)), e)
}

/// The `WHERE` condition of a partial index, from its `CREATE INDEX` statement.
fn index_predicate(conn: &rusqlite::Connection, index: &str) -> rusqlite::Result<Option<String>> {
    let sql: Option<String> =
        conn.query_row("SELECT sql FROM main.sqlite_schema WHERE type = 'index' AND name = ?1", [index], |r| r.get(0))?;
    let Some(sql) = sql else { return Ok(None) };
    // After the column list's closing parenthesis comes `WHERE <condition>`.
    let (mut depth, mut quote, mut end) = (0, None, None);
    for (i, c) in sql.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`' | '[') => quote = Some(if c == '[' { ']' } else { c }),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    end = Some(i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let rest = end.map(|e| sql[e..].trim()).unwrap_or_default();
    Ok(rest.get(..5).filter(|w| w.eq_ignore_ascii_case("where")).map(|_| rest[5..].trim().to_string()))
}

pub(crate) fn table(conn: &rusqlite::Connection, name: &str) -> Result<Option<Table>> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT type, name FROM main.sqlite_schema WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE
             ORDER BY name = ?1 DESC LIMIT 1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| db(name, e))?;
    let Some((kind, name)) = found else {
        return Ok(None);
    };
    if kind == "view" {
        return Err(Error::Schema(format!("{} is a view, not a table", quote_ident(&name))));
    }

    let mut stmt = conn
        .prepare(r#"SELECT name, type, "notnull", dflt_value IS NOT NULL, pk, hidden FROM pragma_table_xinfo(?1, 'main') ORDER BY cid"#)
        .map_err(|e| db(&name, e))?;
    let mut pk: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    let rows = stmt
        .query_map([&name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(|e| db(&name, e))?;
    for row in rows {
        let (col, declared, not_null, has_default, pk_pos, hidden) = row.map_err(|e| db(&name, e))?;
        if hidden == 1 {
            continue;
        }
        if pk_pos > 0 {
            pk.push((pk_pos, col.clone()));
        }
        columns.push(Column {
            name: col,
            ty: sql_type(&declared),
            native: declared.clone(),
            declared,
            not_null,
            has_default,
            generated: hidden >= 2,
            // A rowid is only drawn for rows actually inserted: never burnt.
            sequence_default: false,
        });
    }
    pk.sort();
    // A rowid alias (the one primary key column, declared INTEGER) is filled when a row
    // leaves it out: it has a default in all but name (`--history` keys on it as a
    // surrogate). A WITHOUT ROWID table's is not filled: the insert then fails on NULL.
    if let [(_, only)] = pk.as_slice() {
        if let Some(c) = columns.iter_mut().find(|c| &c.name == only && c.declared.eq_ignore_ascii_case("INTEGER")) {
            c.has_default |= !c.not_null;
        }
    }

    let mut keys = Vec::new();
    if !pk.is_empty() {
        let cols: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
        keys.push(UniqueKey {
            name: None,
            collations: vec![None; cols.len()],
            columns: cols,
            primary: true,
            predicate: None,
        });
    }
    let mut stmt = conn
        .prepare(
            r#"SELECT name, origin, partial FROM pragma_index_list(?1, 'main') WHERE "unique" = 1 ORDER BY seq DESC"#,
        )
        .map_err(|e| db(&name, e))?;
    let indexes: Vec<(String, String, bool)> = stmt
        .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| db(&name, e))?;
    let mut stmt = conn
        .prepare("SELECT name, coll FROM pragma_index_xinfo(?1, 'main') WHERE key = 1 ORDER BY seqno")
        .map_err(|e| db(&name, e))?;
    for (index, origin, partial) in indexes {
        let parts: Vec<(Option<String>, String)> = stmt
            .query_map([&index], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(|e| db(&name, e))?;
        // An index on an expression cannot key a load of plain columns.
        if parts.iter().any(|(c, _)| c.is_none()) {
            continue;
        }
        let cols: Vec<String> = parts.iter().map(|(c, _)| c.clone().unwrap_or_default()).collect();
        let colls: Vec<Option<String>> =
            parts.into_iter().map(|(_, coll)| (!coll.eq_ignore_ascii_case("BINARY")).then_some(coll)).collect();
        if origin == "pk" {
            if let Some(pk) = keys.first_mut().filter(|k| k.primary) {
                pk.collations = colls;
                pk.name = Some(index);
            }
            continue;
        }
        let predicate = if partial { index_predicate(conn, &index).map_err(|e| db(&name, e))? } else { None };
        keys.push(UniqueKey { name: Some(index), columns: cols, collations: colls, primary: false, predicate });
    }
    Ok(Some(Table { name, columns, keys, distributed_by: None }))
}
