//! Rows upserted straight into the target while their keys arrive in order, with no
//! stage (see `MyConnection::upsert_as_they_come` for when): prepared multi-row
//! `INSERT INTO target ... VALUES ... ON DUPLICATE KEY UPDATE` (the one-statement
//! merge's assignments), each statement counted from what the server reports, in key
//! order under the load's merge lock. For key-ordered input this spares writing every
//! row to the stage and reading it again (1M rows: 3.3 s where LOAD DATA into a keyed
//! stage then `INSERT ... SELECT` took 3.9 s).
//!
//! The rows sent are also written to an unnamed temporary file. When a batch's keys come
//! out of order, the upserts are undone (`ROLLBACK TO SAVEPOINT`), the file's rows go
//! into the stage, and the load goes on as every other does: a key seen again later
//! must follow the duplicates policy, which only the stage can apply.

use super::merge;
use super::session::db_error;
use super::sql::q;
use super::stage::{param, refusal, Run, Stager, Upserts, MAX_PLACEHOLDERS, MAX_ROWS_PER_STATEMENT};
use crate::db::sql::list;
use crate::db::MergeCounts;
use crate::error::{Error, Result};
use crate::plan::Plan;
use mysql::prelude::Queryable;
use mysql::Conn;
use std::io::{BufReader, BufWriter, Read, Seek, Write};

const SAVEPOINT: &str = "upsertx_as_they_come";

impl Upserts {
    /// The merge's counts: the statements' figures, as the one-statement merge reads
    /// its own.
    pub(crate) fn counts(&self, plan: &Plan) -> MergeCounts {
        merge::one_statement_counts(plan, self.records, self.affected, self.changed)
    }
}

/// What the statements of one run did, or where they stopped.
#[derive(Default)]
struct Sent {
    records: u64,
    affected: u64,
    changed: u64,
    failed: Option<(usize, mysql::Error)>,
    /// A statement of this many rows reported no counts.
    unreported: Option<usize>,
    /// The first row of a statement whose warnings fail the load.
    warned: Option<usize>,
    error: Option<Error>,
}

fn io(e: std::io::Error) -> Error {
    Error::Io(format!("keeping the rows sent: {e}"))
}

impl Stager {
    /// Sends the run's rows into the target, and keeps them in the file.
    pub(super) fn send_upserts(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        let ctx = "upserting rows";
        let Some(upserts) = self.upserts.as_mut() else { return Ok(()) };
        if upserts.sent.is_none() {
            conn.query_drop(format!("SAVEPOINT {SAVEPOINT}")).map_err(|e| db_error(ctx, e))?;
            upserts.sent = Some(BufWriter::new(tempfile::tempfile().map_err(io)?));
        }
        let target = upserts.target.clone();
        let fields = plan.columns.len();
        let per_statement = (MAX_PLACEHOLDERS / fields).clamp(1, MAX_ROWS_PER_STATEMENT);
        let names = list(&plan.all_columns(), |i| q(&plan.columns[i].name), ", ");
        let placeholders = format!("({})", vec!["?"; fields].join(", "));
        let set = merge::on_duplicate(plan);
        // The next statement's parameters are made on a thread of their own while the
        // server runs the current one (making them took a third of the load's time).
        let sum = {
            let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
            let run: &Run = &run;
            let total = run.rows.len();
            std::thread::scope(|scope| {
                let (tx, chunks) = std::sync::mpsc::sync_channel::<(usize, usize, Vec<mysql::Value>)>(1);
                scope.spawn(move || {
                    let mut start = 0;
                    while start < total {
                        let n = per_statement.min(total - start);
                        let params = (start..start + n)
                            .flat_map(|i| run.fields(i).enumerate().skip(1).map(|(f, v)| param(plan, f, v)))
                            .collect();
                        if tx.send((start, n, params)).is_err() {
                            return;
                        }
                        start += n;
                    }
                });
                let mut prepared: Option<(usize, mysql::Statement)> = None;
                let mut sum = Sent::default();
                for (start, n, params) in chunks {
                    if prepared.as_ref().is_none_or(|(rows, _)| *rows != n) {
                        let sql = format!(
                            "INSERT INTO {target} ({names}) VALUES {} ON DUPLICATE KEY UPDATE {set}",
                            vec![placeholders.as_str(); n].join(", ")
                        );
                        match conn.prep(sql) {
                            Ok(stmt) => prepared = Some((n, stmt)),
                            Err(e) => return Sent { failed: Some((start, e)), ..sum },
                        }
                    }
                    let stmt = &prepared.as_ref().expect("prepared").1;
                    if let Err(e) = conn.exec_drop(stmt, params) {
                        return Sent { failed: Some((start, e)), ..sum };
                    }
                    let affected = conn.affected_rows();
                    // A one-row statement reports no `Records:`; its affected rows tell.
                    let (records, changed) = match merge::parse_insert_info(&conn.info_str()) {
                        Some(figures) => figures,
                        None if n == 1 => (1, (affected == 2) as u64),
                        None => return Sent { unreported: Some(n), ..sum },
                    };
                    sum.records += records;
                    sum.affected += affected;
                    sum.changed += changed;
                    match refusal(conn, plan) {
                        Ok(None) => {}
                        Ok(Some(_)) => return Sent { warned: Some(start), ..sum },
                        Err(e) => return Sent { error: Some(e), ..sum },
                    }
                }
                sum
            })
        };
        if let Some((start, e)) = sum.failed {
            return Err(self.refused(conn, plan, start, e));
        }
        if let Some(n) = sum.unreported {
            return Err(Error::db(ctx, format!("the server did not report the row counts of {n} rows")));
        }
        if let Some(e) = sum.error {
            return Err(e);
        }
        if let Some(start) = sum.warned {
            self.check_warnings(conn, plan, start)?;
        }
        let upserts = self.upserts.as_mut().expect("upserting");
        upserts.records += sum.records;
        upserts.affected += sum.affected;
        upserts.changed += sum.changed;
        // Kept, should the rows have to go into the stage after all.
        let run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let out = self.upserts.as_mut().and_then(|u| u.sent.as_mut()).expect("the file of sent rows");
        for i in 0..run.rows.len() {
            let (row, line, bytes) = (run.rows[i].row, run.rows[i].line, run.line(i));
            out.write_all(&row.to_le_bytes()).map_err(io)?;
            out.write_all(&line.to_le_bytes()).map_err(io)?;
            out.write_all(&(bytes.len() as u32).to_le_bytes()).map_err(io)?;
            out.write_all(bytes).map_err(io)?;
        }
        Ok(())
    }

    /// The keys came out of order: undoes the upserts, and stages the rows they sent,
    /// then the rows waiting to be sent, in their order.
    pub(super) fn stage_instead(&mut self, conn: &mut Conn, plan: &Plan) -> Result<()> {
        let Some(upserts) = self.upserts.take() else { return Ok(()) };
        crate::trace::trace("keys out of order: the rows upserted so far staged instead");
        let Some(sent) = upserts.sent else { return Ok(()) };
        conn.query_drop(format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
            .map_err(|e| db_error("undoing the rows upserted in key order", e))?;
        let waiting = std::mem::take(&mut *self.run());
        let mut file = sent.into_inner().map_err(|e| io(e.into_error()))?;
        file.rewind().map_err(io)?;
        let mut input = BufReader::new(file);
        let mut head = [0u8; 20];
        let mut bytes = Vec::new();
        loop {
            match input.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io(e)),
            }
            let row = u64::from_le_bytes(head[0..8].try_into().expect("8 bytes"));
            let line = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
            let len = u32::from_le_bytes(head[16..20].try_into().expect("4 bytes")) as usize;
            bytes.resize(len, 0);
            input.read_exact(&mut bytes).map_err(io)?;
            let full = {
                let mut run = self.run();
                run.push(row, (line > 0).then_some(line), &bytes);
                run.bytes() >= self.run_bytes / 4
            };
            if full {
                self.flush(conn, plan)?;
            }
        }
        self.flush(conn, plan)?;
        *self.run() = waiting;
        Ok(())
    }
}
