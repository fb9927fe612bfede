//! Opening a load's session on the database a URL names (above every database's
//! folder: the one place that knows them all, with [`super::query`]).

use super::Connection;
use crate::error::Result;
use crate::net::url::DbUrl;

/// Opens a session for `url`. `create`: the database itself may be created (SQLite).
pub fn connect(url: &str, create: bool) -> Result<Box<dyn Connection>> {
    match DbUrl::parse(url)? {
        #[cfg(feature = "sqlite")]
        DbUrl::Sqlite(target) => Ok(Box::new(super::sqlite::SqliteConnection::open(&target, create)?)),
        #[cfg(feature = "postgres")]
        DbUrl::Postgres(url) => Ok(Box::new(super::postgres::PgConnection::open(&url)?)),
        #[cfg(feature = "mysql")]
        DbUrl::Mysql(url) => Ok(Box::new(super::mysql::MyConnection::open(&url)?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = create;
            Err(other.not_built())
        }
    }
}

/// For loads that run at once into one new SQLite file (`upsertx sync`): makes the file
/// now, so that no load's rollback removes it under the others; the path when it was
/// made here (`None` for an existing file or another database).
pub(crate) fn make_sqlite_file(url: &str) -> Result<Option<std::path::PathBuf>> {
    match DbUrl::parse(url)? {
        #[cfg(feature = "sqlite")]
        DbUrl::Sqlite(crate::net::url::SqliteTarget::File(path)) if !path.exists() => {
            let mut conn = connect(url, true)?;
            conn.begin()?;
            conn.commit()?;
            Ok(Some(path))
        }
        _ => Ok(None),
    }
}

/// Removes the SQLite file [`make_sqlite_file`] made when it holds no table (a dry run,
/// or every load failed): what a single load's `--create` does for its own file.
pub(crate) fn remove_if_empty(url: &str, path: &std::path::Path) -> Result<()> {
    let empty = connect(url, false)?.tables()?.is_empty();
    if empty {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }
    Ok(())
}

/// Whether the database at `url` takes one writer at a time for the whole of a load
/// (SQLite: a load holds the write lock from its start), so that loads run at once
/// would only wait for each other, and fail once they waited past the lock timeout.
pub(crate) fn one_writer(url: &str) -> bool {
    matches!(DbUrl::parse(url), Ok(DbUrl::Sqlite(_)))
}
