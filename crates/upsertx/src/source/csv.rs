//! CSV and TSV, following PostgreSQL's CSV convention.
//!
//! Hand-written because the convention needs what the `csv` crate (and `arrow-csv`,
//! built on it) does not expose: whether a field was quoted. An empty unquoted field is
//! NULL and a quoted empty field `""` is the empty string. Quoted fields may hold
//! delimiters, doubled quotes and newlines. A quote anywhere else (`ab"c`, `"ab"c`) is
//! an error: readers disagree on what it means. Blank lines are skipped. Rows are counted
//! from 1 after the header; lines are physical lines of the file.

use super::{check_columns, RawRef, RowReader};
use crate::error::{Error, Location, Result};
use std::io::BufRead;

pub(crate) struct CsvReader<R> {
    input: R,
    name: String,
    delim: u8,
    /// The bytes that end a run of plain bytes outside quotes: the delimiter, the quote,
    /// CR and LF.
    stops: [bool; 256],
    columns: Vec<String>,
    /// The current physical line.
    line: Vec<u8>,
    /// The current record's field bytes, one after the other.
    text: String,
    /// End offset in `text` and whether it was quoted, per field.
    fields: Vec<(usize, bool)>,
    row: u64,
    line_no: u64,
    record_line: u64,
}

impl<R: BufRead + Send> CsvReader<R> {
    pub(crate) fn new(input: R, name: String, delim: u8) -> Result<Self> {
        let mut r = CsvReader {
            input,
            name,
            delim,
            stops: std::array::from_fn(|b| [delim, b'"', b'\r', b'\n'].contains(&(b as u8))),
            columns: Vec::new(),
            line: Vec::with_capacity(1024),
            text: String::with_capacity(1024),
            fields: Vec::new(),
            row: 0,
            line_no: 0,
            record_line: 0,
        };
        if !r.read_record()? {
            return Err(Error::Source { input: r.name, reason: "the input is empty (no header row)".into() });
        }
        let mut columns: Vec<String> = (0..r.fields.len()).map(|i| r.field(i).to_owned()).collect();
        if let Some(first) = columns.first_mut() {
            if let Some(stripped) = first.strip_prefix('\u{feff}') {
                *first = stripped.to_owned();
            }
        }
        check_columns(&r.name, &columns)?;
        r.columns = columns;
        Ok(r)
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.fields[i - 1].0 };
        &self.text[start..self.fields[i].0]
    }

    fn location(&self) -> Location {
        Location { input: self.name.clone(), row: self.row, line: Some(self.record_line) }
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::Source { input: self.name.clone(), reason: format!("read error at line {}: {e}", self.line_no + 1) }
    }

    /// Reads one record into `text`/`fields`. `Ok(false)` at the end of the input.
    fn read_record(&mut self) -> Result<bool> {
        let mut bytes = std::mem::take(&mut self.text).into_bytes();
        bytes.clear();
        self.fields.clear();
        loop {
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line).map_err(|e| self.io_error(e))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            if !matches!(self.line.as_slice(), b"\n" | b"\r\n") {
                break;
            }
        }
        self.record_line = self.line_no;
        let (mut quoted, mut in_quotes, mut at_start) = (false, false, true);
        loop {
            let line = &self.line;
            let mut i = 0;
            while i < line.len() {
                // A run of bytes that are the field's own, copied at once.
                let run = match (in_quotes, quoted) {
                    (true, _) => line[i..].iter().position(|&b| b == b'"'),
                    (false, false) => line[i..].iter().position(|&b| self.stops[b as usize]),
                    (false, true) => Some(0),
                };
                let run = run.unwrap_or(line.len() - i);
                if run > 0 {
                    bytes.extend_from_slice(&line[i..i + run]);
                    at_start = false;
                    i += run;
                    continue;
                }
                let b = line[i];
                if in_quotes {
                    if b == b'"' {
                        if line.get(i + 1) == Some(&b'"') {
                            bytes.push(b'"');
                            i += 2;
                            continue;
                        }
                        in_quotes = false;
                    } else {
                        bytes.push(b);
                    }
                } else if b == self.delim {
                    self.fields.push((bytes.len(), quoted));
                    (quoted, at_start) = (false, true);
                } else if b == b'\n' || (b == b'\r' && (i + 1 == line.len() || line[i + 1] == b'\n')) {
                    break;
                } else if b == b'"' && at_start {
                    (in_quotes, quoted, at_start) = (true, true, false);
                } else if b == b'"' || quoted {
                    // `ab"c`, or `"ab"c`: PostgreSQL's CSV would read a different value
                    // (or none), other tools yet another; refuse rather than guess.
                    let start = self.fields.last().map_or(0, |f| f.0);
                    let so_far = String::from_utf8_lossy(&bytes[start..]).into_owned();
                    let reason = if quoted {
                        "text after the closing quote of a quoted field"
                    } else {
                        "a quote inside an unquoted field"
                    };
                    self.row += 1;
                    let column = self.columns.get(self.fields.len()).map_or_else(
                        || format!("field {}", self.fields.len() + 1),
                        |c| format!("column {}", crate::error::quote_ident(c)),
                    );
                    return Err(Error::Input {
                        at: self.location(),
                        reason: format!(
                            "{column}: {reason} (after {so_far:?}): quote the whole field and double each quote in it"
                        ),
                    });
                } else {
                    at_start = false;
                    bytes.push(b);
                }
                i += 1;
            }
            if !in_quotes {
                break;
            }
            // A newline inside a quoted field: the record goes on on the next line.
            self.line.clear();
            let n = self.input.read_until(b'\n', &mut self.line).map_err(|e| self.io_error(e))?;
            if n == 0 {
                self.row += 1;
                return Err(Error::Input {
                    at: self.location(),
                    reason: "a quoted field is not closed before the end of the input".into(),
                });
            }
            self.line_no += 1;
        }
        self.fields.push((bytes.len(), quoted));
        match String::from_utf8(bytes) {
            // Fields are joined without their delimiters: a character split by one
            // (`\xc3,\xa9`) is whole in the joined text but broken in both fields.
            Ok(text) if self.fields.iter().any(|&(end, _)| !text.is_char_boundary(end)) => {
                let at = self.fields.iter().position(|&(end, _)| !text.is_char_boundary(end)).unwrap_or(0);
                self.row += 1;
                return Err(Error::Input {
                    at: self.location(),
                    reason: format!("invalid UTF-8 at the end of field {} of the row", at + 1),
                });
            }
            Ok(text) => self.text = text,
            Err(e) => {
                self.row += 1;
                return Err(Error::Input {
                    at: self.location(),
                    reason: format!("invalid UTF-8 at byte {} of the row", e.utf8_error().valid_up_to()),
                });
            }
        }
        Ok(true)
    }
}

impl<R: BufRead + Send> RowReader for CsvReader<R> {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn advance(&mut self) -> Result<bool> {
        if !self.read_record()? {
            return Ok(false);
        }
        self.row += 1;
        if self.fields.len() != self.columns.len() {
            return Err(Error::Input {
                at: self.location(),
                reason: format!("{} fields, but the header has {}", self.fields.len(), self.columns.len()),
            });
        }
        Ok(true)
    }

    fn value(&self, i: usize) -> RawRef<'_> {
        let s = self.field(i);
        if s.is_empty() && !self.fields[i].1 {
            RawRef::Null
        } else {
            RawRef::Text(s)
        }
    }

    fn position(&self) -> (u64, Option<u64>) {
        (self.row, Some(self.record_line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rows = Vec<Vec<Option<String>>>;

    fn rows(input: &str) -> Result<(Vec<String>, Rows)> {
        let mut r = CsvReader::new(input.as_bytes(), "t.csv".into(), b',')?;
        let mut out = Vec::new();
        while r.advance()? {
            out.push((0..r.columns().len()).map(|i| r.value(i).shown()).collect());
        }
        Ok((r.columns().to_vec(), out))
    }

    #[test]
    fn nulls_quotes_and_newlines() {
        let (cols, rows) = rows("\u{feff}id,name\r\n1,\r\n2,\"\"\n3,\"a,\"\"b\"\"\nc\"\n\n4,plain").unwrap();
        assert_eq!(cols, ["id", "name"]);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            rows,
            vec![vec![s("1"), None], vec![s("2"), s("")], vec![s("3"), s("a,\"b\"\nc")], vec![s("4"), s("plain")]]
        );
    }

    #[test]
    fn errors_name_row_and_line() {
        let err = rows("a,b\n1,2\n\"x\ny\",2\n3\n").unwrap_err().to_string();
        assert_eq!(err, "t.csv: row 3 (line 5): 1 fields, but the header has 2");
        let err = rows("a,b\n1,\"open\n").unwrap_err().to_string();
        assert!(err.contains("row 1 (line 2): a quoted field is not closed"), "{err}");
        let err = rows("a,a\n").unwrap_err().to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    /// Found by fuzzing: a delimiter between the two bytes of `é` panicked (a field cut
    /// inside a character).
    #[test]
    fn a_character_split_by_a_delimiter_is_invalid_utf8() {
        let mut input = b"a,b\nx\xc3".to_vec();
        input.extend_from_slice(b",\xa9\n");
        let mut r = CsvReader::new(input.as_slice(), "t.csv".into(), b',').unwrap();
        let err = r.advance().unwrap_err().to_string();
        assert_eq!(err, "t.csv: row 1 (line 2): invalid UTF-8 at the end of field 1 of the row");
    }

    /// The probe's stray quotes: refused, naming row, line, column and the text so far.
    #[test]
    fn stray_quotes_are_refused() {
        for (input, needle) in [
            (
                "id,s\n1,x\n2,ab\"c\n",
                "t.csv: row 2 (line 3): column \"s\": a quote inside an unquoted field (after \"ab\")",
            ),
            (
                "id,s\n1,a\"b\"c\n",
                "t.csv: row 1 (line 2): column \"s\": a quote inside an unquoted field (after \"a\")",
            ),
            ("id,s\n1,\"ab\"c\n", "column \"s\": text after the closing quote of a quoted field (after \"ab\")"),
            ("i\"d,s\n", "field 1: a quote inside an unquoted field"),
        ] {
            let err = rows(input).unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
        // Quotes inside a quoted field, doubled, are fine.
        let (_, ok) = rows("id,s\n1,\"a\"\"b\"\n").unwrap();
        assert_eq!(ok, vec![vec![Some("1".to_string()), Some("a\"b".to_string())]]);
    }
}
