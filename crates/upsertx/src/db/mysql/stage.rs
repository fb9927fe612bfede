//! Staging for MySQL and MariaDB: the rows go into a temporary table keyed like the
//! target (same column types, the key's collations), whose primary key applies the
//! duplicates policy as the rows arrive.
//!
//! Each row is encoded once, as a `LOAD DATA` line. When every key column is an integer,
//! rows whose keys keep arriving strictly increasing (an export sorted by its key) are
//! sent as they come; from the first batch out of order on, the lines go through a
//! [`Sorter`] (runs of [`RUN_BYTES`], spilled to temporary files) and are sent once every
//! row is in, in key order, one row per key: InnoDB appends to the keyed stage instead of
//! splitting pages at random, which more than halves the staging time of shuffled input,
//! and the merge then reads the stage in key order. Other keys (text, whose order and
//! equality follow the column's collation) are sent in input order. Rows sent as they
//! come go in statements of a quarter of [`RUN_BYTES`] (a statement per 4096-row batch
//! cost a round trip each).
//!
//! The transport is `LOAD DATA LOCAL INFILE` streamed from memory; when the server refuses
//! it (or the URL says `local-infile=0`), prepared multi-row INSERTs of the same fields,
//! sized from the 65,535-placeholder limit.
//!
//! Duplicates within the input: sorted rows are de-duplicated by the sorter. Otherwise
//! the rows of one key always arrive in input order, so `REPLACE` (or `ON DUPLICATE KEY
//! UPDATE` with the new values) keeps the last, `IGNORE` the first; for `--duplicates
//! error`, the ignored rows are found afterwards by their `ord` missing from the stage.
//!
//! Bad values: the server reports them as warnings (`LOAD DATA LOCAL`, `INSERT IGNORE`)
//! or as strict-mode errors, "at row N" of the statement; any of them fails the load,
//! naming the input row, column and value. Notes (a decimal rounded to its column's
//! scale) pass.

use super::held::Held;
use super::param::Params;
use super::session::db_error;
use crate::batch::Batch;
use crate::db::sorted::{batch_keys, sortable, InOrder, Sorter};
use crate::db::sql::{self, list, stage_col};
use crate::error::{Error, Location, Result};
use crate::plan::Plan;
use crate::spec::Duplicates;
use crate::time::{format_micros, to_micros_and_offset};
use crate::value::{SqlType, Value};
use mysql::prelude::Queryable;
use mysql::Conn;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) const STAGE: &str = "upsertx_stage";

/// The staging table's name for this load. A temporary table hides a table of the same
/// name in its database, so a target itself named `upsertx_stage` gets another stage.
pub(crate) fn stage_name(plan: &Plan) -> &'static str {
    if plan.table.name.eq_ignore_ascii_case(STAGE) {
        "upsertx_stage_2"
    } else {
        STAGE
    }
}
pub(super) const MAX_PLACEHOLDERS: usize = 65_535;
pub(super) const MAX_ROWS_PER_STATEMENT: usize = 2_000;
/// What a run may hold (its encoded rows and their index) before it is sorted and
/// spilled, and what one statement sends: client memory stays within about this,
/// whatever the size of the input.
const RUN_BYTES: usize = 32 << 20;

/// The definition of staged column `i` in a temporary table: typed as the table's column,
/// a key column NOT NULL with its index's collation, the others NULL.
pub(super) fn column_def(plan: &Plan, i: usize) -> String {
    let declared = plan.table_column(i).map(|t| t.declared.clone()).unwrap_or_else(|| "TEXT".into());
    let collate = plan
        .key
        .iter()
        .position(|&k| k == i)
        .and_then(|pos| plan.key_constraint.collations.get(pos).cloned().flatten())
        .map(|c| format!(" COLLATE {c}"))
        .unwrap_or_default();
    let null = if plan.columns[i].is_key { " NOT NULL" } else { " NULL" };
    format!("{} {declared}{collate}{null}", stage_col(i))
}

pub(crate) fn stage_table_sql(plan: &Plan) -> String {
    let stage = stage_name(plan);
    let defs: Vec<String> = (0..plan.columns.len()).map(|i| column_def(plan, i)).collect();
    format!(
        "DROP TEMPORARY TABLE IF EXISTS {stage}; CREATE TEMPORARY TABLE {stage} (ord BIGINT NOT NULL, {}, PRIMARY KEY ({}))",
        defs.join(", "),
        // Without a key (see `Plan::keyless`), every input row is staged.
        if plan.keyless() { "ord".into() } else { list(&plan.key, stage_col, ", ") }
    )
}

/// Where one row's line starts in [`Run::lines`], and the input row (and line, 0 when
/// the format has none) it came from.
pub(super) struct RunRow {
    start: usize,
    pub(super) row: u64,
    pub(super) line: u64,
}

/// Rows encoded as `LOAD DATA` lines (`ord`, then the plan's columns; tab-separated,
/// `\N` for NULL, backslash escapes), waiting to be sent in this order.
#[derive(Default)]
pub(super) struct Run {
    lines: Vec<u8>,
    pub(super) rows: Vec<RunRow>,
}

impl Run {
    pub(super) fn line(&self, i: usize) -> &[u8] {
        let end = self.rows.get(i + 1).map_or(self.lines.len(), |r| r.start);
        &self.lines[self.rows[i].start..end]
    }

    /// Field `f` of row `i` (field 0 is `ord`), unescaped; `None` for NULL.
    pub(super) fn field(&self, i: usize, f: usize) -> Option<Vec<u8>> {
        field(self.line(i), f)
    }

    /// Every field of row `i` (field 0 is `ord`), unescaped; `None` for NULL: the line
    /// split once.
    pub(super) fn fields(&self, i: usize) -> impl Iterator<Item = Option<Vec<u8>>> + '_ {
        let line = self.line(i);
        line.strip_suffix(b"\n")
            .unwrap_or(line)
            .split(|&b| b == b'\t')
            .map(|raw| (raw != b"\\N").then(|| unescape(raw)))
    }

    fn at(&self, plan: &Plan, i: usize) -> Location {
        let RunRow { row, line, .. } = self.rows[i];
        Location { input: plan.input.clone(), row, line: (line > 0).then_some(line) }
    }

    /// Adds one encoded line.
    pub(super) fn push(&mut self, row: u64, line: Option<u64>, encoded: &[u8]) {
        self.rows.push(RunRow { start: self.lines.len(), row, line: line.unwrap_or(0) });
        self.lines.extend_from_slice(encoded);
    }

    /// Client memory the run holds: its lines and their index.
    pub(super) fn bytes(&self) -> usize {
        self.lines.len() + self.rows.len() * std::mem::size_of::<RunRow>()
    }

    fn clear(&mut self) {
        self.lines.clear();
        self.rows.clear();
    }
}

/// Field `f` of an encoded line, unescaped; `None` for NULL.
pub(super) fn field(line: &[u8], f: usize) -> Option<Vec<u8>> {
    let raw = line.strip_suffix(b"\n").unwrap_or(line).split(|&b| b == b'\t').nth(f)?;
    (raw != b"\\N").then(|| unescape(raw))
}

/// Encodes row `r` of the batch as a `LOAD DATA` line.
fn encode_row(out: &mut Vec<u8>, plan: &Plan, batch: &Batch, r: usize) -> Result<()> {
    let (row, line) = batch.rows[r];
    let _ = write!(out, "{row}");
    for i in 0..plan.columns.len() {
        out.push(b'\t');
        let v = batch.value(r, i);
        encode(out, plan, i, &v).map_err(|reason| Error::Value {
            at: Location { input: plan.input.clone(), row, line },
            column: plan.columns[i].name.clone(),
            value: v.shown(),
            reason,
        })?;
    }
    out.push(b'\n');
    Ok(())
}

/// One value as a `LOAD DATA` field. Timestamps are normalized to
/// `YYYY-MM-DD HH:MM:SS.ffffff`: a `timestamp` column gets the UTC instant (the session
/// is pinned to UTC), a `datetime` keeps the wall time and drops an offset.
fn encode(out: &mut Vec<u8>, plan: &Plan, i: usize, v: &Value) -> std::result::Result<(), String> {
    match v {
        Value::Null => out.extend_from_slice(b"\\N"),
        Value::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Real(f) => {
            let _ = write!(out, "{f}");
        }
        Value::Blob(b) => escape(out, b),
        // Typed: a wall time, or an instant in UTC, which the session's time zone is.
        Value::Date(_) | Value::Time(_) => out.extend_from_slice(v.temporal_text().unwrap_or_default().as_bytes()),
        Value::Timestamp { micros, .. } => out.extend_from_slice(format_micros(*micros).as_bytes()),
        Value::Text(s) => match plan.columns[i].ty {
            SqlType::Timestamp | SqlType::TimestampTz => {
                let (local, offset) = to_micros_and_offset(s)?;
                let micros = if plan.columns[i].ty == SqlType::TimestampTz {
                    local - offset.unwrap_or(0) * 1_000_000
                } else {
                    local
                };
                out.extend_from_slice(format_micros(micros).as_bytes())
            }
            _ => escape(out, s.as_bytes()),
        },
    }
    Ok(())
}

/// `LOAD DATA`'s escapes for one field.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b't') => b'\t',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'0') => 0,
            Some(&c) => c,
            None => b'\\',
        });
    }
    out
}

/// Rows upserted straight into the target as they come (`upsert.rs`): the target
/// they go into, what its statements reported, and the rows sent so far.
pub(crate) struct Upserts {
    /// The target, qualified and quoted.
    pub(super) target: String,
    /// Summed over the statements: rows, affected rows, changed rows.
    pub(super) records: u64,
    pub(super) affected: u64,
    pub(super) changed: u64,
    /// The rows sent, as encoded for the stage (row, line, length, line's bytes).
    pub(super) sent: Option<std::io::BufWriter<std::fs::File>>,
    /// The rows come from the sorter, one per key in key order: none is kept.
    pub(super) sorted: bool,
    /// The reads that leave out rows the target holds as they are, where they apply.
    pub(super) held: Option<Held>,
}

impl Upserts {
    pub(crate) fn new(plan: &Plan, target: String) -> Upserts {
        let held = Held::new(plan, &target);
        Upserts { target, records: 0, affected: 0, changed: 0, sent: None, sorted: false, held }
    }
}

/// The run's rows a statement sent, in its order: those from an offset on, or these.
pub(super) enum Rows {
    From(usize),
    Listed(Vec<usize>),
}

impl Rows {
    /// The run's row of the statement's row `r` (counted from 1, as the server counts).
    fn nth(&self, r: usize) -> Option<usize> {
        match self {
            Rows::From(offset) => (offset + r).checked_sub(1),
            Rows::Listed(rows) => rows.get(r.checked_sub(1)?).copied(),
        }
    }
}

/// Stages a load's rows: see the module's documentation.
pub(crate) struct Stager {
    /// The rows the next statement sends.
    pub(super) run: Arc<Mutex<Run>>,
    /// The load's rows in key order, when they are sent sorted.
    pub(super) sorter: Option<Sorter>,
    /// Whether the keys so far came in increasing order (sorted rows are sent as they come
    /// until they do not).
    in_order: InOrder,
    /// False when the URL says `local-infile=0`, or once the server has refused it.
    pub(super) load_data: bool,
    /// [`RUN_BYTES`]; smaller in tests, to cross run boundaries with a few rows.
    pub(super) run_bytes: usize,
    /// The target itself (quoted), when the rows go straight into it: an empty table,
    /// locked until commit (see `MyConnection::create_stage`).
    pub(super) into_target: Option<String>,
    /// While the rows are upserted straight into the target as they come (`upsert.rs`).
    pub(super) upserts: Option<Upserts>,
}

impl Stager {
    pub(crate) fn new(load_data: bool) -> Stager {
        Stager {
            run: Arc::default(),
            sorter: None,
            in_order: InOrder::default(),
            load_data,
            run_bytes: RUN_BYTES,
            into_target: None,
            upserts: None,
        }
    }

    /// What `LOAD DATA LOCAL INFILE` reads: the current run.
    pub(crate) fn infile_handler(&self) -> mysql::LocalInfileHandler {
        let run = self.run.clone();
        mysql::LocalInfileHandler::new(move |_name, out| {
            let run = run.lock().map_err(|_| std::io::Error::other("staging buffer poisoned"))?;
            out.write_all(&run.lines)?;
            out.flush()
        })
    }

    pub(super) fn run(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the stage, and finds out (with an empty load) whether `LOAD DATA LOCAL`
    /// is allowed, before any row depends on it.
    pub(crate) fn create(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        conn.query_drop(stage_table_sql(plan)).map_err(|e| db_error("creating the staging table", e))?;
        self.run().clear();
        self.sorter = sortable(plan).then(|| Sorter::new(8 * plan.key.len(), self.run_bytes));
        self.in_order = InOrder::default();
        self.into_target = None;
        self.upserts = None;
        if self.load_data {
            match conn.query_drop(load_data_sql(plan, None)) {
                Ok(()) => {}
                Err(e) if refuses_local_infile(&e) => self.load_data = false,
                Err(e) => return Err(db_error("staging rows", e)),
            }
        }
        Ok(())
    }

    pub(crate) fn push(&mut self, conn: &mut Conn, plan: &Plan, batch: &Batch) -> Result<()> {
        if self.sorter.is_some() {
            let w = 8 * plan.key.len();
            let keys = batch_keys(plan, batch)?;
            if !self.in_order.still(&keys, w) {
                self.sort_instead(conn, plan)?;
                let sorter = self.sorter.as_mut().expect("a sorter");
                for (r, &(row, line)) in batch.rows.iter().enumerate() {
                    sorter.push(&keys[r * w..(r + 1) * w], row, line, |out| encode_row(out, plan, batch, r))?;
                }
                return Ok(());
            }
        }
        let full = {
            let mut run = self.run();
            for r in 0..batch.rows.len() {
                let start = run.lines.len();
                let (row, line) = batch.rows[r];
                encode_row(&mut run.lines, plan, batch, r)?;
                run.rows.push(RunRow { start, row, line: line.unwrap_or(0) });
            }
            run.bytes() >= self.run_bytes / 4
        };
        match full {
            true => self.flush(conn, plan),
            false => Ok(()),
        }
    }

    /// Sends what is left: call once every batch is pushed. Sorted rows go in statements
    /// of a quarter of [`RUN_BYTES`], one key after another, each key once.
    pub(crate) fn finish(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        // The rows sent as they came first: they are earlier in the input.
        self.flush(conn, plan)?;
        let Some(sorter) = self.sorter.take() else { return Ok(()) };
        let duplicate = sorter.drain(plan.spec.duplicates, |r| {
            let full = {
                let mut run = self.run();
                run.push(r.row, r.line, r.payload);
                // A quarter of a run per statement: the run still in memory and the
                // statement's rows together stay within about 1.25 runs.
                run.bytes() >= self.run_bytes / 4
            };
            if full {
                self.flush(conn, plan)?;
            }
            Ok(())
        })?;
        crate::trace::trace("sorted the rows");
        if let Some(d) = duplicate {
            let shown: Vec<Value> = plan
                .key
                .iter()
                .map(|&c| {
                    plan.typed_value(c, field(&d.payload, c + 1).map(|v| String::from_utf8_lossy(&v).into_owned()))
                })
                .collect();
            let at = Location { input: plan.input.clone(), row: d.row, line: d.line };
            return Err(Error::DuplicateKey { at, key: plan.show_key(&shown), first_row: d.first_row });
        }
        self.flush(conn, plan)
    }

    pub(super) fn flush(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        if self.run().rows.is_empty() {
            return Ok(());
        }
        // `--newer-by` decides between rows of one key in the INSERT's ON DUPLICATE KEY
        // UPDATE, which LOAD DATA does not have.
        let by_insert = !self.load_data || (plan.newer_by.is_some() && plan.spec.duplicates != Duplicates::Error);
        let sent = match (self.upserts.is_some(), by_insert) {
            (true, _) => self.send_upserts(conn, plan),
            (false, true) => self.send_inserts(conn, plan),
            (false, false) => self.send_load_data(conn, plan),
        };
        self.run().clear();
        crate::trace::trace("sent a run");
        sent
    }

    fn send_load_data(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        match conn.query_drop(load_data_sql(plan, self.into_target.as_deref())) {
            Ok(()) => self.check_warnings(conn, plan, &Rows::From(0)),
            Err(e) => Err(self.refused(conn, plan, &Rows::From(0), e)),
        }
    }

    fn send_inserts(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        let stage = stage_name(plan);
        let fields = plan.columns.len() + 1;
        let per_statement = (MAX_PLACEHOLDERS / fields).clamp(1, MAX_ROWS_PER_STATEMENT);
        let placeholders = format!("({})", vec!["?"; fields].join(", "));
        let wins = sql::wins_in_input(plan, |c| format!("VALUES({c})"), |c| c.to_string(), "<=>");
        let (ignore, on_duplicate) = match plan.spec.duplicates {
            // `--newer-by`: each column takes the new row's value when it wins, the
            // `--newer-by` column last (assignments see the ones before them).
            Duplicates::Last | Duplicates::First if wins.is_some() => {
                let wins = wins.unwrap_or_default();
                let newer = plan.newer_by.map(stage_col).unwrap_or_default();
                let sets = std::iter::once("ord".to_string())
                    .chain((0..plan.columns.len()).filter(|i| !plan.columns[*i].is_key).map(stage_col))
                    .filter(|c| *c != newer)
                    .chain([newer.clone()])
                    .map(|c| format!("{c} = IF({wins}, VALUES({c}), {c})"));
                ("", format!(" ON DUPLICATE KEY UPDATE {}", sets.collect::<Vec<_>>().join(", ")))
            }
            Duplicates::Last => {
                let sets = std::iter::once("ord".to_string())
                    .chain((0..plan.columns.len()).filter(|i| !plan.columns[*i].is_key).map(stage_col))
                    .map(|c| format!("{c} = VALUES({c})"));
                ("", format!(" ON DUPLICATE KEY UPDATE {}", sets.collect::<Vec<_>>().join(", ")))
            }
            Duplicates::First => ("", " ON DUPLICATE KEY UPDATE ord = ord".to_string()),
            // Duplicates become warnings, found by `find_duplicate`.
            Duplicates::Error => ("IGNORE ", String::new()),
        };
        let total = self.run().rows.len();
        let kinds = Params::new(plan);
        let mut start = 0;
        while start < total {
            let n = per_statement.min(total - start);
            let params: Vec<mysql::Value> = {
                let run = self.run();
                (start..start + n)
                    .flat_map(|i| run.fields(i).enumerate().map(|(f, v)| kinds.get(f, v)).collect::<Vec<_>>())
                    .collect()
            };
            let sql = format!(
                "INSERT {ignore}INTO {stage} VALUES {}{on_duplicate}",
                vec![placeholders.as_str(); n].join(", ")
            );
            if let Err(e) = conn.exec_drop(&sql, params) {
                return Err(self.refused(conn, plan, &Rows::From(start), e));
            }
            self.check_warnings(conn, plan, &Rows::From(start))?;
            start += n;
        }
        Ok(())
    }

    /// Fails on the first warning of the last statement (rows sent from `offset` of
    /// the run on), but for notes and the duplicates `IGNORE` is meant to drop.
    pub(super) fn check_warnings(&mut self, conn: &mut Conn, plan: &Plan, rows: &Rows) -> Result<()> {
        match refusal(conn, plan)? {
            Some((code, message)) => Err(self.explain(conn, plan, rows, code, message)),
            None => Ok(()),
        }
    }

    pub(super) fn refused(&mut self, conn: &mut Conn, plan: &Plan, rows: &Rows, e: mysql::Error) -> Error {
        match e {
            mysql::Error::MySqlError(m) => self.explain(conn, plan, rows, m.code, m.message),
            e => db_error("staging rows", e),
        }
    }

    /// Names the input row of a value the server refused "at row N" of a statement
    /// (`rows`: the run's rows it sent), or of a duplicate key.
    fn explain(&mut self, conn: &mut Conn, plan: &Plan, rows: &Rows, code: u16, message: String) -> Error {
        if code == 1062 && plan.spec.duplicates == Duplicates::Error {
            if let Some(e) = self.find_duplicate(conn, plan) {
                return e;
            }
        }
        let run = self.run();
        // "Out of range value for column 'c3' at row 2" and the like (the column's own
        // name when the rows go straight into the target).
        let row = message.rsplit("at row ").next().and_then(|s| s.trim().parse::<usize>().ok());
        let col = message.split("column '").nth(1).and_then(|s| s.split('\'').next()).and_then(|name| {
            match name.strip_prefix('c').and_then(|d| d.parse::<usize>().ok()) {
                Some(i) if self.into_target.is_none() && self.upserts.is_none() => Some(i),
                _ => plan.columns.iter().position(|c| c.name.eq_ignore_ascii_case(name)),
            }
        });
        let row = row.and_then(|r| rows.nth(r)).filter(|&i| i < run.rows.len());
        match (row, col.filter(|c| *c < plan.columns.len())) {
            (Some(i), Some(c)) => Error::Value {
                at: run.at(plan, i),
                column: plan.columns[c].name.clone(),
                value: run.field(i, c + 1).map(|v| String::from_utf8_lossy(&v).into_owned()),
                reason: message.split(" for column").next().unwrap_or(&message).to_string(),
            },
            (Some(i), None) => Error::Input { at: run.at(plan, i), reason: message },
            _ => Error::db("staging rows", message),
        }
    }

    /// The first row of the run (in input order) that `IGNORE` dropped as a duplicate:
    /// its `ord` is missing from the stage, and the row holding its key is the first.
    fn find_duplicate(&mut self, conn: &mut Conn, plan: &Plan) -> Option<Error> {
        let stage = stage_name(plan);
        let run = self.run();
        let (lo, hi) = (run.rows.first()?.row, run.rows.last()?.row);
        let kept: std::collections::HashSet<u64> =
            conn.query(format!("SELECT ord FROM {stage} WHERE ord BETWEEN {lo} AND {hi}")).ok()?.into_iter().collect();
        let i = (0..run.rows.len()).find(|&i| !kept.contains(&run.rows[i].row))?;
        let key: Vec<Option<Vec<u8>>> = plan.key.iter().map(|&c| run.field(i, c + 1)).collect();
        let cond = list(&plan.key, |c| format!("{} = ?", stage_col(c)), " AND ");
        let kinds = Params::new(plan);
        let params: Vec<mysql::Value> = plan.key.iter().zip(&key).map(|(&c, v)| kinds.get(c + 1, v.clone())).collect();
        let first: u64 = conn.exec_first(format!("SELECT ord FROM {stage} WHERE {cond}"), params).ok()??;
        let shown: Vec<Value> = plan
            .key
            .iter()
            .zip(key)
            .map(|(&c, v)| plan.typed_value(c, v.map(|v| String::from_utf8_lossy(&v).into_owned())))
            .collect();
        Some(Error::DuplicateKey { at: run.at(plan, i), key: plan.show_key(&shown), first_row: first })
    }
}

/// The first warning of the last statement that fails the load (code, message): any
/// but notes and the duplicates `IGNORE` is meant to drop.
pub(super) fn refusal(conn: &mut Conn, plan: &Plan) -> Result<Option<(u16, String)>> {
    if conn.warnings() == 0 {
        return Ok(None);
    }
    let warnings: Vec<(String, u32, String)> = conn.query("SHOW WARNINGS").map_err(|e| db_error("staging rows", e))?;
    Ok(warnings
        .into_iter()
        .find(|(level, code, _)| !(level == "Note" || (*code == 1062 && plan.spec.duplicates == Duplicates::First)))
        .map(|(_, code, message)| (code as u16, message)))
}

/// `REPLACE` keeps the last of duplicate keys, `IGNORE` the first (and, for
/// `--duplicates error`, leaves the others to be found).
/// `LOAD DATA` of a run into the stage, or `into` the target itself (`ord` then goes
/// into a variable, and the plan's columns by their names).
fn load_data_sql(plan: &Plan, into: Option<&str>) -> String {
    let mode = match plan.spec.duplicates {
        Duplicates::Last => "REPLACE ",
        Duplicates::First | Duplicates::Error => "IGNORE ",
    };
    let (table, ord, column): (&str, &str, &dyn Fn(usize) -> String) = match into {
        None => (stage_name(plan), "ord", &stage_col),
        Some(target) => (target, "@ord", &|i| super::sql::q(&plan.columns[i].name)),
    };
    let columns =
        std::iter::once(ord.to_string()).chain((0..plan.columns.len()).map(column)).collect::<Vec<_>>().join(", ");
    format!(
        "LOAD DATA LOCAL INFILE 'upsertx-stage' {mode}INTO TABLE {table} CHARACTER SET utf8mb4
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({columns})"
    )
}

/// LOCAL INFILE disabled: 1148 (older servers), 4166 (MariaDB 10.6+), 3948 (MySQL 8),
/// 2068 (the client).
fn refuses_local_infile(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::MySqlError(e) => matches!(e.code, 1148 | 4166 | 3948 | 2068),
        mysql::Error::DriverError(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        for s in ["", "plain", "tab\there", "new\nline\r", "back\\slash", "\\\\", "\\t literal", "nul\0", "end\\"] {
            let mut out = Vec::new();
            escape(&mut out, s.as_bytes());
            assert_eq!(unescape(&out), s.as_bytes(), "{s:?} as {:?}", String::from_utf8_lossy(&out));
        }
    }
}
