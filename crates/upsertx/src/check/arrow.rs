//! Checking typed (Arrow) input against the target's column types, column by column.
//!
//! Typed values are held to the same rules as text: an `int64` into a `smallint` is
//! range-checked, a float goes into an integer column only when it is whole, a string
//! parses as the same text in a CSV field would, decimals keep their digits. Temporal
//! values are written as ISO 8601 text for the stagers: a timestamp without a time zone
//! stays a wall time (UTC for a `timestamptz` column, as text without an offset is); a
//! timestamp with a time zone is an instant, written in UTC with `+00:00`.

use super::{accept, convert, from_text, Batch, Column, ColumnBuilder, OUT_OF_YEARS};
use crate::error::{Error, Location, Result};
use crate::plan::PlanColumn;
use crate::source::RawRef;
use crate::value::{uuid_text, SqlType, Value, MICROS_PER_DAY};
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value as Json;
use std::borrow::Cow;

/// One value of an Arrow array, as the checks see it.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// An exact decimal, as its digits.
    Decimal(String),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i64),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01; `zoned`: an instant (the column has a time zone),
    /// else a wall time.
    Timestamp {
        micros: i64,
        zoned: bool,
    },
    /// Lists, structs and maps, as JSON.
    Nested(Json),
}

/// The first and last day upsertx writes (years 1 to 9999, as every target stores).
const MIN_DAY: i64 = -719_162;
const MAX_DAY: i64 = 2_932_896;

impl Cell<'_> {
    /// The value as text: what a CSV field holding it would say.
    fn text(&self) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::UInt(u) => u.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Decimal(d) => d.clone(),
            Cell::Text(s) => (*s).to_owned(),
            Cell::Bytes(b) => crate::value::blob_text(b),
            Cell::Date(days) => return Value::Date(*days as i32).temporal_text(),
            Cell::Time(micros) => return Value::Time(*micros).temporal_text(),
            Cell::Timestamp { micros, zoned } => {
                return Value::Timestamp { micros: *micros, zoned: *zoned }.temporal_text()
            }
            Cell::Nested(j) => j.to_string(),
        })
    }

    /// The JSON a nested value holds for this cell.
    fn json(self) -> Json {
        match self {
            Cell::Null => Json::Null,
            Cell::Bool(b) => Json::Bool(b),
            Cell::Int(i) => Json::from(i),
            Cell::UInt(u) => Json::from(u),
            Cell::Float(f) => serde_json::Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number),
            Cell::Decimal(d) => d.parse::<serde_json::Number>().map_or(Json::String(d), Json::Number),
            Cell::Nested(j) => j,
            other => Json::String(other.text().unwrap_or_default()),
        }
    }
}

/// Checks rows `first_row..` of a record batch (numbered from 1 in the input) against
/// the plan's columns, into a batch ready for staging.
pub(crate) fn check_batch(batch: &RecordBatch, first_row: u64, columns: &[PlanColumn], input: &str) -> Result<Batch> {
    let n = batch.num_rows();
    let mut checked = Vec::with_capacity(columns.len());
    for c in columns {
        let array = batch.column(c.input);
        if let Some(same) = as_is(c, array) {
            checked.push(same);
            continue;
        }
        // A dictionary (pandas categorical, polars enum) is read through its keys.
        let (array, keys) = match array.as_any_dictionary_opt() {
            Some(d) => (d.values().as_ref(), Some((d.normalized_keys(), d.logical_nulls()))),
            None => (array.as_ref(), None),
        };
        let mut builder = ColumnBuilder::new(n);
        for r in 0..n {
            let (at, null) = match &keys {
                Some((k, nulls)) => (k[r], nulls.as_ref().is_some_and(|b| b.is_null(r))),
                None => (r, false),
            };
            let fail = |value: Option<String>, reason: String| Error::Value {
                at: Location { input: input.to_owned(), row: first_row + r as u64, line: None },
                column: c.name.clone(),
                value,
                reason,
            };
            let cell = if null { Cell::Null } else { cell(array, at).map_err(|e| fail(None, e))? };
            match accept(c, convert_cell(&c.ty, &cell)) {
                Ok(v) => builder.push(v),
                Err(reason) => return Err(fail(cell.text(), reason)),
            }
        }
        checked.push(builder.finish());
    }
    Ok(Batch { columns: checked, rows: (0..n as u64).map(|r| (first_row + r, None)).collect() })
}

/// The input's own array, when every value in it is already what the check would make
/// of it: 64-bit integers into a 64-bit integer column, 64-bit floats into a double,
/// booleans into a boolean, strings into unlimited text. No copy (large and view
/// strings: one), no per-value work.
fn as_is(c: &PlanColumn, array: &ArrayRef) -> Option<Column> {
    // NULLs where they are refused are reported by the row-by-row path.
    if array.null_count() > 0 && (c.is_key || c.not_null) {
        return None;
    }
    Some(match (&c.ty, array.data_type()) {
        (SqlType::Integer { bits: 64 }, DataType::Int64) => Column::Int(array.as_primitive::<Int64Type>().clone()),
        (SqlType::Real { nan, single: false }, DataType::Float64) => {
            let a = array.as_primitive::<Float64Type>();
            if !nan && a.iter().any(|f| f.is_some_and(f64::is_nan)) {
                return None;
            }
            Column::Real(a.clone())
        }
        (SqlType::Boolean, DataType::Boolean) => Column::Bool(array.as_boolean().clone()),
        (SqlType::Text { max_chars: None } | SqlType::Other | SqlType::Any, DataType::Utf8) => {
            Column::Text(array.as_string::<i32>().clone())
        }
        // pandas' strings (large_string through pyarrow) and polars' (string_view): one
        // copy into a string array, still nothing to check per value.
        (SqlType::Text { max_chars: None } | SqlType::Other | SqlType::Any, DataType::LargeUtf8) => {
            Column::Text(array.as_string::<i64>().iter().collect())
        }
        (SqlType::Text { max_chars: None } | SqlType::Other | SqlType::Any, DataType::Utf8View) => {
            Column::Text(array.as_string_view().iter().collect())
        }
        _ => return None,
    })
}

/// Converts one typed value for a column of type `ty`.
fn convert_cell<'a>(ty: &SqlType, cell: &Cell<'a>) -> Result<Value<'a>, String> {
    match (ty, cell) {
        (_, Cell::Null) => Ok(Value::Null),
        (_, Cell::Text(s)) => convert(ty, RawRef::Text(s)),
        (_, Cell::Nested(j)) => convert(ty, RawRef::Json(j)).map(Value::into_owned),
        (SqlType::Boolean, Cell::Bool(b)) => Ok(Value::Bool(*b)),
        (SqlType::Any, Cell::Bool(b)) => Ok(Value::Int(*b as i64)),
        (_, Cell::Bool(_)) if !takes_text(ty) => Err(format!("a boolean is not a {}", ty.describe())),
        (SqlType::Numeric | SqlType::Any, Cell::Int(i)) => Ok(Value::Int(*i)),
        (SqlType::Integer { bits }, Cell::Int(i)) => super::check_bits(*i, *bits).map(Value::Int),
        (SqlType::Unsigned { bits }, Cell::Int(i)) => super::check_unsigned(*i, *bits).map(Value::Int),
        (SqlType::Real { single, .. }, Cell::Int(i)) => real(*i as f64, true, *single),
        (SqlType::Real { single, .. }, Cell::UInt(u)) => real(*u as f64, true, *single),
        (SqlType::Real { nan, single }, Cell::Float(f)) => real(*f, *nan, *single),
        (SqlType::Numeric | SqlType::Any, Cell::Float(f)) if f.is_finite() => Ok(Value::Real(*f)),
        (SqlType::Blob | SqlType::Any, Cell::Bytes(b)) => Ok(Value::Blob(Cow::Borrowed(b))),
        (SqlType::Uuid, Cell::Bytes(b)) if b.len() == 16 => Ok(Value::text(uuid_text(b))),
        (SqlType::Text { .. } | SqlType::Json | SqlType::Other, Cell::Bytes(b)) => match std::str::from_utf8(b) {
            Ok(s) => from_text(ty, s),
            Err(_) => Err(format!("bytes that are not UTF-8 text are not a {}", ty.describe())),
        },
        (_, Cell::Bytes(_)) => Err(format!("bytes are not a {}", ty.describe())),
        (_, Cell::Date(d) | Cell::Timestamp { micros: d, .. }) if !in_years(cell, *d) => Err(OUT_OF_YEARS.into()),
        // Dates and times stay typed: no text to format here and parse again when staged.
        (SqlType::Date, Cell::Date(d)) => Ok(Value::Date(*d as i32)),
        // pandas has no date type: dates arrive as timestamps at midnight.
        (SqlType::Date, Cell::Timestamp { micros, zoned: false }) if micros.rem_euclid(MICROS_PER_DAY) == 0 => {
            Ok(Value::Date(micros.div_euclid(MICROS_PER_DAY) as i32))
        }
        (SqlType::Date, Cell::Timestamp { .. }) => Err("a timestamp with a time of day is not a date".into()),
        (SqlType::Timestamp | SqlType::TimestampTz, Cell::Date(d)) => {
            Ok(Value::Timestamp { micros: d * MICROS_PER_DAY, zoned: false })
        }
        (SqlType::Timestamp | SqlType::TimestampTz, Cell::Timestamp { micros, zoned }) => {
            Ok(Value::Timestamp { micros: *micros, zoned: *zoned })
        }
        (SqlType::Time, Cell::Time(t)) if (0..=MICROS_PER_DAY).contains(t) => Ok(Value::Time(*t)),
        (SqlType::Time, Cell::Time(_)) => Err("not a time of day (outside 00:00 to 24:00)".into()),
        (_, Cell::Date(_) | Cell::Time(_) | Cell::Timestamp { .. })
            if !takes_text(ty)
                && !matches!(ty, SqlType::Date | SqlType::Time | SqlType::Timestamp | SqlType::TimestampTz) =>
        {
            Err(format!("a date or time is not a {}", ty.describe()))
        }
        // Everything else is checked as its text would be in a CSV field.
        _ => from_text(ty, &cell.text().unwrap_or_default()).map(Value::into_owned),
    }
}

/// Columns that take any value as its text.
fn takes_text(ty: &SqlType) -> bool {
    matches!(ty, SqlType::Text { .. } | SqlType::Json | SqlType::Other | SqlType::Any)
}

fn in_years(cell: &Cell<'_>, n: i64) -> bool {
    let day = match cell {
        Cell::Timestamp { .. } => n.div_euclid(MICROS_PER_DAY),
        _ => n,
    };
    (MIN_DAY..=MAX_DAY).contains(&day)
}

/// A float for a float column: NaN only where the database stores it, and a 32-bit
/// column only takes what a 32-bit float can hold.
fn real(f: f64, nan_ok: bool, single: bool) -> Result<Value<'static>, String> {
    if f.is_nan() && !nan_ok {
        return Err("NaN cannot be stored in this database".into());
    }
    if single && f.is_finite() && ((f as f32).is_infinite() || (f != 0.0 && f as f32 == 0.0)) {
        return Err("out of range for a 32-bit float (real)".into());
    }
    Ok(Value::Real(f))
}

/// Value `i` of `array`. `Err` for an Arrow type upsertx does not read.
fn cell(array: &dyn Array, i: usize) -> Result<Cell<'_>, String> {
    if array.is_null(i) {
        return Ok(Cell::Null);
    }
    let micros = |v: i64, unit: &TimeUnit| match unit {
        TimeUnit::Second => v.checked_mul(1_000_000),
        TimeUnit::Millisecond => v.checked_mul(1_000),
        TimeUnit::Microsecond => Some(v),
        // Past 6 digits a fraction is cut, as in text input.
        TimeUnit::Nanosecond => Some(v.div_euclid(1_000)),
    };
    let out_of_range = || OUT_OF_YEARS.to_string();
    Ok(match array.data_type() {
        DataType::Null => Cell::Null,
        DataType::Boolean => Cell::Bool(array.as_boolean().value(i)),
        DataType::Int8 => Cell::Int(array.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Cell::Int(array.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Cell::Int(array.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Cell::Int(array.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Cell::Int(array.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => match array.as_primitive::<UInt64Type>().value(i) {
            u if u <= i64::MAX as u64 => Cell::Int(u as i64),
            u => Cell::UInt(u),
        },
        DataType::Float16 => Cell::Float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(i).into()),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal32(..) => Cell::Decimal(array.as_primitive::<Decimal32Type>().value_as_string(i)),
        DataType::Decimal64(..) => Cell::Decimal(array.as_primitive::<Decimal64Type>().value_as_string(i)),
        DataType::Decimal128(..) => Cell::Decimal(array.as_primitive::<Decimal128Type>().value_as_string(i)),
        DataType::Decimal256(..) => Cell::Decimal(array.as_primitive::<Decimal256Type>().value_as_string(i)),
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(i)),
        DataType::Utf8View => Cell::Text(array.as_string_view().value(i)),
        DataType::Binary => Cell::Bytes(array.as_binary::<i32>().value(i)),
        DataType::LargeBinary => Cell::Bytes(array.as_binary::<i64>().value(i)),
        DataType::BinaryView => Cell::Bytes(array.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => Cell::Bytes(array.as_fixed_size_binary().value(i)),
        DataType::Date32 => Cell::Date(array.as_primitive::<Date32Type>().value(i).into()),
        DataType::Date64 => Cell::Date(array.as_primitive::<Date64Type>().value(i).div_euclid(86_400_000)),
        DataType::Time32(unit) => {
            let v: i64 = match unit {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(i).into(),
                _ => array.as_primitive::<Time32MillisecondType>().value(i).into(),
            };
            Cell::Time(micros(v, unit).ok_or_else(out_of_range)?)
        }
        DataType::Time64(unit) => {
            let v = match unit {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(i),
                _ => array.as_primitive::<Time64NanosecondType>().value(i),
            };
            Cell::Time(micros(v, unit).ok_or_else(out_of_range)?)
        }
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            Cell::Timestamp { micros: micros(v, unit).ok_or_else(out_of_range)?, zoned: tz.is_some() }
        }
        DataType::List(_) => list(array.as_list::<i32>().value(i).as_ref())?,
        DataType::LargeList(_) => list(array.as_list::<i64>().value(i).as_ref())?,
        DataType::FixedSizeList(..) => list(array.as_fixed_size_list().value(i).as_ref())?,
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut object = serde_json::Map::new();
            for (f, column) in fields.iter().zip(s.columns()) {
                object.insert(f.name().clone(), cell(column.as_ref(), i)?.json());
            }
            Cell::Nested(Json::Object(object))
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(i);
            let mut object = serde_json::Map::new();
            for e in 0..entries.len() {
                let key = cell(entries.column(0).as_ref(), e)?.text().unwrap_or_default();
                object.insert(key, cell(entries.column(1).as_ref(), e)?.json());
            }
            Cell::Nested(Json::Object(object))
        }
        DataType::Dictionary(..) => {
            let d = array.as_any_dictionary();
            return cell(d.values().as_ref(), d.normalized_keys()[i]);
        }
        other => return Err(format!("Arrow type {other} is not supported")),
    })
}

fn list(items: &dyn Array) -> Result<Cell<'static>, String> {
    (0..items.len())
        .map(|e| Ok(cell(items, e)?.json()))
        .collect::<Result<Vec<_>, String>>()
        .map(|v| Cell::Nested(Json::Array(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ty: SqlType, cell: Cell<'_>) -> Result<Value<'static>, String> {
        convert_cell(&ty, &cell).map(Value::into_owned)
    }

    #[test]
    fn integers_are_range_checked_and_floats_must_be_whole() {
        assert_eq!(check(SqlType::Integer { bits: 16 }, Cell::Int(32_767)), Ok(Value::Int(32_767)));
        assert!(check(SqlType::Integer { bits: 16 }, Cell::Int(32_768)).unwrap_err().contains("16-bit"));
        assert!(check(SqlType::Unsigned { bits: 8 }, Cell::Int(-1)).unwrap_err().contains("unsigned"));
        assert_eq!(check(SqlType::Integer { bits: 64 }, Cell::Float(3.0)), Ok(Value::Int(3)));
        assert!(check(SqlType::Integer { bits: 64 }, Cell::Float(2.5)).unwrap_err().contains("fraction"));
        assert!(check(SqlType::Integer { bits: 64 }, Cell::UInt(u64::MAX)).unwrap_err().contains("out of range"));
        assert!(check(SqlType::Integer { bits: 64 }, Cell::Bool(true)).unwrap_err().contains("a boolean is not"));
    }

    #[test]
    fn floats_fit_their_column() {
        assert!(check(SqlType::Real { nan: true, single: true }, Cell::Float(1e39)).unwrap_err().contains("32-bit"));
        assert!(check(SqlType::Real { nan: true, single: true }, Cell::Float(1e-50)).unwrap_err().contains("32-bit"));
        assert_eq!(check(SqlType::Real { nan: true, single: false }, Cell::Float(1e39)), Ok(Value::Real(1e39)));
        assert!(check(SqlType::Real { nan: false, single: false }, Cell::Float(f64::NAN)).unwrap_err().contains("NaN"));
    }

    #[test]
    fn decimals_keep_their_digits() {
        let d = || Cell::Decimal("12345678901234567890.12".into());
        assert_eq!(check(SqlType::Decimal, d()), Ok(Value::Text("12345678901234567890.12".into())));
        assert_eq!(check(SqlType::Text { max_chars: None }, d()), Ok(Value::Text("12345678901234567890.12".into())));
        assert_eq!(check(SqlType::Decimal, Cell::Int(7)), Ok(Value::Text("7".into())));
    }

    #[test]
    fn temporal_values_stay_typed() {
        let noon = 19_844 * MICROS_PER_DAY + 43_200_000_000;
        let zoned = check(SqlType::TimestampTz, Cell::Timestamp { micros: noon, zoned: true }).unwrap();
        assert_eq!(zoned, Value::Timestamp { micros: noon, zoned: true });
        assert_eq!(zoned.temporal_text().unwrap(), "2024-05-01 12:00:00+00:00");
        let wall = check(SqlType::Timestamp, Cell::Timestamp { micros: noon + 5, zoned: false }).unwrap();
        assert_eq!(wall.temporal_text().unwrap(), "2024-05-01 12:00:00.000005");
        assert_eq!(check(SqlType::Date, Cell::Date(19_844)), Ok(Value::Date(19_844)));
        assert_eq!(Value::Date(19_844).temporal_text().unwrap(), "2024-05-01");
        assert_eq!(Value::Date(-719_162).temporal_text().unwrap(), "0001-01-01");
        assert_eq!(Value::Date(2_932_896).temporal_text().unwrap(), "9999-12-31");
        assert_eq!(
            check(SqlType::Timestamp, Cell::Date(19_844)),
            Ok(Value::Timestamp { micros: 19_844 * MICROS_PER_DAY, zoned: false })
        );
        // pandas dates: timestamps at midnight.
        assert_eq!(
            check(SqlType::Date, Cell::Timestamp { micros: 19_844 * MICROS_PER_DAY, zoned: false }),
            Ok(Value::Date(19_844))
        );
        assert!(check(SqlType::Date, Cell::Timestamp { micros: noon, zoned: false })
            .unwrap_err()
            .contains("time of day"));
        assert!(check(SqlType::Date, Cell::Date(MAX_DAY + 1)).unwrap_err().contains("years 1 to 9999"));
        assert!(check(SqlType::Integer { bits: 64 }, Cell::Date(1)).unwrap_err().contains("a date or time"));
        assert_eq!(check(SqlType::Time, Cell::Time(45_000_500_000)), Ok(Value::Time(45_000_500_000)));
        assert_eq!(Value::Time(45_000_500_000).temporal_text().unwrap(), "12:30:00.500000");
        assert!(check(SqlType::Time, Cell::Time(-1)).is_err());
        // Into text columns they are written as ISO text.
        assert_eq!(check(SqlType::Text { max_chars: None }, Cell::Date(19_844)), Ok(Value::Text("2024-05-01".into())));
    }

    #[test]
    fn bytes_and_uuids() {
        let id = [0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        assert_eq!(
            check(SqlType::Uuid, Cell::Bytes(&id)),
            Ok(Value::Text("12345678-9abc-def0-1234-56789abcdef0".into()))
        );
        assert_eq!(check(SqlType::Blob, Cell::Bytes(&[1, 2])), Ok(Value::Blob(vec![1, 2].into())));
        assert!(check(SqlType::Text { max_chars: None }, Cell::Bytes(&[0xff])).unwrap_err().contains("not UTF-8"));
    }
}
