//! What the user asked for: the table, the key, and the policies of one load.

use crate::error::{Error, Result};
use std::str::FromStr;

/// What to do with an input row whose key already exists in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Update the existing row (the default).
    #[default]
    Update,
    /// Leave the existing row alone; the input row is counted `ignored`.
    Ignore,
    /// Fail the whole load, naming the first existing key.
    Error,
}

/// Which row wins when the same key appears more than once in one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// The last occurrence wins (the default); earlier ones are counted `duplicates`.
    #[default]
    Last,
    /// The first occurrence wins; later ones are counted `duplicates`.
    First,
    /// Fail the whole load on the second occurrence, naming both rows.
    Error,
}

macro_rules! parse_enum {
    ($ty:ty, $what:literal, $($name:literal => $val:expr),+) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.to_ascii_lowercase().as_str() {
                    $($name => Ok($val),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " {:?} (expected one of: {})"),
                        other,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
    };
}
parse_enum!(OnConflict, "conflict action", "update" => OnConflict::Update, "ignore" => OnConflict::Ignore, "error" => OnConflict::Error);
parse_enum!(Duplicates, "duplicates policy", "last" => Duplicates::Last, "first" => Duplicates::First, "error" => Duplicates::Error);

/// Which columns a matched row has rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UpdateColumns {
    /// Every input column that is not part of the key (the default).
    #[default]
    All,
    /// Only these columns.
    Only(Vec<String>),
    /// Every input column but these.
    AllBut(Vec<String>),
}

/// The most rows `--delete-missing` may delete before the load is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many rows.
    Rows(u64),
    /// At most this percentage (0 to 100) of the rows in scope before the load.
    Percent(f64),
}

impl FromStr for MaxDelete {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("--max-delete {s:?}: expected a number of rows (1000) or a percentage (5%)");
        match t.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(MaxDelete::Percent(p)),
                _ => Err(bad()),
            },
            None => t.parse().map(MaxDelete::Rows).map_err(|_| bad()),
        }
    }
}

impl std::fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxDelete::Rows(n) => write!(f, "{n}"),
            MaxDelete::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// The full description of one load, independent of where the rows come from.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Target table. `None`: the input file's stem.
    pub table: Option<String>,
    /// Conflict key columns. `None`: the table's primary key.
    pub key: Option<Vec<String>>,
    /// The unique constraint or index to key on, by name (its columns are the key).
    pub constraint: Option<String>,
    /// The condition of the partial unique index to key on (`deleted_at IS NULL`); it
    /// must match the index's own condition.
    pub key_where: Option<String>,
    pub on_conflict: OnConflict,
    pub update: UpdateColumns,
    /// Rewrite matched rows even when no updated column differs.
    pub always_update: bool,
    pub duplicates: Duplicates,
    /// Create the table when it is missing, with types inferred from the input.
    pub create: bool,
    /// Do everything, then roll back: the report says what would happen.
    pub dry_run: bool,
    /// After the upsert, delete the table's rows whose key is not in the input, within
    /// the scope ([`scope`](Spec::scope), [`scope_where`](Spec::scope_where); without
    /// either, the whole table). Counted as `deleted`.
    pub delete_missing: bool,
    /// Only the table's rows whose values of these columns occur in the input (a
    /// partition sync): loading region "eu" never deletes a row of region "us". A NULL
    /// in a scope column matches nothing, as in SQL.
    pub scope: Vec<String>,
    /// Only the table's rows for which this condition holds: the caller's own SQL,
    /// written into the statement as it is (like `key_where`).
    pub scope_where: Option<String>,
    /// With `delete_missing`, an empty input is refused (it would empty the scope)
    /// unless this is set.
    pub allow_empty: bool,
    /// Refuse the load (nothing written) when it would delete more rows than this.
    pub max_delete: Option<MaxDelete>,
    /// With `delete_missing`: mark the rows instead of deleting them, in this column of
    /// the table (not of the input): a date or timestamp column gets the load's time, a
    /// boolean `true`. A marked row whose key comes back is cleared (NULL, `false`) and
    /// counted `updated`; marked rows are not deleted again.
    pub soft_delete: Option<String>,
    /// Replace the table's rows for which this condition holds by the input (the caller's
    /// own SQL, like `scope_where`): those whose key is not in the input are deleted,
    /// the rest upserted. Every input row must satisfy it (checked before anything is
    /// written). The other delete options apply to it as to `delete_missing`.
    pub replace_where: Option<String>,
    /// Keep the newest: an existing row is updated only when the input's value of this
    /// column is greater than the stored one (a stored NULL is older than anything; an
    /// input NULL replaces nothing). Rows not applied are counted `stale`. Among input
    /// rows of one key, the greatest value wins (ties by [`duplicates`](Spec::duplicates)).
    /// The comparison is part of the statement that writes, so concurrent loads keep the
    /// newest row whatever their order.
    pub newer_by: Option<String>,
    /// Write one NDJSON line per row inserted, updated or deleted here (see
    /// [`ChangesTo`](crate::ChangesTo)); with `dry_run`, the lines a real run would write.
    pub changes: Option<ChangesTo>,
    /// Keep history (a slowly changing dimension, type 2): the table's columns that hold
    /// when each version of an entity (the key) was valid, from and to. The current
    /// version is the one whose `to` is NULL; a changed entity gets its current version
    /// closed (`to` = the load's time) and a new one inserted (`from` = the load's
    /// time). With `delete_missing`, an absent entity's current version is closed.
    pub history: Option<History>,
    /// The table follows the input's shape: an input column the table lacks is added
    /// (nullable, typed as `create` would type it), a `varchar(n)`/`char(n)` or integer
    /// column too small for a value is widened; in the load's transaction where the
    /// database allows DDL there. Listed in [`Report::schema_changes`](crate::Report).
    pub evolve: bool,
    /// The load's time, microseconds since 1970-01-01 UTC: what `history` and
    /// `soft_delete` write. `None`: when the load starts.
    pub as_of: Option<i64>,
}

/// The columns `--history` maintains (see [`Spec::history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// When a version became current (the load's time); part of the table's unique key.
    pub from: String,
    /// When it stopped being current; NULL while it is.
    pub to: String,
    /// A boolean column kept `true` on the current version and `false` on closed ones.
    pub current_flag: Option<String>,
}

impl Spec {
    /// Whether the load deletes (or marks) rows: `delete_missing` or `replace_where`.
    pub(crate) fn deletes(&self) -> bool {
        self.delete_missing || self.replace_where.is_some()
    }

    /// The flag that asked for deletions, for messages.
    pub(crate) fn delete_flag(&self) -> &'static str {
        if self.replace_where.is_some() {
            "--replace-where"
        } else {
            "--delete-missing"
        }
    }

    /// The condition on the table's rows that limits the deletions, if any.
    pub(crate) fn delete_where(&self) -> Option<&str> {
        self.replace_where.as_deref().or(self.scope_where.as_deref())
    }
    /// Refuses options that contradict each other (a usage error): under `ignore` and
    /// `error` no existing row is ever written, so the options that say how to write
    /// one would be silently meaningless.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.replace_where.is_some() {
            let apart = [
                (self.delete_missing, "--delete-missing"),
                (!self.scope.is_empty(), "--scope"),
                (self.scope_where.is_some(), "--scope-where"),
            ];
            if let Some((_, flag)) = apart.iter().find(|(given, _)| *given) {
                return Err(Error::Usage(format!(
                    "--replace-where deletes within its own condition: {flag} does not combine with it"
                )));
            }
        }
        if !self.deletes() {
            let needs = [
                (!self.scope.is_empty(), "--scope"),
                (self.scope_where.is_some(), "--scope-where"),
                (self.allow_empty, "--allow-empty"),
                (self.max_delete.is_some(), "--max-delete"),
                (self.soft_delete.is_some(), "--soft-delete"),
            ];
            if let Some((_, flag)) = needs.iter().find(|(given, _)| *given) {
                return Err(Error::Usage(format!("{flag} only applies with --delete-missing (or --replace-where)")));
            }
        }
        if let Some(h) = &self.history {
            if h.from.is_empty() || h.to.is_empty() {
                return Err(Error::Usage("--current-flag only applies with --history FROM,TO".into()));
            }
            let apart = [
                (self.on_conflict != OnConflict::Update, "--on-conflict ignore/error"),
                (self.always_update, "--always-update"),
                (self.soft_delete.is_some(), "--soft-delete"),
                (self.replace_where.is_some(), "--replace-where"),
                (self.key_where.is_some(), "--key-where"),
            ];
            if let Some((_, flag)) = apart.iter().find(|(given, _)| *given) {
                return Err(Error::Usage(format!("{flag} does not combine with --history (see the README)")));
            }
        }
        if self.newer_by.is_some() && self.on_conflict != OnConflict::Update {
            return Err(Error::Usage(format!(
                "--newer-by says which rows to update, but --on-conflict {} never updates one",
                if self.on_conflict == OnConflict::Ignore { "ignore" } else { "error" }
            )));
        }
        let action = match self.on_conflict {
            OnConflict::Update => return Ok(()),
            OnConflict::Ignore => "ignore",
            OnConflict::Error => "error",
        };
        let writes = match (&self.update, self.always_update) {
            (_, true) => Some("--always-update"),
            (UpdateColumns::Only(_), _) => Some("--update"),
            (UpdateColumns::AllBut(_), _) => Some("--no-update"),
            (UpdateColumns::All, false) => None,
        };
        match writes {
            Some(flag) => Err(Error::Usage(format!(
                "{flag} says how to update existing rows, but --on-conflict {action} never updates one"
            ))),
            None => Ok(()),
        }
    }
}

impl History {
    /// `--history FROM,TO` (`columns`, empty when not given) and `--current-flag`, as the
    /// command line and the Python package take them: a usage error unless `columns`
    /// names two columns, or none and no flag.
    pub fn from_options(columns: &[String], current_flag: Option<String>) -> Result<Option<History>> {
        match (columns, current_flag) {
            ([], None) => Ok(None),
            ([], Some(_)) => Err(Error::Usage("--current-flag only applies with --history FROM,TO".into())),
            ([from, to], current_flag) => Ok(Some(History { from: from.clone(), to: to.clone(), current_flag })),
            _ => Err(Error::Usage(
                "--history takes two columns, FROM,TO: when a version became current, and when it stopped".into(),
            )),
        }
    }
}

/// Where `--changes` writes its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesTo {
    /// A file, replaced once the load has committed.
    Path(std::path::PathBuf),
    /// Standard output, once the load has committed.
    Stdout,
}

impl std::str::FromStr for ChangesTo {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "" => Err("--changes: expected a file path, or - for standard output".into()),
            "-" => Ok(ChangesTo::Stdout),
            path => Ok(ChangesTo::Path(std::path::PathBuf::from(path))),
        }
    }
}
