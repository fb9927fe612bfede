//! Citus (distributed PostgreSQL): how the target is placed, read from Citus's metadata on
//! the coordinator when the extension is installed there.
//!
//! A table Citus manages keeps its rows on the workers: the coordinator's statistics do
//! not count what the workers write, so the merge counts by `RETURNING` instead (see
//! `merge.rs`); and every unique key of a distributed table includes its distribution
//! column, so a key without it is refused before anything is written (`plan`).

use super::session::message;
use super::sql::q;
use crate::error::{quote_ident, Error, Result};
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

/// What a load into a table Citus manages cannot do yet, refused before anything is
/// written: into a reference table, `--history`, deletes and updates from the stage
/// (Citus plans DML on a reference table for one node, where the stage is not).
pub(crate) fn refuse(plan: &Plan, placement: &Placement) -> Result<()> {
    let what = match placement {
        Placement::Local => None,
        Placement::Reference if plan.history.is_some() => Some("--history"),
        Placement::Reference if plan.spec.deletes() => Some("deleting (--delete-missing, --replace-where)"),
        Placement::Reference if updates_first(plan) => {
            Some("a load that updates before it inserts (an identity or serial column, or a required column, not in the input)")
        }
        _ => None,
    };
    match what {
        Some(what) => Err(Error::Schema(format!(
            "table {} is a Citus {} table: {what} into it is not supported yet",
            quote_ident(&plan.table.name),
            if *placement == Placement::Reference { "reference" } else { "distributed" },
        ))),
        None => Ok(()),
    }
}

/// On a Citus coordinator a statement on a distributed (or reference) table cannot join
/// this session's temporary tables directly: each is read through a materialized CTE,
/// which Citus sends to the workers as an intermediate result. `tables`: (the CTE's name,
/// its query), those the statement reads.
pub(crate) fn ctes(tables: &[(&str, String)]) -> Vec<String> {
    tables.iter().map(|(name, query)| format!("{name} AS MATERIALIZED ({query})")).collect()
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

/// Whether the merge updates the matched rows before inserting the others (`merge.rs`):
/// an `ON CONFLICT` insert would burn a sequence value per existing row, or fail on a
/// required column the input lacks.
fn updates_first(plan: &Plan) -> bool {
    plan.spec.on_conflict == crate::spec::OnConflict::Update
        && !plan.update.is_empty()
        && (plan.missing_required().is_some() || plan.leaves_out_a_sequence())
}
