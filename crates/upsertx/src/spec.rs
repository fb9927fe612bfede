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
}

impl Spec {
    /// Refuses options that contradict each other (a usage error): under `ignore` and
    /// `error` no existing row is ever written, so the options that say how to write
    /// one would be silently meaningless.
    pub(crate) fn validate(&self) -> Result<()> {
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
