//! MySQL and MariaDB.
//!
//! - `reflect.rs`: the table, its columns (with collations) and unique indexes, from
//!   information_schema.
//! - `merge.rs`: the keyed staging table, and the merge that never lets
//!   `ON DUPLICATE KEY UPDATE` pick the wrong unique key (it is not used on the target).
//!
//! The session is pinned to strict SQL mode (no silent truncation, no zero dates) and
//! to UTC (`time_zone = '+00:00'`), so no value depends on the server's defaults.

mod merge;
mod reflect;

use super::{Batch, Connection, MergeCounts};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};

pub(crate) struct MyConnection {
    conn: Conn,
    target: Option<(String, String)>,
    /// The rows the next `LOAD DATA LOCAL INFILE` streams (filled by `stage`).
    infile: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// False once the server (or client) has refused LOCAL INFILE: multi-row INSERTs then.
    load_data: bool,
}

/// Quotes an identifier for MySQL.
pub(crate) fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `ssl-mode` as the mysql client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disabled,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// Reads `ssl-mode` and `ssl-ca` out of the URL (the rest goes to the mysql crate).
fn split_tls(url: &str) -> Result<(String, SslMode, Option<std::path::PathBuf>)> {
    let (mut mode, mut ca) = (SslMode::Disabled, None);
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), mode, ca)) };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k.replace('_', "-").to_ascii_lowercase().as_str() {
            "ssl-mode" | "sslmode" => {
                mode = match v.to_ascii_lowercase().replace('_', "-").as_str() {
                    "disabled" | "disable" | "preferred" | "prefer" => SslMode::Disabled,
                    "required" | "require" => SslMode::Required,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-identity" | "verify-full" => SslMode::VerifyIdentity,
                    other => {
                        return Err(Error::Usage(format!(
                            "ssl-mode={other} is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
                        )))
                    }
                }
            }
            "ssl-ca" | "sslrootcert" => ca = Some(std::path::PathBuf::from(crate::url::percent_decode(v)?)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, mode, ca))
}

impl MyConnection {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let redacted = crate::url::redact(url);
        let url = match url.split_once("://") {
            Some((_, rest)) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let (rest, mode, ca) = split_tls(&url)?;
        let opts = Opts::from_url(&rest).map_err(|e| {
            Error::Usage(format!("{redacted}: not a valid MySQL URL ({})", crate::url::redact(&e.to_string())))
        })?;
        let infile = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let source = infile.clone();
        let handler = mysql::LocalInfileHandler::new(move |_name, out| {
            use std::io::Write;
            let data = source.lock().map_err(|_| std::io::Error::other("staging buffer poisoned"))?;
            out.write_all(&data)?;
            out.flush()
        });
        let mut builder = OptsBuilder::from_opts(opts).local_infile_handler(Some(handler));
        if mode != SslMode::Disabled {
            let mut ssl = SslOpts::default()
                .with_danger_accept_invalid_certs(mode == SslMode::Required && ca.is_none())
                .with_danger_skip_domain_validation(mode != SslMode::VerifyIdentity);
            if let Some(ca) = ca {
                ssl = ssl.with_root_cert_path(Some(ca));
            }
            builder = builder.ssl_opts(ssl);
        }
        let mut conn =
            Conn::new(builder).map_err(|e| Error::db(format!("connecting to MySQL at {redacted}"), e.to_string()))?;
        conn.query_drop(
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
                 SESSION time_zone = '+00:00'",
        )
        .map_err(|e| Error::db("configuring the MySQL session", e))?;
        Ok(MyConnection { conn, target: None, infile, load_data: true })
    }

    fn exec(&mut self, context: &str, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| Error::db(context, e))
    }
}

impl Connection for MyConnection {
    fn begin(&mut self) -> Result<()> {
        self.exec("starting a transaction", "START TRANSACTION")
    }

    fn reflect(&mut self, table: &str) -> Result<Option<Table>> {
        Ok(reflect::table(&mut self.conn, table)?.map(|(t, target)| {
            self.target = Some(target);
            t
        }))
    }

    fn create_table(&mut self, table: &str, columns: &[Column], key: &[String]) -> Result<()> {
        // MySQL commits DDL implicitly: a load that fails after this leaves the (empty)
        // table behind. Said in the README.
        let sql = merge::create_table_sql(table, columns, key);
        self.exec(&format!("creating table {}", crate::error::quote_ident(table)), &sql)
    }

    fn create_stage(&mut self, plan: &Plan) -> Result<()> {
        self.exec("creating the staging table", &merge::stage_table_sql(plan))
    }

    fn stage(&mut self, plan: &Plan, batch: &Batch) -> Result<()> {
        if self.load_data {
            match merge::load_data(&mut self.conn, plan, batch, &self.infile) {
                Err(merge::LoadDataRefused) => self.load_data = false,
                Ok(result) => return result,
            }
        }
        merge::stage(&mut self.conn, plan, batch)
    }

    fn merge(&mut self, plan: &Plan) -> Result<MergeCounts> {
        let (schema, name) = self.target.clone().expect("reflect runs before merge");
        merge::merge(&mut self.conn, plan, &format!("{}.{}", q(&schema), q(&name)))
    }

    fn commit(&mut self) -> Result<()> {
        self.exec("committing", "COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.exec("rolling back", "ROLLBACK")
    }
}
