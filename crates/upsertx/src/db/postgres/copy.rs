//! PostgreSQL's binary COPY format, written by hand: a header, then per row a field
//! count and length-prefixed fields in each type's binary send format, then a trailer.
//! Writing it ourselves means a column's encoding follows its base type, so domains and
//! enums need no client-side type objects.

use crate::batch::Batch;
use crate::time::{to_days, to_micros_and_offset};
use crate::value::parse_uuid;
use crate::value::Value;

/// How one staged column is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, bpchar, name, citext, enum labels, json: UTF-8 bytes.
    Text,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    /// A type without an encoder here: staged as text, cast by the merge.
    AsText,
}

impl Kind {
    pub(crate) fn of(native: &str) -> Kind {
        match native {
            "bool" => Kind::Bool,
            "int2" => Kind::Int2,
            "int4" => Kind::Int4,
            "int8" => Kind::Int8,
            "float4" => Kind::Float4,
            "float8" => Kind::Float8,
            "numeric" => Kind::Numeric,
            "text" | "varchar" | "bpchar" | "name" | "citext" | "enum" | "json" => Kind::Text,
            "jsonb" => Kind::Jsonb,
            "bytea" => Kind::Bytea,
            "uuid" => Kind::Uuid,
            "date" => Kind::Date,
            "time" => Kind::Time,
            "timestamp" => Kind::Timestamp,
            "timestamptz" => Kind::TimestampTz,
            _ => Kind::AsText,
        }
    }
}

pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// Appends row `r` of the batch: the ordinal, then the values (one per kind).
pub(crate) fn write_row(
    out: &mut Vec<u8>,
    ord: i64,
    kinds: &[Kind],
    batch: &Batch,
    r: usize,
) -> Result<(), (usize, String)> {
    write_values(out, ord, kinds, |i| batch.value(r, i))
}

/// Appends a row: the ordinal, then value `i` for each kind `i`.
pub(crate) fn write_values<'a>(
    out: &mut Vec<u8>,
    ord: i64,
    kinds: &[Kind],
    value: impl Fn(usize) -> Value<'a>,
) -> Result<(), (usize, String)> {
    out.extend_from_slice(&((kinds.len() + 1) as i16).to_be_bytes());
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&ord.to_be_bytes());
    for (i, kind) in kinds.iter().enumerate() {
        write_value(out, *kind, &value(i)).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn write_value(out: &mut Vec<u8>, kind: Kind, value: &Value<'_>) -> Result<(), String> {
    let mismatch = || format!("internal: cannot send {value:?} as {kind:?}");
    match (kind, value) {
        (_, Value::Null) => out.extend_from_slice(&(-1i32).to_be_bytes()),
        (Kind::Bool, Value::Bool(b)) => field(out, &[*b as u8]),
        (Kind::Int2, Value::Int(i)) => field(out, &(*i as i16).to_be_bytes()),
        (Kind::Int4, Value::Int(i)) => field(out, &(*i as i32).to_be_bytes()),
        (Kind::Int8, Value::Int(i)) => field(out, &i.to_be_bytes()),
        (Kind::Float4, Value::Real(f)) => field(out, &(*f as f32).to_be_bytes()),
        (Kind::Float8, Value::Real(f)) => field(out, &f.to_be_bytes()),
        (Kind::Numeric, Value::Text(s)) => field(out, &numeric(s)?),
        (Kind::Text | Kind::AsText, Value::Text(s)) => field(out, s.as_bytes()),
        (Kind::Jsonb, Value::Text(s)) => {
            out.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
            out.push(1);
            out.extend_from_slice(s.as_bytes());
        }
        (Kind::Bytea, Value::Blob(b)) => field(out, b),
        (Kind::Uuid, Value::Text(s)) => field(out, &parse_uuid(s.trim())?),
        (Kind::Date, Value::Date(d)) => field(out, &((*d as i64 - PG_EPOCH_DAYS) as i32).to_be_bytes()),
        (Kind::Time, Value::Time(t)) => field(out, &t.to_be_bytes()),
        // A typed timestamp is already a wall time, or an instant in UTC.
        (Kind::Timestamp | Kind::TimestampTz, Value::Timestamp { micros, .. }) => {
            field(out, &(micros - PG_EPOCH_DAYS * 86_400_000_000).to_be_bytes())
        }
        (Kind::Date, Value::Text(s)) => field(out, &((to_days(s)? - PG_EPOCH_DAYS) as i32).to_be_bytes()),
        (Kind::Time, Value::Text(s)) => field(out, &time_micros(s)?.to_be_bytes()),
        (Kind::Timestamp | Kind::TimestampTz, Value::Text(s)) => {
            let (local, offset) = to_micros_and_offset(s)?;
            // timestamp (without time zone) keeps the wall time and drops any offset,
            // as PostgreSQL's own input does; timestamptz converts to UTC, and a value
            // without an offset is UTC (never the session's time zone).
            let utc = if kind == Kind::TimestampTz { local - offset.unwrap_or(0) * 1_000_000 } else { local };
            field(out, &(utc - PG_EPOCH_DAYS * 86_400_000_000).to_be_bytes())
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn time_micros(s: &str) -> Result<i64, String> {
    crate::time::time_of_day_micros(s.trim()).ok_or_else(|| "not a valid time".to_string())
}

/// The binary form of a decimal: base-10000 digits around the decimal point.
pub(crate) fn numeric(s: &str) -> Result<Vec<u8>, String> {
    let header = |ndigits: i16, weight: i16, sign: u16, dscale: u16| {
        let mut v = Vec::with_capacity(8 + 2 * ndigits.max(0) as usize);
        for part in [ndigits.to_be_bytes(), weight.to_be_bytes(), sign.to_be_bytes(), dscale.to_be_bytes()] {
            v.extend_from_slice(&part);
        }
        v
    };
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(header(0, 0, 0xC000, 0)),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(header(0, 0, 0xD000, 0)),
        "-infinity" | "-inf" => return Ok(header(0, 0, 0xF000, 0)),
        _ => {}
    }
    let negative = t.starts_with('-');
    let body = t.trim_start_matches(['-', '+']);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().map_err(|_| "not a number".to_string())?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let mut point = int.len() as i64 + exp;
    if point < 0 {
        digits.splice(0..0, std::iter::repeat_n(0, (-point) as usize));
        point = 0;
    }
    if point > digits.len() as i64 {
        digits.resize(point as usize, 0);
    }
    let dscale = (digits.len() as i64 - point).max(0);
    // Align the point on a group boundary, then pad the end to whole groups.
    let lead = ((4 - point % 4) % 4) as usize;
    digits.splice(0..0, std::iter::repeat_n(0, lead));
    let point = point as usize + lead;
    digits.resize(digits.len().div_ceil(4) * 4, 0);
    let mut groups: Vec<i16> = digits.chunks(4).map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + *d as i16)).collect();
    let mut weight = (point / 4) as i64 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        return Ok(header(0, 0, 0, dscale as u16));
    }
    if groups.len() > i16::MAX as usize || !(-32768..=32767).contains(&weight) || dscale > 0x3FFF {
        return Err("the number is too large or too precise for PostgreSQL numeric".into());
    }
    let mut v = header(groups.len() as i16, weight as i16, if negative { 0x4000 } else { 0 }, dscale as u16);
    for g in groups {
        v.extend_from_slice(&g.to_be_bytes());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::numeric;

    fn groups(s: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let b = numeric(s).unwrap();
        let w = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let n = w(0);
        (n, w(2), w(4) as u16, w(6) as u16, (0..n as usize).map(|i| w(8 + 2 * i)).collect())
    }

    #[test]
    fn numeric_binary_form() {
        assert_eq!(groups("12345.678"), (3, 1, 0, 3, vec![1, 2345, 6780]));
        assert_eq!(groups("-0.0015"), (1, -1, 0x4000, 4, vec![15]));
        assert_eq!(groups("1.50"), (2, 0, 0, 2, vec![1, 5000]));
        assert_eq!(groups("1e3"), (1, 0, 0, 0, vec![1000]));
        assert_eq!(groups("100000000"), (1, 2, 0, 0, vec![1]));
        assert_eq!(groups("0.000"), (0, 0, 0, 3, vec![]));
        assert_eq!(groups("NaN"), (0, 0, 0xC000, 0, vec![]));
    }
}
