//! PostgreSQL.
//!
//! - `reflect.rs`: table resolution (search_path, schema-qualified names), columns with
//!   their base types (domains, enums), unique indexes and constraints.
//! - `ddl.rs`: `CREATE TABLE` for `--create`.
//! - `stage.rs`: the staging table, filled by binary COPY (`copy.rs`: the format).
//! - `merge.rs`: server-side de-duplication, and the merge.
//! - `delete.rs`: `--delete-missing`.
//! - `changes.rs`: `--changes`; `wire.rs`: its read's rows, as binary COPY.

mod changes;
mod citus;
mod colocated;
mod copy;
mod ddl;
mod delete;
mod float;
mod merge;
pub(crate) mod query;
mod reflect;
pub(crate) mod session;
mod sql;
mod stage;
mod sync;
mod wire;

use self::session::message;
use super::{Connection, MergeCounts};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use postgres::Client;

pub(crate) struct PgConnection {
    client: Client,
    /// The resolved target: schema and name, for qualified SQL.
    target: Option<(String, String)>,
    /// Whether the keys staged so far are whole numbers in strictly increasing order.
    order: stage::KeyOrder,
    /// The table the rows are staged into: the temporary stage, or a co-located one.
    into: stage::Destination,
    /// Rows sorted on the client before staging (Citus targets).
    sorting: Option<stage::Sorting>,
    /// Whether Citus manages the target, and how.
    placement: citus::Placement,
    /// `--lock-timeout`, in milliseconds.
    lock_timeout: Option<u64>,
}

/// Quotes an identifier for PostgreSQL.
use self::sql::q;

impl PgConnection {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let client = crate::db::postgres::session::connect(url)?;
        Ok(PgConnection {
            client,
            target: None,
            order: stage::KeyOrder::default(),
            into: stage::Destination::default(),
            sorting: None,
            placement: citus::Placement::Local,
            lock_timeout: None,
        })
    }

    fn exec(&mut self, context: &str, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| Error::db(context, message(&e)))
    }

    /// The table `--create` makes for `table`, quoted: `schema.table` names a table in
    /// that schema when the schema exists.
    fn new_table_name(&mut self, table: &str) -> Result<String> {
        if let Some((schema, rest)) = table.split_once('.') {
            let exists = self
                .client
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                .map_err(|e| Error::db("looking up the schema", message(&e)))?;
            if exists.is_some() {
                return Ok(format!("{}.{}", q(schema), q(rest)));
            }
        }
        Ok(q(table))
    }

    /// The target, schema-qualified and quoted.
    fn target_name(&self) -> String {
        let (schema, name) = self.target.as_ref().expect("reflect runs before staging");
        format!("{}.{}", q(schema), q(name))
    }
}

impl Connection for PgConnection {
    fn set_lock_timeout(&mut self, seconds: f64) -> Result<()> {
        let ms = (seconds * 1000.0).ceil().max(1.0) as u64;
        self.lock_timeout = Some(ms);
        self.exec("setting the lock timeout", &format!("SET lock_timeout = {ms}"))
    }

    fn begin(&mut self) -> Result<()> {
        // Sorting a million staged rows by key fits in memory at 64 MB; the setting is
        // local to this transaction.
        self.exec("starting a transaction", "BEGIN; SET LOCAL work_mem = '64MB'")?;
        // A Citus coordinator's statements wait for row locks on the workers, which take
        // the lock timeout from the transaction's `SET LOCAL`s when told to (on plain
        // PostgreSQL the `citus.` setting is an unused placeholder).
        match self.lock_timeout {
            Some(ms) => self.exec(
                "setting the lock timeout",
                &format!("SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL lock_timeout = {ms}"),
            ),
            None => Ok(()),
        }
    }

    fn reflect(&mut self, table: &str) -> Result<Option<Table>> {
        let Some((mut t, resolved)) = reflect::table(&mut self.client, table)? else { return Ok(None) };
        self.placement = citus::placement(&mut self.client, resolved.oid)?;
        t.distributed_by = self.placement.column().map(str::to_owned);
        self.target = Some((resolved.schema, resolved.name));
        Ok(Some(t))
    }

    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<bool> {
        let name = self.new_table_name(table)?;
        let sql = ddl::create_table_sql(&name, columns, key);
        // Another load creating the same table at once: this CREATE waits for that
        // load's transaction, and fails once it commits (on the table's name, or its
        // row type's); then the table is there to upsert into. A savepoint keeps the
        // transaction usable after that failure.
        let ctx = format!("creating table {}", q(table));
        self.exec(&ctx, "SAVEPOINT upsertx_create")?;
        match self.client.batch_execute(&sql) {
            Ok(()) => self.exec(&ctx, "RELEASE SAVEPOINT upsertx_create").map(|()| true),
            Err(e)
                if e.code() == Some(&postgres::error::SqlState::DUPLICATE_TABLE)
                    || e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                self.exec(&ctx, "ROLLBACK TO SAVEPOINT upsertx_create").map(|()| false)
            }
            Err(e) => Err(Error::db(ctx, message(&e))),
        }
    }

    fn distribute(&mut self, table: &str, column: &str) -> Result<()> {
        if !citus::installed(&mut self.client)? {
            return Err(Error::Usage(super::NO_CITUS.into()));
        }
        let name = self.new_table_name(table)?;
        self.client
            .execute("SELECT create_distributed_table($1::text::regclass, $2)", &[&name, &column])
            .map(|_| ())
            .map_err(|e| {
                Error::db(
                    format!("distributing table {} by column {} (--distribute-by)", q(table), q(column)),
                    message(&e),
                )
            })
    }

    fn max_name_bytes(&self) -> Option<(usize, &'static str)> {
        // NAMEDATALEN - 1, as PostgreSQL is built.
        Some((63, "PostgreSQL"))
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
        self.order = stage::KeyOrder::default();
        self.into = stage::Destination::default();
        self.sorting = None;
        if let Some(by) = colocated::column(plan, &self.placement) {
            let (schema, _) = self.target.clone().expect("reflect runs before staging");
            let target = self.target_name();
            self.into = stage::Destination(colocated::create(&mut self.client, plan, (&schema, &target), &by)?);
            return Ok(());
        }
        // On Citus the sort the merge needs runs on the coordinator, which also relays
        // every row to the workers: the client sorts instead.
        self.sorting = self.placement.citus().then(|| stage::Sorting::new(plan)).flatten();
        self.exec("creating the staging table", &stage::stage_table_sql(plan))
    }

    fn stage(&mut self, plan: &Plan, batches: super::Batches<'_>) -> Result<()> {
        let kinds = stage::kinds(plan);
        let (order, sorting) = (&mut self.order, &mut self.sorting);
        stage::stream(&mut self.client, plan, &self.into, |send| {
            for batch in batches {
                let batch = batch?;
                let batch = match sorting {
                    // The sorter gives back only batches whose keys, and all before them,
                    // increase: counted, not checked again.
                    Some(sorting) => match sorting.take(plan, batch)? {
                        Some(batch) => {
                            order.increasing(batch.rows.len() as u64);
                            batch
                        }
                        None => continue,
                    },
                    None => {
                        order.observe(plan, &batch);
                        batch
                    }
                };
                send(stage::encode(plan, &kinds, batch)?)?;
            }
            Ok(())
        })
    }

    fn finish_stage(&mut self, plan: &Plan) -> Result<()> {
        let Some(sorting) = self.sorting.take() else { return Ok(()) };
        let straight = self.order.rows;
        let (sorted, duplicate) = sorting.finish(&mut self.client, plan, &self.into)?;
        self.order.sorted_after(sorted);
        let Some(d) = duplicate else { return Ok(()) };
        // Rows staged as they came are earlier in the input: a duplicate among them, or of
        // one of them, may come before the sorter's.
        if straight > 0 {
            if let Err(e @ Error::DuplicateKey { .. }) = merge::check_no_duplicates(&mut self.client, plan) {
                if matches!(&e, Error::DuplicateKey { at, .. } if at.row < d.row) {
                    return Err(e);
                }
            }
        }
        Err(stage::duplicate_error(plan, &d))
    }

    fn prepare_delete(&mut self, plan: &Plan) -> Result<()> {
        let target = self.target_name();
        delete::prepare(&mut self.client, plan, &target)
    }

    fn count_in_scope(&mut self, plan: &Plan) -> Result<u64> {
        let target = self.target_name();
        delete::count_in_scope(&mut self.client, plan, &target, self.placement.citus())
    }

    fn merge(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<MergeCounts> {
        let target = self.target_name();
        let told = match tell {
            Some(sink) => Some(changes::tell(&mut self.client, plan, &target, &mut self.order, sink)?),
            None => None,
        };
        if let Some(stage) = self.into.colocated() {
            return colocated::merge(&mut self.client, plan, &target, stage, &self.order);
        }
        merge::merge(&mut self.client, plan, &target, &mut self.order, told, &self.placement)
    }

    fn delete_missing(&mut self, plan: &Plan, tell: Option<&mut dyn super::ChangeSink>) -> Result<u64> {
        if plan.staged != crate::plan::Staged::Rows {
            // No merge made the de-duplicated input the delete reads.
            merge::source(&mut self.client, plan, &mut self.order)?;
        }
        let target = self.target_name();
        delete::delete_missing(&mut self.client, plan, &target, &self.order, tell, &self.placement)
    }

    fn table_keys(&mut self, plan: &Plan) -> Result<Box<dyn arrow_array::RecordBatchReader + Send>> {
        let sql = crate::db::sql::table_keys(plan, q, &self.target_name());
        let name = format!("table {}", q(&plan.table.name));
        crate::db::rows::collected(&name, |out| query::read(&mut self.client, &sql, out))
    }

    fn commit(&mut self) -> Result<()> {
        self.exec("committing", "COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.exec("rolling back", "ROLLBACK")
    }
}

/// `--evolve`'s statements.
impl PgConnection {
    fn add_columns(&mut self, table: &str, columns: &[Column], apply: bool) -> Result<Vec<String>> {
        let (schema, resolved) = self.target.clone().expect("reflect runs before --evolve");
        let name = format!("{}.{}", q(&schema), q(&resolved));
        let exec = |what: &str, sql: &str| self.exec(what, sql);
        crate::db::sql::add_columns(table, &name, columns, q, |c, _| ddl::ddl_type(&c.ty), apply, exec)
    }

    fn widen(&mut self, table: &str, widen: &[super::Widen], apply: bool) -> Result<Vec<String>> {
        let (schema, resolved) = self.target.clone().expect("reflect runs before --evolve");
        let name = format!("{}.{}", q(&schema), q(&resolved));
        let mut done = Vec::new();
        for w in widen {
            let (old, col) = (&w.column.declared, &w.column.name);
            let new = crate::db::widened_type(old, w.to);
            if apply {
                let sql = format!("ALTER TABLE {name} ALTER COLUMN {} TYPE {new}", q(col));
                self.exec(&format!("widening column {} of table {} (--evolve)", q(col), q(table)), &sql)?;
            }
            done.push(format!("widened {} {old} -> {new}", q(col)));
        }
        Ok(done)
    }
}
