//! `--evolve`: the table follows the input's shape before anything is staged. An input
//! column the table lacks is added (nullable; typed by the typed input, or inferred from
//! every value as `--create` infers). Nothing is ever dropped, narrowed or renamed.
//!
//! Where DDL commits the load's transaction (MySQL, MariaDB), every value is checked
//! against the table as it will be before the first `ALTER`, so a load that would fail
//! changes no schema; and a dry run there changes nothing: it lists the changes, and
//! plans the load without the new columns (its counts leave them out).

use crate::check::infer::infer_columns;
use crate::check::next_batch;
use crate::error::Result;
use crate::plan::Plan;
use crate::schema::{columns_of, Column, Table};
use crate::source::{Input, Source};
use crate::spec::Spec;
use crate::target::Connection;

/// The table after `--evolve`, the input (reopened if it had to be read), what changed,
/// and the input columns the plan leaves out (a MySQL dry run's new columns).
pub(crate) struct Evolved {
    pub table: Table,
    pub input: Input,
    pub changes: Vec<String>,
    pub left_out: Vec<usize>,
}

/// `name`: the table as the user named it (reflected again after the change).
pub(crate) fn evolve(
    conn: &mut dyn Connection,
    name: &str,
    table: Table,
    source: &mut Source,
    input: Input,
    spec: &Spec,
) -> Result<Evolved> {
    let missing: Vec<usize> =
        (0..input.columns().len()).filter(|&i| table.find_column(&input.columns()[i]).is_none()).collect();
    if missing.is_empty() {
        return Ok(Evolved { table, input, changes: Vec::new(), left_out: Vec::new() });
    }
    // Their types: the typed input's own, else inferred from every value (the engine
    // made a stream readable twice before opening it).
    let (typed, mut input) = match input {
        Input::Batches(b) => (columns_of(source.name(), b.schema())?, Input::Batches(b)),
        Input::Rows(mut rows) => (infer_columns(&mut *rows)?, source.open()?),
    };
    let added: Vec<Column> = missing.iter().map(|&i| Column { not_null: false, ..typed[i].clone() }).collect();
    if conn.ddl_commits() {
        // No ALTER before every value is known to fit the table as it will be.
        let mut future = table.clone();
        future.columns.extend(added.iter().cloned());
        let plan = Plan::new(future, source.name(), input.columns(), spec)?;
        while next_batch(&mut input, &plan.columns, source.name(), 4096)?.is_some() {}
        input = source.open()?;
        if spec.dry_run {
            let changes = conn.add_columns(name, &added, false)?;
            return Ok(Evolved { table, input, changes, left_out: missing });
        }
    }
    let changes = conn.add_columns(name, &added, true)?;
    let table = conn
        .reflect(name)?
        .ok_or_else(|| crate::error::Error::Schema(format!("table {} vanished", crate::error::quote_ident(name))))?;
    Ok(Evolved { table, input, changes, left_out: Vec::new() })
}
