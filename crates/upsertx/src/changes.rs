//! `--changes`: one NDJSON line per row a load inserted, updated or deleted, for the
//! consumers downstream of the table:
//!
//! ```json
//! {"op":"insert","key":{"id":4},"before":null,"after":{"id":4,"name":"Ada","qty":1}}
//! {"op":"update","key":{"id":1},"before":{"qty":1},"after":{"qty":10}}
//! {"op":"delete","key":{"id":2},"before":{"id":2,"name":"Bob","qty":2},"after":null}
//! ```
//!
//! An insert's `after` and a delete's `before` hold every column the load knows (the
//! input's, and the `--soft-delete` column); an update's `before` and `after` only the
//! columns that changed. A `--soft-delete` mark is a delete whose `after` is the mark.
//! Lines come grouped: inserts, updates, then deletes, each in key order (the database
//! hands them over in key order, inserts and updates mixed: updates and deletes wait in
//! files of their own until the end).
//!
//! The database hands over the rows as text ([`ChangeOp`] says which values); this
//! module writes them as JSON typed by their column: numbers as numbers, booleans as
//! booleans, the rest as strings. The lines go to a temporary file first, moved into
//! place (or copied to stdout) once the load has committed, or rolled back for a dry
//! run: a load that fails leaves no changes behind.

use crate::error::{Error, Result};
use crate::plan::{Mark, Plan};
pub(crate) use crate::target::{ChangeOp, ChangeRow};
use crate::value::SqlType;
use std::io::{BufWriter, Seek, Write};
use std::path::PathBuf;

/// Where `--changes` writes its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesTo {
    /// A file, replaced once the load has committed.
    Path(PathBuf),
    /// Standard output, once the load has committed.
    Stdout,
}

impl std::str::FromStr for ChangesTo {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" => Err("--changes: expected a file path, or - for standard output".into()),
            "-" => Ok(ChangesTo::Stdout),
            path => Ok(ChangesTo::Path(PathBuf::from(path))),
        }
    }
}

/// The lines of one load, on their way to [`ChangesTo`].
pub(crate) struct ChangeLog {
    to: ChangesTo,
    /// The inserts' lines, then (at the end) the others'.
    file: BufWriter<tempfile::NamedTempFile>,
    /// The updates' and the deletes' lines until the end.
    later: [Option<BufWriter<std::fs::File>>; 2],
    line: Vec<u8>,
    /// Each plan column's name as a JSON object member's start (`"name":`), made once.
    names: Vec<Vec<u8>>,
    /// The rows handed over, by op (insert, update, delete), lines written or not.
    pub(crate) seen: [u64; 3],
}

fn io(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("--changes: {what}: {e}"))
}

impl ChangeLog {
    /// A temporary file beside the destination (so that it can be renamed into place),
    /// or anywhere for stdout.
    pub(crate) fn open(to: &ChangesTo) -> Result<ChangeLog> {
        let file = match to {
            ChangesTo::Path(path) => {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                if !dir.is_dir() {
                    return Err(Error::Usage(format!(
                        "--changes {}: the folder {} does not exist",
                        path.display(),
                        dir.display()
                    )));
                }
                tempfile::NamedTempFile::new_in(dir).map_err(|e| io(&path.display().to_string(), e))?
            }
            ChangesTo::Stdout => tempfile::NamedTempFile::new().map_err(|e| io("a temporary file", e))?,
        };
        Ok(ChangeLog {
            to: to.clone(),
            file: BufWriter::with_capacity(1 << 20, file),
            later: [None, None],
            line: Vec::new(),
            names: Vec::new(),
            seen: [0; 3],
        })
    }

    /// Writes one row's line: the values of `row` laid out as [`ChangeOp`] says.
    pub(crate) fn write(&mut self, plan: &Plan, op: ChangeOp, row: &mut dyn ChangeRow) -> Result<()> {
        self.seen[op as usize] += 1;
        if self.names.is_empty() {
            self.names = plan.columns.iter().map(|c| member(&c.name)).collect();
        }
        let all = plan.all_columns();
        let (names, line) = (&self.names, &mut self.line);
        line.clear();
        match op {
            ChangeOp::Insert => {
                line.extend_from_slice(b"{\"op\":\"insert\",\"key\":");
                object(line, plan, names, &plan.key, row, |i| i + 1);
                line.extend_from_slice(b",\"before\":null,\"after\":");
                object(line, plan, names, &all, row, |i| i + 1);
            }
            ChangeOp::Update => {
                // The updated columns the mask marks as changed.
                let mask = row.text(0).unwrap_or_default().as_bytes();
                let cols: Vec<usize> = plan
                    .update
                    .iter()
                    .enumerate()
                    .filter(|&(n, _)| mask.get(n) == Some(&b'1'))
                    .map(|(_, &i)| i)
                    .collect();
                if cols.is_empty() {
                    return Ok(());
                }
                // Updated column `i`'s value as it was: after every column as written.
                let was = |i: usize| 1 + all.len() + plan.update.iter().position(|&c| c == i).unwrap_or_default();
                line.extend_from_slice(b"{\"op\":\"update\",\"key\":");
                object(line, plan, names, &plan.key, row, |i| i + 1);
                line.extend_from_slice(b",\"before\":");
                object(line, plan, names, &cols, row, was);
                line.extend_from_slice(b",\"after\":");
                object(line, plan, names, &cols, row, |i| i + 1);
            }
            ChangeOp::Delete => {
                line.extend_from_slice(b"{\"op\":\"delete\",\"key\":");
                object(line, plan, names, &plan.key, row, |i| i);
                line.extend_from_slice(b",\"before\":");
                object(line, plan, names, &all, row, |i| i);
                line.extend_from_slice(b",\"after\":");
                match plan.soft_delete {
                    Some((i, Mark::Flag)) => object(line, plan, names, &[i], &mut Fixed("true"), |_| 0),
                    Some((i, Mark::Time)) => {
                        let mark = crate::target::sql::mark_time(plan);
                        object(line, plan, names, &[i], &mut Fixed(&mark), |_| 0)
                    }
                    None => line.extend_from_slice(b"null"),
                }
            }
        }
        line.extend_from_slice(b"}\n");
        let out: &mut dyn Write = match op {
            ChangeOp::Insert => &mut self.file,
            ChangeOp::Update | ChangeOp::Delete => match &mut self.later[op as usize - 1] {
                Some(f) => f,
                slot => slot.insert(BufWriter::with_capacity(
                    1 << 20,
                    tempfile::tempfile().map_err(|e| io("a temporary file", e))?,
                )),
            },
        };
        out.write_all(line).map_err(|e| io("writing", e))
    }

    /// Moves the lines where they belong: call once the load has committed (or rolled
    /// back a dry run).
    pub(crate) fn finish(mut self) -> Result<()> {
        for later in self.later.into_iter().flatten() {
            let mut part = later.into_inner().map_err(|e| io("writing", e.error()))?;
            part.rewind().map_err(|e| io("reading back", e))?;
            std::io::copy(&mut part, &mut self.file).map_err(|e| io("writing", e))?;
        }
        let mut file = self.file.into_inner().map_err(|e| io("writing", e.error()))?;
        match &self.to {
            ChangesTo::Path(path) => {
                file.persist(path).map_err(|e| io(&path.display().to_string(), e.error))?;
            }
            ChangesTo::Stdout => {
                file.rewind().map_err(|e| io("reading back", e))?;
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut file, &mut out).and_then(|_| out.flush()).map_err(|e| io("standard output", e))?;
            }
        }
        Ok(())
    }
}

/// `"name":`, the start of an object member.
fn member(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    json_string(&mut out, name);
    out.push(b':');
    out
}

/// One value, whatever is asked: a `--soft-delete` mark.
struct Fixed<'a>(&'a str);

impl ChangeRow for Fixed<'_> {
    fn text(&mut self, _: usize) -> Option<&str> {
        Some(self.0)
    }
}

/// `{"a":1,"b":"x"}` of plan columns `cols` (`names`: their [`member`]s), column `i`'s
/// value at `at(i)` in `row`.
fn object(
    out: &mut Vec<u8>,
    plan: &Plan,
    names: &[Vec<u8>],
    cols: &[usize],
    row: &mut dyn ChangeRow,
    at: impl Fn(usize) -> usize,
) {
    out.push(b'{');
    for (n, &i) in cols.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&names[i]);
        json_value(out, &plan.columns[i].ty, row.text(at(i)));
    }
    out.push(b'}');
}

/// A value as its column's kind reads in JSON: numbers as numbers (when the text is a
/// JSON number: not NaN or infinity), booleans as booleans, the rest as strings.
fn json_value(out: &mut Vec<u8>, ty: &SqlType, text: Option<&str>) {
    let Some(text) = text else {
        out.extend_from_slice(b"null");
        return;
    };
    match ty {
        SqlType::Boolean => match text {
            "t" | "true" | "1" => return out.extend_from_slice(b"true"),
            "f" | "false" | "0" => return out.extend_from_slice(b"false"),
            _ => {}
        },
        SqlType::Integer { .. }
        | SqlType::Unsigned { .. }
        | SqlType::Real { .. }
        | SqlType::Numeric
        | SqlType::Decimal
            if is_json_number(text) =>
        {
            return out.extend_from_slice(text.as_bytes());
        }
        _ => {}
    }
    json_string(out, text);
}

/// Whether a database's text of a number is a JSON number as it is: `-`, digits, at most
/// one `.` followed by digits, an exponent (`1e+20`). Not `NaN`, `Infinity`, `.5`, `1.`.
fn is_json_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = digits(b);
    if n == 0 || (n > 1 && b[0] == b'0') {
        return false;
    }
    let mut rest = &b[n..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp.strip_prefix(b"+").or_else(|| exp.strip_prefix(b"-")).unwrap_or(exp);
        let n = digits(exp);
        return n > 0 && n == exp.len();
    }
    rest.is_empty()
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Most values need no escape: copied as they are.
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::is_json_number;

    #[test]
    fn json_strings_escape_what_json_needs() {
        for s in ["plain", "", "é ü 東京", "a\"b", "back\\slash", "tab\there", "nl\n", "\u{1}"] {
            let mut out = Vec::new();
            super::json_string(&mut out, s);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn json_numbers_as_databases_print_them() {
        for s in ["0", "-1", "1.50", "12345678901234567890.123", "1e+20", "-2.5E-3", "0.1"] {
            assert!(is_json_number(s), "{s}");
            assert!(serde_json::from_str::<serde_json::Number>(s).is_ok(), "{s}");
        }
        for s in ["", "-", "NaN", "Infinity", "-Infinity", ".5", "1.", "01", "1e", "1e+", "0x10", "1 ", "+1"] {
            assert!(!is_json_number(s), "{s}");
        }
    }
}
