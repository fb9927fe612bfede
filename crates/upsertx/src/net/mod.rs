//! Reaching the databases: URLs (and redacting their passwords) and TLS, below every
//! database's folder (`db/<database>/session.rs` opens its sessions with them).

#[cfg(feature = "postgres")]
pub(crate) mod tls;
pub(crate) mod url;
