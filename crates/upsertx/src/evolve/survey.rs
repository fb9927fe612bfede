//! What the input's values need of the table's columns, read once before the load: the
//! longest text of each column, and the range of its whole numbers.

use crate::error::Result;
use crate::source::{Input, RawRef};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;

/// What one input column's values need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The most characters of a value.
    pub chars: usize,
    /// The least and the greatest whole number among the values (`None`: none).
    pub range: Option<(i128, i128)>,
}

impl Needs {
    fn text(&mut self, s: &str) {
        self.chars = self.chars.max(s.chars().count());
        if let Ok(n) = s.trim().parse::<i128>() {
            self.number(n);
        }
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
                        RawRef::Json(serde_json::Value::Number(n)) => {
                            if let Some(n) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
                                needs[i].number(n);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Input::Batches(batches) => {
            while let Some((_, batch)) = batches.next_batch(4096)? {
                for &i in watched {
                    typed(batch.column(i).as_ref(), &mut needs[i]);
                }
            }
        }
    }
    Ok(needs)
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
        assert_eq!(n, Needs { chars: 12, range: Some((-7, 3_000_000_000)) });
    }
}
