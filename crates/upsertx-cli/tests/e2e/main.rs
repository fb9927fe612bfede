//! The command line's end-to-end tests, against real databases: one test binary (one
//! link of the crate and its drivers), a module per area. `tests/memory.rs` is a binary
//! of its own, so that the peak memory it reads is only its load's.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod changes;
#[cfg(feature = "citus-tests")]
mod citus;
mod cli;
mod concurrency;
mod evolve;
mod faults;
mod from_db;
mod history;
mod mariadb;
mod pipeline;
mod postgres;
mod properties;
mod sqlite;
mod sync;
mod typed;
