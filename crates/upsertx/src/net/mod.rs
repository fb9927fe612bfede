//! Reaching the databases: URLs (and redacting their passwords), TLS, and opening
//! PostgreSQL and MySQL sessions. Below both the targets and the query sources.

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod tls;
pub(crate) mod url;
