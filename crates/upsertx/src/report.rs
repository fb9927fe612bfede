//! What a load did.

use serde::Serialize;
use std::fmt;

/// The outcome of a load. Always `rows_read = inserted + updated + unchanged +
/// ignored + duplicates + stale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The target table.
    pub table: String,
    /// Data rows read from the input.
    pub rows_read: u64,
    /// New keys written as new rows.
    pub inserted: u64,
    /// Existing rows rewritten.
    pub updated: u64,
    /// Existing rows whose updated columns were all equal already (not rewritten).
    pub unchanged: u64,
    /// Existing keys left alone by `--on-conflict ignore`.
    pub ignored: u64,
    /// Rows dropped because their key appeared again in the input.
    pub duplicates: u64,
    /// Existing rows left alone by `--newer-by`: the input's row differs but is not
    /// newer.
    pub stale: u64,
    /// Rows deleted from the table by `--delete-missing` (not counted in `rows_read`:
    /// they are the table's rows the input lacks).
    pub deleted: u64,
    /// The table was created by this load.
    pub created: bool,
    /// What `--evolve` changed in the table (or, in a dry run, would change), e.g.
    /// `added column "tier" text`.
    pub schema_changes: Vec<String>,
    /// Nothing was committed: the counts say what would have happened.
    pub dry_run: bool,
    /// How long the load took, in milliseconds.
    pub elapsed_ms: u64,
}

impl Report {
    /// The report of a load that wrote nothing into `table`.
    pub(crate) fn empty(table: &str) -> Report {
        Report {
            table: table.to_owned(),
            rows_read: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            ignored: 0,
            duplicates: 0,
            stale: 0,
            deleted: 0,
            created: false,
            schema_changes: Vec::new(),
            dry_run: false,
            elapsed_ms: 0,
        }
    }
}

impl Report {
    /// Adds `other`'s counts to these (the loads of one sync stream, file after file).
    pub(crate) fn add(&mut self, other: Report) {
        self.table = other.table;
        self.rows_read += other.rows_read;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.ignored += other.ignored;
        self.duplicates += other.duplicates;
        self.stale += other.stale;
        self.deleted += other.deleted;
        self.created |= other.created;
        self.schema_changes.extend(other.schema_changes);
        self.elapsed_ms += other.elapsed_ms;
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would load" } else { "loaded" };
        write!(
            f,
            "{} {verb} {} rows: {} inserted, {} updated, {} unchanged",
            crate::ident::quote_ident(&self.table),
            self.rows_read,
            self.inserted,
            self.updated,
            self.unchanged
        )?;
        if self.ignored > 0 {
            write!(f, ", {} ignored", self.ignored)?;
        }
        if self.duplicates > 0 {
            write!(f, ", {} duplicate keys dropped", self.duplicates)?;
        }
        if self.stale > 0 {
            write!(f, ", {} stale", self.stale)?;
        }
        if self.deleted > 0 {
            write!(f, ", {} deleted", self.deleted)?;
        }
        if self.created {
            write!(f, " (table created)")?;
        }
        if !self.schema_changes.is_empty() {
            write!(f, " ({})", self.schema_changes.join(", "))?;
        }
        write!(f, " in {:.2}s", self.elapsed_ms as f64 / 1000.0)?;
        if self.dry_run {
            write!(f, " (dry run: nothing written)")?;
        }
        Ok(())
    }
}

/// What a load is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many rows have been read, checked and staged so far.
    Staged(u64),
    /// All rows are staged; the merge into the table is running.
    Merging,
}
