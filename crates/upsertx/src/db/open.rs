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
