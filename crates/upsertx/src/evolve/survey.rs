//! What the input's values need of the table's columns, read once before the load: the
//! longest text of each column, and the range of its whole numbers.

use crate::error::Result;
use crate::source::{Input, RawRef};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;

/// What one input column's values need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The most characters of a value.
    pub chars: usize,
    /// The least and the greatest whole number among the values (`None`: none).
    pub range: Option<(i128, i128)>,
    /// The most digits before and after the point of a number with a fraction (`1.25`:
    /// 1 and 2; trailing zeros after the point do not count), `None`: no such number.
    pub fraction: Option<(u32, u32)>,
    /// A typed floating-point value with a fraction was seen.
    pub float: bool,
}

impl Needs {
    fn text(&mut self, s: &str) {
        self.chars = self.chars.max(s.chars().count());
        let t = s.trim();
        if let Ok(n) = t.parse::<i128>() {
            self.number(n);
        } else if let Some(digits) = decimal_digits(t) {
            self.digits(digits);
        }
    }

    fn json(&mut self, n: &serde_json::Number) {
        match n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
            Some(n) => self.number(n),
            // `2.5` as JSON writes it (not the characters of a text column).
            None => {
                if let Some(digits) = decimal_digits(&n.to_string()) {
                    self.digits(digits);
                }
            }
        }
    }

    fn digits(&mut self, (int, frac): (u32, u32)) {
        self.fraction = Some(match self.fraction {
            None => (int, frac),
            Some((i, f)) => (i.max(int), f.max(frac)),
        });
    }

    fn number(&mut self, n: i128) {
        self.range = Some(match self.range {
            None => (n, n),
            Some((lo, hi)) => (lo.min(n), hi.max(n)),
        });
    }
}

/// Reads the whole input; the needs of the input columns at `watched` (the others stay
/// empty), indexed by input column.
pub(crate) fn survey(input: &mut Input, watched: &[usize]) -> Result<Vec<Needs>> {
    let mut needs = vec![Needs::default(); input.columns().len()];
    match input {
        Input::Rows(rows) => {
            while rows.advance()? {
                for &i in watched {
                    match rows.value(i) {
                        RawRef::Text(s) => needs[i].text(s),
                        RawRef::Json(serde_json::Value::String(s)) => needs[i].text(s),
                        RawRef::Json(serde_json::Value::Number(n)) => needs[i].json(n),
                        _ => {}
                    }
                }
            }
        }
        Input::Batches(batches) => {
            while let Some((_, batch)) = batches.next_batch(4096, usize::MAX)? {
                for &i in watched {
                    typed(batch.column(i).as_ref(), &mut needs[i]);
                }
            }
        }
    }
    Ok(needs)
}

/// The digits before and after the point of a plain decimal (`-12.50`: 2 and 1); `None`
/// for anything else (an exponent, text).
fn decimal_digits(s: &str) -> Option<(u32, u32)> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = body.split_once('.')?;
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    let int = int.trim_start_matches('0').len().max(1) as u32;
    Some((int, frac.trim_end_matches('0').len() as u32))
}

/// The needs of one typed column of a batch.
fn typed(array: &dyn Array, needs: &mut Needs) {
    fn ints<T: ArrowPrimitiveType>(array: &dyn Array, needs: &mut Needs)
    where
        T::Native: Into<i128>,
    {
        array.as_primitive::<T>().iter().flatten().for_each(|v| needs.number(v.into()));
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().flatten().for_each(|s| needs.text(s)),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().flatten().for_each(|s| needs.text(s)),
        DataType::Utf8View => array.as_string_view().iter().flatten().for_each(|s| needs.text(s)),
        DataType::Int8 => ints::<Int8Type>(array, needs),
        DataType::Int16 => ints::<Int16Type>(array, needs),
        DataType::Int32 => ints::<Int32Type>(array, needs),
        DataType::Int64 => ints::<Int64Type>(array, needs),
        DataType::UInt8 => ints::<UInt8Type>(array, needs),
        DataType::UInt16 => ints::<UInt16Type>(array, needs),
        DataType::UInt32 => ints::<UInt32Type>(array, needs),
        DataType::UInt64 => ints::<UInt64Type>(array, needs),
        DataType::Float32 | DataType::Float64 => {
            let fractional = |f: f64| f.is_finite() && f.fract() != 0.0;
            needs.float |= match array.data_type() {
                DataType::Float32 => array.as_primitive::<Float32Type>().iter().flatten().any(|f| fractional(f.into())),
                _ => array.as_primitive::<Float64Type>().iter().flatten().any(fractional),
            };
        }
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s > 0 && array.null_count() < array.len() => {
            needs.digits(((*p as i32 - *s as i32).max(1) as u32, *s as u32));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_count_characters_and_whole_numbers() {
        let mut n = Needs::default();
        n.text("héllo");
        n.text(" 3000000000 ");
        n.text("-7");
        n.text("1.5");
        n.text("-0012.500");
        n.text("1e5");
        n.json(&serde_json::Number::from_f64(0.25).unwrap());
        n.json(&serde_json::Number::from(-9));
        assert_eq!(n, Needs { chars: 12, range: Some((-9, 3_000_000_000)), fraction: Some((2, 2)), float: false });
    }
}
