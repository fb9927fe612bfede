//! Typed values and the dialect-neutral column types they are checked against.

use std::borrow::Cow;

/// One typed value on its way to the database: what the check makes of an input value
/// (borrowing its text where it can) and what a stager reads from a checked column
/// ([`crate::batch::Column::get`]). `Value<'static>` owns its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
    /// A calendar date from typed input, as days since 1970-01-01 (years 1 to 9999).
    /// Dates in text input stay [`Value::Text`]: SQLite stores them as written.
    Date(i32),
    /// A time of day from typed input, in microseconds since midnight.
    Time(i64),
    /// A timestamp from typed input, in microseconds since 1970-01-01 (years 1 to 9999):
    /// a wall time, or with `zoned` an instant in UTC.
    Timestamp {
        micros: i64,
        zoned: bool,
    },
}

impl Value<'_> {
    /// The value with its text and bytes owned.
    pub(crate) fn into_owned(self) -> Value<'static> {
        match self {
            Value::Text(s) => Value::Text(Cow::Owned(s.into_owned())),
            Value::Blob(b) => Value::Blob(Cow::Owned(b.into_owned())),
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Real(f) => Value::Real(f),
            Value::Date(d) => Value::Date(d),
            Value::Time(t) => Value::Time(t),
            Value::Timestamp { micros, zoned } => Value::Timestamp { micros, zoned },
        }
    }

    /// Owned text.
    pub(crate) fn text(s: String) -> Value<'static> {
        Value::Text(Cow::Owned(s))
    }

    /// The value as text for messages (`None` for NULL; bytes as `\x` hex).
    pub(crate) fn shown(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Text(s) => Some(s.to_string()),
            Value::Blob(b) => Some(blob_text(b)),
            Value::Date(_) | Value::Time(_) | Value::Timestamp { .. } => self.temporal_text(),
        }
    }

    /// A typed date, time or timestamp as ISO 8601 text (`2024-05-01`, `12:30:00.5`,
    /// `2024-05-01 12:30:00`, with `+00:00` for an instant); `None` for other values.
    pub(crate) fn temporal_text(&self) -> Option<String> {
        let mut out = String::with_capacity(32);
        self.push_temporal(&mut out).then_some(out)
    }

    /// Appends [`Value::temporal_text`] to `out`; false (nothing written) for other values.
    pub(crate) fn push_temporal(&self, out: &mut String) -> bool {
        match *self {
            // A year before 1 (only ever in a message: such values are refused) keeps
            // its era: ` BC`, as PostgreSQL writes it.
            Value::Date(days) => {
                if push_date(out, days as i64) {
                    out.push_str(" BC");
                }
            }
            Value::Time(micros) => push_time(out, micros, false),
            Value::Timestamp { micros, zoned } => {
                let bc = push_date(out, micros.div_euclid(MICROS_PER_DAY));
                out.push(' ');
                push_time(out, micros.rem_euclid(MICROS_PER_DAY), false);
                if zoned {
                    out.push_str("+00:00");
                }
                if bc {
                    out.push_str(" BC");
                }
            }
            _ => return false,
        }
        true
    }
}

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `YYYY-MM-DD` of days since 1970-01-01 (Howard Hinnant's civil_from_days), written
/// without `format!`: it runs for every typed date. A year before 1 is counted back
/// from 1 BC, as PostgreSQL writes it; then it returns `true` (the text is to end in
/// ` BC`).
pub(crate) fn push_date(out: &mut String, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days);
    push_digits(out, if y <= 0 { 1 - y } else { y }, 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
    y <= 0
}

/// (year, month, day) of days since 1970-01-01, proleptic Gregorian (year 0 is 1 BC).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + if m <= 2 { 1 } else { 0 }, m, d)
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight; `trim`: the fraction without its
/// trailing zeros (`.5`), as PostgreSQL writes it.
pub(crate) fn push_time(out: &mut String, micros: i64, trim: bool) {
    let (secs, mut frac) = (micros / 1_000_000, micros % 1_000_000);
    push_digits(out, secs / 3600, 2);
    out.push(':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(':');
    push_digits(out, secs % 60, 2);
    if frac != 0 {
        let mut width = 6;
        while trim && frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        out.push('.');
        push_digits(out, frac, width);
    }
}

/// `n` (0 or more) in at least `width` digits.
pub(crate) fn push_digits(out: &mut String, n: i64, width: usize) {
    let mut buf = [b'0'; 20];
    let (mut n, mut i) = (n.unsigned_abs(), buf.len());
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(buf.len() - width);
    // ASCII digits: one copy, not a char at a time.
    out.push_str(std::str::from_utf8(&buf[start..]).unwrap_or_default());
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

/// Bytes as lower-case hex digits.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes as text in messages and input: `\x` and hex digits, as PostgreSQL writes bytea.
pub(crate) fn blob_text(bytes: &[u8]) -> String {
    format!("\\x{}", hex(bytes))
}

/// The 16 bytes of a UUID in its usual spelling, `12345678-9abc-def0-1234-56789abcdef0`.
pub(crate) fn uuid_text(bytes: &[u8]) -> String {
    let h = hex(bytes);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The 16 bytes of a UUID written as 32 hex digits, with or without dashes and braces.
pub(crate) fn parse_uuid(s: &str) -> Result<[u8; 16], String> {
    let hex: Vec<u8> = s.trim_start_matches('{').trim_end_matches('}').bytes().filter(|&b| b != b'-').collect();
    let bad = || "not a valid UUID".to_string();
    if hex.len() != 32 {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}
