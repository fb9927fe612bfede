//! Type inference for `--create` from text input: the whole input is read once and each
//! column gets the narrowest type all its values fit.

use super::{is_date, is_timestamp};
use crate::error::Result;
use crate::schema::Column;
use crate::source::{RawRef, RowReader};
use crate::value::SqlType;

#[derive(Clone, Copy)]
struct Seen {
    any: bool,
    int: bool,
    real: bool,
    boolean: bool,
    date: bool,
    timestamp: bool,
    structured: bool,
}

/// Reads the whole input and infers a column type for each input column: integer,
/// real, boolean (`true`/`false`), date, timestamp, JSON (objects/arrays) or text.
/// Numbers with leading zeros such as `007` are text, so they keep their zeros.
pub fn infer_columns(reader: &mut dyn RowReader) -> Result<Vec<Column>> {
    let n = reader.columns().len();
    let all = Seen { any: false, int: true, real: true, boolean: true, date: true, timestamp: true, structured: true };
    let mut seen = vec![all; n];
    let mut nulls = vec![false; n];
    while reader.advance()? {
        for (i, s) in seen.iter_mut().enumerate() {
            match reader.value(i) {
                RawRef::Null | RawRef::Json(serde_json::Value::Null) => nulls[i] = true,
                RawRef::Text(t) => observe_text(s, t),
                RawRef::Json(serde_json::Value::String(t)) => observe_text(s, t),
                RawRef::Json(j) => {
                    s.any = true;
                    let is_int = j.is_i64() || j.is_u64();
                    s.int &= is_int;
                    s.real &= j.is_number();
                    s.boolean &= j.is_boolean();
                    s.date = false;
                    s.timestamp = false;
                    s.structured &= j.is_object() || j.is_array();
                }
            }
        }
    }
    Ok(reader
        .columns()
        .iter()
        .zip(seen)
        .map(|(name, s)| {
            let ty = match s {
                s if !s.any => SqlType::Text { max_chars: None },
                s if s.int => SqlType::Integer { bits: 64 },
                s if s.real => SqlType::Real { nan: false, single: false },
                s if s.boolean => SqlType::Boolean,
                s if s.date => SqlType::Date,
                s if s.timestamp => SqlType::Timestamp,
                s if s.structured => SqlType::Json,
                _ => SqlType::Text { max_chars: None },
            };
            Column::new(name, ty)
        })
        .collect())
}

fn observe_text(s: &mut Seen, t: &str) {
    s.any = true;
    let digits = t.strip_prefix('-').unwrap_or(t);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    s.int &= !leading_zero && t.parse::<i64>().is_ok();
    s.real &= !leading_zero
        && t.parse::<f64>().is_ok_and(f64::is_finite)
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'.');
    s.boolean &= t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false");
    s.date &= is_date(t);
    s.timestamp &= is_timestamp(t);
    s.structured = false;
}
