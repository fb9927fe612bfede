//! MySQL and MariaDB.
//!
//! - `reflect.rs`: the table, its columns (with collations) and unique indexes, from
//!   information_schema.
//! - `stage.rs`: the keyed temporary staging table, filled by `LOAD DATA LOCAL INFILE`
//!   streamed from memory (sorted by key when the key is made of integers), or by
//!   multi-row INSERTs when LOCAL INFILE is refused.
//! - `merge.rs`: the merge, which lets `ON DUPLICATE KEY UPDATE` touch the target only
//!   when it cannot pick the wrong unique key.
//!
//! The session is pinned to strict SQL mode (no silent truncation, no zero dates), to
//! UTC (`time_zone = '+00:00'`) and to repeatable read (the merge's locking reads rely
//! on its next-key locks), so nothing depends on the server's defaults.

mod merge;
mod reflect;
mod stage;
#[cfg(test)]
mod tests;

use super::{Batch, Connection, MergeCounts};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::schema::{Column, Table};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};

pub(crate) struct MyConnection {
    conn: Conn,
    target: Option<(String, String)>,
    stager: stage::Stager,
    /// The named lock held from the merge to the end of the transaction.
    merge_lock: Option<String>,
    /// `host:port`, for messages.
    server: String,
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

/// A database error with the mysql crate's message, without its `MySqlError { ... }`
/// wrapping: "ERROR 1146 (42S02): Table 'test.x' doesn't exist", "invalid peer
/// certificate: UnknownIssuer".
pub(crate) fn db_error(context: impl Into<String>, e: mysql::Error) -> Error {
    let text = e.to_string();
    let inner = text
        .split_once(" { ")
        .filter(|(head, _)| head.ends_with("Error") && !head.contains(' '))
        .and_then(|(_, rest)| rest.strip_suffix(" }"))
        .unwrap_or(&text);
    let inner = inner.strip_prefix("IO error: `").and_then(|s| s.strip_suffix('\'')).unwrap_or(inner);
    match &e {
        mysql::Error::MySqlError(m) if m.code == 1213 || m.code == 1205 => Error::db(
            context,
            format!(
                "{inner} (another transaction was writing the same rows; the load was rolled back and \
                 nothing was written: run it again)"
            ),
        ),
        mysql::Error::CodecError(_) => Error::db(context, format!("{LOST} ({inner})")),
        mysql::Error::IoError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            Error::db(context, format!("{LOST} ({inner})"))
        }
        _ => Error::db(context, inner),
    }
}

/// How a connection that dies mid-load is reported (the server address is added by
/// [`MyConnection::at_server`]); the server rolls the transaction back.
const LOST: &str = "the connection to the server was lost";

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

/// What upsertx reads out of the URL's query itself (the rest goes to the mysql crate).
struct UrlOptions {
    ssl_mode: SslMode,
    ssl_ca: Option<std::path::PathBuf>,
    /// `local-infile=0`: never stage with `LOAD DATA LOCAL INFILE`.
    local_infile: bool,
}

/// Splits `ssl-mode`, `ssl-ca` and `local-infile` out of the URL.
fn split_options(url: &str) -> Result<(String, UrlOptions)> {
    let (mut mode, mut ca, mut local_infile) = (SslMode::Disabled, None, true);
    let options = |mode, ca, local_infile| UrlOptions { ssl_mode: mode, ssl_ca: ca, local_infile };
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), options(mode, ca, local_infile))) };
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
            "local-infile" => {
                local_infile = match v.to_ascii_lowercase().as_str() {
                    "1" | "true" | "on" => true,
                    "0" | "false" | "off" => false,
                    other => return Err(Error::Usage(format!("local-infile={other} is not one of 1, 0, true, false"))),
                }
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, options(mode, ca, local_infile)))
}

impl MyConnection {
    pub(crate) fn open(url: &str) -> Result<Self> {
        let redacted = crate::url::redact(url);
        let url = match url.split_once("://") {
            Some((_, rest)) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let (rest, options) = split_options(&url)?;
        let (mode, ca) = (options.ssl_mode, options.ssl_ca);
        let opts = Opts::from_url(&rest).map_err(|e| {
            Error::Usage(format!("{redacted}: not a valid MySQL URL ({})", crate::url::redact(&e.to_string())))
        })?;
        let stager = stage::Stager::new(options.local_infile);
        let server = format!("{}:{}", opts.get_ip_or_hostname(), opts.get_tcp_port());
        let mut builder = OptsBuilder::from_opts(opts).local_infile_handler(Some(stager.infile_handler()));
        if mode != SslMode::Disabled {
            let mut ssl = SslOpts::default()
                .with_danger_accept_invalid_certs(mode == SslMode::Required && ca.is_none())
                .with_danger_skip_domain_validation(mode != SslMode::VerifyIdentity);
            if let Some(ca) = ca {
                ssl = ssl.with_root_cert_path(Some(ca));
            }
            builder = builder.ssl_opts(ssl);
        }
        let mut conn = Conn::new(builder).map_err(|e| db_error(format!("connecting to MySQL at {redacted}"), e))?;
        conn.query_drop(
            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
                 SESSION time_zone = '+00:00';
             SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .map_err(|e| db_error("configuring the MySQL session", e))?;
        Ok(MyConnection { conn, target: None, stager, merge_lock: None, server })
    }

    /// Takes the named lock that makes upsertx loads into one table merge one after
    /// another (staging still runs side by side). InnoDB's next-key locks would
    /// otherwise deadlock two loads that insert new keys into the same gaps, and one of
    /// them would fail for no fault of its input. Held until commit or rollback; the
    /// server releases it if the connection dies.
    fn lock_merges(&mut self, schema: &str, table: &str) -> Result<()> {
        let name = merge_lock_name(schema, table);
        // A day: a long merge of another load is a reason to wait, not to fail.
        let got: Option<Option<i64>> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, 86400)", (&name,))
            .map_err(|e| db_error("waiting for another upsertx load into the same table", e))?;
        if got.flatten() != Some(1) {
            return Err(Error::db(
                format!("merging into table {}", crate::error::quote_ident(table)),
                "another upsertx load into the same table held its merge lock for a day",
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

    fn exec(&mut self, context: &str, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| db_error(context, e))
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
        let done = self.stager.create(&mut self.conn, plan);
        self.at_server(done)
    }

    fn stage(&mut self, plan: &Plan, batch: &Batch) -> Result<()> {
        let done = self.stager.push(&mut self.conn, plan, batch);
        self.at_server(done)
    }

    fn merge(&mut self, plan: &Plan) -> Result<MergeCounts> {
        let done = (|| {
            self.stager.finish(&mut self.conn, plan)?;
            let (schema, name) = self.target.clone().expect("reflect runs before merge");
            self.lock_merges(&schema, &name)?;
            merge::merge(&mut self.conn, plan, &format!("{}.{}", q(&schema), q(&name)))
        })();
        self.at_server(done)
    }

    fn commit(&mut self) -> Result<()> {
        let done = self.exec("committing", "COMMIT");
        self.unlock_merges();
        self.at_server(done)
    }

    fn rollback(&mut self) -> Result<()> {
        let done = self.exec("rolling back", "ROLLBACK");
        self.unlock_merges();
        done
    }
}
