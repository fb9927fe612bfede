//! Reading before writing, for rows upserted straight into the target (`upsert.rs`):
//! before a statement's rows are sent, the target's rows in their key range are read
//! with a locking read (`SELECT ... FOR UPDATE`: the latest committed rows, locked until
//! the load commits, gaps too), and the rows it already holds exactly as they would be
//! written are left out of the upserts. They count as matched and unchanged, as
//! `ON DUPLICATE KEY UPDATE` would have counted them; nothing else changes. A rerun of
//! unchanged rows so sends none of them (the server's part of an upsert of an unchanged
//! row, parsing it, finding it and comparing, costs more than reading it).
//!
//! Only a row found equal for certain is left out: each value is compared as the server
//! would store it (whole numbers as numbers, a DOUBLE's text parsed exactly as the
//! server parses it, text and decimals as the same bytes, dates and times by their
//! fields); a value of another type, or written another way (`1.50` for `1.5`), is
//! sent, and the server decides. When few rows of a range turn out to be held (a first
//! load, new keys), the reads pause for twice as many statements each time, so a load
//! of new rows reads a handful of ranges at most.

use super::param::date_value;
use super::sql::q;
use crate::db::sql::list;
use crate::plan::Plan;
use mysql::prelude::Queryable;
use mysql::{Conn, Value};

/// How a column's values are compared.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Double,
    /// The same bytes (text, decimals).
    Bytes,
    Date,
    DateTime,
}

fn kind(plan: &Plan, i: usize) -> Option<Kind> {
    let c = plan.table_column(i)?;
    Some(match c.native.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => Kind::Integer,
        // DOUBLE(M,D) rounds what it stores to D decimals.
        "double" | "real" if !c.declared.contains('(') => Kind::Double,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "decimal" | "numeric" => Kind::Bytes,
        "date" => Kind::Date,
        "datetime" | "timestamp" => Kind::DateTime,
        _ => return None,
    })
}

/// The reads of one load's upserts.
pub(super) struct Held {
    /// `SELECT key, updated columns FROM target WHERE key BETWEEN ? AND ? ...`.
    sql: String,
    statement: Option<mysql::Statement>,
    key: usize,
    /// The updated columns and how each compares.
    columns: Vec<(usize, Kind)>,
    /// Statements to send before the next read, and the pause after the last miss.
    pause: u32,
    backoff: u32,
    /// Rows left out so far.
    pub(super) skipped: u64,
}

impl Held {
    /// For an upsert that updates every column it matches by one whole-number key (no
    /// `--newer-by`, not `--always-update`), when each updated column compares here.
    pub(super) fn new(plan: &Plan, target: &str) -> Option<Held> {
        if plan.key.len() != 1
            || plan.newer_by.is_some()
            || plan.spec.always_update
            || plan.spec.on_conflict != crate::spec::OnConflict::Update
            || plan.update.is_empty()
        {
            return None;
        }
        let columns = plan.update.iter().map(|&i| Some((i, kind(plan, i)?))).collect::<Option<Vec<_>>>()?;
        let key = q(&plan.columns[plan.key[0]].name);
        let read = list(&plan.update, |i| q(&plan.columns[i].name), ", ");
        Some(Held {
            sql: format!("SELECT {key}, {read} FROM {target} WHERE {key} BETWEEN ? AND ? ORDER BY {key} FOR UPDATE"),
            statement: None,
            key: plan.key[0],
            columns,
            pause: 0,
            backoff: 0,
            skipped: 0,
        })
    }

    /// Of `n` rows (`params`: `fields` values each, in key order), which to send: all
    /// (None) while the reads pause, else those the target does not hold as they are.
    pub(super) fn rows_to_send(
        &mut self,
        conn: &mut Conn,
        params: &[Value],
        n: usize,
        fields: usize,
    ) -> Result<Option<Vec<bool>>, mysql::Error> {
        if self.pause > 0 {
            self.pause -= 1;
            return Ok(None);
        }
        let k = self.key;
        let key_of = |r: usize| &params[r * fields + k];
        let (Some(lo), Some(hi)) = (whole(key_of(0)), whole(key_of(n - 1))) else { return Ok(None) };
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => self.statement.insert(conn.prep(&self.sql)?).clone(),
        };
        let held: Vec<mysql::Row> = conn.exec(&statement, (lo.as_value(), hi.as_value()))?;
        let mut send = vec![true; n];
        let mut next = held.iter().peekable();
        let mut left_out = 0;
        for (r, send) in send.iter_mut().enumerate() {
            let Some(key) = whole(key_of(r)) else { continue };
            while next.peek().is_some_and(|row| row.as_ref(0).and_then(whole).is_some_and(|k| k < key)) {
                next.next();
            }
            let Some(row) = next.peek() else { break };
            if row.as_ref(0).and_then(whole) != Some(key) {
                continue;
            }
            let same = self.columns.iter().enumerate().all(|(n, &(i, kind))| {
                row.as_ref(n + 1).is_some_and(|stored| equal(kind, &params[r * fields + i], stored))
            });
            if same {
                *send = false;
                left_out += 1;
            }
        }
        self.skipped += left_out as u64;
        if left_out * 2 < n {
            self.backoff = (self.backoff * 2).clamp(1, 64);
            self.pause = self.backoff;
        } else {
            self.backoff = 0;
        }
        Ok(Some(send))
    }
}

/// A whole-number key, signed or not.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Whole {
    Signed(i64),
    Unsigned(u64),
}

impl Whole {
    fn as_value(self) -> Value {
        match self {
            Whole::Signed(n) => Value::Int(n),
            Whole::Unsigned(n) => Value::UInt(n),
        }
    }
}

fn whole(v: &Value) -> Option<Whole> {
    let w = match v {
        Value::Int(n) => Whole::Signed(*n),
        Value::UInt(n) => match i64::try_from(*n) {
            Ok(n) => Whole::Signed(n),
            Err(_) => Whole::Unsigned(*n),
        },
        Value::Bytes(b) => {
            let s = std::str::from_utf8(b).ok()?;
            match s.parse::<i64>() {
                Ok(n) => Whole::Signed(n),
                Err(_) => Whole::Unsigned(s.parse::<u64>().ok()?),
            }
        }
        _ => return None,
    };
    Some(w)
}

/// Whether storing `sent` (a parameter as the upsert sends it) into a column holding
/// `stored` (read in binary) leaves it as it is, for certain.
fn equal(kind: Kind, sent: &Value, stored: &Value) -> bool {
    match (sent, stored) {
        (Value::NULL, Value::NULL) => true,
        (Value::NULL, _) | (_, Value::NULL) => false,
        (_, _) => match kind {
            Kind::Integer => whole(sent).is_some_and(|a| whole(stored) == Some(a)),
            Kind::Double => match (sent, stored) {
                (Value::Double(a), Value::Double(b)) => a.to_bits() == b.to_bits(),
                // The server parses the text to the nearest double, as Rust does.
                (Value::Bytes(b), Value::Double(x)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(|y| y.is_finite() && y.to_bits() == x.to_bits()),
                _ => false,
            },
            Kind::Bytes => matches!((sent, stored), (Value::Bytes(a), Value::Bytes(b)) if a == b),
            Kind::Date | Kind::DateTime => match (sent, stored) {
                (Value::Date(..), Value::Date(..)) => sent == stored,
                // Text the typed parameters left as text (a TIMESTAMP's): read as they read it.
                (Value::Bytes(b), Value::Date(..)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| date_value(s, matches!(kind, Kind::Date)))
                    .is_some_and(|v| v == *stored),
                _ => false,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{equal, Kind};
    use mysql::Value;

    fn text(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn only_what_the_server_would_store_unchanged_is_equal() {
        assert!(equal(Kind::Double, &text("0.1"), &Value::Double(0.1)));
        assert!(equal(Kind::Double, &text("1e2"), &Value::Double(100.0)));
        assert!(!equal(Kind::Double, &text("0.30000000000000004"), &Value::Double(0.3)));
        assert!(!equal(Kind::Double, &text("-0"), &Value::Double(0.0)));
        assert!(!equal(Kind::Double, &text(" 1"), &Value::Double(1.0)));
        assert!(equal(Kind::Integer, &Value::Int(7), &Value::Int(7)));
        assert!(equal(Kind::Integer, &text("18446744073709551615"), &Value::UInt(u64::MAX)));
        assert!(!equal(Kind::Integer, &text("true"), &Value::Int(1)));
        assert!(equal(Kind::Bytes, &text("Ab"), &text("Ab")));
        assert!(!equal(Kind::Bytes, &text("ab"), &text("Ab")));
        assert!(!equal(Kind::Bytes, &text("1.5"), &text("1.50")));
        assert!(equal(Kind::Bytes, &Value::NULL, &Value::NULL));
        assert!(!equal(Kind::Bytes, &text(""), &Value::NULL));
        let at = Value::Date(2024, 2, 29, 13, 5, 9, 500_000);
        assert!(equal(Kind::DateTime, &text("2024-02-29 13:05:09.5"), &at));
        assert!(equal(Kind::DateTime, &text("2024-02-29 13:05:09.500000"), &at));
        assert!(!equal(Kind::DateTime, &text("2024-02-29 13:05:09"), &at));
        assert!(!equal(Kind::DateTime, &text("2024-02-29T13:05:09.5"), &at));
        let day = Value::Date(2024, 2, 29, 0, 0, 0, 0);
        assert!(equal(Kind::DateTime, &text("2024-02-29 00:00:00.000"), &day));
        assert!(equal(Kind::Date, &text("2024-02-29"), &day));
        assert!(!equal(Kind::Date, &text("2024-02-29 00:00:00"), &day));
        assert!(equal(Kind::Double, &Value::Double(0.1), &Value::Double(0.1)));
        assert!(!equal(Kind::Double, &Value::Double(-0.0), &Value::Double(0.0)));
        assert!(equal(Kind::DateTime, &Value::Date(2024, 2, 29, 13, 5, 9, 500_000), &at));
        assert!(!equal(Kind::DateTime, &Value::Date(2024, 2, 29, 13, 5, 9, 0), &at));
    }
}
