//! The check step: every input value against its target column's type, into batches
//! ready for staging.
//!
//! This is where "007" stays text for a text column, where `abc` is refused for an
//! integer column, and where `2024-02-30` is refused for a date column. Text and JSON
//! rows are checked here; typed (Arrow) columns in [`arrow`]. A bad value becomes an
//! error naming the input, row, line, column and value.

pub(crate) mod arrow;
pub(crate) mod infer;

pub(crate) use crate::batch::ColumnBuilder;
pub use crate::batch::{Batch, Column};
pub use crate::time::parse_time;
pub(crate) use crate::time::{in_years, is_date, is_time, is_timestamp, OUT_OF_YEARS};
pub(crate) use crate::value::parse_uuid;

use crate::error::{Error, Location, Result};
use crate::plan::{Fill, PlanColumn};
use crate::source::{Input, RawRef, RowReader};
use crate::value::{SqlType, Value};
use std::borrow::Cow;

/// The rules every checked value meets whatever its source: no NULL in a key column
/// (NULL never matches an existing key, so the row would be duplicated), none in a
/// NOT NULL column.
pub(crate) fn accept<'a>(c: &PlanColumn, value: Result<Value<'a>, String>) -> Result<Value<'a>, String> {
    match value? {
        Value::Null if c.is_key => {
            Err("NULL in a key column (NULL never matches an existing key, so the row would be duplicated)".into())
        }
        Value::Null if c.not_null => Err("NULL in a NOT NULL column".into()),
        v => Ok(v),
    }
}

/// Reads and checks up to `max` rows of any input; `None` at its end.
/// About the most bytes of values one batch holds: wide rows come in batches of fewer
/// rows, so that the batches on their way to the database (read ahead, being encoded,
/// being sent) bound memory by bytes, not rows (a batch of 4096 rows of 1 KB was 4 MB).
const BATCH_BYTES: usize = 1 << 20;

/// The next batch of the input: up to `max` rows and about [`BATCH_BYTES`] of values,
/// checked against the plan's columns; `None` at the end.
pub(crate) fn next_batch(input: &mut Input, columns: &[PlanColumn], name: &str, max: usize) -> Result<Option<Batch>> {
    // Columns the load fills itself (`Plan::soft_delete`) come last.
    let read = columns.iter().position(|c| c.fill.is_some()).unwrap_or(columns.len());
    let batch = match input {
        Input::Rows(rows) => check_rows(&mut **rows, &columns[..read], name, max)?,
        Input::Batches(batches) => match batches.next_batch(max, BATCH_BYTES)? {
            Some((first, batch)) => Some(arrow::check_batch(&batch, first, &columns[..read], name)?),
            None => None,
        },
    };
    Ok(batch.map(|mut b| {
        for c in &columns[read..] {
            b.columns.push(filled(c, b.rows.len()));
        }
        b
    }))
}

/// Column `c` of `rows` rows not read from the input: what the load fills it with
/// ([`PlanColumn::fill`]), else NULL.
pub(crate) fn filled(c: &PlanColumn, rows: usize) -> Column {
    let mut filled = ColumnBuilder::new(rows);
    for _ in 0..rows {
        filled.push(match c.fill {
            Some(Fill::False) => Value::Bool(false),
            Some(Fill::True) => Value::Bool(true),
            Some(Fill::Time(micros)) if c.ty == SqlType::Date => {
                Value::Date(micros.div_euclid(crate::value::MICROS_PER_DAY) as i32)
            }
            Some(Fill::Time(micros)) => Value::Timestamp { micros, zoned: false },
            _ => Value::Null,
        });
    }
    filled.finish()
}

/// Reads and checks up to `max` rows of text or JSON; `None` at the end of the input.
fn check_rows(reader: &mut dyn RowReader, columns: &[PlanColumn], input: &str, max: usize) -> Result<Option<Batch>> {
    let mut builders: Vec<ColumnBuilder> = columns.iter().map(|_| ColumnBuilder::new(max)).collect();
    let mut rows = Vec::with_capacity(max);
    let mut bytes = 0;
    while rows.len() < max && bytes < BATCH_BYTES && reader.advance()? {
        let (row, line) = reader.position();
        for (c, b) in columns.iter().zip(&mut builders) {
            let raw = reader.value(c.input);
            bytes += raw.size();
            match accept(c, convert(&c.ty, raw)) {
                Ok(v) => b.push(v),
                Err(reason) => {
                    return Err(Error::Value {
                        at: Location { input: input.to_owned(), row, line },
                        column: c.name.clone(),
                        value: raw.shown(),
                        reason,
                    })
                }
            }
        }
        rows.push((row, line));
    }
    Ok((!rows.is_empty()).then(|| Batch { columns: builders.into_iter().map(ColumnBuilder::finish).collect(), rows }))
}
use serde_json::Value as Json;

/// Converts one raw input value for a column of type `ty`. `Err` holds the reason.
pub fn convert<'a>(ty: &SqlType, raw: RawRef<'a>) -> Result<Value<'a>, String> {
    match raw {
        RawRef::Null => Ok(Value::Null),
        RawRef::Text(s) => from_text(ty, s),
        RawRef::Json(Json::Null) => Ok(Value::Null),
        RawRef::Json(Json::String(s)) => from_text(ty, s),
        RawRef::Json(j) => from_json(ty, j),
    }
}

fn from_text<'a>(ty: &SqlType, s: &'a str) -> Result<Value<'a>, String> {
    let borrowed = || Value::Text(Cow::Borrowed(s));
    match ty {
        // `[1, 2]` (JSON text in a CSV field) is converted; `{1,2}` is PostgreSQL's own
        // literal and goes as it is, for the server to parse.
        SqlType::Array(elem) if s.trim_start().starts_with('[') => match serde_json::from_str::<Json>(s) {
            Ok(Json::Array(items)) => array_literal(elem, &items).map(Value::text),
            _ => Err("not a valid JSON array".into()),
        },
        SqlType::Array(_) => Ok(borrowed()),
        SqlType::Text { max_chars } => {
            if let Some(max) = max_chars {
                let n = s.chars().count();
                if n > *max as usize {
                    return Err(format!("{n} characters is longer than the column's limit of {max}"));
                }
            }
            Ok(borrowed())
        }
        SqlType::Any | SqlType::Other => Ok(borrowed()),
        SqlType::Decimal => parse_decimal(s.trim()).map(|t| Value::Text(Cow::Borrowed(t))),
        SqlType::Uuid => parse_uuid(s.trim()).map(|_| Value::Text(Cow::Borrowed(s.trim()))),
        SqlType::TimestampTz => {
            check(is_timestamp(s), s, "not a valid timestamp (expected ISO 8601, e.g. 2024-05-01T12:30:00+02:00)")
                .and_then(|v| in_years(s).map(|()| v))
        }
        SqlType::Integer { bits } => parse_integer(s.trim(), *bits).map(Value::Int),
        SqlType::Unsigned { bits } => {
            parse_integer(s.trim(), 64).and_then(|i| check_unsigned(i, *bits)).map(Value::Int)
        }
        SqlType::Real { nan, single } => {
            parse_real(s.trim(), *nan).and_then(|f| check_real_range(s.trim(), f, *single)).map(Value::Real)
        }
        SqlType::Numeric => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Value::Int(i))
            } else {
                parse_real(t, false)
                    .map_err(|_| "not a number".to_string())
                    .and_then(|f| check_real_range(t, f, false))
                    .map(Value::Real)
            }
        }
        SqlType::Boolean => parse_bool(s.trim()).map(Value::Bool),
        SqlType::Date => {
            check(is_date(s), s, "not a valid date (expected YYYY-MM-DD)").and_then(|v| in_years(s).map(|()| v))
        }
        SqlType::Time => check(is_time(s), s, "not a valid time (expected HH:MM[:SS[.fraction]])"),
        SqlType::Timestamp => {
            check(is_timestamp(s), s, "not a valid timestamp (expected ISO 8601, e.g. 2024-05-01T12:30:00Z)")
                .and_then(|v| in_years(s).map(|()| v))
        }
        SqlType::Json => match serde_json::from_str::<serde::de::IgnoredAny>(s) {
            Ok(_) => Ok(borrowed()),
            Err(e) => Err(format!("not valid JSON ({e})")),
        },
        SqlType::Blob => parse_blob(s).map(Value::Blob),
    }
}

fn from_json<'a>(ty: &SqlType, j: &'a Json) -> Result<Value<'a>, String> {
    let owned_text = |t: String| from_text(ty, &t).map(Value::into_owned);
    match (ty, j) {
        (SqlType::Array(elem), Json::Array(items)) => array_literal(elem, items).map(Value::text),
        (SqlType::Unsigned { bits }, Json::Number(n)) => {
            parse_integer(&n.to_string(), 64).and_then(|i| check_unsigned(i, *bits)).map(Value::Int)
        }
        (SqlType::Integer { bits }, Json::Number(n)) => {
            if let Some(i) = n.as_i64() {
                check_bits(i, *bits).map(Value::Int)
            } else {
                parse_integer(&n.to_string(), *bits).map(Value::Int)
            }
        }
        // The number's own text (serde_json's arbitrary_precision keeps it): `1e309` and
        // `1e-400` are seen for what they are, not as infinity or 0.
        (SqlType::Real { single, .. }, Json::Number(n)) => {
            let t = n.to_string();
            parse_real(&t, false).and_then(|f| check_real_range(&t, f, *single)).map(Value::Real)
        }
        (SqlType::Decimal | SqlType::Other, Json::Number(n)) => owned_text(n.to_string()),
        (SqlType::Numeric | SqlType::Any, Json::Number(n)) => Ok(match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        }),
        (SqlType::Boolean, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (SqlType::Boolean, Json::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Value::Bool(false)),
            Some(1) => Ok(Value::Bool(true)),
            _ => Err("not a boolean (expected true/false or 1/0)".into()),
        },
        (SqlType::Any, Json::Bool(b)) => Ok(Value::Int(*b as i64)),
        (SqlType::Text { .. } | SqlType::Json | SqlType::Any, _) => owned_text(j.to_string()),
        (_, Json::Array(_) | Json::Object(_)) => Err(format!("a JSON {} is not a {}", json_kind(j), ty.describe())),
        (_, _) => Err(format!("not a {}", ty.describe())),
    }
}

/// A PostgreSQL array literal from a JSON array, each element checked against the
/// element type: `{1,NULL,3}`, `{"a b","c\"d"}`, nested arrays for more dimensions.
fn array_literal(elem: &SqlType, items: &[Json]) -> Result<String, String> {
    let mut out = String::from("{");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let value = match item {
            Json::Array(inner) => {
                out.push_str(&array_literal(elem, inner)?);
                continue;
            }
            _ => convert(elem, RawRef::Json(item)).map_err(|e| format!("element {}: {e}", n + 1))?,
        };
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Bool(b) => out.push_str(if b { "t" } else { "f" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Real(f) => out.push_str(&f.to_string()),
            Value::Text(t) => {
                out.push('"');
                for c in t.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            Value::Date(_) | Value::Time(_) | Value::Timestamp { .. } => {
                out.push('"');
                out.push_str(&value.temporal_text().unwrap_or_default());
                out.push('"');
            }
            Value::Blob(b) => {
                out.push_str("\"\\\\x");
                out.push_str(&crate::value::hex(&b));
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Array(_) => "array",
        Json::Object(_) => "object",
        _ => "value",
    }
}

fn check<'a>(ok: bool, s: &'a str, reason: &str) -> Result<Value<'a>, String> {
    if ok {
        Ok(Value::Text(Cow::Borrowed(s)))
    } else {
        Err(reason.to_owned())
    }
}

fn check_unsigned(i: i64, bits: u8) -> Result<i64, String> {
    if i >= 0 && (bits >= 63 || i < (1i64 << bits)) {
        Ok(i)
    } else {
        Err(format!("out of range for an unsigned {bits}-bit integer (0 to {})", (1u64 << bits.min(63)) - 1))
    }
}

fn check_bits(i: i64, bits: u8) -> Result<i64, String> {
    if bits >= 64 || (i >= -(1i64 << (bits - 1)) && i < (1i64 << (bits - 1))) {
        Ok(i)
    } else {
        Err(format!("out of range for a {bits}-bit integer"))
    }
}

/// Whole numbers, also when written as `1.0` or `1e3` (as pandas writes integer
/// columns that hold NULLs).
pub(crate) fn parse_integer(s: &str, bits: u8) -> Result<i64, String> {
    if let Ok(i) = s.parse::<i64>() {
        return check_bits(i, bits);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && looks_numeric(s) => {
            if (i64::MIN as f64..-(i64::MIN as f64)).contains(&f) {
                check_bits(f as i64, bits)
            } else {
                Err(format!("out of range for a {bits}-bit integer"))
            }
        }
        Ok(f) if f.is_finite() && looks_numeric(s) => Err("not an integer (it has a fraction)".into()),
        _ => Err("not an integer".into()),
    }
}

fn looks_numeric(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.')
}

/// A number written out in digits must fit the column's float without becoming
/// infinite or zero (as PostgreSQL's own input refuses `1e39` for `real`, `1e309` and
/// `1e-400` for `double precision`); `Infinity` spelled out stays infinite.
fn check_real_range(s: &str, f: f64, single: bool) -> Result<f64, String> {
    let written = looks_numeric(s) && !s.to_ascii_lowercase().contains("inf");
    let nonzero = s.split(['e', 'E']).next().is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
    let (stored_infinite, stored_zero, kind) = if single {
        let g = f as f32;
        (g.is_infinite(), g == 0.0, "a 32-bit float (real)")
    } else {
        (f.is_infinite(), f == 0.0, "a 64-bit float (double precision)")
    };
    if written && (stored_infinite || (stored_zero && nonzero)) {
        return Err(format!("out of range for {kind}"));
    }
    Ok(f)
}

pub(crate) fn parse_real(s: &str, nan_ok: bool) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_nan() && nan_ok => Ok(f),
        Ok(f) if f.is_nan() => Err("NaN cannot be stored in this database".into()),
        Ok(f) if looks_numeric(s) || f.is_infinite() => Ok(f),
        _ => Err("not a number".into()),
    }
}

pub(crate) fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
        _ => Err("not a boolean (expected true/false, t/f, yes/no or 1/0)".into()),
    }
}

/// An exact decimal: optional sign, digits with an optional point, optional exponent;
/// `NaN` and `Infinity` as PostgreSQL spells them. Returned as given.
pub(crate) fn parse_decimal(s: &str) -> Result<&str, String> {
    if s.len() <= 9
        && matches!(
            s.to_ascii_lowercase().as_str(),
            "nan" | "infinity" | "+infinity" | "-infinity" | "inf" | "+inf" | "-inf"
        )
    {
        return Ok(s);
    }
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.len() <= 6 && digits_ok(e)
    });
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) || !exp_ok {
        return Err("not a number".into());
    }
    Ok(s)
}

fn parse_blob(s: &str) -> Result<Cow<'_, [u8]>, String> {
    let Some(hex) = s.strip_prefix("\\x") else {
        return Ok(Cow::Borrowed(s.as_bytes()));
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        // Checked first: slicing text with a multi-byte character in pairs would panic.
        return Err("not valid hex after \\x".into());
    }
    if hex.len() % 2 != 0 {
        return Err("hex bytes need an even number of digits".into());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect::<Result<Vec<u8>, String>>()
        .map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: SqlType, s: &str) -> Result<Value<'_>, String> {
        convert(&ty, RawRef::Text(s))
    }

    /// Found by fuzzing: a multi-byte character after `\\x` panicked.
    #[test]
    fn blob_hex_with_a_non_ascii_character_is_refused() {
        assert_eq!(text(SqlType::Blob, "\\x\u{ff}z"), Err("not valid hex after \\x".to_string()));
        assert_eq!(text(SqlType::Blob, "\\xé1"), Err("not valid hex after \\x".to_string()));
        assert_eq!(text(SqlType::Blob, "\\x0"), Err("hex bytes need an even number of digits".to_string()));
        assert_eq!(text(SqlType::Blob, "\\xDEad"), Ok(Value::Blob(vec![0xde, 0xad].into())));
    }

    #[test]
    fn integers_accept_whole_numbers_only() {
        let int = || SqlType::Integer { bits: 64 };
        assert_eq!(text(int(), " 42 "), Ok(Value::Int(42)));
        assert_eq!(text(int(), "1.0"), Ok(Value::Int(1)));
        assert_eq!(text(int(), "1e3"), Ok(Value::Int(1000)));
        assert_eq!(text(int(), "abc"), Err("not an integer".into()));
        assert_eq!(text(int(), "1.5"), Err("not an integer (it has a fraction)".into()));
        assert_eq!(text(int(), "inf"), Err("not an integer".into()));
        assert!(text(SqlType::Integer { bits: 16 }, "40000").unwrap_err().contains("out of range"));
        let byte = || SqlType::Unsigned { bits: 8 };
        assert_eq!(text(byte(), "255"), Ok(Value::Int(255)));
        assert_eq!(text(byte(), "256"), Err("out of range for an unsigned 8-bit integer (0 to 255)".into()));
        assert_eq!(text(byte(), "-1"), Err("out of range for an unsigned 8-bit integer (0 to 255)".into()));
    }

    #[test]
    fn text_keeps_leading_zeros_and_checks_length() {
        assert_eq!(text(SqlType::Text { max_chars: None }, "007"), Ok(Value::Text("007".into())));
        assert!(text(SqlType::Text { max_chars: Some(2) }, "héé").is_err());
        assert!(text(SqlType::Text { max_chars: Some(3) }, "héé").is_ok());
    }

    #[test]
    fn reals_refuse_nan_and_words() {
        let double = SqlType::Real { nan: false, single: false };
        let single = SqlType::Real { nan: true, single: true };
        assert_eq!(text(double.clone(), "1.5"), Ok(Value::Real(1.5)));
        assert!(text(double.clone(), "NaN").is_err());
        assert!(matches!(text(single.clone(), "NaN"), Ok(Value::Real(f)) if f.is_nan()));
        assert!(text(double.clone(), "one").is_err());
        // Out of range: never stored as Infinity or 0 (the probe's values).
        for (ty, v) in [
            (&single, "1e39"),
            (&single, "3.5e38"),
            (&single, "1e-50"),
            (&double, "1e309"),
            (&double, "-1e309"),
            (&double, "1e-400"),
        ] {
            assert_eq!(
                text(ty.clone(), v),
                Err(format!(
                    "out of range for {}",
                    if ty == &single { "a 32-bit float (real)" } else { "a 64-bit float (double precision)" }
                )),
                "{v}"
            );
        }
        for (ty, v) in [
            (&single, "3.4e38"),
            (&single, "1e-40"),
            (&double, "1e308"),
            (&double, "0.000"),
            (&double, "-0e5"),
            (&double, "Infinity"),
            (&double, "-inf"),
        ] {
            assert!(text(ty.clone(), v).is_ok(), "{v}");
        }
        assert_eq!(text(SqlType::Decimal, "-12.50"), Ok(Value::Text("-12.50".into())));
        assert_eq!(text(SqlType::Decimal, "1e-3"), Ok(Value::Text("1e-3".into())));
        assert!(text(SqlType::Decimal, "1.2.3").is_err() && text(SqlType::Decimal, ".").is_err());
        assert!(text(SqlType::Uuid, "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}").is_ok());
        assert!(text(SqlType::Uuid, "a0eebc99").is_err());
        assert_eq!(text(SqlType::Numeric, "10"), Ok(Value::Int(10)));
        assert_eq!(text(SqlType::Numeric, "10.25"), Ok(Value::Real(10.25)));
    }

    #[test]
    fn arrays_become_postgres_literals() {
        let ints = SqlType::Array(Box::new(SqlType::Integer { bits: 32 }));
        let j: Json = serde_json::json!([1, null, 3]);
        assert_eq!(convert(&ints, RawRef::Json(&j)), Ok(Value::Text("{1,NULL,3}".into())));
        let j: Json = serde_json::json!([[1, 2], [3, 4]]);
        assert_eq!(convert(&ints, RawRef::Json(&j)), Ok(Value::Text("{{1,2},{3,4}}".into())));
        let j: Json = serde_json::json!([1, "x"]);
        assert_eq!(convert(&ints, RawRef::Json(&j)), Err("element 2: not an integer".into()));
        let texts = SqlType::Array(Box::new(SqlType::Text { max_chars: None }));
        let j: Json = serde_json::json!(["a b", "c\"d", "e\\f"]);
        assert_eq!(convert(&texts, RawRef::Json(&j)), Ok(Value::Text(r#"{"a b","c\"d","e\\f"}"#.into())));
        assert_eq!(convert(&texts, RawRef::Text("[\"x\"]")), Ok(Value::Text(r#"{"x"}"#.into())));
        assert_eq!(convert(&texts, RawRef::Text("{x,y}")), Ok(Value::Text("{x,y}".into())));
    }

    #[test]
    fn json_values() {
        let j: Json = serde_json::json!({"a": [1, 2]});
        assert_eq!(convert(&SqlType::Json, RawRef::Json(&j)), Ok(Value::Text(r#"{"a":[1,2]}"#.into())));
        assert!(convert(&SqlType::Integer { bits: 64 }, RawRef::Json(&j)).is_err());
        let n: Json = serde_json::json!(3.0);
        assert_eq!(convert(&SqlType::Integer { bits: 64 }, RawRef::Json(&n)), Ok(Value::Int(3)));
        assert_eq!(convert(&SqlType::Blob, RawRef::Text("\\x00ff")), Ok(Value::Blob(vec![0, 255].into())));
    }
}
