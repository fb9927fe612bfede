//! A query on PostgreSQL, streamed row by row in the binary protocol (`query_raw`: rows
//! come off the socket as they are read, never the whole result at once). Each column's
//! type comes from the statement: the common types are decoded from their binary form;
//! any other type (arrays, intervals, ranges, network types...) is read as the server's
//! own text by wrapping the query (`to_json(...)` for arrays, `::text` for the rest).

use crate::db::postgres::session::message;
use crate::db::rows::{decimal_kind, Columns, Kind, Out, Val};
use crate::error::{Error, Result};
use postgres::error::SqlState;
use postgres::types::{FromSql, Type};

/// Days and microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

pub(in crate::db) fn run(url: &str, sql: &str, out: &Out<'_>) -> Result<()> {
    let mut client = crate::db::postgres::session::connect(url)?;
    read(&mut client, sql, out)
}

/// The rows of `sql` on `client` (in a transaction, its settings last until it ends).
pub(in crate::db) fn read(client: &mut postgres::Client, sql: &str, out: &Out<'_>) -> Result<()> {
    let db = |what: &'static str| move |e: postgres::Error| Error::db(what, message(&e));
    // Timestamps with a time zone are read as UTC instants; the text of any other
    // type (the wrapped columns) in the server's ISO style.
    client.batch_execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO'").map_err(db("configuring the session"))?;
    let stmt = client.prepare(sql).map_err(db("preparing the query"))?;
    let names: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    let modifiers = type_modifiers(client, &stmt)?;
    let kinds: Vec<Kind> = types.iter().zip(&modifiers).map(|(t, m)| kind(t, *m)).collect();
    let (stmt, text) = if kinds.iter().zip(&types).any(|(k, t)| needs_text(k, t)) {
        // Every column by position, the unusual ones as text.
        let wrapped = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let col = format!("q.{}", crate::error::quote_ident(n));
                match (&kinds[i], &types[i]) {
                    (k, t) if needs_text(k, t) && matches!(t.kind(), postgres::types::Kind::Array(_)) => {
                        format!("to_json({col})::text")
                    }
                    (k, t) if needs_text(k, t) => format!("{col}::text"),
                    _ => col,
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        if names.iter().enumerate().any(|(i, n)| names[..i].contains(n)) {
            return Err(Error::Source {
                input: out.name.to_owned(),
                reason: "the query names two columns alike: give each its own name (AS ...)".into(),
            });
        }
        let text = format!("SELECT {wrapped} FROM ({sql}) AS q");
        (client.prepare(&text).map_err(db("preparing the query"))?, text)
    } else {
        (stmt, sql.to_owned())
    };
    let mut columns = Columns::new(&names, kinds);
    if !out.schema(columns.schema.clone()) {
        return Ok(());
    }
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    // By COPY, whose rows come in large messages; a statement COPY does not take (`SHOW`)
    // row by row.
    let copy = format!("COPY ({}) TO STDOUT (FORMAT binary)", text.trim_end().trim_end_matches(';'));
    match client.copy_out(&copy) {
        Ok(reader) => return copied(reader, &types, &names, columns, out),
        Err(e) if !matches!(e.code(), Some(c) if *c == SqlState::SYNTAX_ERROR || *c == SqlState::FEATURE_NOT_SUPPORTED) => {
            return Err(db("running the query")(e))
        }
        Err(_) => {}
    }
    let mut rows = client.query_raw(&stmt, std::iter::empty::<i32>()).map_err(db("running the query"))?;
    let mut row_number = 0u64;
    use postgres::fallible_iterator::FallibleIterator;
    while let Some(row) = rows.next().map_err(db("reading the query's rows"))? {
        row_number += 1;
        for (i, ty) in types.iter().enumerate() {
            let raw: Option<Raw<'_>> = row.try_get(i).map_err(db("reading the query's rows"))?;
            let bad = |reason: String| out.bad_value(row_number, &names[i], None, reason);
            push(&mut columns, i, ty, raw.map(|Raw(b)| b)).map_err(bad)?;
        }
        if !columns.end_row(out) {
            return Ok(());
        }
    }
    columns.end(out);
    Ok(())
}

/// The rows of a binary COPY (`reader`), decoded as `types` say.
fn copied(
    reader: postgres::CopyOutReader<'_>,
    types: &[Type],
    names: &[String],
    mut columns: Columns,
    out: &Out<'_>,
) -> Result<()> {
    use std::io::Read;
    let io = |e: std::io::Error| Error::db("reading the query's rows", e.to_string());
    let mut r = std::io::BufReader::with_capacity(1 << 16, reader);
    let mut header = [0u8; 19];
    r.read_exact(&mut header).map_err(io)?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err(Error::db("reading the query's rows", "not a binary COPY"));
    }
    let extension = u32::from_be_bytes(header[15..19].try_into().expect("4 bytes"));
    std::io::copy(&mut (&mut r).take(extension.into()), &mut std::io::sink()).map_err(io)?;
    let mut field = Vec::new();
    let (mut n2, mut n4) = ([0u8; 2], [0u8; 4]);
    let mut row_number = 0u64;
    loop {
        r.read_exact(&mut n2).map_err(io)?;
        match i16::from_be_bytes(n2) {
            -1 => break,
            n if n as usize == types.len() => {}
            n => return Err(Error::db("reading the query's rows", format!("{n} fields in a row of {}", types.len()))),
        }
        row_number += 1;
        for (i, ty) in types.iter().enumerate() {
            r.read_exact(&mut n4).map_err(io)?;
            let bad = |reason: String| out.bad_value(row_number, &names[i], None, reason);
            let raw = match i32::from_be_bytes(n4) {
                len if len < 0 => None,
                len => {
                    field.resize(len as usize, 0);
                    r.read_exact(&mut field).map_err(io)?;
                    Some(&field[..])
                }
            };
            push(&mut columns, i, ty, raw).map_err(bad)?;
        }
        if !columns.end_row(out) {
            return Ok(());
        }
    }
    // To the end of the COPY, so the connection is ready for the next statement.
    std::io::copy(&mut r, &mut std::io::sink()).map_err(io)?;
    columns.end(out);
    Ok(())
}

/// Decodes one field (`None`: NULL) of type `ty` into column `i`.
fn push(columns: &mut Columns, i: usize, ty: &Type, raw: Option<&[u8]>) -> std::result::Result<(), String> {
    let owned;
    let v = match raw {
        None => Val::Null,
        Some(b) => match decode(ty, b)? {
            Decoded::Val(v) => v,
            Decoded::Decimal(text) => {
                owned = text;
                Val::Decimal(&owned)
            }
            Decoded::Text(text) => {
                owned = text;
                Val::Text(&owned)
            }
        },
    };
    columns.push(i, v)
}

/// The type modifier (`atttypmod`) of each result column that comes from a table column:
/// a `numeric(10,2)` column's precision and scale. `-1` where there is none.
fn type_modifiers(client: &mut postgres::Client, stmt: &postgres::Statement) -> Result<Vec<i32>> {
    let mut out = Vec::with_capacity(stmt.columns().len());
    for c in stmt.columns() {
        let m = match (c.table_oid(), c.column_id()) {
            (Some(table), Some(column)) if *c.type_() == Type::NUMERIC => client
                .query_opt("SELECT atttypmod FROM pg_attribute WHERE attrelid = $1 AND attnum = $2", &[&table, &column])
                .map_err(|e| Error::db("reading the query's column types", message(&e)))?
                .map_or(-1, |r| r.get(0)),
            _ => -1,
        };
        out.push(m);
    }
    Ok(out)
}

/// The Arrow column for a PostgreSQL type.
fn kind(ty: &Type, modifier: i32) -> Kind {
    match *ty {
        Type::BOOL => Kind::Bool,
        Type::INT2 => Kind::Int16,
        Type::INT4 => Kind::Int32,
        Type::INT8 | Type::OID => Kind::Int64,
        Type::FLOAT4 => Kind::Float32,
        Type::FLOAT8 => Kind::Float64,
        Type::NUMERIC if modifier >= 4 => {
            let m = (modifier - 4) as u32;
            decimal_kind(m >> 16, m & 0xffff)
        }
        Type::NUMERIC => Kind::Text { sql: Some("decimal") },
        Type::BYTEA => Kind::Bytes,
        Type::DATE => Kind::Date,
        Type::TIME => Kind::Time,
        Type::TIMESTAMP => Kind::Timestamp,
        Type::TIMESTAMPTZ => Kind::TimestampTz,
        Type::UUID => Kind::Text { sql: Some("uuid") },
        Type::JSON | Type::JSONB => Kind::Text { sql: Some("json") },
        _ if matches!(ty.kind(), postgres::types::Kind::Array(_)) => Kind::Text { sql: Some("json") },
        _ => Kind::Text { sql: None },
    }
}

/// Whether a column is read as text that the binary protocol would give in another form.
fn needs_text(kind: &Kind, ty: &Type) -> bool {
    matches!(kind, Kind::Text { sql: None } | Kind::Text { sql: Some("json") })
        && !matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::JSONB)
        && !matches!(ty.kind(), postgres::types::Kind::Enum(_))
}

/// A value's bytes as the server sent them, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A decoded value: borrowed from the row where it can be.
enum Decoded<'a> {
    Val(Val<'a>),
    Decimal(String),
    Text(String),
}

fn decode<'a>(ty: &Type, b: &'a [u8]) -> std::result::Result<Decoded<'a>, String> {
    let be = |n: usize| -> std::result::Result<&[u8], String> {
        (b.len() == n).then_some(b).ok_or_else(|| format!("{n} bytes expected for {ty}"))
    };
    let v = match *ty {
        Type::BOOL => Val::Bool(be(1)?[0] != 0),
        Type::INT2 => Val::Int(i16::from_be_bytes(be(2)?.try_into().unwrap()).into()),
        Type::INT4 => Val::Int(i32::from_be_bytes(be(4)?.try_into().unwrap()).into()),
        Type::OID => Val::Int(u32::from_be_bytes(be(4)?.try_into().unwrap()).into()),
        Type::INT8 => Val::Int(i64::from_be_bytes(be(8)?.try_into().unwrap())),
        Type::FLOAT4 => Val::Float(f32::from_be_bytes(be(4)?.try_into().unwrap()).into()),
        Type::FLOAT8 => Val::Float(f64::from_be_bytes(be(8)?.try_into().unwrap())),
        Type::NUMERIC => return numeric(b).map(Decoded::Decimal),
        Type::BYTEA => Val::Bytes(b),
        Type::DATE => match i32::from_be_bytes(be(4)?.try_into().unwrap()) {
            i32::MAX | i32::MIN => return Err("infinity is not a date upsertx can write".into()),
            d => Val::Date(d + EPOCH_DAYS),
        },
        Type::TIME => Val::Time(i64::from_be_bytes(be(8)?.try_into().unwrap())),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => match i64::from_be_bytes(be(8)?.try_into().unwrap()) {
            i64::MAX | i64::MIN => return Err("infinity is not a timestamp upsertx can write".into()),
            t => Val::Timestamp(t + EPOCH_MICROS),
        },
        Type::UUID => return Ok(Decoded::Text(crate::value::uuid_text(be(16)?))),
        // jsonb's binary form is a version byte, then the text.
        Type::JSONB => Val::Text(std::str::from_utf8(b.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?),
        _ => Val::Text(std::str::from_utf8(b).map_err(|e| e.to_string())?),
    };
    Ok(Decoded::Val(v))
}

/// The digits of a binary `numeric`: base-10000 digits with a weight, a sign and a scale.
fn numeric(b: &[u8]) -> std::result::Result<String, String> {
    let word = |i: usize| -> std::result::Result<u16, String> {
        b.get(i * 2..i * 2 + 2).map(|w| u16::from_be_bytes([w[0], w[1]])).ok_or_else(|| "a short numeric".to_string())
    };
    let (ndigits, weight, sign, scale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)? as usize);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<std::result::Result<_, _>>()?;
    let mut int = String::new();
    for pos in 0..=weight.max(0) {
        let d = if weight >= 0 { digits.get(pos as usize).copied().unwrap_or(0) } else { 0 };
        if int.is_empty() {
            if d != 0 || pos == weight.max(0) {
                int = d.to_string();
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if weight < 0 {
        int = "0".into();
    }
    let mut frac = String::new();
    let mut k = weight as i32 + 1;
    while frac.len() < scale {
        let d = if k >= 0 { digits.get(k as usize).copied().unwrap_or(0) } else { 0 };
        frac.push_str(&format!("{d:04}"));
        k += 1;
    }
    frac.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if scale > 0 { format!("{sign}{int}.{frac}") } else { format!("{sign}{int}") })
}

#[cfg(test)]
mod tests {
    use super::numeric;

    fn encode(ndigits: u16, weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [ndigits, weight as u16, sign, scale].iter().chain(digits) {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_decode_to_their_digits() {
        // 12345.678 = 1|2345|6780, weight 1, scale 3
        assert_eq!(numeric(&encode(3, 1, 0, 3, &[1, 2345, 6780])).unwrap(), "12345.678");
        // -0.05 = weight -1, digit 500, scale 2
        assert_eq!(numeric(&encode(1, -1, 0x4000, 2, &[500])).unwrap(), "-0.05");
        // 10000 = weight 1, digit 1 (trailing zero words dropped)
        assert_eq!(numeric(&encode(1, 1, 0, 0, &[1])).unwrap(), "10000");
        assert_eq!(numeric(&encode(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(numeric(&encode(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        // 0.0001234 = weight -2, digits 1234 (as 0.0001|2340?), scale 7
        assert_eq!(numeric(&encode(2, -1, 0, 7, &[1, 2340])).unwrap(), "0.0001234");
    }
}
