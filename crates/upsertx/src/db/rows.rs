//! A query's rows as Arrow record batches, for every database's `query.rs`: the Arrow
//! column a database column becomes ([`Kind`]), the builders, and where a query thread
//! sends what it reads ([`Out`]).

use crate::error::{Error, Location, Result};
use crate::schema::SQL_TYPE_KEY;
use arrow_array::builder::*;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::HashMap;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// The rows `read` sends (a query on a connection the load holds), kept in memory.
pub(super) fn collected(
    name: &str,
    read: impl FnOnce(&Out<'_>) -> Result<()>,
) -> Result<Box<dyn RecordBatchReader + Send>> {
    let got = std::cell::RefCell::new((None, Vec::new()));
    let send = |m: Message| {
        let mut got = got.borrow_mut();
        match m {
            Message::Schema(s) => got.0 = Some(s),
            Message::Batch(b) => got.1.push(Ok(b)),
        }
        true
    };
    read(&Out { send: &send, name })?;
    let (schema, batches) = got.into_inner();
    let schema = schema.ok_or_else(|| Error::Io(format!("{name}: the query gave no result")))?;
    Ok(Box::new(RecordBatchIterator::new(batches, schema)))
}

/// Rows per batch read from a query.
pub(super) const BATCH_ROWS: usize = 4096;

/// What a query source sends: the schema once, then batches.
pub(super) enum Message {
    Schema(SchemaRef),
    Batch(RecordBatch),
}

/// Where a query sends what it reads: a query thread's channel, or (the target's own
/// keys, read on the load's connection) a list. `false` from a send: the load has
/// stopped listening (it failed elsewhere), so the query stops too.
pub(super) struct Out<'a> {
    pub(super) send: &'a dyn Fn(Message) -> bool,
    pub(super) name: &'a str,
}

impl Out<'_> {
    /// Sending to a query thread's channel.
    pub(super) fn sender(tx: &SyncSender<Result<Message>>) -> impl Fn(Message) -> bool + '_ {
        move |m| tx.send(Ok(m)).is_ok()
    }

    pub(super) fn schema(&self, schema: SchemaRef) -> bool {
        (self.send)(Message::Schema(schema))
    }

    pub(super) fn batch(&self, batch: RecordBatch) -> bool {
        (self.send)(Message::Batch(batch))
    }

    /// A value of the result the column cannot hold, named by its row and column.
    pub(super) fn bad_value(&self, row: u64, column: &str, value: Option<String>, reason: impl Into<String>) -> Error {
        Error::Value {
            at: Location { input: self.name.to_owned(), row, line: None },
            column: column.to_owned(),
            value,
            reason: reason.into(),
        }
    }
}

/// The Arrow column a database column becomes (each database makes some of them: a
/// build with some left out leaves others unmade).
#[derive(Debug, Clone, PartialEq)]
#[allow(dead_code)]
pub(super) enum Kind {
    Bool,
    Int16,
    Int32,
    Int64,
    UInt64,
    Float32,
    Float64,
    /// Precision and scale, when they fit 128 bits.
    Decimal(u8, i8),
    /// Text; `sql`: the SQL type it stands for where that is not text (an unbounded
    /// decimal, JSON, a UUID, an SQLite date), for `--create`.
    Text {
        sql: Option<&'static str>,
    },
    Bytes,
    Date,
    Time,
    Timestamp,
    TimestampTz,
}

impl Kind {
    pub(super) fn field(&self, name: &str) -> Field {
        let ty = match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::UInt64 => DataType::UInt64,
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Decimal(p, s) => DataType::Decimal128(*p, *s),
            Kind::Text { .. } => DataType::Utf8,
            Kind::Bytes => DataType::Binary,
            Kind::Date => DataType::Date32,
            Kind::Time => DataType::Time64(TimeUnit::Microsecond),
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Kind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        };
        let field = Field::new(name, ty, true);
        match self {
            Kind::Text { sql: Some(sql) } => {
                field.with_metadata(HashMap::from([(SQL_TYPE_KEY.to_owned(), (*sql).to_owned())]))
            }
            _ => field,
        }
    }

    /// For messages.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Int16 | Kind::Int32 | Kind::Int64 | Kind::UInt64 => "integer",
            Kind::Float32 | Kind::Float64 => "floating point",
            Kind::Decimal(..) => "decimal",
            Kind::Text { .. } => "text",
            Kind::Bytes => "binary",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::Timestamp | Kind::TimestampTz => "timestamp",
        }
    }

    pub(super) fn builder(&self) -> Box<dyn ArrayBuilder> {
        let n = BATCH_ROWS;
        match self {
            Kind::Bool => Box::new(BooleanBuilder::with_capacity(n)),
            Kind::Int16 => Box::new(Int16Builder::with_capacity(n)),
            Kind::Int32 => Box::new(Int32Builder::with_capacity(n)),
            Kind::Int64 => Box::new(Int64Builder::with_capacity(n)),
            Kind::UInt64 => Box::new(UInt64Builder::with_capacity(n)),
            Kind::Float32 => Box::new(Float32Builder::with_capacity(n)),
            Kind::Float64 => Box::new(Float64Builder::with_capacity(n)),
            Kind::Decimal(p, s) => {
                Box::new(Decimal128Builder::with_capacity(n).with_data_type(DataType::Decimal128(*p, *s)))
            }
            Kind::Text { .. } => Box::new(StringBuilder::with_capacity(n, n * 16)),
            Kind::Bytes => Box::new(BinaryBuilder::with_capacity(n, n * 16)),
            Kind::Date => Box::new(Date32Builder::with_capacity(n)),
            Kind::Time => Box::new(Time64MicrosecondBuilder::with_capacity(n)),
            Kind::Timestamp => Box::new(TimestampMicrosecondBuilder::with_capacity(n)),
            Kind::TimestampTz => Box::new(TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00")),
        }
    }
}

/// One value read from the database, before it goes into its column's builder (as
/// [`Kind`], each database reads some of them).
#[derive(Debug)]
#[allow(dead_code)]
pub(super) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Exact decimal digits (`-12.30`).
    Decimal(&'a str),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01 (UTC for a zoned column).
    Timestamp(i64),
}

/// The columns of the batch being filled.
pub(super) struct Columns {
    pub(super) kinds: Vec<Kind>,
    pub(super) builders: Vec<Box<dyn ArrayBuilder>>,
    pub(super) schema: SchemaRef,
    pub(super) rows: usize,
}

impl Columns {
    pub(super) fn new(names: &[String], kinds: Vec<Kind>) -> Columns {
        let schema = Arc::new(Schema::new(names.iter().zip(&kinds).map(|(n, k)| k.field(n)).collect::<Vec<_>>()));
        let builders = kinds.iter().map(Kind::builder).collect();
        Columns { kinds, builders, schema, rows: 0 }
    }

    /// Appends value `v` to column `i`; `Err` says why it does not fit.
    pub(super) fn push(&mut self, i: usize, v: Val<'_>) -> std::result::Result<(), String> {
        let b = self.builders[i].as_any_mut();
        macro_rules! put {
            ($builder:ty, $value:expr) => {
                b.downcast_mut::<$builder>().expect("the builder of its kind").append_value($value)
            };
        }
        let out_of_range = |what: &str| format!("out of range for {what}");
        match (&self.kinds[i], v) {
            (kind, Val::Null) => append_null(b, kind),
            (Kind::Bool, Val::Bool(x)) => put!(BooleanBuilder, x),
            (Kind::Bool, Val::Int(x)) if x == 0 || x == 1 => put!(BooleanBuilder, x == 1),
            (Kind::Int16, Val::Int(x)) => put!(Int16Builder, i16::try_from(x).map_err(|_| out_of_range("int16"))?),
            (Kind::Int32, Val::Int(x)) => put!(Int32Builder, i32::try_from(x).map_err(|_| out_of_range("int32"))?),
            (Kind::Int64, Val::Int(x)) => put!(Int64Builder, x),
            (Kind::Int64, Val::UInt(x)) => put!(Int64Builder, i64::try_from(x).map_err(|_| out_of_range("int64"))?),
            (Kind::UInt64, Val::UInt(x)) => put!(UInt64Builder, x),
            (Kind::UInt64, Val::Int(x)) => put!(UInt64Builder, u64::try_from(x).map_err(|_| out_of_range("uint64"))?),
            (Kind::Float32, Val::Float(x)) => put!(Float32Builder, x as f32),
            (Kind::Float64, Val::Float(x)) => put!(Float64Builder, x),
            (Kind::Float64, Val::Int(x)) => put!(Float64Builder, x as f64),
            (Kind::Decimal(_, s), Val::Decimal(d)) => put!(Decimal128Builder, decimal(d, *s)?),
            (Kind::Text { .. }, Val::Text(t) | Val::Decimal(t)) => put!(StringBuilder, t),
            (Kind::Text { .. }, Val::Int(x)) => put!(StringBuilder, x.to_string()),
            (Kind::Text { .. }, Val::Float(x)) => put!(StringBuilder, x.to_string()),
            (Kind::Bytes, Val::Bytes(x)) => put!(BinaryBuilder, x),
            (Kind::Date, Val::Date(x)) => put!(Date32Builder, x),
            (Kind::Time, Val::Time(x)) => put!(Time64MicrosecondBuilder, x),
            (Kind::Timestamp | Kind::TimestampTz, Val::Timestamp(x)) => put!(TimestampMicrosecondBuilder, x),
            (kind, v) => {
                return Err(format!("{} in a column the database declares as {}", val_kind(&v), kind.describe()))
            }
        }
        Ok(())
    }

    /// Counts a finished row and sends a full batch; `false` when the load has stopped
    /// listening.
    pub(super) fn end_row(&mut self, out: &Out<'_>) -> bool {
        self.rows += 1;
        self.rows < BATCH_ROWS || out.batch(self.finish())
    }

    /// Sends the last, partial batch.
    pub(super) fn end(mut self, out: &Out<'_>) {
        if self.rows > 0 {
            out.batch(self.finish());
        }
    }

    /// The rows so far as a batch.
    pub(super) fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).expect("builders of the schema's types")
    }
}

pub(super) fn append_null(b: &mut dyn std::any::Any, kind: &Kind) {
    macro_rules! null {
        ($builder:ty) => {
            b.downcast_mut::<$builder>().expect("the builder of its kind").append_null()
        };
    }
    match kind {
        Kind::Bool => null!(BooleanBuilder),
        Kind::Int16 => null!(Int16Builder),
        Kind::Int32 => null!(Int32Builder),
        Kind::Int64 => null!(Int64Builder),
        Kind::UInt64 => null!(UInt64Builder),
        Kind::Float32 => null!(Float32Builder),
        Kind::Float64 => null!(Float64Builder),
        Kind::Decimal(..) => null!(Decimal128Builder),
        Kind::Text { .. } => null!(StringBuilder),
        Kind::Bytes => null!(BinaryBuilder),
        Kind::Date => null!(Date32Builder),
        Kind::Time => null!(Time64MicrosecondBuilder),
        Kind::Timestamp | Kind::TimestampTz => null!(TimestampMicrosecondBuilder),
    }
}

/// What a value is, for messages ("an integer in a column the database declares as boolean").
pub(super) fn val_kind(v: &Val<'_>) -> &'static str {
    match v {
        Val::Null => "NULL",
        Val::Bool(_) => "a boolean",
        Val::Int(_) | Val::UInt(_) => "an integer",
        Val::Float(_) => "a float",
        Val::Decimal(_) => "a decimal",
        Val::Text(_) => "text",
        Val::Bytes(_) => "a blob",
        Val::Date(_) => "a date",
        Val::Time(_) => "a time",
        Val::Timestamp(_) => "a timestamp",
    }
}

/// `-12.3` at scale 2 as the integer -1230.
pub(super) fn decimal(digits: &str, scale: i8) -> std::result::Result<i128, String> {
    let bad = || format!("not a decimal of scale {scale}");
    let (neg, body) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, digits.strip_prefix('+').unwrap_or(digits)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let scale = scale.max(0) as usize;
    if frac.len() > scale || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let text = format!("{int}{frac}{}", "0".repeat(scale - frac.len()));
    let n: i128 = text.parse().map_err(|_| bad())?;
    Ok(if neg { -n } else { n })
}

/// The largest precision a 128-bit decimal holds.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) const MAX_DECIMAL128: u8 =
    <arrow_array::types::Decimal128Type as arrow_array::types::DecimalType>::MAX_PRECISION;

/// A decimal column of the given precision and scale: Arrow's `Decimal128` when it fits,
/// else exact text.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(super) fn decimal_kind(precision: u32, scale: u32) -> Kind {
    if (1..=MAX_DECIMAL128 as u32).contains(&precision) && scale <= precision {
        Kind::Decimal(precision as u8, scale as i8)
    } else {
        Kind::Text { sql: Some("decimal") }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    pub(super) fn decimals_scale_exactly() {
        assert_eq!(super::decimal("-12.3", 2), Ok(-1230));
        assert_eq!(super::decimal("7", 0), Ok(7));
        assert_eq!(super::decimal("0.001", 3), Ok(1));
        assert!(super::decimal("1.234", 2).is_err());
        assert!(super::decimal("1e5", 2).is_err());
    }
}
