//! A `double precision` as PostgreSQL (12 and later, `extra_float_digits` above 0, its
//! default) writes it as text: the fewest digits that read back as the same double
//! (Ryu's shortest), counting a decimal exactly halfway to the next double as not
//! reading back (PostgreSQL writes `3.7862498611870256e+16` where a reader rounding
//! halves to even would accept `3.786249861187026e+16`); plain notation for exponents
//! -4 to 14, else `1.5e-05`, `1e+20`; `NaN`, `Infinity`, `-Infinity`, `-0`.
//!
//! The digits come from `digits.rs` (which does accept a halfway decimal when the
//! double's mantissa is even, and breaks a tie between two as close to the even digit,
//! as Ryu does); when they are exactly halfway, more digits are tried, correctly
//! rounded, as PostgreSQL's search would find them.

use crate::db::digits::{Digits, Text};

/// Appends `x` as PostgreSQL writes it.
pub(super) fn push_float8(out: &mut String, x: f64) {
    if x.is_nan() {
        return out.push_str("NaN");
    }
    if x.is_infinite() {
        return out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let a = x.abs();
    if a == 0.0 {
        return out.push('0');
    }
    let (digits, exp) = shortest(a);
    let digits = digits.as_str();
    // `exp`: the power of ten of the first digit.
    if (-4..15).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            (0..-point).for_each(|_| out.push('0'));
            out.push_str(digits);
        } else if point as usize >= digits.len() {
            out.push_str(digits);
            (digits.len()..point as usize).for_each(|_| out.push('0'));
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(if exp < 0 { "e-" } else { "e+" });
        if exp.abs() < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(exp.abs()));
    }
}

/// The significant digits of positive, finite `a` (no trailing zeros) and the power of
/// ten of the first.
fn shortest(a: f64) -> (Digits, i32) {
    let mut text = Text::default();
    let (digits, exp) = text.scientific(a, None);
    if !halfway(a, digits.as_str(), exp) {
        return (digits, exp);
    }
    for precision in digits.as_str().len()..17 {
        let (d, e) = text.scientific(a, Some(precision));
        if text.as_str().parse::<f64>() == Ok(a) && !halfway(a, d.as_str(), e) {
            return (d, e);
        }
    }
    text.scientific(a, Some(16))
}

/// Whether `digits` × 10^(`exp` + 1 - their count) lies exactly halfway between `a` and
/// a neighbouring double.
fn halfway(a: f64, digits: &str, exp: i32) -> bool {
    let Ok(d) = digits.parse::<u128>() else { return false };
    let bits = a.to_bits();
    let (fraction, biased) = (bits & ((1 << 52) - 1), (bits >> 52) as i32);
    // a = m × 2^q.
    let (m, q) = match biased {
        0 => (fraction as u128, -1074),
        _ => ((fraction | 1 << 52) as u128, biased - 1075),
    };
    // The midpoints, each an odd number times a power of two: above, and below (closer
    // below a power of two, where the spacing halves).
    let below = match fraction == 0 && biased > 1 {
        true => (4 * m - 1, q - 2),
        false => (2 * m - 1, q - 1),
    };
    // The decimal as odd × 2^twos / 5^fives (or × 5^fives when `fives` < 0).
    let k = exp + 1 - digits.len() as i32;
    let twos = d.trailing_zeros() as i32;
    let odd = d >> twos;
    let decimal = match k {
        0.. if k <= 24 => Some((odd * 5u128.pow(k as u32), twos + k)),
        0.. => None,
        _ if -k <= 27 && odd.is_multiple_of(5u128.pow(-k as u32)) => Some((odd / 5u128.pow(-k as u32), twos + k)),
        _ => None,
    };
    decimal.is_some_and(|dec| dec == (2 * m + 1, q - 1) || dec == below)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(x: f64) -> String {
        let mut out = String::new();
        push_float8(&mut out, x);
        out
    }

    /// Each as PostgreSQL 15 wrote it (`SELECT x::float8::text`, extra_float_digits 1).
    #[test]
    fn as_postgresql_writes_them() {
        for (x, pg) in [
            (0.1 + 0.2, "0.30000000000000004"),
            (2.25, "2.25"),
            (-3.5, "-3.5"),
            (100.0, "100"),
            (1e14, "100000000000000"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (0.0001, "0.0001"),
            (0.000123, "0.000123"),
            (0.00001, "1e-05"),
            (9.99e-5, "9.99e-05"),
            (1.5e-5, "1.5e-05"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (9007199254740992.0, "9.007199254740992e+15"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-1e-7, "-1e-07"),
            (12345678.9, "12345678.9"),
            (1e21, "1e+21"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            // Halfway between two doubles: PostgreSQL takes a 17th digit.
            (3.786249861187026e16, "3.7862498611870256e+16"),
            (4.955670897228874e16, "4.9556708972288736e+16"),
            (3.75593645620304e18, "3.7559364562030397e+18"),
            (2.775595803305988e17, "2.7755958033059878e+17"),
            (6.26232771652137e16, "6.2623277165213696e+16"),
            (-6.567057064428522e16, "-6.5670570644285216e+16"),
            // Two as short and as close: the even digit.
            (965190524549925.0 + 0.25, "965190524549925.2"),
            (562949953421312.0 + 0.25, "562949953421312.2"),
            (562949953421312.0 + 0.75, "562949953421312.8"),
        ] {
            assert_eq!(text(x), pg, "{x:e}");
        }
    }
}
