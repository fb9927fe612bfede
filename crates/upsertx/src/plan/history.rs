//! Planning `--history` (a slowly changing dimension, type 2): the columns it fills, the
//! entity's key, and the unique key that keeps one version per entity and time.

use super::{Fill, PlanColumn};
use crate::error::{quote_ident, Error, Result};
use crate::schema::{Column, Table, UniqueKey};
use crate::spec::History;
use crate::value::SqlType;

/// The plan columns `--history` fills, in order: `from` (the load's time), `to` (NULL),
/// and the current flag (`true`) when there is one. None of them may be in the input.
pub(super) fn columns(table: &Table, input: &[PlanColumn], h: &History) -> Result<Vec<PlanColumn>> {
    let mut named = vec![("from", &h.from, Fill::Time(0)), ("to", &h.to, Fill::Null)];
    if let Some(flag) = &h.current_flag {
        named.push(("--current-flag", flag, Fill::True));
    }
    let mut filled: Vec<PlanColumn> = Vec::new();
    for (what, name, fill) in named {
        let flag = if what == "--current-flag" { what.to_string() } else { format!("--history: the {what} column") };
        let Some(c) = table.find_column(name).map(|c| &table.columns[c]) else {
            return Err(Error::Usage(format!(
                "{flag} {} is not a column of table {}",
                quote_ident(name),
                quote_ident(&table.name)
            )));
        };
        if input.iter().chain(&filled).any(|p| p.name == c.name) {
            return Err(Error::Usage(format!(
                "{flag} {} is {}; the load sets it, so leave it out",
                quote_ident(&c.name),
                if filled.iter().any(|p| p.name == c.name) { "named twice" } else { "in the input" }
            )));
        }
        let fits = match fill {
            Fill::True | Fill::False => c.ty == SqlType::Boolean,
            _ => matches!(c.ty, SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz),
        };
        if !fits {
            return Err(Error::Usage(format!(
                "{flag} {} is {}; it must be {}",
                quote_ident(&c.name),
                c.ty.describe(),
                if fill == Fill::True { "a boolean" } else { "a date or a timestamp" }
            )));
        }
        if fill == Fill::Null && c.not_null {
            return Err(Error::Schema(format!(
                "--history: the to column {} is NOT NULL, but the current version of each entity holds NULL there",
                quote_ident(&c.name)
            )));
        }
        filled.push(PlanColumn {
            name: c.name.clone(),
            input: usize::MAX,
            ty: c.ty.clone(),
            not_null: c.not_null,
            is_key: false,
            fill: Some(fill),
        });
    }
    if filled[0].ty != filled[1].ty {
        return Err(Error::Usage(format!(
            "--history: {} is {} but {} is {}; the two must be of one type",
            quote_ident(&filled[0].name),
            filled[0].ty.describe(),
            quote_ident(&filled[1].name),
            filled[1].ty.describe()
        )));
    }
    Ok(filled)
}

/// The entity's key when `--key` does not name it: the primary key (else a unique key)
/// that holds the `from` column, without it.
pub(super) fn entity_key(table: &Table, from: &str) -> Result<Vec<String>> {
    let with_from = |k: &&UniqueKey| !k.is_partial() && k.columns.len() > 1 && k.columns.iter().any(|c| c == from);
    let key = table.primary_key().filter(with_from).or_else(|| table.keys.iter().find(with_from));
    match key {
        Some(k) => Ok(k.columns.iter().filter(|c| *c != from).cloned().collect()),
        None => Err(Error::Usage(format!(
            "--history: no unique key of table {} holds {} beside the entity's columns: name the entity's key with --key",
            quote_ident(&table.name),
            quote_ident(from)
        ))),
    }
}

/// What keeps one version per entity and time: a unique key on exactly the entity's key
/// and `from`, else a surrogate primary key (its columns not in the input, filled by
/// their defaults).
pub(super) fn unique_key(table: &Table, key: &[String], from: &str, input: &[PlanColumn]) -> Result<UniqueKey> {
    let versioned: Vec<String> = key.iter().cloned().chain(std::iter::once(from.to_string())).collect();
    let same = |k: &&UniqueKey| {
        !k.is_partial() && k.columns.len() == versioned.len() && versioned.iter().all(|c| k.columns.contains(c))
    };
    if let Some(k) = table.keys.iter().find(same) {
        return Ok(k.clone());
    }
    let surrogate = table.primary_key().filter(|pk| {
        pk.columns.iter().all(|c| {
            !input.iter().any(|p| &p.name == c) && table.find_column(c).is_some_and(|i| table.columns[i].has_default)
        })
    });
    match surrogate {
        Some(pk) => Ok(pk.clone()),
        None => {
            let cols: Vec<String> = versioned.iter().map(|c| quote_ident(c)).collect();
            Err(Error::Schema(format!(
                "--history: table {} needs a unique key on ({}) (one version per entity and time), or a surrogate \
                 primary key its default fills",
                quote_ident(&table.name),
                cols.join(", ")
            )))
        }
    }
}

/// What `--create --history` adds to the input's columns: `from` and `to` as timestamps
/// with time zone (`from` NOT NULL, in the primary key after the entity's key), and the
/// current flag as a boolean; any of them the input has is left to the planner to refuse.
pub(crate) fn to_create(h: &History, input: &[Column]) -> (Vec<Column>, String) {
    let column = |name: &str, ty: SqlType, not_null: bool| Column {
        name: name.to_string(),
        ty,
        declared: String::new(),
        native: String::new(),
        not_null,
        has_default: false,
        generated: false,
        sequence_default: false,
    };
    let mut added = vec![column(&h.from, SqlType::TimestampTz, true), column(&h.to, SqlType::TimestampTz, false)];
    if let Some(flag) = &h.current_flag {
        added.push(column(flag, SqlType::Boolean, false));
    }
    added.retain(|c| !input.iter().any(|i| i.name == c.name));
    (added, h.from.clone())
}
