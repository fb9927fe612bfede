//! The values of a `--changes` read, written as MySQL's / MariaDB's text protocol writes
//! them. The read runs as a prepared statement: its integers, doubles and dates come in
//! binary, and the server does not format them (MariaDB formats doubles as text with
//! `my_gcvt` at a cost: a 1M-row upsert's read took 3.0 s as text, 2.3 s in binary).
//! Text, decimals, enums, JSON and bit strings come as the same bytes either way.
//! The columns whose text this module does not write (FLOAT, whose text rounds to six
//! digits; DOUBLE(M,D); TIME; YEAR) are cast to text in the statement ([`sent`]).

use crate::db::digits::Text;
use crate::plan::Plan;
use crate::value::push_digits;
use mysql::consts::ColumnType;
use mysql::Value;

/// `e`, the value of plan column `i`, as the read selects it: cast to text unless this
/// module writes its type's text.
pub(super) fn sent(plan: &Plan, i: usize, e: String) -> String {
    let written_here = plan.table_column(i).is_none_or(|c| match c.native.as_str() {
        "float" | "time" | "year" => false,
        "double" | "real" => !c.declared.contains('('),
        _ => true,
    });
    match written_here {
        true => e,
        false => super::sql::text(e),
    }
}

/// Whether a change of plan column `i` shows in the values the read sends (all but a
/// FLOAT's: its text rounds to six digits).
pub(super) fn compared_here(plan: &Plan, i: usize) -> bool {
    plan.table_column(i).is_none_or(|c| c.native != "float")
}

/// Appends `v`, a value of `column` that is not text (bytes) and not NULL, as the text
/// protocol writes it.
pub(super) fn push(out: &mut String, v: &Value, column: &mysql::Column) {
    // The digits of a fraction of a second the column shows (a DATETIME(3) shows three).
    let decimals = usize::from(column.decimals());
    let fraction = |out: &mut String, micros: u32| {
        let digits = if decimals <= 6 {
            decimals
        } else if micros > 0 {
            6
        } else {
            0
        };
        if digits > 0 {
            out.push('.');
            push_digits(out, i64::from(micros) / 10_i64.pow(6 - digits as u32), digits);
        }
    };
    match *v {
        Value::Int(n) => out.push_str(itoa::Buffer::new().format(n)),
        Value::UInt(n) => out.push_str(itoa::Buffer::new().format(n)),
        // A DOUBLE(M,D) is cast to text ([`sent`]); its binary value, should one come, as
        // the D decimals it shows.
        Value::Double(x) if decimals < 31 => out.push_str(&format!("{x:.decimals$}")),
        Value::Double(x) => push_double(out, x),
        // FLOAT is cast to text ([`sent`]).
        Value::Float(x) => out.push_str(&x.to_string()),
        Value::Date(y, mo, d, h, mi, s, micros) => {
            for (n, width, then) in [(u32::from(y), 4, '-'), (mo.into(), 2, '-'), (d.into(), 2, ' ')] {
                push_digits(out, n.into(), width);
                out.push(then);
            }
            out.pop();
            if !matches!(column.column_type(), ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE) {
                out.push(' ');
                for (n, then) in [(h, ':'), (mi, ':'), (s, ' ')] {
                    push_digits(out, n.into(), 2);
                    out.push(then);
                }
                out.pop();
                fraction(out, micros);
            }
        }
        // TIME is cast to text ([`sent`]).
        Value::Time(negative, days, h, mi, s, micros) => {
            let hours = days * 24 + u32::from(h);
            out.push_str(&format!("{}{hours:02}:{mi:02}:{s:02}", if negative { "-" } else { "" }));
            fraction(out, micros);
        }
        Value::Bytes(ref b) => out.push_str(&String::from_utf8_lossy(b)),
        Value::NULL => {}
    }
}

/// Appends `x` as MariaDB writes a DOUBLE (`my_gcvt`): the fewest digits that read back
/// as `x`, in plain notation while the point falls no more than 15 digits from the first
/// (`0.000000000000001`, `100000000000000`; also `1234567890123456.8`, whose digits reach
/// past the point), else as `1.5e-16`, `1e15`, `1.2345678901234568e17`. Zero is `0`.
pub(super) fn push_double(out: &mut String, x: f64) {
    if x == 0.0 || !x.is_finite() {
        // The server stores no NaN nor infinity.
        return out.push('0');
    }
    if x < 0.0 {
        out.push('-');
    }
    let (digits, exp) = Text::default().scientific(x.abs(), None);
    let digits = digits.as_str();
    let n = digits.len() as i32;
    // The point's place counted from the first digit (`0.05`: -1).
    let point = exp + 1;
    if (point > 15 && point >= n) || point < -14 {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push_str(itoa::Buffer::new().format(exp));
    } else if point <= 0 {
        out.push_str("0.");
        (0..-point).for_each(|_| out.push('0'));
        out.push_str(digits);
    } else if point >= n {
        out.push_str(digits);
        (n..point).for_each(|_| out.push('0'));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::push_double;

    /// Each as MariaDB 10.11 wrote it (`SELECT d` of a DOUBLE column, text protocol);
    /// thousands more against the server: `tests/changes.rs`.
    #[test]
    fn as_mariadb_writes_them() {
        for (x, text) in [
            (1e14, "100000000000000"),
            (1e15, "1e15"),
            (1.2345678901234568e17, "1.2345678901234568e17"),
            (1e-4, "0.0001"),
            (1.5e-7, "0.00000015"),
            (1e-15, "0.000000000000001"),
            (1e-16, "1e-16"),
            (1.5e-16, "1.5e-16"),
            (123456.789, "123456.789"),
            (1234567890123456.0, "1.234567890123456e15"),
            (1234567890123456.8, "1234567890123456.8"),
            (-3731765799946324.5, "-3731765799946324.5"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (5e-324, "5e-324"),
            (2.5e-310, "2.5e-310"),
            (100.0, "100"),
            (1e21, "1e21"),
            (0.1 + 0.2, "0.30000000000000004"),
            // Two as short and as close: the even digit.
            (965190524549925.0 + 0.25, "965190524549925.2"),
            (562949953421312.0 + 0.75, "562949953421312.8"),
            (0.0, "0"),
            (-0.0, "0"),
        ] {
            let mut out = String::new();
            push_double(&mut out, x);
            assert_eq!(out, text, "{x:e}");
        }
    }
}
