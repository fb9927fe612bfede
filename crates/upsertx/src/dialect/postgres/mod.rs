//! PostgreSQL.
//!
//! - `reflect.rs`: table resolution (search_path, schema-qualified names), columns with
//!   their base types (domains, enums), unique indexes and constraints.
//! - `copy.rs`: the binary COPY format the stage is written in.
//! - `merge.rs`: the staging table, server-side de-duplication, and the merge.

mod copy;
mod merge;
mod reflect;

use super::{Batch, Connection, MergeCounts};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use postgres::{Client, Config, NoTls};
use std::str::FromStr;

pub(crate) struct PgConnection {
    client: Client,
    /// The resolved target: schema and name, for qualified SQL.
    target: Option<(String, String)>,
    /// Whether the keys staged so far are whole numbers in strictly increasing order.
    order: merge::KeyOrder,
}

/// The text of a postgres error, with the server's detail when there is one.
pub(crate) fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// Quotes an identifier for PostgreSQL.
pub(crate) fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The connection settings of a `postgres://` URL (or libpq key=value string), with the
/// libpq environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`) filling in what the URL leaves out.
fn config(url: &str) -> Result<Config> {
    let mut config = Config::from_str(url)
        .map_err(|e| Error::Usage(format!("{}: not a valid PostgreSQL URL ({e})", crate::url::redact(url))))?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if config.get_hosts().is_empty() {
        match env("PGHOST") {
            Some(h) => {
                for host in h.split(',') {
                    config.host(host);
                }
            }
            None if std::path::Path::new("/var/run/postgresql").exists() => {
                config.host_path("/var/run/postgresql");
            }
            None => {
                config.host("localhost");
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT").and_then(|p| p.parse().ok()) {
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        if let Some(user) = env("PGUSER").or_else(|| env("USER")) {
            config.user(&user);
        }
    }
    if config.get_password().is_none() {
        if let Some(pw) = env("PGPASSWORD") {
            config.password(pw);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            config.dbname(&db);
        }
    }
    config.application_name("upsertx");
    Ok(config)
}

impl PgConnection {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let config = config(url)?;
        if matches!(config.get_ssl_mode(), postgres::config::SslMode::Require) {
            return Err(Error::Usage(format!(
                "{}: sslmode=require is not supported yet (TLS comes in a later version)",
                crate::url::redact(url)
            )));
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| Error::db(format!("connecting to PostgreSQL at {}", crate::url::redact(url)), message(&e)))?;
        Ok(PgConnection { client, target: None, order: merge::KeyOrder::default() })
    }

    fn exec(&mut self, context: &str, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| Error::db(context, message(&e)))
    }
}

impl Connection for PgConnection {
    fn begin(&mut self) -> Result<()> {
        // Sorting a million staged rows by key fits in memory at 64 MB; the setting is
        // local to this transaction.
        self.exec("starting a transaction", "BEGIN; SET LOCAL work_mem = '64MB'")
    }

    fn reflect(&mut self, table: &str) -> Result<Option<Table>> {
        Ok(reflect::table(&mut self.client, table)?.map(|(t, resolved)| {
            self.target = Some((resolved.schema, resolved.name));
            t
        }))
    }

    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<()> {
        // `schema.table` names a table in that schema when the schema exists.
        let mut name = q(table);
        if let Some((schema, rest)) = table.split_once('.') {
            let exists = self
                .client
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                .map_err(|e| Error::db("looking up the schema", message(&e)))?;
            if exists.is_some() {
                name = format!("{}.{}", q(schema), q(rest));
            }
        }
        let sql = merge::create_table_sql(&name, columns, key);
        self.exec(&format!("creating table {}", q(table)), &sql)
    }

    fn create_stage(&mut self, plan: &Plan) -> Result<()> {
        self.exec("creating the staging table", &merge::stage_table_sql(plan))
    }

    fn stage(&mut self, plan: &Plan, batch: &Batch) -> Result<()> {
        self.order.observe(plan, batch);
        merge::stage(&mut self.client, plan, batch)
    }

    fn merge(&mut self, plan: &Plan) -> Result<MergeCounts> {
        let (schema, name) = self.target.clone().expect("reflect runs before merge");
        merge::merge(&mut self.client, plan, &format!("{}.{}", q(&schema), q(&name)), &self.order)
    }

    fn commit(&mut self) -> Result<()> {
        self.exec("committing", "COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.exec("rolling back", "ROLLBACK")
    }
}
