//! SQLite: the embedded default.
//!
//! - `reflect.rs`: table, columns, primary key and unique indexes from the pragmas.
//! - `ddl.rs`: `CREATE TABLE` for `--create`.
//! - `stage.rs`: the keyed staging table, filled by one prepared INSERT.
//! - `merge.rs`: the set-based merge with exact counts.
//! - `delete.rs`: `--delete-missing`.
//! - `changes.rs`: `--changes`.

mod changes;
mod ddl;
mod delete;
mod merge;
pub(crate) mod query;
mod reflect;
mod sql;
mod stage;
mod sync;
#[cfg(test)]
mod tests;

use super::{Connection, MergeCounts};
use crate::error::{Error, Result};
use crate::net::url::SqliteTarget;
use crate::plan::Plan;
use crate::schema::{Column, Table};
use crate::value::SqlType;
use rusqlite::OpenFlags;

pub(crate) struct SqliteConnection {
    conn: rusqlite::Connection,
    /// The database file this session created (it did not exist): removed again unless
    /// a load commits, so a failed or dry-run `--create` leaves nothing behind.
    created_file: Option<std::path::PathBuf>,
    committed: bool,
    stager: stage::Stager,
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        if let (Some(path), false) = (&self.created_file, self.committed) {
            // Another session may have made the new file its own meanwhile (two loads
            // creating one file at once): only a database without tables is removed.
            let tables = self.conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0));
            if tables.map_or(true, |n| n > 0) {
                return;
            }
            // Unlinking an open file is fine: nothing more is written to it.
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

impl SqliteConnection {
    pub(crate) fn open(target: &SqliteTarget, create: bool) -> Result<Self> {
        let mut flags =
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        if let SqliteTarget::File(path) = target {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(folder) = folder.filter(|f| !f.is_dir()) {
                return Err(Error::Schema(format!(
                    "SQLite database {}: the folder {} does not exist",
                    path.display(),
                    folder.display()
                )));
            }
        }
        let created_file = match target {
            SqliteTarget::File(path) if !path.exists() => Some(path.clone()),
            _ => None,
        };
        let conn = match target {
            SqliteTarget::Memory => {
                rusqlite::Connection::open_in_memory().map_err(|e| Error::db("opening SQLite database", e))?
            }
            SqliteTarget::File(path) => rusqlite::Connection::open_with_flags(path, flags).map_err(|e| {
                if !create && !path.exists() {
                    return Error::Schema(format!(
                        "SQLite database {} does not exist (pass --create to create it)",
                        path.display()
                    ));
                }
                Error::db(format!("opening SQLite database {}", path.display()), e)
            })?,
        };
        // Bounded caches: memory stays flat however large the input is. The staging
        // table lives in a temporary file, not in memory (its cache: `stage.rs`).
        conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA cache_size = -32768; PRAGMA temp_store = FILE;")
            .map_err(|e| Error::db("configuring the SQLite session", e))?;
        Ok(SqliteConnection { conn, created_file, committed: false, stager: stage::Stager::default() })
    }

    fn exec(&self, context: &str, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| Error::db(context, e))
    }
}

/// Quotes an identifier for SQLite.
use self::sql::q;

impl Connection for SqliteConnection {
    fn set_lock_timeout(&mut self, seconds: f64) -> Result<()> {
        self.conn
            .busy_timeout(std::time::Duration::from_secs_f64(seconds))
            .map_err(|e| Error::db("setting the lock timeout", e))
    }

    fn begin(&mut self) -> Result<()> {
        // IMMEDIATE: take the write lock now, so a concurrent writer makes us wait
        // (busy_timeout) at the start rather than fail at the end.
        self.exec("starting a transaction", "BEGIN IMMEDIATE")
    }

    fn reflect(&mut self, table: &str) -> Result<Option<Table>> {
        reflect::table(&self.conn, table)
    }

    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<bool> {
        // The load holds the database's write lock from its start: a second load that
        // creates the table waits for it, then finds the table there.
        let sql = ddl::create_table_sql(table, columns, key);
        self.exec(&format!("creating table {}", q(table)), &sql).map(|()| true)
    }

    fn evolve_table(
        &mut self,
        table: &str,
        widen: &[super::Widen],
        add: &[Column],
        apply: bool,
    ) -> Result<Vec<String>> {
        // DDL is transactional here: one ALTER a change.
        let mut done = self.widen(table, widen, apply)?;
        done.extend(self.add_columns(table, add, apply)?);
        Ok(done)
    }

    fn create_stage(&mut self, plan: &Plan) -> Result<()> {
        self.stager.create(&self.conn, plan)
    }

    fn stage(&mut self, plan: &Plan, batches: super::Batches<'_>) -> Result<()> {
        for batch in batches {
            self.stager.push(&self.conn, plan, &batch?)?;
        }
        Ok(())
    }

    fn finish_stage(&mut self, plan: &Plan) -> Result<()> {
        self.stager.finish(&self.conn, plan)
    }

    fn prepare_delete(&mut self, plan: &Plan) -> Result<()> {
        delete::prepare(&self.conn, plan)
    }

    fn count_in_scope(&mut self, plan: &Plan) -> Result<u64> {
        delete::count_in_scope(&self.conn, plan)
    }

    fn merge(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<MergeCounts> {
        merge::merge(&mut self.conn, plan, tell)
    }

    fn delete_missing(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<u64> {
        delete::delete_missing(&mut self.conn, plan, tell)
    }

    fn table_keys(&mut self, plan: &Plan) -> Result<Box<dyn arrow_array::RecordBatchReader + Send>> {
        let sql = crate::db::sql::table_keys(plan, q, &sql::target(plan));
        let name = format!("table {}", q(&plan.table.name));
        crate::db::rows::collected(&name, |out| query::read(&self.conn, &sql, out))
    }

    fn commit(&mut self) -> Result<()> {
        self.exec("committing", "COMMIT")?;
        self.committed = true;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.exec("rolling back", "ROLLBACK")
    }
}

/// `--evolve`'s statements.
impl SqliteConnection {
    fn add_columns(&mut self, table: &str, columns: &[Column], apply: bool) -> Result<Vec<String>> {
        let name = format!("main.{}", q(table));
        let exec = |what: &str, sql: &str| self.exec(what, sql);
        crate::db::sql::add_columns(table, &name, columns, q, |c, _| ddl::ddl_type(&c.ty), apply, exec)
    }

    fn widen(&mut self, _table: &str, widen: &[super::Widen], _apply: bool) -> Result<Vec<String>> {
        // Types cannot change in place, nor need to: a column holds any value (its
        // declared widths are not enforced). An integer column given fractions takes
        // them as SQLite stores them (as reals): said, not done.
        Ok(widen
            .iter()
            .filter(|w| matches!(w.column.ty, SqlType::Integer { .. } | SqlType::Unsigned { .. }))
            .filter(|w| matches!(w.to, super::Widening::Decimal { .. } | super::Widening::Double))
            .map(|w| {
                format!(
                    "{} {} takes numbers with a fraction (SQLite keeps its type)",
                    q(&w.column.name),
                    w.column.declared
                )
            })
            .collect())
    }
}
