//! What the user asked for: the table, the key, and the policies of one load. Every
//! option is declared here once, in `declare_options!` below: that makes it a field of
//! [`Spec`], a setter of [`Upsert`](crate::Upsert), a flag of the command line and a
//! keyword of the Python package (see `options.rs`).

use crate::error::{Error, Result};
use crate::options::{declare_options, Choices, LoadOption, OptionValue};
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
                    _ => Err(format!(
                        concat!("{:?} is not a ", $what, " (expected one of: {})"),
                        s,
                        [$($name),+].join(", ")
                    )),
                }
            }
        }
        impl Choices for $ty {
            const WORDS: &'static [&'static str] = &[$($name),+];
        }
    };
}
parse_enum!(OnConflict, "conflict action", "update" => OnConflict::Update, "ignore" => OnConflict::Ignore, "error" => OnConflict::Error);
parse_enum!(Duplicates, "duplicates policy", "last" => Duplicates::Last, "first" => Duplicates::First, "error" => Duplicates::Error);

/// Which columns a matched row has rewritten (`--update`, `--no-update`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum UpdateColumns {
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
        let bad = || format!("{s:?} is not a number of rows (1000) or a percentage (5%)");
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

declare_options! {
    /// Target table [default: the input file's stem].
    table: Text("NAME");
    /// Conflict key columns, comma-separated or repeated [default: the table's primary key].
    key: Names("COLS");
    /// Key on this unique constraint or index, by name (its columns are the key).
    constraint: Text("NAME");
    /// Key on the partial unique index with this condition (e.g. "deleted_at IS NULL");
    /// it must match the index's own condition.
    key_where: Text("CONDITION");
    /// What to do with rows whose key already exists: update them, leave them alone
    /// (counted ignored), or fail the load naming the first one.
    on_conflict: Choice(OnConflict);
    /// Only these columns are written on conflict.
    update: Names("COLS");
    /// These columns are never written on conflict (e.g. created_at).
    no_update: Names("COLS");
    /// Rewrite matched rows even when no updated column differs.
    always_update: Switch();
    /// Which row wins when a key appears more than once in the input: the last, the
    /// first (the others are counted duplicates), or none (the load fails naming both).
    duplicates: Choice(Duplicates);
    /// Create the table when it is missing, with types inferred from the input and
    /// --key as primary key.
    create: Switch();
    /// With --create on a Citus coordinator: distribute the new table across the workers
    /// by this column, one of --key (Citus's create_distributed_table). A table that
    /// exists must be distributed by it already.
    distribute_by: Text("COL");
    /// On a Citus table distributed by a column: stage the input in an unlogged table
    /// distributed like it, so that the workers merge it shard by shard, in parallel,
    /// instead of through the coordinator (plain upserts; other loads keep the temporary
    /// stage). Pays where the workers have cores of their own.
    colocated_stage: Switch();
    /// Do everything but commit: the report says what would happen.
    dry_run: Switch();
    /// After the upsert, delete the table's rows whose key is not in the input (within
    /// --scope / --scope-where; without them, the whole table). Counted deleted.
    delete_missing: Switch() in "Deleting what vanished";
    /// Only the table's rows whose values of these columns occur in the input (a
    /// partition sync: loading region "eu" never touches "us"; a NULL matches nothing).
    scope: Names("COLS") in "Deleting what vanished";
    /// Only the table's rows for which this SQL condition holds (your own SQL, used as
    /// it is), e.g. "day >= '2026-11-28'".
    scope_where: Text("SQL") in "Deleting what vanished";
    /// Let an empty input delete every row in scope (refused by default).
    allow_empty: Switch() in "Deleting what vanished";
    /// Refuse the load, nothing written, when it would delete more than N rows or P% of
    /// the rows in scope.
    max_delete: Value(MaxDelete, "N|P%", str::parse) in "Deleting what vanished";
    /// Mark the missing rows in this column of the table instead of deleting them: a
    /// date/timestamp column gets the load's time, a boolean true; a marked row whose key
    /// comes back is cleared (NULL/false) and counted updated.
    soft_delete: Text("COL") in "Deleting what vanished";
    /// Replace the table's rows for which this SQL condition holds by the input (your own
    /// SQL): those whose key the input lacks are deleted, the rest upserted; every input
    /// row must satisfy it. E.g. "day = '2026-11-28'".
    replace_where: Text("SQL") in "Deleting what vanished";
    /// Keep the newest: update an existing row only when the input's value of this column
    /// is greater than the stored one (a stored NULL is older than anything); the rows
    /// left alone are counted stale. Among input rows of one key the greatest wins; the
    /// comparison is part of the statement that writes, so concurrent loads keep the newest.
    newer_by: Text("COL");
    /// Write one NDJSON line per row inserted, updated or deleted to this file (or - for
    /// stdout; the report then goes to stderr), once the load has committed; with
    /// --dry-run, the lines a real run would write.
    changes: Value(ChangesTo, "PATH|-", str::parse);
    /// Let the table follow the input: an input column the table lacks is added
    /// (nullable, typed from the input as --create types it), a varchar or integer column
    /// too small for a value is widened. MySQL/MariaDB commit DDL: there every value is
    /// checked first, and --dry-run changes nothing.
    evolve: Switch();
    /// Keep history (a slowly changing dimension, type 2) in these two columns of the
    /// table: when each version of an entity (the key) became current and when it stopped
    /// (NULL while current). A changed entity's current version is closed and a new one
    /// inserted; with --delete-missing, an absent entity's current version is closed.
    history: Names("FROM,TO") in "History";
    /// With --history: a boolean column kept true on each entity's current version and
    /// false on the closed ones.
    current_flag: Text("COL") in "History";
    /// The load's time, which --history and --soft-delete write [default: when the load
    /// starts, UTC]: an ISO 8601 date or timestamp, UTC unless it has an offset.
    as_of: Value(i64, "TIMESTAMP", crate::time::parse_time);
    /// Wait at most this many seconds for a lock another load or transaction holds (the
    /// SQLite database's write lock; on the servers a row, the table, or another upsertx
    /// load's turn), then fail, nothing written [default: SQLite 10 s; PostgreSQL for
    /// ever; MySQL/MariaDB 50 s for a row, a day for another upsertx load's turn].
    lock_timeout: Value(f64, "SECONDS", parse_seconds);
}

/// `--lock-timeout`: a number of seconds, more than 0 (`30`, `0.5`, `30s`).
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('s').trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n <= 31_536_000.0 => Ok(n),
        _ => Err(format!("{s:?} is not a number of seconds (more than 0, at most a year)")),
    }
}

/// The columns `--history` maintains (see [`Spec::history`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct History {
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

    /// The key columns the caller named, if any (else the table's primary key).
    pub(crate) fn key_columns(&self) -> Option<&[String]> {
        (!self.key.is_empty()).then_some(self.key.as_slice())
    }

    /// Which columns a matched row has rewritten (`validate` refuses both lists).
    pub(crate) fn update_columns(&self) -> UpdateColumns {
        match (self.update.is_empty(), self.no_update.is_empty()) {
            (false, _) => UpdateColumns::Only(self.update.clone()),
            (true, false) => UpdateColumns::AllBut(self.no_update.clone()),
            (true, true) => UpdateColumns::All,
        }
    }

    /// The history columns, if `--history` is given (`validate` checks there are two).
    pub(crate) fn history_columns(&self) -> Option<History> {
        match self.history.as_slice() {
            [from, to] => Some(History { from: from.clone(), to: to.clone(), current_flag: self.current_flag.clone() }),
            _ => None,
        }
    }

    /// Refuses options that contradict each other (a usage error): under `ignore` and
    /// `error` no existing row is ever written, so the options that say how to write
    /// one would be silently meaningless.
    pub(crate) fn validate(&self) -> Result<()> {
        if !self.update.is_empty() && !self.no_update.is_empty() {
            return Err(Error::Usage(
                "--update cannot be used with --no-update: name the columns to write, or those to keep".into(),
            ));
        }
        match (self.history.len(), &self.current_flag) {
            (0, Some(_)) => return Err(Error::Usage("--current-flag only applies with --history FROM,TO".into())),
            (0 | 2, _) => {}
            _ => {
                return Err(Error::Usage(
                    "--history takes two columns, FROM,TO: when a version became current, and when it stopped".into(),
                ))
            }
        }
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
        if let Some(by) = &self.distribute_by {
            if !self.create {
                return Err(Error::Usage("--distribute-by only applies with --create".into()));
            }
            if !self.key.is_empty() && !self.key.contains(by) {
                return Err(Error::Usage(format!(
                    "--distribute-by {by}: the column must be one of --key (Citus keeps a unique key per \
                     shard, so every key of a distributed table includes its distribution column)"
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
        if !self.history.is_empty() {
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
        let writes = match (&self.update_columns(), self.always_update) {
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
            "" => Err("expected a file path, or - for standard output".into()),
            "-" => Ok(ChangesTo::Stdout),
            path => Ok(ChangesTo::Path(std::path::PathBuf::from(path))),
        }
    }
}

/// Every option of a load, as [`Spec`](crate::Spec) declares it: its identity (the
/// field, the Python keyword, the sync file's key), what it takes, and its docs. The
/// command line makes its flags of these, the Python package its keywords.
///
/// ```
/// let max_delete = upsertx::load_options().find(|o| o.name == "max_delete").unwrap();
/// assert_eq!(max_delete.flag(), "--max-delete");
/// ```
pub fn load_options() -> impl Iterator<Item = &'static LoadOption> {
    DECLARED.iter()
}

/// The usage error for an option no one declared, with the nearest declared one.
pub(crate) fn unknown_option(name: &str) -> String {
    let near = DECLARED.iter().map(|o| o.name).min_by_key(|known| crate::options::distance(name, known));
    match near.filter(|known| crate::options::distance(name, known) <= 2) {
        Some(known) => format!("unknown option {name:?} (did you mean {known:?}?)"),
        None => format!("unknown option {name:?}"),
    }
}

/// A spec reads from any serde format as a map of option names to values (a sync
/// file's table, JSON), each set with [`Spec::set`](crate::Spec::set).
impl<'de> serde::Deserialize<'de> for Spec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Spec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of option names to values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Spec, A::Error> {
                let mut spec = Spec::default();
                while let Some((name, value)) = map.next_entry::<String, OptionValue>()? {
                    spec.set(&name, value).map_err(serde::de::Error::custom)?;
                }
                Ok(spec)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_as_callers_give_them() {
        use crate::{MaxDelete, OnConflict, Spec};
        let mut spec = Spec::default();
        let set = |spec: &mut Spec, name: &str, value: OptionValue| spec.set(name, value).map_err(|e| e.to_string());
        set(&mut spec, "key", OptionValue::List(vec!["a".into(), "b".into()])).unwrap();
        set(&mut spec, "scope", OptionValue::Text(" region , day ".into())).unwrap();
        set(&mut spec, "max_delete", OptionValue::Int(5)).unwrap();
        set(&mut spec, "on_conflict", OptionValue::Text("Ignore".into())).unwrap();
        set(&mut spec, "as_of", OptionValue::Text("2026-01-01".into())).unwrap();
        set(&mut spec, "create", OptionValue::Bool(true)).unwrap();
        assert_eq!((spec.key.len(), spec.scope.as_slice()), (2, &["region".to_string(), "day".into()][..]));
        assert_eq!(
            (spec.max_delete, spec.on_conflict, spec.create),
            (Some(MaxDelete::Rows(5)), OnConflict::Ignore, true)
        );
        assert_eq!(spec.as_of, Some(1_767_225_600_000_000));
        let wrong = [
            ("max_delete", OptionValue::Float(1.5), "--max-delete: \"1.5\" is not a number of rows"),
            ("max_delete", OptionValue::Bool(true), "--max-delete: expected a value, not true"),
            ("on_conflict", OptionValue::Text("merge".into()), "--on-conflict: \"merge\" is not a conflict action"),
            ("key", OptionValue::Int(1), "--key: expected a column name or a list of them, not 1"),
            ("as_of", OptionValue::Text("last tuesday".into()), "--as-of: \"last tuesday\" is not a date"),
            ("evolv", OptionValue::Bool(true), "unknown option \"evolv\" (did you mean \"evolve\"?)"),
        ];
        for (name, value, message) in wrong {
            let e = set(&mut spec, name, value).unwrap_err();
            assert!(e.starts_with(message), "{name}: {e}");
        }
    }

    #[test]
    fn a_spec_reads_from_serde() {
        let spec: crate::Spec =
            serde_json::from_str(r#"{"key": "id", "delete_missing": true, "max_delete": "5%", "history": ["f", "t"]}"#)
                .unwrap();
        assert_eq!((spec.key, spec.delete_missing, spec.history.len()), (vec!["id".to_string()], true, 2));
        let e = serde_json::from_str::<crate::Spec>(r#"{"evolve": "yes"}"#).unwrap_err().to_string();
        assert!(e.starts_with("--evolve: expected true or false, not \"yes\""), "{e}");
    }
}
