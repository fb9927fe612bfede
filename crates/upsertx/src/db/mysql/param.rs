//! A field as a statement parameter. The fields are the text sent to `LOAD DATA`; as a
//! parameter a value goes in binary where the client reads its text exactly as the server
//! would (whole numbers; a plain DOUBLE's decimal text, parsed to the nearest double as
//! the server's `my_strtod` parses it; a valid DATE or DATETIME), which spares the server
//! converting it: an 11-column upsert's changed rows went 10% faster. Anything else, and
//! any text the server might read otherwise or refuse (`1e400`, `2024-02-30`, a
//! fraction of a second a DATETIME(0) would round), goes as the text, for the server to
//! convert or refuse as it does for `LOAD DATA`.

use crate::plan::Plan;
use crate::value::SqlType;
use mysql::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Integer,
    Double,
    Date,
    /// A DATETIME showing this many digits of a second.
    DateTime(u8),
    Text,
}

/// How each field of a line (`ord`, then the plan's columns) goes as a parameter.
pub(super) struct Params(Vec<Kind>);

impl Params {
    pub(super) fn new(plan: &Plan) -> Params {
        let kinds = (0..plan.columns.len()).map(|i| {
            let declared = plan.table_column(i).map(|c| c.declared.to_ascii_lowercase()).unwrap_or_default();
            let native = plan.table_column(i).map_or("", |c| c.native.as_str());
            let digits = || declared.split_once('(').and_then(|(_, d)| d.trim_end_matches(')').parse::<u8>().ok());
            match native {
                _ if matches!(plan.columns[i].ty, SqlType::Integer { .. } | SqlType::Unsigned { .. }) => Kind::Integer,
                "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => Kind::Integer,
                "double" | "real" if !declared.contains('(') && !declared.contains("unsigned") => Kind::Double,
                "date" => Kind::Date,
                "datetime" => Kind::DateTime(digits().unwrap_or(0)),
                _ => Kind::Text,
            }
        });
        Params(std::iter::once(Kind::Integer).chain(kinds).collect())
    }

    /// Field `field` of a line (0: `ord`) as a parameter.
    pub(super) fn get(&self, field: usize, value: Option<Vec<u8>>) -> Value {
        let Some(v) = value else { return Value::NULL };
        let typed = std::str::from_utf8(&v).ok().and_then(|s| match self.0[field] {
            Kind::Integer => s.parse::<i64>().ok().map(Value::Int),
            Kind::Double => double(s).map(Value::Double),
            Kind::Date => date_value(s, true),
            Kind::DateTime(digits) => date_time(s, digits).map(as_value),
            Kind::Text => None,
        });
        typed.unwrap_or(Value::Bytes(v))
    }
}

/// Plain decimal notation (`-12.5`, `3`, `1.5e-3`) of a finite double.
fn double(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut at = usize::from(b.first() == Some(&b'-'));
    let whole = digits(at);
    at += whole;
    if whole == 0 {
        return None;
    }
    if b.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return None;
        }
        at += 1 + fraction;
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1;
        at += usize::from(matches!(b.get(at), Some(b'-' | b'+')));
        let exp = digits(at);
        if exp == 0 || exp > 3 {
            return None;
        }
        at += exp;
    }
    if at != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite() && (*x != 0.0 || !s.starts_with('-')))
}

type DateTime = (u16, u8, u8, u8, u8, u8, u32);

fn as_value((y, mo, d, h, mi, s, micros): DateTime) -> Value {
    Value::Date(y, mo, d, h, mi, s, micros)
}

/// `s` as the binary value of a DATE (`date_only`: `YYYY-MM-DD` alone) or DATETIME with
/// up to six digits of a second, when it is one exactly (see [`date_time`]).
pub(super) fn date_value(s: &str, date_only: bool) -> Option<Value> {
    match date_only {
        true => date_time(s, 0).filter(|_| s.len() == 10).map(as_value),
        false => date_time(s, 6).map(as_value),
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS[.fraction]` (at most `digits` digits of a second
/// but zeros), a valid date and time of years 1000 to 9999 (DATETIME's range).
fn date_time(s: &str, digits: u8) -> Option<DateTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1000..=9999).contains(&y) || !(1..=12).contains(&mo) || d < 1 || d > days[mo as usize - 1] {
        return None;
    }
    if b.len() == 10 {
        return Some((y as u16, mo as u8, d as u8, 0, 0, 0, 0));
    }
    if b.len() < 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut micros = 0;
    if b.len() > 19 {
        let fraction = &b[20..];
        if b[19] != b'.' || fraction.is_empty() || fraction.len() > 6 || !fraction.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Digits past the column's would be rounded by the server's own rule.
        if fraction.iter().skip(usize::from(digits)).any(|&c| c != b'0') {
            return None;
        }
        micros = fraction.iter().chain(std::iter::repeat(&b'0')).take(6).fold(0, |n, c| n * 10 + u32::from(c - b'0'));
    }
    Some((y as u16, mo as u8, d as u8, h as u8, mi as u8, sec as u8, micros))
}

#[cfg(test)]
mod tests {
    use super::{date_time, double};

    #[test]
    fn only_text_read_as_the_server_reads_it_is_typed() {
        assert_eq!(double("12.50"), Some(12.5));
        assert_eq!(double("-3"), Some(-3.0));
        assert_eq!(double("1.5e-3"), Some(0.0015));
        assert_eq!(double("0.30000000000000004"), Some(0.1 + 0.2));
        for text in ["1e400", "inf", "nan", ".5", "5.", "+1", " 1", "1 ", "1e", "0x10", "-0", "-0.0", ""] {
            assert_eq!(double(text), None, "{text}");
        }
        assert_eq!(date_time("2024-02-29", 0), Some((2024, 2, 29, 0, 0, 0, 0)));
        assert_eq!(date_time("2024-02-29 23:59:59", 0), Some((2024, 2, 29, 23, 59, 59, 0)));
        assert_eq!(date_time("2024-02-29 23:59:59.000", 0), Some((2024, 2, 29, 23, 59, 59, 0)));
        assert_eq!(date_time("2024-02-29 23:59:59.25", 3), Some((2024, 2, 29, 23, 59, 59, 250_000)));
        for text in [
            "2023-02-29",
            "2024-13-01",
            "0000-00-00",
            "0999-01-01",
            "2024-01-01 24:00:00",
            "2024-01-01T10:00:00",
            "2024-01-01 10:00:00.5",
            "2024-01-01 10:00:00.",
            "2024-01-01 10:00:00+00:00",
            "2024-1-01",
        ] {
            assert_eq!(date_time(text, 0), None, "{text}");
        }
    }
}
