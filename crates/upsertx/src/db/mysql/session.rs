//! Connecting to MySQL and MariaDB: `mysql://` and `mariadb://` URLs, `ssl-mode` and
//! `ssl-ca` as the mysql client spells them (over rustls), and the session every upsertx
//! connection runs in (strict SQL mode, UTC). Used by the MySQL target and the MySQL
//! query source alike.

use crate::error::{Error, Result};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, SslOpts};

/// The connection options of a URL (TLS included), what upsertx itself reads out of
/// its query, and the server as `host:port` for messages.
pub(crate) fn options(url: &str) -> Result<(OptsBuilder, UrlOptions, String)> {
    let redacted = crate::net::url::redact(url);
    let url = match url.split_once("://") {
        Some((_, rest)) => format!("mysql://{rest}"),
        None => url.to_owned(),
    };
    let (rest, options) = split_options(&url)?;
    let opts = Opts::from_url(&rest).map_err(|e| {
        Error::Usage(format!("{redacted}: not a valid MySQL URL ({})", crate::net::url::redact(&e.to_string())))
    })?;
    let server = format!("{}:{}", opts.get_ip_or_hostname(), opts.get_tcp_port());
    let mut builder = OptsBuilder::from_opts(opts);
    if options.ssl_mode != SslMode::Disabled {
        let mut ssl = SslOpts::default()
            .with_danger_accept_invalid_certs(options.ssl_mode == SslMode::Required && options.ssl_ca.is_none())
            .with_danger_skip_domain_validation(options.ssl_mode != SslMode::VerifyIdentity);
        if let Some(ca) = &options.ssl_ca {
            ssl = ssl.with_root_cert_path(Some(ca.clone()));
        }
        builder = builder.ssl_opts(ssl);
    }
    Ok((builder, options, server))
}

/// Connects with `builder` (from [`options`]) and pins the session: strict SQL mode (no
/// silent truncation, no zero dates) and UTC, whatever the server's defaults.
pub(crate) fn connect(builder: OptsBuilder, url: &str) -> Result<Conn> {
    let redacted = crate::net::url::redact(url);
    let mut conn = Conn::new(builder).map_err(|e| db_error(format!("connecting to MySQL at {redacted}"), e))?;
    conn.query_drop(
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',
             SESSION time_zone = '+00:00'",
    )
    .map_err(|e| db_error("configuring the MySQL session", e))?;
    Ok(conn)
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
pub(crate) const LOST: &str = "the connection to the server was lost";

/// `ssl-mode` as the mysql client names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disabled,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// What upsertx reads out of the URL's query itself (the rest goes to the mysql crate).
pub(crate) struct UrlOptions {
    pub(crate) ssl_mode: SslMode,
    pub(crate) ssl_ca: Option<std::path::PathBuf>,
    /// `local-infile=0`: never stage with `LOAD DATA LOCAL INFILE`.
    pub(crate) local_infile: bool,
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
            "ssl-ca" | "sslrootcert" => ca = Some(std::path::PathBuf::from(crate::net::url::percent_decode(v)?)),
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
