//! Another database as the source: the rows of a query on SQLite, PostgreSQL or
//! MySQL/MariaDB, streamed as Arrow record batches with the types the database reports
//! (never the whole result in memory).
//!
//! The query runs on a thread of its own that owns its connection (a result set borrows
//! its connection, so it cannot travel on its own): it sends the schema first, then
//! batches of [`BATCH_ROWS`](super::rows::BATCH_ROWS) rows through a channel of two, so memory stays bounded
//! and the query's reading overlaps the checking.

use super::rows::{Message, Out};
use crate::error::{Error, Result};
use crate::net::url::{redact, DbUrl};
use arrow_array::{RecordBatchIterator, RecordBatchReader};
use arrow_schema::ArrowError;
use std::sync::mpsc::sync_channel;

/// Opens the rows of `sql` on the database at `url`: the input's name (the URL
/// without its password) and its batches.
pub(crate) fn query(url: &str, sql: &str) -> Result<(String, Box<dyn RecordBatchReader + Send>)> {
    let name = format!("query on {}", redact(url));
    // Said as the target says it: PostgreSQL's `sslmode`, MySQL's `ssl-mode` and so on.
    let target = DbUrl::parse(url)?;
    let (tx, rx) = sync_channel::<Result<Message>>(2);
    let (url, sql, thread_name) = (url.to_owned(), sql.to_owned(), name.clone());
    std::thread::Builder::new()
        .name("upsertx-query".into())
        .spawn(move || {
            let send = Out::sender(&tx);
            let out = Out { send: &send, name: &thread_name };
            let done: Result<()> = match target {
                #[cfg(feature = "sqlite")]
                DbUrl::Sqlite(t) => super::sqlite::query::run(&t, &sql, &out),
                #[cfg(feature = "postgres")]
                DbUrl::Postgres(_) => super::postgres::query::run(&url, &sql, &out),
                #[cfg(feature = "mysql")]
                DbUrl::Mysql(_) => super::mysql::query::run(&url, &sql, &out),
                #[allow(unreachable_patterns)]
                other => {
                    let _ = (&url, &sql, &out);
                    Err(other.not_built())
                }
            };
            if let Err(e) = done {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| Error::Io(format!("starting the query thread: {e}")))?;
    let schema = match rx.recv() {
        Ok(Ok(Message::Schema(s))) => s,
        Ok(Err(e)) => return Err(e),
        _ => return Err(Error::Io(format!("{name}: the query thread ended without a result"))),
    };
    let batches = rx.into_iter().map(|m| match m {
        Ok(Message::Batch(b)) => Ok(b),
        Ok(Message::Schema(_)) => Err(ArrowError::ExternalError("a second schema".into())),
        Err(e) => Err(ArrowError::ExternalError(Box::new(e))),
    });
    Ok((name, Box::new(RecordBatchIterator::new(batches, schema))))
}
