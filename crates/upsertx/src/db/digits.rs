//! A double's shortest decimal digits (zmij's Schubfach: the fewest digits that read back
//! as the same double, a decimal exactly halfway to the next double accepted when the
//! double's mantissa is even; the closest when several are as short, a tie broken to the
//! even digit, as PostgreSQL's Ryu and MariaDB's dtoa break it, where Rust's `{:e}`
//! rounds up): the digits each server's text form starts from (`postgres/float.rs`,
//! `mysql/text.rs`), with no allocation (a read formats millions).

/// A double's significant digits, as ASCII (no more than 17: room to spare).
pub(crate) struct Digits {
    buf: [u8; 24],
    len: usize,
}

impl Digits {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// A double written as `d.ddde-5`, on the stack (no allocation: a read writes millions).
pub(crate) struct Text {
    buf: [u8; 40],
    len: usize,
}

impl Default for Text {
    fn default() -> Text {
        Text { buf: [0; 40], len: 0 }
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// Positive, finite `a`'s digits (trailing zeros dropped) and the power of ten of the
    /// first: the fewest that read back as `a` (zmij's Schubfach), or correctly rounded to
    /// `precision` digits after the first (`{:.p$e}`, left in this buffer).
    pub(crate) fn scientific(&mut self, a: f64, precision: Option<usize>) -> (Digits, i32) {
        use std::fmt::Write;
        self.len = 0;
        match precision {
            None => split(zmij::Buffer::new().format_finite(a)),
            Some(p) => {
                let _ = write!(self, "{a:.p$e}");
                split(self.as_str())
            }
        }
    }
}

/// The digits and the first one's power of ten of a positive number written in plain or
/// scientific notation (`1.5e-7`, `0.0003`, `100.0`, `1e16`).
fn split(text: &str) -> (Digits, i32) {
    let (mantissa, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let point = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let mut digits = Digits { buf: [b'0'; 24], len: 0 };
    let mut leading = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if digits.len == 0 && b == b'0' {
            leading += 1;
        } else if digits.len < digits.buf.len() {
            digits.buf[digits.len] = b;
            digits.len += 1;
        }
    }
    while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    digits.len = digits.len.max(1);
    (digits, point - 1 - leading + exp.parse::<i32>().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::Text;

    /// The fewest digits that read back, the closest of them, a tie between two as close
    /// broken to the even digit (as both servers write them, and as Rust's `{:e}` does
    /// not: it writes `9.651905245499253e14` for 965190524549925.25); for doubles of
    /// every magnitude, as short as Rust's.
    #[test]
    fn shortest_digits_ties_to_even() {
        for (a, digits, exp) in [
            (965190524549925.0 + 0.25, "9651905245499252", 14),
            (562949953421312.0 + 0.25, "5629499534213122", 14),
            (562949953421312.0 + 0.75, "5629499534213128", 14),
            (1e16, "1", 16),
            (0.3, "3", -1),
            (1.5e-7, "15", -7),
            (5e-324, "5", -324),
            (f64::MAX, "17976931348623157", 308),
        ] {
            let (d, e) = Text::default().scientific(a, None);
            assert_eq!((d.as_str(), e), (digits, exp), "{a:e}");
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for n in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let a = match n % 3 {
                0 => f64::from_bits(state >> 1),
                1 => (state >> 11) as f64 / 4.0,
                _ => (state % 10_000_000) as f64 / 1000.0,
            };
            if !a.is_finite() || a <= 0.0 {
                continue;
            }
            let (d, e) = Text::default().scientific(a, None);
            let back: f64 = format!("{}.{}e{e}", &d.as_str()[..1], &d.as_str()[1..]).parse().unwrap();
            let rust = format!("{a:e}");
            let rust_digits = rust.split_once('e').unwrap().0.chars().filter(char::is_ascii_digit).count();
            assert_eq!((back, d.as_str().len()), (a, rust_digits), "{a:e}");
        }
    }
}
