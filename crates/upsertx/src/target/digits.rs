//! A double's shortest decimal digits, as Rust writes them (`{:e}`: the fewest digits that
//! read back as the same double, a decimal exactly halfway accepted when the double's
//! mantissa is even, the closest when several are as short): the digits each server's
//! text form starts from (`postgres/float.rs`, `mysql/text.rs`), with no allocation (a
//! read formats millions).

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

    /// `a` as `{:e}` (with `precision` digits after the point, or the fewest), split into
    /// its digits (trailing zeros dropped) and exponent.
    pub(crate) fn scientific(&mut self, a: f64, precision: Option<usize>) -> (Digits, i32) {
        use std::fmt::Write;
        self.len = 0;
        let _ = match precision {
            None => write!(self, "{a:e}"),
            Some(p) => write!(self, "{a:.p$e}"),
        };
        let (mantissa, exp) = self.as_str().split_once('e').unwrap_or((self.as_str(), "0"));
        let mut digits = Digits { buf: [b'0'; 24], len: 0 };
        for b in mantissa.bytes().filter(u8::is_ascii_digit).take(digits.buf.len()) {
            digits.buf[digits.len] = b;
            digits.len += 1;
        }
        while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
            digits.len -= 1;
        }
        (digits, exp.parse().unwrap_or(0))
    }
}
