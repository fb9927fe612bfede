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
    /// A binary floating point number.
    Real,
    /// A number, whole or not (SQLite NUMERIC affinity, SQL DECIMAL).
    Numeric,
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
    /// A JSON document (checked for syntax).
    Json,
    /// No declared type (SQLite): any value is stored as given.
    Any,
}

impl SqlType {
    /// A short name for messages.
    pub fn describe(&self) -> String {
        match self {
            SqlType::Boolean => "boolean".into(),
            SqlType::Integer { bits } => format!("{bits}-bit integer"),
            SqlType::Real => "floating point number".into(),
            SqlType::Numeric => "number".into(),
            SqlType::Text { max_chars: Some(n) } => format!("text of at most {n} characters"),
            SqlType::Text { max_chars: None } => "text".into(),
            SqlType::Blob => "bytes".into(),
            SqlType::Date => "date (YYYY-MM-DD)".into(),
            SqlType::Time => "time (HH:MM:SS)".into(),
            SqlType::Timestamp => "timestamp (ISO 8601)".into(),
            SqlType::Json => "JSON".into(),
            SqlType::Any => "value".into(),
        }
    }
}
