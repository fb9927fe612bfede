//! Checked batches, column-major: one Arrow array per column, of the kind its values
//! took when they were checked (an `int8` array for an integer column, one string
//! buffer for a text column, days for typed dates...). Stagers read them back one
//! value at a time with [`Column::get`], without a second parse and without a
//! `String` per value.
//!
//! A column whose values differ in kind keeps its values as they are
//! ([`Column::Mixed`]): SQLite's NUMERIC and untyped columns store each value with
//! its own type (`10` as an integer, `10.5` as a real), and so do their stages.

use crate::value::Value;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{
    Array, BinaryArray, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use std::borrow::Cow;

/// Rows checked and ready for staging: their columns, in the plan's order.
#[derive(Debug, Default)]
pub struct Batch {
    pub columns: Vec<Column>,
    /// Each row's number in the input, and the line it starts on (if any).
    pub rows: Vec<(u64, Option<u64>)>,
}

impl Batch {
    /// The value of column `c` in row `r` (both from 0).
    pub(crate) fn value(&self, r: usize, c: usize) -> Value<'_> {
        self.columns[c].get(r)
    }

    /// Builds a batch from rows of values (tests of the stagers).
    #[cfg(test)]
    pub(crate) fn from_rows(rows: Vec<(u64, Option<u64>, Vec<Value<'_>>)>) -> Batch {
        let width = rows.first().map_or(0, |r| r.2.len());
        let mut builders: Vec<ColumnBuilder> = (0..width).map(|_| ColumnBuilder::new(rows.len())).collect();
        let mut at = Vec::new();
        for (row, line, values) in rows {
            at.push((row, line));
            for (b, v) in builders.iter_mut().zip(values) {
                b.push(v);
            }
        }
        Batch { columns: builders.into_iter().map(ColumnBuilder::finish).collect(), rows: at }
    }
}

/// One checked column.
#[derive(Debug)]
pub enum Column {
    /// Only NULLs, this many.
    Null(usize),
    Bool(BooleanArray),
    Int(Int64Array),
    Real(Float64Array),
    Text(StringArray),
    Blob(BinaryArray),
    /// Days since 1970-01-01.
    Date(Date32Array),
    /// Microseconds since midnight.
    Time(Time64MicrosecondArray),
    /// Microseconds since 1970-01-01: instants in UTC when `zoned`, else wall times.
    Timestamp(TimestampMicrosecondArray, bool),
    /// Values of more than one kind.
    Mixed(Vec<Value<'static>>),
}

impl Column {
    /// Value `r`.
    pub(crate) fn get(&self, r: usize) -> Value<'_> {
        fn opt<'a, A: Array, T>(a: &'a A, r: usize, f: impl FnOnce(&'a A) -> T) -> Option<T> {
            (!a.is_null(r)).then(|| f(a))
        }
        let v = match self {
            Column::Null(_) => None,
            Column::Bool(a) => opt(a, r, |a| Value::Bool(a.value(r))),
            Column::Int(a) => opt(a, r, |a| Value::Int(a.value(r))),
            Column::Real(a) => opt(a, r, |a| Value::Real(a.value(r))),
            Column::Text(a) => opt(a, r, |a| Value::Text(Cow::Borrowed(a.value(r)))),
            Column::Blob(a) => opt(a, r, |a| Value::Blob(Cow::Borrowed(a.value(r)))),
            Column::Date(a) => opt(a, r, |a| Value::Date(a.value(r))),
            Column::Time(a) => opt(a, r, |a| Value::Time(a.value(r))),
            Column::Timestamp(a, zoned) => opt(a, r, |a| Value::Timestamp { micros: a.value(r), zoned: *zoned }),
            Column::Mixed(v) => return v[r].clone(),
        };
        v.unwrap_or(Value::Null)
    }

    /// A date, time or timestamp column as ISO 8601 text in one string buffer (for a
    /// database that keeps them as text: one formatting pass, no `String` per value);
    /// `None` for other columns.
    #[cfg(feature = "sqlite")]
    pub(crate) fn temporal_as_text(&self) -> Option<Column> {
        if !matches!(self, Column::Date(_) | Column::Time(_) | Column::Timestamp(..)) {
            return None;
        }
        let n = self.len();
        let mut b = StringBuilder::with_capacity(n, n * 26);
        let mut text = String::with_capacity(32);
        for r in 0..n {
            text.clear();
            match self.get(r).push_temporal(&mut text) {
                true => b.append_value(&text),
                false => b.append_null(),
            }
        }
        Some(Column::Text(b.finish()))
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Column::Null(n) => *n,
            Column::Bool(a) => a.len(),
            Column::Int(a) => a.len(),
            Column::Real(a) => a.len(),
            Column::Text(a) => a.len(),
            Column::Blob(a) => a.len(),
            Column::Date(a) => a.len(),
            Column::Time(a) => a.len(),
            Column::Timestamp(a, _) => a.len(),
            Column::Mixed(v) => v.len(),
        }
    }
}

/// Gathers one column's checked values; its kind is set by the first value that is
/// not NULL, and becomes [`Column::Mixed`] if a later one differs.
pub(crate) enum ColumnBuilder {
    Empty { nulls: usize, capacity: usize },
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Real(Float64Builder),
    Text(StringBuilder),
    Blob(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Mixed(Vec<Value<'static>>),
}

impl ColumnBuilder {
    pub(crate) fn new(capacity: usize) -> ColumnBuilder {
        ColumnBuilder::Empty { nulls: 0, capacity }
    }

    pub(crate) fn push(&mut self, v: Value<'_>) {
        match (&mut *self, v) {
            (ColumnBuilder::Empty { nulls, .. }, Value::Null) => *nulls += 1,
            (ColumnBuilder::Empty { nulls, capacity }, v) => {
                let (nulls, capacity) = (*nulls, *capacity);
                *self = ColumnBuilder::of_kind(&v, capacity);
                for _ in 0..nulls {
                    self.push(Value::Null);
                }
                self.push(v);
            }
            (ColumnBuilder::Bool(b), Value::Bool(x)) => b.append_value(x),
            (ColumnBuilder::Int(b), Value::Int(x)) => b.append_value(x),
            (ColumnBuilder::Real(b), Value::Real(x)) => b.append_value(x),
            (ColumnBuilder::Text(b), Value::Text(x)) => b.append_value(x),
            (ColumnBuilder::Blob(b), Value::Blob(x)) => b.append_value(x),
            (ColumnBuilder::Date(b), Value::Date(x)) => b.append_value(x),
            (ColumnBuilder::Time(b), Value::Time(x)) => b.append_value(x),
            (ColumnBuilder::Timestamp(b, z), Value::Timestamp { micros, zoned }) if *z == zoned => {
                b.append_value(micros)
            }
            (ColumnBuilder::Mixed(values), v) => values.push(v.into_owned()),
            (ColumnBuilder::Bool(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Int(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Real(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Text(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Blob(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Date(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Time(b), Value::Null) => b.append_null(),
            (ColumnBuilder::Timestamp(b, _), Value::Null) => b.append_null(),
            (_, v) => {
                // A value of another kind: keep every value as it is from here on.
                let column = std::mem::replace(self, ColumnBuilder::Mixed(Vec::new())).finish();
                let mut values: Vec<Value<'static>> = (0..column.len()).map(|r| column.get(r).into_owned()).collect();
                values.push(v.into_owned());
                *self = ColumnBuilder::Mixed(values);
            }
        }
    }

    fn of_kind(v: &Value<'_>, capacity: usize) -> ColumnBuilder {
        match v {
            Value::Null => ColumnBuilder::Empty { nulls: 0, capacity },
            Value::Bool(_) => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            Value::Int(_) => ColumnBuilder::Int(Int64Builder::with_capacity(capacity)),
            Value::Real(_) => ColumnBuilder::Real(Float64Builder::with_capacity(capacity)),
            Value::Text(s) => ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * (s.len() + 4))),
            Value::Blob(b) => ColumnBuilder::Blob(BinaryBuilder::with_capacity(capacity, capacity * (b.len() + 4))),
            Value::Date(_) => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            Value::Time(_) => ColumnBuilder::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            Value::Timestamp { zoned, .. } => {
                ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), *zoned)
            }
        }
    }

    pub(crate) fn finish(self) -> Column {
        match self {
            ColumnBuilder::Empty { nulls, .. } => Column::Null(nulls),
            ColumnBuilder::Bool(mut b) => Column::Bool(b.finish()),
            ColumnBuilder::Int(mut b) => Column::Int(b.finish()),
            ColumnBuilder::Real(mut b) => Column::Real(b.finish()),
            ColumnBuilder::Text(mut b) => Column::Text(b.finish()),
            ColumnBuilder::Blob(mut b) => Column::Blob(b.finish()),
            ColumnBuilder::Date(mut b) => Column::Date(b.finish()),
            ColumnBuilder::Time(mut b) => Column::Time(b.finish()),
            ColumnBuilder::Timestamp(mut b, zoned) => {
                let a = b.finish();
                Column::Timestamp(if zoned { a.with_timezone("+00:00") } else { a }, zoned)
            }
            ColumnBuilder::Mixed(v) => Column::Mixed(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_takes_the_kind_of_its_values_and_mixes_when_they_differ() {
        let mut b = ColumnBuilder::new(4);
        for v in [Value::Null, Value::Int(1), Value::Null, Value::Int(3)] {
            b.push(v);
        }
        let c = b.finish();
        assert!(matches!(c, Column::Int(_)));
        assert_eq!(
            (0..4).map(|r| c.get(r)).collect::<Vec<_>>(),
            [Value::Null, Value::Int(1), Value::Null, Value::Int(3)]
        );

        let mut b = ColumnBuilder::new(3);
        for v in [Value::Int(10), Value::Null, Value::Real(10.5), Value::Text(Cow::Borrowed("x"))] {
            b.push(v);
        }
        let c = b.finish();
        assert!(matches!(c, Column::Mixed(_)));
        assert_eq!(c.get(2), Value::Real(10.5));
        assert_eq!(c.get(3), Value::text("x".into()));

        let mut b = ColumnBuilder::new(2);
        b.push(Value::Null);
        b.push(Value::Null);
        assert!(matches!(b.finish(), Column::Null(2)));

        // Wall times and instants are different kinds.
        let mut b = ColumnBuilder::new(2);
        b.push(Value::Timestamp { micros: 1, zoned: false });
        b.push(Value::Timestamp { micros: 2, zoned: true });
        assert_eq!(b.finish().get(1), Value::Timestamp { micros: 2, zoned: true });
    }
}
