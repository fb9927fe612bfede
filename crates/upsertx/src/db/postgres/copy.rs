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

/// Field `field` of row `row` in rows written by [`write_values`] (no header): `None` when
/// the bytes end first, `Some(None)` for a NULL.
pub(crate) fn read_field(bytes: &[u8], row: usize, field: usize) -> Option<Option<&[u8]>> {
    let mut at = 0;
    let mut take = |n: usize| {
        let part = bytes.get(at..at + n)?;
        at += n;
        Some(part)
    };
    for r in 0..=row {
        let fields = i16::from_be_bytes(take(2)?.try_into().ok()?) as usize;
        for f in 0..fields {
            let len = i32::from_be_bytes(take(4)?.try_into().ok()?);
            let value = match len < 0 {
                true => None,
                false => Some(take(len as usize)?),
            };
            if r == row && f == field {
                return Some(value);
            }
        }
    }
    None
}

/// A field as sent in `kind`'s binary form, read back: the value the server was given,
/// to name one it refuses. `None` when the bytes are not that form.
pub(crate) fn read_value(kind: Kind, field: Option<&[u8]>) -> Option<Value<'static>> {
    let Some(b) = field else { return Some(Value::Null) };
    // A signed big-endian integer of exactly `n` bytes.
    let int = |n: usize| -> Option<i64> {
        Some(match n {
            2 => i16::from_be_bytes(b.try_into().ok()?) as i64,
            4 => i32::from_be_bytes(b.try_into().ok()?) as i64,
            _ => i64::from_be_bytes(b.try_into().ok()?),
        })
    };
    let text = |b: &[u8]| Value::Text(String::from_utf8_lossy(b).into_owned().into());
    Some(match kind {
        Kind::Bool => Value::Bool(*b.first()? != 0),
        Kind::Int2 => Value::Int(int(2)?),
        Kind::Int4 => Value::Int(int(4)?),
        Kind::Int8 => Value::Int(int(8)?),
        // As a 32-bit float writes itself (0.1, not 0.10000000149011612).
        Kind::Float4 => Value::Text(f32::from_bits(int(4)? as u32).to_string().into()),
        Kind::Float8 => Value::Real(f64::from_bits(int(8)? as u64)),
        Kind::Numeric => Value::Text(numeric_text(b)?.into()),
        Kind::Text | Kind::AsText => text(b),
        Kind::Jsonb => text(b.get(1..)?),
        Kind::Bytea => Value::Blob(b.to_vec().into()),
        Kind::Uuid => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let cut = |from: usize, to: usize| hex.get(from..to);
            Value::Text(
                format!("{}-{}-{}-{}-{}", cut(0, 8)?, cut(8, 12)?, cut(12, 16)?, cut(16, 20)?, cut(20, 32)?).into(),
            )
        }
        Kind::Date => Value::Date((int(4)? + PG_EPOCH_DAYS) as i32),
        Kind::Time => Value::Time(int(8)?),
        Kind::Timestamp | Kind::TimestampTz => {
            Value::Timestamp { micros: int(8)? + PG_EPOCH_DAYS * 86_400_000_000, zoned: kind == Kind::TimestampTz }
        }
    })
}

/// A decimal's binary form (see [`numeric`]) as text, with its scale's digits.
fn numeric_text(b: &[u8]) -> Option<String> {
    use std::fmt::Write;
    let word = |i: usize| Some(i16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?));
    let (n, weight, sign, dscale) = (word(0)? as usize, word(2)? as i32, word(4)? as u16, word(6)? as u16 as usize);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    // Group g weighs 10000^(weight - g); those past the last are zeros.
    let group = |g: i32| match (0..n as i32).contains(&g) {
        true => word(8 + 2 * g as usize),
        false => Some(0),
    };
    let mut s = String::from(if sign == 0x4000 { "-" } else { "" });
    match weight < 0 {
        true => s.push('0'),
        false => {
            for g in 0..=weight {
                let d = group(g)?;
                let _ = if g == 0 { write!(s, "{d}") } else { write!(s, "{d:04}") };
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut g = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", group(g)?);
            g += 1;
        }
        fraction.truncate(dscale);
        s = s + "." + &fraction;
    }
    Some(s)
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
    use super::{numeric, numeric_text, read_field, read_value, write_values, Kind};
    use crate::value::Value;

    /// Every kind's value, written then read back from the rows' bytes, is the value
    /// given (text for decimals and 32-bit floats, in their canonical form).
    #[test]
    fn values_read_back_from_the_copy_rows() {
        let given: Vec<(Kind, Value<'static>, Option<&str>)> = vec![
            (Kind::Bool, Value::Bool(true), Some("true")),
            (Kind::Int2, Value::Int(-300), Some("-300")),
            (Kind::Int4, Value::Int(-70_000), Some("-70000")),
            (Kind::Int8, Value::Int(i64::MIN), Some("-9223372036854775808")),
            (Kind::Float4, Value::Real(0.1), Some("0.1")),
            (Kind::Float8, Value::Real(-2.5), Some("-2.5")),
            (Kind::Numeric, Value::text("-12345.6780".into()), Some("-12345.6780")),
            (Kind::Numeric, Value::text("0.0015".into()), Some("0.0015")),
            (Kind::Numeric, Value::text("100000000".into()), Some("100000000")),
            (Kind::Numeric, Value::text("1e3".into()), Some("1000")),
            (Kind::Numeric, Value::text("NaN".into()), Some("NaN")),
            (Kind::Text, Value::text("héllo".into()), Some("héllo")),
            (Kind::Jsonb, Value::text("{\"a\": 1}".into()), Some("{\"a\": 1}")),
            (
                Kind::Uuid,
                Value::text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into()),
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
            (Kind::Date, Value::text("2024-02-29".into()), Some("2024-02-29")),
            (Kind::Time, Value::text("23:59:59.5".into()), Some("23:59:59.500000")),
            (Kind::Timestamp, Value::text("2024-02-29 10:00:00".into()), Some("2024-02-29 10:00:00")),
            (Kind::Bytea, Value::Blob(vec![0xde, 0xad].into()), None),
            (Kind::Text, Value::Null, None),
        ];
        let kinds: Vec<Kind> = given.iter().map(|g| g.0).collect();
        let mut bytes = Vec::new();
        for ord in 1..=2 {
            write_values(&mut bytes, ord, &kinds, |i| given[i].1.clone()).unwrap();
        }
        for (i, (kind, value, shown)) in given.iter().enumerate() {
            let field = read_field(&bytes, 1, i + 1).expect("the field is there");
            let back = read_value(*kind, field).expect("its form is the kind's");
            match kind {
                Kind::Bytea => assert_eq!(back.shown(), value.shown()),
                _ => assert_eq!(back.shown().as_deref(), *shown, "{kind:?}"),
            }
        }
        assert_eq!(read_field(&bytes, 1, 0), Some(Some(&2i64.to_be_bytes()[..])), "the ordinal");
        assert_eq!(read_field(&bytes, 2, 0), None, "past the rows");
        assert_eq!(numeric_text(&numeric("-0").unwrap()).as_deref(), Some("0"));
        assert_eq!(numeric_text(&numeric("-1.50").unwrap()).as_deref(), Some("-1.50"));
    }

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
