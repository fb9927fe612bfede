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
    pub fn parse(url: &str) -> Result<DbUrl> {
        // libpq's key=value form: `host=db user=ann dbname=app sslmode=require`.
        let first = url.split_whitespace().next().unwrap_or_default();
        if !url.contains("://")
            && first.split_once('=').is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
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
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &authority[..colon], &url[start + at..]),
        None => url.to_owned(),
    }
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
}
