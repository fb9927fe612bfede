//! Reading a table's shape from MySQL's / MariaDB's information_schema.

use crate::error::{quote_ident, Error, Result};
use crate::schema::{Column, Table, UniqueKey};
use crate::value::SqlType;
use mysql::prelude::Queryable;
use mysql::Conn;

fn db(table: &str, e: mysql::Error) -> Error {
    super::session::db_error(format!("reading the definition of table {}", quote_ident(table)), e)
}

/// `name` as typed in the current database, else `database.table` split at the first
/// dot, else the one table whose name matches ignoring case.
pub(crate) fn resolve(conn: &mut Conn, name: &str) -> Result<Option<(String, String)>> {
    let current: Option<String> = conn.query_first("SELECT DATABASE()").map_err(|e| db(name, e))?.flatten();
    let mut tries: Vec<(Option<String>, String)> = vec![(current.clone(), name.to_owned())];
    if let Some((schema, table)) = name.split_once('.') {
        tries.push((Some(schema.to_owned()), table.to_owned()));
    }
    for fold in [false, true] {
        for (schema, table) in &tries {
            let Some(schema) = schema else { continue };
            let sql = if fold {
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
                 WHERE TABLE_SCHEMA = ? AND LOWER(TABLE_NAME) = LOWER(?) LIMIT 2"
            } else {
                "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES
                 WHERE TABLE_SCHEMA = ? AND BINARY TABLE_NAME = BINARY ? LIMIT 2"
            };
            let rows: Vec<(String, String, String)> = conn.exec(sql, (schema, table)).map_err(|e| db(name, e))?;
            if rows.len() == 1 {
                let (schema, table, kind) = rows.into_iter().next().expect("one row");
                if kind == "VIEW" {
                    return Err(Error::Schema(format!("{} is a view, not a table", quote_ident(&table))));
                }
                return Ok(Some((schema, table)));
            }
        }
    }
    if current.is_none() && !name.contains('.') {
        return Err(Error::Usage(format!(
            "no database selected: put one in the URL (mysql://host/DATABASE) or name the table as database.{name}"
        )));
    }
    Ok(None)
}

/// The dialect-neutral type of a column, from DATA_TYPE and COLUMN_TYPE.
fn sql_type(data_type: &str, column_type: &str, max_chars: Option<u64>) -> SqlType {
    let unsigned = column_type.contains("unsigned");
    let int = |bits: u8| if unsigned { SqlType::Unsigned { bits } } else { SqlType::Integer { bits } };
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") => SqlType::Boolean,
        "bool" | "boolean" => SqlType::Boolean,
        "tinyint" => int(8),
        "smallint" | "year" => int(16),
        "mediumint" => int(24),
        "int" | "integer" => int(32),
        "bigint" if unsigned => SqlType::Decimal,
        "bigint" => int(64),
        "decimal" | "numeric" => SqlType::Decimal,
        "float" => SqlType::Real { nan: false, single: true },
        "double" | "real" => SqlType::Real { nan: false, single: false },
        "char" | "varchar" => SqlType::Text { max_chars: max_chars.map(|n| n.min(u32::MAX as u64) as u32) },
        "tinytext" | "text" | "mediumtext" | "longtext" | "enum" => SqlType::Text { max_chars: None },
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => SqlType::Blob,
        "date" => SqlType::Date,
        "time" => SqlType::Time,
        "datetime" => SqlType::Timestamp,
        "timestamp" => SqlType::TimestampTz,
        "json" => SqlType::Json,
        _ => SqlType::Other,
    }
}

type ColumnRow = (String, String, String, String, Option<String>, String, Option<u64>, Option<String>);

pub(crate) fn table(conn: &mut Conn, name: &str) -> Result<Option<(Table, (String, String))>> {
    let Some((schema, table)) = resolve(conn, name)? else { return Ok(None) };
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
                    CHARACTER_MAXIMUM_LENGTH, COLLATION_NAME
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (&schema, &table),
        )
        .map_err(|e| db(name, e))?;
    let mut collations = std::collections::HashMap::new();
    let columns = rows
        .into_iter()
        .map(|(col, column_type, data_type, nullable, default, extra, max_chars, collation)| {
            let extra = extra.to_ascii_lowercase();
            if let Some(c) = collation {
                collations.insert(col.clone(), c);
            }
            Column {
                name: col,
                ty: sql_type(&data_type.to_ascii_lowercase(), &column_type.to_ascii_lowercase(), max_chars),
                native: data_type.to_ascii_lowercase(),
                declared: column_type,
                not_null: nullable == "NO",
                has_default: default.is_some_and(|d| d != "NULL") || extra.contains("auto_increment"),
                generated: extra.contains("generated"),
                sequence_default: extra.contains("auto_increment"),
            }
        })
        .collect();
    // Unique indexes on whole columns (a prefix index is unique only over the prefix).
    let parts: Vec<(String, String, Option<u64>)> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (&schema, &table),
        )
        .map_err(|e| db(name, e))?;
    let mut keys: Vec<UniqueKey> = Vec::new();
    let mut prefixed = Vec::new();
    for (index, column, sub_part) in parts {
        if sub_part.is_some() {
            prefixed.push(index.clone());
        }
        match keys.iter_mut().find(|k| k.name.as_deref() == Some(index.as_str())) {
            Some(k) => {
                k.collations.push(collations.get(&column).cloned());
                k.columns.push(column);
            }
            None => keys.push(UniqueKey {
                primary: index == "PRIMARY",
                collations: vec![collations.get(&column).cloned()],
                columns: vec![column],
                name: Some(index),
                predicate: None,
            }),
        }
    }
    keys.retain(|k| !prefixed.contains(k.name.as_ref().expect("named")));
    Ok(Some((Table { name: table.clone(), columns, keys, distributed_by: None }, (schema, table))))
}
