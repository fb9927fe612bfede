//! The one error type of the library.
//!
//! Every message is written for the person running the load: a data error names the
//! input, the row, the column and the value; a database error names the table; no
//! message ever contains a password (URLs are redacted before they are stored here).

use std::fmt;

/// Where in the input a bad value was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The input's name as the user gave it (a path, or `<stdin>`).
    pub input: String,
    /// 1-based data row (the CSV header is not a row; the first JSON object is row 1).
    pub row: u64,
    /// 1-based physical line where the row starts, when the format has lines.
    pub line: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: row {}", self.input, self.row)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in a load. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong or unsupported (bad URL, conflicting options):
    /// the command line exits with status 2.
    #[error("{0}")]
    Usage(String),

    /// A value in the input does not fit the target column.
    #[error("{at}, column {}: {}: {reason}", quote_ident(column), show_value(value))]
    Value {
        /// Where in the input.
        at: Location,
        /// The target column.
        column: String,
        /// The value as it appeared in the input (`None` for NULL).
        value: Option<String>,
        /// Why it does not fit (`not an integer`).
        reason: String,
    },

    /// The input is malformed at a given row (bad CSV quoting, wrong field count,
    /// invalid UTF-8 or JSON).
    #[error("{at}: {reason}")]
    Input {
        /// Where in the input.
        at: Location,
        /// What is wrong there.
        reason: String,
    },

    /// The input cannot be read at all (missing file, bad header).
    #[error("{input}: {reason}")]
    Source {
        /// The input's name (its path, `stdin`, `query on ...`).
        input: String,
        /// Why it cannot be read.
        reason: String,
    },

    /// The same key appears twice in the input and `--duplicates error` was asked for.
    #[error("{at}: duplicate key {key} (first seen at row {first_row})")]
    DuplicateKey {
        /// Where the second occurrence is.
        at: Location,
        /// The key, as the message shows it.
        key: String,
        /// The row of the first occurrence.
        first_row: u64,
    },

    /// A key already exists in the table and `--on-conflict error` was asked for.
    #[error("{at}: key {key} already exists in table {}", quote_ident(table))]
    KeyExists {
        /// The input row with the key.
        at: Location,
        /// The key, as the message shows it.
        key: String,
        /// The target table.
        table: String,
    },

    /// An input row collides with another row on a unique constraint other than the key.
    #[error("{at}: {reason}")]
    Conflict {
        /// The input row that collides.
        at: Location,
        /// With what, on which constraint.
        reason: String,
    },

    /// The target table, its key or its columns do not allow the load as asked.
    #[error("{0}")]
    Schema(String),

    /// The database refused a statement or could not be reached.
    #[error("{context}: {message}")]
    Database {
        /// What upsertx was doing, with the database's redacted URL.
        context: String,
        /// The database's own message.
        message: String,
    },

    /// A guard refused the load before anything was committed: `--delete-missing` on an
    /// empty input without `--allow-empty`, or more deletions than `--max-delete`.
    #[error("{0}")]
    Refused(String),

    /// An I/O error outside any particular input (temporary files, threads).
    #[error("{0}")]
    Io(String),

    /// The load committed (or, for a dry run, was counted), but its change log could not
    /// be written where `--changes` said, after the commit: the table holds the load,
    /// and `kept`, when there is one, holds every line of the log. The command line
    /// exits with status 3.
    #[error(
        "{}, but its change log (--changes) was not written whole: {reason}; {}",
        committed(report),
        match kept {
            Some(p) => format!("all of its lines are in {}", p.display()),
            None => "its lines are lost".into(),
        }
    )]
    ChangesNotWritten {
        /// What the load did (it committed).
        report: Box<crate::report::Report>,
        /// Why the log could not be written.
        reason: String,
        /// The file that holds every line of the log, if one does.
        kept: Option<std::path::PathBuf>,
    },

    /// The load was stopped before it committed ([`Upsert::stop_when`](crate::Upsert::stop_when)):
    /// nothing was written.
    #[error("interrupted: nothing was written")]
    Interrupted,
}

impl Error {
    /// True for errors in how the tool was called (exit status 2), false for data and
    /// database errors (exit status 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_))
    }

    /// True when the load's rows were committed although an error is returned
    /// ([`Error::ChangesNotWritten`]): a retry would find them unchanged.
    pub fn committed(&self) -> bool {
        matches!(self, Error::ChangesNotWritten { report, .. } if !report.dry_run)
    }

    pub(crate) fn db(context: impl Into<String>, err: impl fmt::Display) -> Error {
        Error::Database { context: context.into(), message: err.to_string() }
    }
}

fn committed(report: &crate::report::Report) -> String {
    match report.dry_run {
        true => format!("the dry run counted its changes ({report})"),
        false => format!("the load committed ({report})"),
    }
}

pub(crate) use crate::ident::quote_ident;

/// Shows a value from the input, cut to a readable length.
fn show_value(value: &Option<String>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(v) => {
            let mut shown: String = v.chars().take(80).collect();
            if shown.len() < v.len() {
                shown.push('…');
            }
            format!("{shown:?}")
        }
    }
}

/// The library's result: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;
