//! Dates, times and timestamps as text: checking ISO 8601 (`YYYY-MM-DD`, `HH:MM[:SS[.f]]`,
//! a timestamp with an optional zone), reading them as days and microseconds, and
//! writing microseconds back as text. Below the check step and the databases, which both
//! use them.

use crate::value::Value;

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add((d - b'0') as u32))
}

/// `YYYY-MM-DD` with a real month and day (leap years included).
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Some(y), Some(m), Some(d)) = (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10])) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.ffffff`.
pub(crate) fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return false;
    }
    let (Some(h), Some(m)) = (digits(&b[0..2]), digits(&b[3..5])) else {
        return false;
    };
    if h > 24 || m > 59 {
        return false;
    }
    let rest = &b[5..];
    if rest.is_empty() {
        return true;
    }
    if rest.len() < 3 || rest[0] != b':' || digits(&rest[1..3]).is_none_or(|sec| sec > 60) {
        return false;
    }
    let frac = &rest[3..];
    frac.is_empty() || (frac[0] == b'.' && frac.len() > 1 && frac[1..].iter().all(u8::is_ascii_digit))
}

/// An ISO 8601 date, optionally followed by `T` or a space, a time, and a zone
/// (`Z`, `+HH`, `+HH:MM`, `+HHMM`).
pub(crate) fn is_timestamp(s: &str) -> bool {
    if s.len() < 10 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    if rest.is_empty() {
        return true;
    }
    let Some(rest) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return false;
    };
    let time_end = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(time_end);
    is_time(time.trim_end()) && is_zone(zone)
}

fn is_zone(z: &str) -> bool {
    let b = z.as_bytes();
    match b.first() {
        None => true,
        Some(b'Z' | b'z') => b.len() == 1,
        Some(b'+' | b'-') => {
            let hm: Vec<u8> = b[1..].iter().copied().filter(|&c| c != b':').collect();
            (hm.len() == 2 || hm.len() == 4)
                && digits(&hm).is_some()
                && digits(&hm[..2]).is_some_and(|h| h <= 15)
                && (hm.len() == 2 || digits(&hm[2..]).is_some_and(|m| m < 60))
        }
        _ => false,
    }
}

/// Why a date of year 0 is refused: ISO 8601's year 0 is 1 BC, which the databases
/// store differently (or shift to year 1); typed dates outside these years are refused
/// too.
pub(crate) const OUT_OF_YEARS: &str = "out of range: upsertx writes years 1 to 9999";

/// A valid date or timestamp's text (see [`is_date`], [`is_timestamp`]) is in the years
/// upsertx writes: not year 0.
pub(crate) fn in_years(s: &str) -> Result<(), String> {
    match s.trim_start().starts_with("0000") {
        true => Err(OUT_OF_YEARS.into()),
        false => Ok(()),
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (checked by [`is_date`] first).
pub(crate) fn to_days(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.len() < 10 || !is_date(&s[..10]) {
        return Err("not a valid date".into());
    }
    in_years(s)?;
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap_or(0);
    Ok(crate::value::days_from_civil(n(0..4), n(5..7), n(8..10)))
}

/// Microseconds since midnight of `HH:MM[:SS[.fraction]]` (fractions past 6 digits are cut).
pub(crate) fn time_of_day_micros(s: &str) -> Option<i64> {
    if !is_time(s) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok());
    let (h, m) = (n(0..2)?, n(3..5)?);
    let sec = if s.len() >= 8 { n(6..8)? } else { 0 };
    let mut micros = 0;
    if let Some(frac) = s.get(9..) {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
        micros = digits.parse::<i64>().ok()?;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + micros)
}

/// Reads a point in time (`--as-of`) as microseconds since 1970-01-01 UTC: an ISO 8601
/// date (midnight UTC) or timestamp, UTC unless it carries an offset
/// (`2026-11-28T02:00:00+01:00`).
///
/// ```
/// assert_eq!(upsertx::parse_time("1970-01-02"), Ok(86_400_000_000));
/// assert_eq!(upsertx::parse_time("1970-01-01 01:00:00+01:00"), Ok(0));
/// assert!(upsertx::parse_time("yesterday").is_err());
/// ```
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    match to_micros_and_offset(s) {
        Ok((micros, offset)) => Ok(micros - offset.unwrap_or(0) * 1_000_000),
        Err(e) if e == OUT_OF_YEARS => Err(format!("{s:?}: {e}")),
        Err(_) => Err(format!("{s:?} is not a date or timestamp (expected ISO 8601, e.g. 2026-11-28 02:00:00)")),
    }
}

/// A timestamp's wall-clock microseconds since 1970-01-01, and its UTC offset in
/// seconds when it has one.
pub(crate) fn to_micros_and_offset(s: &str) -> Result<(i64, Option<i64>), String> {
    let s = s.trim();
    if !is_timestamp(s) {
        return Err("not a valid timestamp".into());
    }
    let days = to_days(&s[..10])?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Ok((days * 86_400_000_000, None));
    }
    let rest = &rest[1..];
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let micros = time_of_day_micros(time.trim_end()).ok_or("not a valid time of day")?;
    let offset = match zone.as_bytes().first() {
        None => None,
        Some(b'Z' | b'z') => Some(0),
        Some(sign) => {
            let hm: String = zone[1..].chars().filter(|c| *c != ':').collect();
            let h: i64 = hm[..2].parse().map_err(|_| "bad offset")?;
            let m: i64 = if hm.len() == 4 { hm[2..].parse().map_err(|_| "bad offset")? } else { 0 };
            let secs = h * 3600 + m * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
    };
    Ok((days * 86_400_000_000 + micros, offset))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` for microseconds since 1970-01-01.
pub(crate) fn format_micros(micros: i64) -> String {
    Value::Timestamp { micros, zoned: false }.temporal_text().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_times_and_timestamps() {
        assert!(is_date("2024-02-29") && !is_date("2023-02-29") && !is_date("2024-13-01"));
        assert!(is_time("23:59") && is_time("23:59:60.123456") && !is_time("25:00"));
        for ok in ["2024-05-01", "2024-05-01T12:30:00Z", "2024-05-01 12:30:00.5+02:00", "2024-05-01T12:30-0530"] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in ["2024-05-01X", "2024-05-01T12", "2024-05-01T12:30:00+99", "yesterday"] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(to_days("1970-01-01"), Ok(0));
        assert_eq!(to_days("2000-01-01"), Ok(10_957));
        assert_eq!(to_days("2024-03-01"), Ok(19_783));
        assert_eq!(time_of_day_micros("12:30:15.25"), Some(45_015_250_000));
        let (local, offset) = to_micros_and_offset("1970-01-02T01:00:00+02:00").unwrap();
        assert_eq!((local, offset), (90_000_000_000, Some(7200)));
        assert_eq!(to_micros_and_offset("1970-01-01 00:00:01").unwrap(), (1_000_000, None));
        assert_eq!(to_micros_and_offset("1970-01-01T00:00:00-0530").unwrap().1, Some(-19_800));
    }

    #[test]
    fn formatting_round_trips() {
        for s in ["1970-01-01 00:00:00", "2024-02-29 23:59:59.500000", "1815-12-10 08:00:00", "2100-03-01 12:00:00"] {
            let (micros, _) = to_micros_and_offset(s).unwrap();
            assert_eq!(format_micros(micros), s);
        }
    }
}
