//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz, the long run) and for their
//! short run in the tests (`tests/fuzz_short.rs`, on stable Rust): each takes arbitrary
//! bytes and must never panic. Not part of the supported API.

use crate::check::convert;
use crate::source::csv::CsvReader;
use crate::source::json::JsonReader;
use crate::source::{RawRef, RowReader};
use crate::value::SqlType;

/// Reads the bytes as CSV and as TSV to the end, touching every value.
pub fn read_csv(data: &[u8]) {
    for delim in [b',', b'\t'] {
        if let Ok(mut reader) = CsvReader::new(data, "fuzz.csv".into(), delim) {
            drain(&mut reader);
        }
    }
}

/// Reads the bytes as a JSON array or NDJSON stream to the end, touching every value.
pub fn read_json(data: &[u8]) {
    if let Ok(mut reader) = JsonReader::new(data, "fuzz.json".into()) {
        drain(&mut reader);
    }
}

fn drain(reader: &mut dyn RowReader) {
    let width = reader.columns().len();
    while let Ok(true) = reader.advance() {
        for i in 0..width {
            let _ = reader.value(i).shown();
        }
        let _ = reader.position();
    }
}

/// Every column type there is (arrays of each too).
fn every_type() -> Vec<SqlType> {
    let base = vec![
        SqlType::Boolean,
        SqlType::Integer { bits: 8 },
        SqlType::Integer { bits: 16 },
        SqlType::Integer { bits: 32 },
        SqlType::Integer { bits: 64 },
        SqlType::Unsigned { bits: 8 },
        SqlType::Unsigned { bits: 64 },
        SqlType::Real { nan: true, single: true },
        SqlType::Real { nan: false, single: false },
        SqlType::Numeric,
        SqlType::Decimal,
        SqlType::Text { max_chars: None },
        SqlType::Text { max_chars: Some(3) },
        SqlType::Blob,
        SqlType::Date,
        SqlType::Time,
        SqlType::Timestamp,
        SqlType::TimestampTz,
        SqlType::Json,
        SqlType::Uuid,
        SqlType::Any,
        SqlType::Other,
    ];
    let arrays: Vec<SqlType> = base.iter().map(|t| SqlType::Array(Box::new(t.clone()))).collect();
    base.into_iter().chain(arrays).collect()
}

/// Checks the bytes (as text, and as a JSON value when they parse) against every type.
pub fn check_values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let json = serde_json::from_slice::<serde_json::Value>(data).ok();
    for ty in every_type() {
        let _ = convert(&ty, RawRef::Text(&text));
        if let Some(v) = &json {
            let _ = convert(&ty, RawRef::Json(v));
        }
    }
}

/// Builds database URLs around a password taken from the bytes, in every form a
/// password is written in, and asserts that redaction leaves none of it.
pub fn redact_urls(data: &[u8]) {
    let secret: String = String::from_utf8_lossy(data)
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '\'' && *c != '&')
        .take(40)
        .collect();
    if secret.len() < 4 {
        return;
    }
    let forms = |secret: &str| {
        [
            format!("postgres://ann:{secret}@db.example:5432/app"),
            format!("mysql://ann:{secret}@db.example/app?ssl-mode=REQUIRED"),
            format!("postgres://ann@db.example/app?password={secret}&sslmode=disable"),
            format!("host=db.example user=ann password={secret} dbname=app"),
            format!("host=db.example password='{secret}' dbname=app"),
            format!("ann:{secret}@db.example"),
        ]
    };
    // The same URLs with a harmless password: where their text already holds the secret
    // (a secret of `mysq` is in `mysql://`), seeing it proves nothing.
    let placeholder = forms("QqQq");
    for (url, plain) in forms(&secret).into_iter().zip(placeholder) {
        // `ann://x@host` is a URL with scheme `ann` and user `x`, not a password.
        if url.starts_with("ann:") && secret.starts_with("//") {
            continue;
        }
        let shown = crate::net::url::redact(&url);
        if !crate::net::url::redact(&plain).contains(&secret) {
            assert!(!shown.contains(&secret), "{url:?} was shown as {shown:?}");
        }
        if let (Err(e), Err(plain_e)) = (crate::net::url::DbUrl::parse(&url), crate::net::url::DbUrl::parse(&plain)) {
            if !plain_e.to_string().contains(&secret) {
                assert!(!e.to_string().contains(&secret), "{url:?}: {e}");
            }
        }
    }
}
