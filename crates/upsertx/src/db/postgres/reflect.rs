//! Reading a table's shape from PostgreSQL's catalogs.

use crate::error::{quote_ident, Error, Result};
use crate::schema::{Column, Table, UniqueKey};
use crate::value::SqlType;
use postgres::Client;

/// A resolved table: its oid, schema and name.
pub(crate) struct Resolved {
    pub oid: u32,
    pub schema: String,
    pub name: String,
}

fn db(table: &str, e: postgres::Error) -> Error {
    Error::db(format!("reading the definition of table {}", quote_ident(table)), super::session::message(&e))
}

/// Finds `name` as typed (any characters), else `schema.table` split at the first dot,
/// else the one table whose name matches ignoring case; unqualified names follow the
/// session's `search_path`.
pub(crate) fn resolve(client: &mut Client, name: &str) -> Result<Option<Resolved>> {
    const FIND: &str = "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND (CASE WHEN $3 THEN lower(c.relname) = lower($2) ELSE c.relname = $2 END)
          AND (($1::text IS NULL AND n.nspname = ANY (current_schemas(false))) OR n.nspname = $1)
        ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST
        LIMIT 2";
    let mut tries: Vec<(Option<&str>, &str)> = vec![(None, name)];
    if let Some((schema, table)) = name.split_once('.') {
        tries.push((Some(schema), table));
    }
    for fold in [false, true] {
        for (schema, table) in &tries {
            let rows = client.query(FIND, &[schema, table, &fold]).map_err(|e| db(name, e))?;
            if fold && rows.len() > 1 {
                continue;
            }
            if let Some(r) = rows.first() {
                let kind: String = r.get(3);
                let found = Resolved { oid: r.get(0), schema: r.get(1), name: r.get(2) };
                if kind == "v" || kind == "m" {
                    return Err(Error::Schema(format!("{} is a view, not a table", quote_ident(&found.name))));
                }
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The dialect-neutral type of a PostgreSQL base type.
fn sql_type(typname: &str, typtype: &str, typmod: i32) -> SqlType {
    let max_chars = (typmod > 4).then(|| (typmod - 4) as u32);
    match typname {
        "bool" => SqlType::Boolean,
        "int2" => SqlType::Integer { bits: 16 },
        "int4" => SqlType::Integer { bits: 32 },
        "int8" => SqlType::Integer { bits: 64 },
        "float4" => SqlType::Real { nan: true, single: true },
        "float8" => SqlType::Real { nan: true, single: false },
        "numeric" => SqlType::Decimal,
        "varchar" | "bpchar" => SqlType::Text { max_chars },
        "text" | "name" | "citext" => SqlType::Text { max_chars: None },
        "bytea" => SqlType::Blob,
        "date" => SqlType::Date,
        "time" => SqlType::Time,
        "timestamp" => SqlType::Timestamp,
        "timestamptz" => SqlType::TimestampTz,
        "json" | "jsonb" => SqlType::Json,
        "uuid" => SqlType::Uuid,
        _ if typtype == "e" => SqlType::Text { max_chars: None },
        _ => SqlType::Other,
    }
}

pub(crate) fn table(client: &mut Client, name: &str) -> Result<Option<(Table, Resolved)>> {
    let Some(found) = resolve(client, name)? else { return Ok(None) };
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                    a.atthasdef OR a.attidentity <> '', a.attgenerated <> '',
                    bt.typname::text, bt.typtype::text, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
                    a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false),
                    et.typname::text, et.typtype::text
             FROM pg_attribute a
             JOIN pg_type t ON t.oid = a.atttypid
             JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
             LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&found.oid],
        )
        .map_err(|e| db(name, e))?;
    let columns = rows
        .iter()
        .map(|r| {
            let (typname, typtype): (String, String) = (r.get(5), r.get(6));
            Column {
                name: r.get(0),
                ty: match r.get::<_, Option<String>>(9) {
                    // An array: its elements are checked against the element type.
                    Some(elem) => SqlType::Array(Box::new(sql_type(&elem, &r.get::<_, String>(10), -1))),
                    None => sql_type(&typname, &typtype, r.get(7)),
                },
                declared: r.get(1),
                native: if typtype == "e" { "enum".into() } else { typname },
                not_null: r.get(2),
                has_default: r.get(3),
                generated: r.get(4),
                sequence_default: r.get(8),
            }
        })
        .collect();
    let rows = client
        .query(
            "SELECT coalesce(con.conname, ic.relname)::text, i.indisprimary, pg_get_expr(i.indpred, i.indrelid),
                    i.indexprs IS NOT NULL,
                    ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
             FROM pg_index i
             JOIN pg_class ic ON ic.oid = i.indexrelid
             LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
             WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid
             ORDER BY i.indisprimary DESC, ic.relname",
            &[&found.oid],
        )
        .map_err(|e| db(name, e))?;
    let keys = rows
        .iter()
        .filter(|r| !r.get::<_, bool>(3))
        .map(|r| {
            let columns: Vec<String> = r.get(4);
            UniqueKey {
                name: Some(r.get(0)),
                collations: vec![None; columns.len()],
                columns,
                primary: r.get(1),
                predicate: r.get(2),
            }
        })
        .collect();
    let table = Table { name: found.name.clone(), columns, keys, distributed_by: None };
    Ok(Some((table, found)))
}
