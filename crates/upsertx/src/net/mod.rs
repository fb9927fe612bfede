//! Reaching the databases: URLs (and redacting their passwords), TLS, and opening
//! PostgreSQL and MySQL sessions. Below both the targets and the query sources.

#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "postgres")]
pub(crate) mod tls;
pub(crate) mod url;
