//! The `--changes` read's rows as PostgreSQL sends them cheapest: `COPY (read) TO
//! STDOUT (FORMAT binary)`, booleans, integers, doubles, dates and timestamps in their
//! binary form (a server spends less sending them than writing them as text), the rest
//! as text; each row's values are then written here as PostgreSQL writes them as text
//! (ISO dates, doubles as `float.rs` says), for the sink.

use super::copy::Kind;
use super::float::push_float8;
use super::session::message;
use super::stage::native;
use crate::db::ChangeRow;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::value::{push_date, push_time};
use postgres::Client;
use std::io::{BufRead, Read};

/// How a value crosses the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Wire {
    /// As text (cast to `text` by the read, unless it is text already).
    Text,
    /// Text types, sent as their bytes without a cast.
    Bytes,
    Bool,
    Int2,
    Int4,
    Int8,
    Float8,
    Date,
    Timestamp,
}

impl Wire {
    /// How plan column `i`'s values cross.
    pub(super) fn of(plan: &Plan, i: usize) -> Wire {
        match Kind::of(native(plan, i)) {
            Kind::Text => Wire::Bytes,
            Kind::Bool => Wire::Bool,
            Kind::Int2 => Wire::Int2,
            Kind::Int4 => Wire::Int4,
            Kind::Int8 => Wire::Int8,
            Kind::Float8 => Wire::Float8,
            Kind::Date => Wire::Date,
            Kind::Timestamp => Wire::Timestamp,
            _ => Wire::Text,
        }
    }
}

/// Runs `sql` as a binary COPY (its values crossing as `wires` says) and hands `each`
/// its rows one at a time. Not for a statement with parameters (COPY takes none).
pub(super) fn copy_rows(
    client: &mut Client,
    sql: &str,
    wires: &[Wire],
    ctx: &str,
    mut each: impl FnMut(&mut dyn ChangeRow) -> Result<()>,
) -> Result<()> {
    let mut reader =
        client.copy_out(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)")).map_err(|e| Error::db(ctx, message(&e)))?;
    // The signature, the flags, the header extension's length (and the extension).
    let mut header = [0; 19];
    reader.read_exact(&mut header).map_err(|e| copy_error(ctx, e))?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err(Error::db(ctx, "the server's COPY did not begin as binary COPY does"));
    }
    let mut extension = vec![0; u32::from_be_bytes([header[15], header[16], header[17], header[18]]) as usize];
    reader.read_exact(&mut extension).map_err(|e| copy_error(ctx, e))?;
    let (mut row, mut value) = (CopyRow::default(), Vec::new());
    loop {
        // The server sends a row per message: read in place, as it is buffered (a row
        // that is not whole there is read value by value instead).
        let buffered = reader.fill_buf().map_err(|e| copy_error(ctx, e))?;
        let taken = match row.parse(buffered, wires) {
            Ok(Some(n)) => n,
            Ok(None) => 0,
            Err(e) => return Err(Error::db(ctx, e)),
        };
        if taken > 0 {
            reader.consume(taken);
        } else {
            let mut read = |buf: &mut [u8]| reader.read_exact(buf).map_err(|e| copy_error(ctx, e));
            let mut count = [0; 2];
            read(&mut count)?;
            let count = i16::from_be_bytes(count);
            if count < 0 {
                return Ok(());
            }
            if count as usize != wires.len() {
                return Err(Error::db(
                    ctx,
                    format!("the server sent {count} values where {} were expected", wires.len()),
                ));
            }
            row.clear();
            for &wire in wires {
                let mut len = [0; 4];
                read(&mut len)?;
                let len = i32::from_be_bytes(len);
                if len < 0 {
                    row.fields.push(None);
                    continue;
                }
                value.resize(len as usize, 0);
                read(&mut value)?;
                row.push(wire, &value).map_err(|e| Error::db(ctx, e))?;
            }
        }
        each(&mut row)?;
    }
}

/// The database's own error when COPY's stream ended in one.
fn copy_error(ctx: &str, e: std::io::Error) -> Error {
    match e.get_ref().and_then(|e| e.downcast_ref::<postgres::Error>()) {
        Some(e) => Error::db(ctx, message(e)),
        None => Error::db(ctx, e.to_string()),
    }
}

/// One row's values as text.
#[derive(Default)]
struct CopyRow {
    text: String,
    /// Each value's span in `text`, `None` for NULL.
    fields: Vec<Option<(usize, usize)>>,
}

impl CopyRow {
    fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    /// A value that crossed as `wire`, as text.
    fn push(&mut self, wire: Wire, v: &[u8]) -> std::result::Result<(), String> {
        let start = self.text.len();
        push_text(&mut self.text, wire, v)?;
        self.fields.push(Some((start, self.text.len())));
        Ok(())
    }

    /// The row at the start of `buf`, if it is all there: how many bytes it took.
    /// `None` too for the end of the rows (read the slow way, which ends there).
    fn parse(&mut self, buf: &[u8], wires: &[Wire]) -> std::result::Result<Option<usize>, String> {
        let Some(count) = buf.get(..2) else { return Ok(None) };
        if i16::from_be_bytes([count[0], count[1]]) as usize != wires.len() {
            return Ok(None);
        }
        self.clear();
        let mut at = 2;
        for &wire in wires {
            let Some(len) = buf.get(at..at + 4) else { return Ok(None) };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            at += 4;
            if len < 0 {
                self.fields.push(None);
                continue;
            }
            let Some(v) = buf.get(at..at + len as usize) else { return Ok(None) };
            self.push(wire, v)?;
            at += len as usize;
        }
        Ok(Some(at))
    }
}

impl ChangeRow for CopyRow {
    fn text(&mut self, i: usize) -> Option<&str> {
        self.fields[i].map(|(a, b)| &self.text[a..b])
    }
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = crate::value::MICROS_PER_DAY;

/// A value that crossed as `wire`, as PostgreSQL writes it as text.
fn push_text(out: &mut String, wire: Wire, v: &[u8]) -> std::result::Result<(), String> {
    let short = || format!("a {wire:?} value of {} bytes", v.len());
    let mut int = itoa::Buffer::new();
    match wire {
        Wire::Text | Wire::Bytes => out.push_str(std::str::from_utf8(v).map_err(|e| format!("text not UTF-8: {e}"))?),
        Wire::Bool => out.push_str(if v.first().ok_or_else(short)? != &0 { "t" } else { "f" }),
        Wire::Int2 => out.push_str(int.format(i16::from_be_bytes(v.try_into().map_err(|_| short())?))),
        Wire::Int4 => out.push_str(int.format(i32::from_be_bytes(v.try_into().map_err(|_| short())?))),
        Wire::Int8 => out.push_str(int.format(i64::from_be_bytes(v.try_into().map_err(|_| short())?))),
        Wire::Float8 => push_float8(out, f64::from_be_bytes(v.try_into().map_err(|_| short())?)),
        Wire::Date => match i32::from_be_bytes(v.try_into().map_err(|_| short())?) {
            i32::MAX => out.push_str("infinity"),
            i32::MIN => out.push_str("-infinity"),
            days => {
                if push_date(out, days as i64 + PG_EPOCH_DAYS) {
                    out.push_str(" BC");
                }
            }
        },
        Wire::Timestamp => match i64::from_be_bytes(v.try_into().map_err(|_| short())?) {
            i64::MAX => out.push_str("infinity"),
            i64::MIN => out.push_str("-infinity"),
            micros => {
                let bc = push_date(out, micros.div_euclid(MICROS_PER_DAY) + PG_EPOCH_DAYS);
                out.push(' ');
                push_time(out, micros.rem_euclid(MICROS_PER_DAY), true);
                if bc {
                    out.push_str(" BC");
                }
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(wire: Wire, v: &[u8]) -> String {
        let mut out = String::new();
        push_text(&mut out, wire, v).unwrap();
        out
    }

    /// As PostgreSQL writes them (`SELECT '...'::timestamp::text`, DateStyle ISO).
    #[test]
    fn dates_and_timestamps_as_postgresql_writes_them() {
        let ts = |micros: i64| text(Wire::Timestamp, &micros.to_be_bytes());
        assert_eq!(ts(0), "2000-01-01 00:00:00");
        assert_eq!(ts(1_500_000), "2000-01-01 00:00:01.5");
        assert_eq!(ts(-1), "1999-12-31 23:59:59.999999");
        assert_eq!(ts(761_913_660_000_000), "2024-02-22 10:41:00");
        assert_eq!(ts(-63_082_281_600_000_000 + 10 * 3_600_000_000), "0001-01-01 10:00:00");
        assert_eq!(ts(-63_082_281_600_000_000 - MICROS_PER_DAY), "0001-12-31 00:00:00 BC");
        assert_eq!(ts(i64::MAX), "infinity");
        assert_eq!(ts(i64::MIN), "-infinity");
        let date = |days: i32| text(Wire::Date, &days.to_be_bytes());
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-730_485), "0001-01-01 BC");
        assert_eq!(date(2_921_939), "9999-12-31");
        assert_eq!(date(2_921_940), "10000-01-01");
        assert_eq!(date(i32::MIN), "-infinity");
    }

    #[test]
    fn integers_and_booleans() {
        assert_eq!(text(Wire::Int2, &(-7i16).to_be_bytes()), "-7");
        assert_eq!(text(Wire::Int4, &i32::MIN.to_be_bytes()), "-2147483648");
        assert_eq!(text(Wire::Int8, &i64::MAX.to_be_bytes()), "9223372036854775807");
        assert_eq!((text(Wire::Bool, &[1]), text(Wire::Bool, &[0])), ("t".into(), "f".into()));
        assert_eq!(text(Wire::Bytes, "é\t\\N".as_bytes()), "é\t\\N");
    }

    #[test]
    fn a_value_of_the_wrong_size_is_an_error_not_a_panic() {
        assert!(push_text(&mut String::new(), Wire::Int4, &[0, 1]).is_err());
        assert!(push_text(&mut String::new(), Wire::Bool, &[]).is_err());
    }
}
