//! Connecting to PostgreSQL as libpq users expect: URLs and key=value strings, the PG*
//! environment variables, and libpq's `sslmode` over rustls. Used by the PostgreSQL
//! target and the PostgreSQL query source alike.

use crate::error::{Error, Result};
use postgres::{Client, Config, NoTls};
use std::str::FromStr;

/// Opens a session for a `postgres://` URL or libpq key=value string.
pub(crate) fn connect(url: &str) -> Result<Client> {
    use crate::net::tls::{client_config, Verify};
    use postgres::config::SslMode as PgSsl;
    let (rest, mode, root) = split_tls(url)?;
    let mut config = config(&rest).map_err(|e| match e {
        Error::Usage(_) => Error::Usage(format!("{}: not a valid PostgreSQL URL", crate::net::url::redact(url))),
        other => other,
    })?;
    // As libpq: `require` with a root certificate file checks the chain.
    let verify = match mode {
        SslMode::Disable => None,
        SslMode::Prefer => Some(Verify::Nothing),
        SslMode::Require if root.is_some() => Some(Verify::Chain),
        SslMode::Require => Some(Verify::Nothing),
        SslMode::VerifyCa => Some(Verify::Chain),
        SslMode::VerifyFull => Some(Verify::Full),
    };
    config.ssl_mode(match mode {
        SslMode::Disable => PgSsl::Disable,
        SslMode::Prefer => PgSsl::Prefer,
        _ => PgSsl::Require,
    });
    let context = || format!("connecting to PostgreSQL at {}", crate::net::url::redact(url));
    match verify {
        None => config.connect(NoTls),
        Some(v) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(v, root.as_deref())?);
            config.connect(tls)
        }
    }
    .map_err(|e| Error::db(context(), connect_message(&e)))
}

/// The text of a postgres error, with the server's detail when there is one.
pub(crate) fn message(e: &postgres::Error) -> String {
    use postgres::error::SqlState;
    match e.as_db_error() {
        Some(db) if [SqlState::T_R_DEADLOCK_DETECTED, SqlState::LOCK_NOT_AVAILABLE].contains(db.code()) => format!(
            "{} (another transaction was writing the same rows; the load was rolled back and nothing was \
             written: run it again)",
            db.message()
        ),
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// A connection error with its cause (TLS failures hide theirs one level down).
fn connect_message(e: &postgres::Error) -> String {
    let mut text = message(e);
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // The server's error again, with its severity ("FATAL: ..."), says nothing new.
        if !text.contains(&cause_text) && !cause_text.contains(&text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The connection settings of a `postgres://` URL (or libpq key=value string), with the
/// libpq environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`) filling in what the URL leaves out.
fn config(url: &str) -> Result<Config> {
    let mut config = Config::from_str(url)
        .map_err(|e| Error::Usage(format!("{}: not a valid PostgreSQL URL ({e})", crate::net::url::redact(url))))?;
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

/// libpq's `sslmode`, which rust-postgres only knows in part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Takes `sslmode` and `sslrootcert` out of a URL (or key=value string), so the rest can
/// go to rust-postgres; `PGSSLMODE` / `PGSSLROOTCERT` fill in what is absent.
fn split_tls(url: &str) -> Result<(String, SslMode, Option<std::path::PathBuf>)> {
    let (mut mode, mut root) = (None, None);
    let mut take = |key: &str, value: &str| -> Result<bool> {
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(Error::Usage(format!(
                            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                        )))
                    }
                })
            }
            "sslrootcert" => root = Some(std::path::PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    // The environment first: what the URL says overrides it.
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(m) = env("PGSSLMODE") {
        take("sslmode", &m)?;
    }
    if let Some(r) = env("PGSSLROOTCERT") {
        take("sslrootcert", &r)?;
    }
    let rest = if url.contains("://") {
        match url.split_once('?') {
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(k, &crate::net::url::percent_decode(v)?)? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_string(),
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            if !take(k, v)? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    Ok((rest, mode.unwrap_or(SslMode::Prefer), root))
}
