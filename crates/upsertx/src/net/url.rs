//! Database URLs: which dialect, where, and how to show them without secrets.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:`.
    Sqlite(SqliteTarget),
    /// `postgres://` or `postgresql://`, or a libpq `key=value` string, kept whole.
    Postgres(String),
    /// `mysql://` or `mariadb://`, kept whole.
    Mysql(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqliteTarget {
    File(PathBuf),
    Memory,
}

impl DbUrl {
    /// The error for a database this build of upsertx was compiled without.
    #[allow(dead_code)] // with every database feature on, nothing is missing
    pub(crate) fn not_built(&self) -> Error {
        let (name, feature) = match self {
            DbUrl::Sqlite(_) => ("SQLite", "sqlite"),
            DbUrl::Postgres(_) => ("PostgreSQL", "postgres"),
            DbUrl::Mysql(_) => ("MySQL/MariaDB", "mysql"),
        };
        Error::Usage(format!(
            "this build of upsertx has no {name} support (it was built without the cargo feature `{feature}`)"
        ))
    }

    pub fn parse(url: &str) -> Result<DbUrl> {
        if !url.contains("://") && is_key_value(url) {
            return Ok(DbUrl::Postgres(url.to_owned()));
        }
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
        match scheme.as_str() {
            "sqlite" | "sqlite3" => {
                let rest = &url[scheme.len() + 1..];
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                let path = rest.split_once('?').map_or(rest, |(p, _)| p);
                if path.is_empty() {
                    return Err(Error::Usage(format!("{url}: no database file in the URL (e.g. sqlite://data.db)")));
                }
                if path == ":memory:" {
                    return Ok(DbUrl::Sqlite(SqliteTarget::Memory));
                }
                Ok(DbUrl::Sqlite(SqliteTarget::File(PathBuf::from(percent_decode(path)?))))
            }
            "postgres" | "postgresql" => Ok(DbUrl::Postgres(url.to_owned())),
            "mysql" | "mariadb" => Ok(DbUrl::Mysql(url.to_owned())),
            _ => Err(Error::Usage(format!(
                "{}: unknown database URL scheme (expected sqlite://PATH, postgres://... or mysql://...)",
                redact(url)
            ))),
        }
    }
}

pub(crate) fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| Error::Usage(format!("{s}: percent-encoding in the URL is not UTF-8")))
}

/// The URL with any password replaced by `***`: safe to print.
///
/// ```
/// assert_eq!(upsertx::redact_url("postgres://ann:s3cret@db/x"), "postgres://ann:***@db/x");
/// assert_eq!(upsertx::redact_url("sqlite://data.db"), "sqlite://data.db");
/// ```
pub fn redact(url: &str) -> String {
    redact_parameters(&redact_userinfo(url))
}

/// `scheme://user:password@host...` (or `user:password@host` without a scheme): the
/// password is everything from the first `:` of the user part to the last `@`, so a
/// password holding `/`, `#`, `?` or `@` is hidden whole (a query value holding an
/// `@` may be hidden with it: better too much than too little).
fn redact_userinfo(url: &str) -> String {
    // A scheme is letters, digits, `+ - .` before `://`; anything else (a `:` of a
    // password, say) means there is none.
    let start = url
        .find("://")
        .filter(|&i| i > 0 && url[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .map_or(0, |i| i + 3);
    if start == 0 && is_key_value(url) {
        // libpq's `key=value ...`: its password is a parameter.
        return url.to_owned();
    }
    let rest = &url[start..];
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

/// libpq's key=value form, `host=db user=ann dbname=app sslmode=require`: its first
/// word is `keyword=...`.
fn is_key_value(url: &str) -> bool {
    let first = url.split_whitespace().next().unwrap_or_default();
    first.split_once('=').is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `password=...` (any key ending in `password`, any case) as a URL query parameter
/// or a libpq `key=value` pair, quoted or not: the value becomes `***`.
fn redact_parameters(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let mut out = String::with_capacity(url.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let key_end = from + found + "password".len();
        from = key_end;
        // The key ends here: `password=` or `password = ` (libpq allows spaces).
        let after = &url[key_end..];
        let Some(eq) = after.find(|c: char| c != ' ').filter(|&i| after[i..].starts_with('=')) else {
            continue;
        };
        let mut value_start = key_end + eq + 1;
        value_start += url[value_start..].len() - url[value_start..].trim_start_matches(' ').len();
        let value = &url[value_start..];
        let value_len = if let Some(quoted) = value.strip_prefix('\'') {
            // libpq: 'quoted value' with \' and \\ escapes.
            let mut end = quoted.len();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            1 + end
        } else {
            value.find(|c: char| c == '&' || c.is_whitespace()).unwrap_or(value.len())
        };
        out.push_str(&url[copied..value_start]);
        out.push_str("***");
        copied = value_start + value_len;
        from = copied;
    }
    out.push_str(&url[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        let file = |p: &str| DbUrl::Sqlite(SqliteTarget::File(p.into()));
        assert_eq!(DbUrl::parse("sqlite://demo.db").unwrap(), file("demo.db"));
        assert_eq!(DbUrl::parse("sqlite:///tmp/a b.db").unwrap(), file("/tmp/a b.db"));
        assert_eq!(DbUrl::parse("sqlite://my%20db.db").unwrap(), file("my db.db"));
        assert_eq!(DbUrl::parse("sqlite::memory:").unwrap(), DbUrl::Sqlite(SqliteTarget::Memory));
    }

    #[test]
    fn other_schemes_say_so_without_the_password() {
        assert_eq!(DbUrl::parse("mariadb://u:p@h/db").unwrap(), DbUrl::Mysql("mariadb://u:p@h/db".into()));
        let err = DbUrl::parse("oracle://u:hunter2@h/db").unwrap_err().to_string();
        assert!(!err.contains("hunter2") && err.contains("unknown database URL scheme"));
        assert_eq!(redact("mysql://u:p@ss:w@h:3306/d?x=1"), "mysql://u:***@h:3306/d?x=1");
    }

    /// Every form the probe found printing a password.
    #[test]
    fn passwords_never_survive_redaction() {
        for (url, secret) in [
            ("host=db user=ann password=s3cret dbname=x", "s3cret"),
            ("host=db password = 's3 \\'cret' dbname=x", "cret"),
            ("postgres://ann@db/x?password=s3cret&sslmode=disable", "s3cret"),
            ("mysql://ann@db/x?PASSWORD=s3cret", "s3cret"),
            ("postgres://ann:s3/cret@db/x", "cret"),
            ("postgres://ann:s3#cret@db/x", "cret"),
            ("postgres://ann:s3?cr@et@db/x", "cret"),
            ("ann:s3cret@db", "s3cret"),
            ("postgres://ann:s3cret@db/x?sslpassword=k3y", "k3y"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(shown.contains("***"), "{url} -> {shown}");
        }
        assert_eq!(redact("host=db user=ann password=s3cret dbname=x"), "host=db user=ann password=*** dbname=x");
        assert_eq!(
            redact("postgres://ann@db/x?password=s&sslmode=disable"),
            "postgres://ann@db/x?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://ann:s3/cret@db/x"), "postgres://ann:***@db/x");
        assert_eq!(redact("ann:s3cret@db"), "ann:***@db");
        assert_eq!(redact("sqlite://data.db"), "sqlite://data.db");
    }
}
