//! Citus (distributed PostgreSQL): how the target is placed, read from Citus's metadata on
//! the coordinator when the extension is installed there.
//!
//! A table Citus manages keeps its rows on the workers: the coordinator's statistics do
//! not count what the workers write, so the merge counts by `RETURNING` instead (see
//! `merge.rs`); and every unique key of a distributed table includes its distribution
//! column, so a key without it is refused before anything is written (`plan`).

use super::session::message;
use super::sql::q;
use crate::error::{Error, Result};
use crate::plan::Plan;
use postgres::Client;

/// Where the target's rows live.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Placement {
    /// On this server: PostgreSQL without Citus, or a table Citus does not manage.
    #[default]
    Local,
    /// Sharded across the workers by `column` (none: a single-shard distributed table,
    /// as schema-based sharding makes), or a Citus local table.
    Distributed { column: Option<String> },
    /// Copied whole to every node.
    Reference,
}

impl Placement {
    /// Whether Citus manages the table (its rows are written by the workers' shards).
    pub(crate) fn citus(&self) -> bool {
        *self != Placement::Local
    }

    /// The distribution column, for a table sharded by one.
    pub(crate) fn column(&self) -> Option<&str> {
        match self {
            Placement::Distributed { column } => column.as_deref(),
            _ => None,
        }
    }
}

/// Whether the server is a Citus node (its metadata is there).
pub(crate) fn installed(client: &mut Client) -> Result<bool> {
    client
        .query_one("SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL", &[])
        .map(|r| r.get(0))
        .map_err(|e| Error::db("looking for Citus's metadata", message(&e)))
}

/// Whether Citus manages the table named `target` (where the placement read at `reflect`
/// is not at hand: explaining a failed statement).
pub(crate) fn manages(client: &mut Client, target: &str) -> Result<bool> {
    if !installed(client)? {
        return Ok(false);
    }
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::text::regclass)",
            &[&target],
        )
        .map(|r| r.get(0))
        .map_err(|e| Error::db("reading the table's Citus placement", message(&e)))
}

/// How the table `oid` is placed.
pub(crate) fn placement(client: &mut Client, oid: u32) -> Result<Placement> {
    let fail = |e: postgres::Error| Error::db("reading the table's Citus placement", message(&e));
    if !installed(client)? {
        return Ok(Placement::Local);
    }
    let row = client
        .query_opt(
            "SELECT repmodel::text = 't', column_to_column_name(logicalrelid, partkey)::text
             FROM pg_catalog.pg_dist_partition WHERE logicalrelid::oid = $1",
            &[&oid],
        )
        .map_err(fail)?;
    Ok(match row {
        None => Placement::Local,
        Some(r) if r.get::<_, bool>(0) => Placement::Reference,
        Some(r) => Placement::Distributed { column: r.get(1) },
    })
}

/// On a Citus coordinator a statement on a distributed (or reference) table cannot join
/// this session's temporary tables directly: each is read through a materialized CTE,
/// which Citus sends to the workers as an intermediate result. `tables`: (the CTE's name,
/// its query), those the statement reads.
pub(crate) fn ctes(tables: &[(&str, String)]) -> Vec<String> {
    tables.iter().map(|(name, query)| format!("{name} AS MATERIALIZED ({query})")).collect()
}

/// [`ctes`] for a statement that writes the target: on a reference table each CTE's rows
/// are read first and written into the statement, as arrays of text cast back to the
/// columns' types (`SELECT u.c0::integer AS c0 ... FROM unnest('{...}'::text[]) AS u(c0)`):
/// Citus plans a write to a reference table for its placements, which hold no
/// intermediate result, and refuses one that reads a local table in any form. (Reference
/// tables are small, copied whole to every node; so is what a load writes into them.)
pub(crate) fn dml_ctes(
    client: &mut Client,
    placement: &Placement,
    tables: &[(&str, String)],
) -> std::result::Result<Vec<String>, postgres::Error> {
    if *placement != Placement::Reference {
        return Ok(ctes(tables));
    }
    let mut defs = Vec::new();
    for (name, query) in tables {
        let columns: Vec<(String, u32)> =
            client.prepare(query)?.columns().iter().map(|c| (c.name().to_owned(), c.type_().oid())).collect();
        let oids: Vec<u32> = columns.iter().map(|c| c.1).collect();
        let types: Vec<String> = client
            .query_one(
                "SELECT array_agg(format_type(o, NULL) ORDER BY i) FROM unnest($1::oid[]) WITH ORDINALITY AS x(o, i)",
                &[&oids],
            )?
            .get(0);
        let aggs = columns
            .iter()
            .map(|(c, _)| format!("quote_nullable(array_agg(x.{}::text)::text)", q(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let row = client.query_one(&format!("SELECT {aggs} FROM ({query}) AS x"), &[])?;
        let arrays: Vec<String> = (0..columns.len()).map(|i| format!("{}::text[]", row.get::<_, String>(i))).collect();
        let cast = columns
            .iter()
            .zip(&types)
            .map(|((c, _), ty)| format!("u.{0}::{ty} AS {0}", q(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let names = columns.iter().map(|(c, _)| q(c)).collect::<Vec<_>>().join(", ");
        defs.push(format!("{name} AS MATERIALIZED (SELECT {cast} FROM unnest({}) AS u({names}))", arrays.join(", ")));
    }
    Ok(defs)
}

/// `WITH` the CTEs `defs`, before a statement; nothing when there are none. Only before
/// a statement that reads them: Citus sends a statement's unread CTE to the workers as
/// text, where the temporary table it names does not exist.
pub(crate) fn with_clause(defs: &[String]) -> String {
    match defs.is_empty() {
        true => String::new(),
        false => format!("WITH {} ", defs.join(", ")),
    }
}

/// The table's rows whose key the staged input (`src`, stage column names) holds, only
/// their key columns (and, with `current`, that column too, of the rows where it is
/// NULL: a history's current versions): a query Citus runs on the workers, the input's
/// keys sent to them as an intermediate result.
pub(crate) fn keys_held(plan: &Plan, target: &str, src: &str, current: Option<&str>) -> String {
    let cols = crate::db::sql::list(&plan.key, |i| q(&plan.columns[i].name), ", ");
    let staged = crate::db::sql::list(&plan.key, crate::db::sql::stage_col, ", ");
    let (also, only) = match current {
        Some(to) => (format!(", {to}"), format!("{to} IS NULL AND ")),
        None => (String::new(), String::new()),
    };
    format!("SELECT {cols}{also} FROM {target} WHERE {only}({cols}) IN (SELECT {staged} FROM {src})")
}
