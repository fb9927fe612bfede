//! MySQL and MariaDB.
//!
//! - `reflect.rs`: the table, its columns (with collations) and unique indexes, from
//!   information_schema.
//! - `ddl.rs`: `CREATE TABLE` for `--create`.
//! - `stage.rs`: the keyed temporary staging table, filled by `LOAD DATA LOCAL INFILE`
//!   streamed from memory (sorted by key when the key is made of integers), or by
//!   multi-row INSERTs when LOCAL INFILE is refused.
//! - `merge.rs`: the merge, which lets `ON DUPLICATE KEY UPDATE` touch the target only
//!   when it cannot pick the wrong unique key.
//! - `upsert.rs`: key-ordered rows upserted straight into the target as they come, no
//!   stage (staged after all if the keys come out of order).
//! - `delete.rs`: `--delete-missing`.
//! - `changes.rs`: `--changes`.
//!
//! The session is pinned to strict SQL mode (no silent truncation, no zero dates), to
//! UTC (`time_zone = '+00:00'`) and to repeatable read (the merge's locking reads rely
//! on its next-key locks), so nothing depends on the server's defaults.

mod changes;
mod ddl;
mod delete;
mod held;
mod merge;
mod param;
pub(crate) mod query;
mod reflect;
pub(crate) mod session;
mod sql;
mod stage;
mod sync;
#[cfg(test)]
mod tests;
mod text;
mod upsert;

pub(crate) use self::session::db_error;
use self::sql::q;
use super::{Connection, MergeCounts};
use crate::db::mysql::session::LOST;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use crate::spec::Duplicates;
use mysql::prelude::Queryable;
use mysql::Conn;

pub(crate) struct MyConnection {
    conn: Conn,
    target: Option<(String, String)>,
    stager: stage::Stager,
    /// The named lock held from the merge to the end of the transaction.
    merge_lock: Option<String>,
    /// How long to wait for another load's merge lock, in seconds (`--lock-timeout`).
    turn_timeout: u64,
    /// `host:port`, for messages.
    server: String,
    /// The table this load created (quoted), until it commits: dropped on rollback.
    created: Option<String>,
}

/// The name of the lock that serialises upsertx merges into one table: at most 64
/// characters (MySQL's limit), so long names are shortened to a stable hash.
fn merge_lock_name(schema: &str, table: &str) -> String {
    let full = format!("upsertx:{schema}.{table}");
    if full.len() <= 64 {
        return full;
    }
    // FNV-1a: the same name in every process and every build.
    let hash = full.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("upsertx:{hash:016x}")
}

impl MyConnection {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let (builder, options, server) = crate::db::mysql::session::options(url)?;
        let stager = stage::Stager::new(options.local_infile);
        let mut conn =
            crate::db::mysql::session::connect(builder.local_infile_handler(Some(stager.infile_handler())), url)?;
        // The merge's locking reads rely on repeatable read's next-key locks.
        conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .map_err(|e| db_error("configuring the MySQL session", e))?;
        Ok(MyConnection { conn, target: None, stager, merge_lock: None, turn_timeout: 86_400, server, created: None })
    }

    /// Takes the named lock that makes upsertx loads into one table merge one after
    /// another (staging still runs side by side). InnoDB's next-key locks would
    /// otherwise deadlock two loads that insert new keys into the same gaps, and one of
    /// them would fail for no fault of its input. Held until commit or rollback; the
    /// server releases it if the connection dies.
    fn lock_merges(&mut self, schema: &str, table: &str) -> Result<()> {
        if self.merge_lock.is_some() {
            return Ok(());
        }
        let name = merge_lock_name(schema, table);
        // By default a day: a long merge of another load is a reason to wait, not to fail.
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, ?)", (&name, self.turn_timeout))
            .map_err(|e| db_error("waiting for another upsertx load into the same table", e))?;
        if got.flatten() != Some(1) {
            return Err(Error::db(
                format!("merging into table {}", crate::error::quote_ident(table)),
                format!(
                    "another upsertx load into the same table held its merge lock for {} s (--lock-timeout)",
                    self.turn_timeout
                ),
            ));
        }
        self.merge_lock = Some(name);
        Ok(())
    }

    fn unlock_merges(&mut self) {
        if let Some(name) = self.merge_lock.take() {
            // Released with the connection anyway.
            let _ = self.conn.exec_drop("DO RELEASE_LOCK(?)", (&name,));
        }
    }

    /// Names the server in a lost-connection error: "... lost to 127.0.0.1:3306 ...".
    fn at_server<T>(&self, result: Result<T>) -> Result<T> {
        result.map_err(|e| match e {
            Error::Database { context, message } if message.starts_with(LOST) => Error::Database {
                context,
                message: format!(
                    "the connection to the server at {} was lost{}; nothing was committed",
                    self.server,
                    &message[LOST.len()..]
                ),
            },
            other => other,
        })
    }

    /// Sends the rows straight into the target instead of the stage when nothing can
    /// tell the two apart: the target is empty and stays so for others until commit
    /// (this load holds the merge lock, and `SELECT ... FOR UPDATE` on the empty table
    /// locks its whole key range), the load's key is its only unique key, it has no
    /// triggers, rows go by `LOAD DATA`, and the input's duplicates need no report. The
    /// merge (an `INSERT ... SELECT` as long as the staging itself) is then skipped:
    /// MariaDB's first insert into an empty table takes its bulk path.
    fn straight_into_target(&mut self, plan: &Plan) -> Result<()> {
        if !self.stager.load_data
            || plan.spec.duplicates == Duplicates::Error
            // Its condition is checked on the staged rows.
            || plan.spec.replace_where.is_some()
            // Its rows of one key are decided by the stage.
            || plan.newer_by.is_some()
            // It reads the inserted rows from the stage.
            || plan.spec.changes.is_some()
            // Its table's key is not the entity's.
            || plan.history.is_some()
            // Its input is keys, not rows.
            || plan.staged != crate::plan::Staged::Rows
            || plan.missing_required().is_some()
            || plan.table.keys.len() != 1
        {
            return Ok(());
        }
        let (schema, name) = self.target.clone().expect("reflect runs before staging");
        let target = format!("{}.{}", q(&schema), q(&name));
        let ctx = "looking at the target table";
        let probe = |conn: &mut Conn, sql: String| -> Result<bool> {
            conn.query_first::<u8, _>(sql).map(|r| r.is_some()).map_err(|e| db_error(ctx, e))
        };
        if self.has_triggers()? || probe(&mut self.conn, format!("SELECT 1 FROM {target} LIMIT 1"))? {
            return Ok(());
        }
        self.lock_merges(&schema, &name)?;
        if !probe(&mut self.conn, format!("SELECT 1 FROM {target} LIMIT 1 FOR UPDATE"))? {
            self.stager.into_target = Some(target);
        }
        Ok(())
    }

    fn has_triggers(&mut self) -> Result<bool> {
        let (schema, name) = self.target.clone().expect("reflect runs before staging");
        let triggers: Option<u8> = self
            .conn
            .exec_first(
                "SELECT 1 FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? LIMIT 1",
                (&schema, &name),
            )
            .map_err(|e| db_error("looking at the target table", e))?;
        Ok(triggers.is_some())
    }

    /// Upserts the rows straight into the target while their keys arrive in order
    /// (`upsert.rs`), where that writes and counts as the stage and its one-statement
    /// merge would: integer keys (their order is the client's), rows updated
    /// (`--on-conflict update`), the load's key the table's only unique key and no
    /// auto-increment column the input lacks (`merge::one_statement_is_safe`), every
    /// required column in the input, no trigger, and nothing that needs the staged rows
    /// afterwards (deletes, `--changes`, `--history`). Takes the load's merge lock now:
    /// the upserts are its merge.
    fn upsert_as_they_come(&mut self, plan: &Plan) -> Result<()> {
        if self.stager.into_target.is_some()
            || !crate::db::sorted::sortable(plan)
            || plan.spec.on_conflict != crate::spec::OnConflict::Update
            || plan.update.is_empty()
            || plan.spec.deletes()
            || plan.spec.changes.is_some()
            || plan.history.is_some()
            || plan.staged != crate::plan::Staged::Rows
            || plan.missing_required().is_some()
            || !merge::one_statement_is_safe(plan)
            || self.has_triggers()?
        {
            return Ok(());
        }
        let (schema, name) = self.target.clone().expect("reflect runs before staging");
        self.lock_merges(&schema, &name)?;
        self.stager.upserts = Some(stage::Upserts::new(plan, self.target_name()));
        Ok(())
    }

    fn exec(&mut self, context: &str, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| db_error(context, e))
    }

    /// The target, database-qualified and quoted.
    fn target_name(&self) -> String {
        let (schema, name) = self.target.as_ref().expect("reflect runs before staging");
        format!("{}.{}", q(schema), q(name))
    }
}

impl Connection for MyConnection {
    fn set_lock_timeout(&mut self, seconds: f64) -> Result<()> {
        // Whole seconds: the servers' lock waits count no less.
        let n = seconds.ceil().max(1.0) as u64;
        self.turn_timeout = n;
        self.exec(
            "setting the lock timeout",
            &format!("SET SESSION innodb_lock_wait_timeout = {n}, SESSION lock_wait_timeout = {n}"),
        )
    }

    fn begin(&mut self) -> Result<()> {
        self.exec("starting a transaction", "START TRANSACTION")
    }

    fn reflect(&mut self, table: &str) -> Result<Option<Table>> {
        Ok(reflect::table(&mut self.conn, table)?.map(|(t, target)| {
            self.target = Some(target);
            t
        }))
    }

    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<bool> {
        let ctx = format!("creating table {}", crate::error::quote_ident(table));
        // MySQL commits DDL implicitly, so the table is there for everyone at once: the
        // load holds the table's merge lock from here to its end. Another load that
        // creates the table too waits for it, then finds the table and upserts into it;
        // if this load fails, it drops the table again (see `rollback`) before anyone
        // has merged into it.
        let current: Option<String> =
            self.conn.query_first("SELECT DATABASE()").map_err(|e| db_error(&ctx, e))?.flatten();
        self.lock_merges(current.as_deref().unwrap_or_default(), table)?;
        let mut binary = ddl::Binary::Bin;
        for (name, b) in ddl::Binary::NAMES.into_iter().rev() {
            let found: Option<u8> = self
                .conn
                .exec_first("SELECT 1 FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?", (name,))
                .map_err(|e| db_error(&ctx, e))?;
            if found.is_some() {
                binary = b;
            }
        }
        let sql = ddl::create_table_sql(table, columns, key, binary);
        let created = match self.conn.query_drop(&sql) {
            Ok(()) => {
                self.created = Some(q(table));
                true
            }
            // ER_TABLE_EXISTS_ERROR: another load created it first.
            Err(mysql::Error::MySqlError(e)) if e.code == 1050 => false,
            Err(e) => return Err(db_error(&ctx, e)),
        };
        // The rest of the load in a transaction again.
        self.begin()?;
        Ok(created)
    }

    fn evolve_table(
        &mut self,
        table: &str,
        widen: &[super::Widen],
        add: &[Column],
        apply: bool,
    ) -> Result<Vec<String>> {
        // An ALTER commits: the engine checked every value first (`ddl_commits`). The
        // widenings and the new columns go in one ALTER, which MySQL and MariaDB apply
        // whole or not at all: what the server refuses (a row too large, a name equal to
        // another under its rules, too many columns) leaves the table as it was.
        let name = self.target_name();
        let (mut clauses, mut done) = self.modify_clauses(widen, apply)?;
        let prefix = format!("ALTER TABLE {name} ");
        let collect = |_: &str, sql: &str| {
            clauses.push(sql.strip_prefix(&prefix).unwrap_or(sql).to_owned());
            Ok(())
        };
        let ty = |c: &Column, _| ddl::ddl_type(&c.ty);
        done.extend(crate::db::sql::add_columns(table, &name, add, q, ty, apply, collect)?);
        if apply && !clauses.is_empty() {
            let what = format!("changing table {} (--evolve; nothing was changed)", q(table));
            self.exec(&what, &format!("{prefix}{}", clauses.join(", ")))?;
            self.begin()?;
        }
        Ok(done)
    }
    fn second_digits(&self, column: &Column) -> u32 {
        // `datetime` and `timestamp` without a precision keep whole seconds.
        crate::db::sql::second_digits(&column.declared, 0)
    }

    fn ddl_commits(&self) -> bool {
        true
    }

    fn max_name_bytes(&self) -> Option<(usize, &'static str)> {
        Some((64, "MySQL/MariaDB"))
    }

    fn create_stage(&mut self, plan: &Plan) -> Result<()> {
        let done = self
            .stager
            .create(&mut self.conn, plan)
            .and_then(|()| self.straight_into_target(plan))
            .and_then(|()| self.upsert_as_they_come(plan));
        self.at_server(done)
    }

    fn stage(&mut self, plan: &Plan, batches: super::Batches<'_>) -> Result<()> {
        let done = (|| {
            for batch in batches {
                self.stager.push(&mut self.conn, plan, &batch?)?;
            }
            Ok(())
        })();
        self.at_server(done)
    }

    fn finish_stage(&mut self, plan: &Plan) -> Result<()> {
        let done = self.stager.finish(&mut self.conn, plan);
        self.at_server(done)
    }

    fn prepare_delete(&mut self, plan: &Plan) -> Result<()> {
        let done = self.prepare_scope(plan);
        self.at_server(done)
    }

    fn count_in_scope(&mut self, plan: &Plan) -> Result<u64> {
        let done = self.rows_in_scope(plan);
        self.at_server(done)
    }

    fn delete_missing(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<u64> {
        // Held already after a merge; a keyless load deletes before its merge.
        let (schema, name) = self.target.clone().expect("reflect runs before the delete");
        let done = self.lock_merges(&schema, &name).and_then(|()| self.delete_missing_rows(plan, tell));
        self.at_server(done)
    }

    fn merge(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<MergeCounts> {
        let told = match tell {
            Some(sink) => {
                let done = self.tell_changes(plan, sink);
                Some(self.at_server(done)?)
            }
            None => None,
        };
        let done = (|| {
            if let Some(upserts) = &self.stager.upserts {
                // Upserted as the rows came, in key order, under the merge lock.
                return Ok(upserts.counts(plan));
            }
            if let Some(target) = self.stager.into_target.clone() {
                // The table was empty: every row in it is one of this load's keys.
                let staged: Option<u64> = self
                    .conn
                    .query_first(format!("SELECT COUNT(*) FROM {target}"))
                    .map_err(|e| db_error("counting the loaded rows", e))?;
                let staged = staged.unwrap_or(0);
                return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, staged, 0));
            }
            let (schema, name) = self.target.clone().expect("reflect runs before merge");
            self.lock_merges(&schema, &name)?;
            let target = self.target_name();
            merge::merge(&mut self.conn, plan, &target, told)
        })();
        self.at_server(done)
    }

    fn table_keys(&mut self, plan: &Plan) -> Result<Box<dyn arrow_array::RecordBatchReader + Send>> {
        let sql = crate::db::sql::table_keys(plan, q, &self.target_name());
        let name = format!("table {}", q(&plan.table.name));
        let done = crate::db::rows::collected(&name, |out| query::read(&mut self.conn, &sql, out));
        self.at_server(done)
    }

    fn commit(&mut self) -> Result<()> {
        let done = self.exec("committing", "COMMIT");
        if done.is_ok() {
            self.created = None;
        }
        self.unlock_merges();
        self.at_server(done)
    }

    fn rollback(&mut self) -> Result<()> {
        let mut done = self.exec("rolling back", "ROLLBACK");
        // A table this load created goes again (its DDL committed at once), if it is
        // still empty: under the merge lock, no other upsertx load wrote to it.
        if let Some(table) = self.created.take() {
            let empty = self.conn.query_first::<u8, _>(format!("SELECT 1 FROM {table} LIMIT 1"));
            if matches!(empty, Ok(None)) {
                let dropped = self.exec("dropping the table this load created", &format!("DROP TABLE {table}"));
                done = done.and(dropped);
            }
        }
        self.unlock_merges();
        done
    }
}

/// `--evolve`'s statements.
impl MyConnection {
    /// `--evolve`'s widenings as `MODIFY COLUMN` clauses of an ALTER (when `apply`), and
    /// what each does. MODIFY restates the whole column: its definition as SHOW CREATE
    /// TABLE prints it (charset, NULL, default, comment...), the type alone replaced.
    fn modify_clauses(&mut self, widen: &[super::Widen], apply: bool) -> Result<(Vec<String>, Vec<String>)> {
        let name = self.target_name();
        let create: Option<(String, String)> = match apply && !widen.is_empty() {
            true => self
                .conn
                .query_first(format!("SHOW CREATE TABLE {name}"))
                .map_err(|e| db_error("reading the table's definition", e))?,
            false => None,
        };
        let (mut clauses, mut done) = (Vec::new(), Vec::new());
        for w in widen {
            let (old, col) = (&w.column.declared, &w.column.name);
            let new = crate::db::widened_type(old, w.to);
            if let Some((_, create)) = &create {
                let rest = create
                    .lines()
                    .map(str::trim)
                    .find_map(|l| l.strip_prefix(&format!("{} ", q(col))))
                    .and_then(|l| l.get(old.len()..).filter(|_| l[..old.len()].eq_ignore_ascii_case(old)))
                    .map(|l| l.trim_end_matches(','))
                    .ok_or_else(|| {
                        Error::Schema(format!("--evolve: cannot read the definition of column {}", q(col)))
                    })?;
                clauses.push(format!("MODIFY COLUMN {} {new}{rest}", q(col)));
            }
            done.push(format!("widened {} {old} -> {new}", crate::error::quote_ident(col)));
        }
        Ok((clauses, done))
    }
}
