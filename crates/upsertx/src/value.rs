//! Typed values and the dialect-neutral column types they are checked against.

/// One typed value on its way to the database. Readers produce these after checking
/// the input against the target column's [`SqlType`]; dialects bind or stream them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The value as text for messages (`None` for NULL; bytes as `\x` hex).
    pub(crate) fn shown(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Text(s) => Some(s.clone()),
            Value::Blob(b) => Some(format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())),
        }
    }
}

/// What a target column accepts, as far as checking input values goes. Each dialect
/// maps its declared types onto these when it reflects a table, and back to DDL when
/// it creates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Boolean,
    /// A whole number that fits in `bits` bits (signed).
    Integer {
        bits: u8,
    },
    /// A whole number from 0 to 2^bits - 1 (MySQL's UNSIGNED integer types).
    Unsigned {
        bits: u8,
    },
    /// A binary floating point number; `nan`: whether NaN can be stored; `single`: a
    /// 32-bit float (PostgreSQL `real`, MySQL `FLOAT`), else 64-bit.
    Real {
        nan: bool,
        single: bool,
    },
    /// A number, whole or not, stored as SQLite stores NUMERIC (integer when whole).
    Numeric,
    /// An exact decimal number (SQL NUMERIC/DECIMAL), kept as its digits: never
    /// rounded through a float.
    Decimal,
    /// Text, optionally limited to a number of characters.
    Text {
        max_chars: Option<u32>,
    },
    /// Bytes: `\x`-prefixed hex in text input is decoded, other text is taken as bytes.
    Blob,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A time of day, `HH:MM[:SS[.fraction]]`.
    Time,
    /// A date and time, ISO 8601, with or without a UTC offset.
    Timestamp,
    /// A point in time: ISO 8601 with an offset, or without one meaning UTC.
    TimestampTz,
    /// A UUID, hex with or without dashes or braces.
    Uuid,
    /// A JSON document (checked for syntax).
    Json,
    /// No declared type (SQLite): any value is stored as given.
    Any,
    /// An array (PostgreSQL), from a JSON array or an array literal such as `{1,2}`.
    Array(Box<SqlType>),
    /// A type upsertx does not check itself (PostgreSQL interval, inet, arrays...): the
    /// value goes to the database as text and the database parses it.
    Other,
}

impl SqlType {
    /// A short name for messages.
    pub fn describe(&self) -> String {
        match self {
            SqlType::Boolean => "boolean".into(),
            SqlType::Integer { bits } => format!("{bits}-bit integer"),
            SqlType::Unsigned { bits } => format!("unsigned {bits}-bit integer"),
            SqlType::Real { .. } => "floating point number".into(),
            SqlType::Numeric | SqlType::Decimal => "number".into(),
            SqlType::Text { max_chars: Some(n) } => format!("text of at most {n} characters"),
            SqlType::Text { max_chars: None } => "text".into(),
            SqlType::Blob => "bytes".into(),
            SqlType::Date => "date (YYYY-MM-DD)".into(),
            SqlType::Time => "time (HH:MM:SS)".into(),
            SqlType::Timestamp => "timestamp (ISO 8601)".into(),
            SqlType::TimestampTz => "timestamp with time zone (ISO 8601)".into(),
            SqlType::Uuid => "UUID".into(),
            SqlType::Json => "JSON".into(),
            SqlType::Any | SqlType::Other => "value".into(),
            SqlType::Array(elem) => format!("array of {}", elem.describe()),
        }
    }
}

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's days_from_civil).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
