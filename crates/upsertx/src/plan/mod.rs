//! Planning: matching the input's columns to the table's, resolving the key and the
//! columns written on conflict. Dialect-neutral: dialects turn a [`Plan`] into SQL.

use crate::error::{quote_ident, Error, Location, Result};
use crate::schema::{Column, Table, UniqueKey};
use crate::spec::{Spec, UpdateColumns};
use crate::value::{SqlType, Value};

mod history;
pub(crate) use history::to_create as history_columns_to_create;

/// One input column on its way to a table column.
#[derive(Debug, Clone)]
pub struct PlanColumn {
    /// The table column's name, as the table spells it.
    pub name: String,
    /// Its position among the input's columns.
    pub input: usize,
    pub ty: SqlType,
    pub not_null: bool,
    pub is_key: bool,
    /// Not from the input: every row gets this value (the `--soft-delete` column, cleared).
    pub fill: Option<Fill>,
}

/// The value a column not read from the input holds on every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Null,
    False,
    True,
    /// The load's time ([`Plan::loaded_at`], set by [`Plan::set_loaded_at`]): a date or
    /// a timestamp, in microseconds since 1970-01-01 UTC.
    Time(i64),
}

/// How `--soft-delete` marks a row: the load's time, or `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Time,
    Flag,
}

/// Everything the dialects need to stage and merge one load.
#[derive(Debug, Clone)]
pub struct Plan {
    pub table: Table,
    /// The input's name, for messages.
    pub input: String,
    /// The staged columns, in input order.
    pub columns: Vec<PlanColumn>,
    /// Indexes into `columns` of the key, in key order.
    pub key: Vec<usize>,
    /// The unique constraint or index that backs the key.
    pub key_constraint: UniqueKey,
    /// Indexes into `columns` of the columns written on conflict.
    pub update: Vec<usize>,
    /// Indexes into `columns` of the `--scope` columns of `--delete-missing`.
    pub scope: Vec<usize>,
    /// The `--soft-delete` column (the last of `columns`, filled with NULL or `false`)
    /// and how it marks a row.
    pub soft_delete: Option<(usize, Mark)>,
    /// The load's time (microseconds since 1970, UTC): what `--soft-delete` marks with.
    pub loaded_at: i64,
    /// Index into `columns` of the `--newer-by` column (one of `update`).
    pub newer_by: Option<usize>,
    /// `--history`: the columns it fills (see [`HistoryColumns`]).
    pub history: Option<HistoryColumns>,
    pub spec: Spec,
    /// What the stage holds when `--delete-missing` reads it.
    pub staged: Staged,
}

/// What the stage holds when `--delete-missing` reads it: the input's rows, or (an
/// incremental `upsertx sync` stream, whose input is the rows changed since its mark)
/// keys of the source's, staged after the merge (see `engine::delete_by_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The input's rows: the deletes take the rows in scope whose key none of them has.
    Rows,
    /// Every source key (the rest of each row NULL): taken as the input's rows are.
    Keys,
    /// The keys to delete: the table's keys the source's keys lack, found in memory
    /// (`diff.rs`). The deletes take the rows whose key one of them has.
    Gone,
}

/// The plan columns `--history` fills (indexes into [`Plan::columns`], after the
/// input's): `from` the load's time, `to` NULL, the flag `true`. They are never compared
/// nor updated; [`Plan::key`] is the entity's key, without `from`. The plan's
/// [`soft_delete`](Plan::soft_delete) is `to`: `--delete-missing` closes the current
/// versions (`to` NULL) of the absent entities, the flag with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryColumns {
    pub from: usize,
    pub to: usize,
    pub flag: Option<usize>,
}

impl Plan {
    /// The table column behind plan column `i` (plan columns carry the table's spelling).
    pub fn table_column(&self, i: usize) -> Option<&Column> {
        self.table.columns.iter().find(|c| c.name == self.columns[i].name)
    }

    pub fn new(table: Table, input: &str, input_columns: &[String], spec: &Spec) -> Result<Plan> {
        Plan::leaving_out(table, input, input_columns, spec, &[])
    }

    /// A plan of the input's columns but those at `left_out` (a MySQL dry run's columns
    /// `--evolve` would add, see `evolve.rs`).
    pub(crate) fn leaving_out(
        table: Table,
        input: &str,
        input_columns: &[String],
        spec: &Spec,
        left_out: &[usize],
    ) -> Result<Plan> {
        let mut columns = match_columns(&table, input, input_columns, left_out)?;
        let history = match &spec.history_columns() {
            Some(h) => Some(history::columns(&table, &columns, h)?),
            None => None,
        };
        let (key, key_constraint) = resolve_key(&table, input, spec, &mut columns, history.as_deref())?;
        let mut update = update_columns(&table, spec, &columns)?;
        let scope = scope_columns(&table, input, spec, &columns)?;
        let newer_by = newer_by_column(&table, spec, &columns, &update)?;
        let mut soft_delete = soft_delete_column(&table, spec, &mut columns, &mut update)?;
        let history = history.map(|filled| {
            let at = columns.len();
            columns.extend(filled);
            soft_delete = Some((at + 1, Mark::Time));
            HistoryColumns { from: at, to: at + 1, flag: (columns.len() > at + 2).then_some(at + 2) }
        });
        let plan = Plan {
            table,
            input: input.to_owned(),
            columns,
            key,
            key_constraint,
            update,
            scope,
            soft_delete,
            loaded_at: 0,
            newer_by,
            history,
            spec: spec.clone(),
            staged: Staged::Rows,
        };
        if let (true, Some(c)) = (plan.keyless(), plan.missing_required()) {
            return Err(Error::Schema(format!(
                "{input}: column {} of table {} is NOT NULL with no default, and the input does not have it: every \
                 row of a load into a table with no key is inserted",
                quote_ident(&c.name),
                quote_ident(&plan.table.name)
            )));
        }
        Ok(plan)
    }

    /// Sets the load's time, and the columns that hold it ([`Fill::Time`]).
    /// `digits`: how many digits after the second the `--history` from column keeps (see
    /// `Connection::second_digits`).
    pub(crate) fn set_loaded_at(&mut self, micros: i64, digits: impl Fn(&Column) -> u32) {
        // `--history` compares its columns with the load's time: a time as the column
        // keeps it (MySQL's `datetime` drops the fraction of a second).
        let micros = match self.history.and_then(|h| self.table_column(h.from)) {
            Some(c) if matches!(c.ty, SqlType::Timestamp | SqlType::TimestampTz) => {
                let unit = 10i64.pow(6 - digits(c).min(6));
                micros - micros.rem_euclid(unit)
            }
            _ => micros,
        };
        self.loaded_at = micros;
        for c in &mut self.columns {
            if let Some(Fill::Time(_)) = c.fill {
                c.fill = Some(Fill::Time(micros));
            }
        }
    }

    /// The indexes of every plan column, in order: for lists of all of them.
    pub fn all_columns(&self) -> Vec<usize> {
        (0..self.columns.len()).collect()
    }

    /// Whether the table has no key (a fact table under `--replace-where`): the window
    /// is deleted first, then every input row is inserted (see [`Plan::new`]).
    pub fn keyless(&self) -> bool {
        self.key.is_empty()
    }

    /// A value of column `column` read back from the database as text, typed as the
    /// column's kind so messages show numbers unquoted.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub fn typed_value(&self, column: usize, text: Option<String>) -> Value<'static> {
        match (text, &self.columns[column].ty) {
            (None, _) => Value::Null,
            (Some(t), SqlType::Integer { .. } | SqlType::Unsigned { .. }) => {
                t.parse().map_or_else(|_| Value::text(t), Value::Int)
            }
            (Some(t), _) => Value::text(t),
        }
    }

    /// A column every new row needs but the input lacks: NOT NULL, no default, not
    /// generated. Existing rows can still be updated without it; a new key cannot be
    /// inserted (see [`Plan::new_row_needs`]).
    pub(crate) fn missing_required(&self) -> Option<&Column> {
        self.table
            .columns
            .iter()
            .find(|c| c.not_null && !c.has_default && !c.generated && !self.columns.iter().any(|p| p.name == c.name))
    }

    /// Whether a column whose default draws from a sequence (serial, identity,
    /// auto-increment) is not in the input: inserting a row that turns out to exist would
    /// burn one of its values. (Used by the server databases' merges.)
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub(crate) fn leaves_out_a_sequence(&self) -> bool {
        self.table.columns.iter().any(|c| c.sequence_default && !self.columns.iter().any(|p| p.name == c.name))
    }

    /// The error for input row `row` outside `--replace-where`'s condition (`None`: the
    /// database could not evaluate the condition on the input, `message` says why).
    pub(crate) fn outside_replace_where(&self, row: Option<u64>, message: Option<String>) -> Error {
        let cond = self.spec.replace_where.as_deref().unwrap_or_default();
        match row {
            Some(row) => Error::Input {
                at: Location { input: self.input.clone(), row, line: None },
                reason: format!(
                    "outside --replace-where ({cond}): every input row must be in the window it replaces; nothing was written"
                ),
            },
            None => Error::Usage(format!(
                "--replace-where ({cond}) cannot be checked on the input's rows: {}; the condition may only name \
                 columns the input has",
                message.unwrap_or_default()
            )),
        }
    }

    /// The error for input row `row` under `--on-conflict error`: its key is in the table.
    pub(crate) fn key_exists(&self, row: u64, key: &[Value<'_>]) -> Error {
        Error::KeyExists {
            at: Location { input: self.input.clone(), row, line: None },
            key: self.show_key(key),
            table: self.table.name.clone(),
        }
    }

    /// The error for input row `row`, whose key is new, when `column` is required and
    /// missing from the input.
    pub(crate) fn new_row_needs(&self, column: &Column, row: u64, key: &[Value<'_>]) -> Error {
        Error::Value {
            at: Location { input: self.input.clone(), row, line: None },
            column: column.name.clone(),
            value: None,
            reason: format!(
                "key {} is not in table {}, and a new row needs this column (NOT NULL, no default), which the \
                 input does not have; rows whose key exists are updated without it",
                self.show_key(key),
                quote_ident(&self.table.name)
            ),
        }
    }

    /// The error for input row `row` whose columns `cols` (holding `values`) are unique
    /// under another index than the load's key (`index` names it: `unique index "u"`,
    /// `constraint "c"`; empty when it has no name): their values are already used by
    /// another row of the table, or, with `first`, by input row `first` under another
    /// key. Such a row can be neither inserted nor updated.
    pub(crate) fn other_key_conflict(
        &self,
        row: u64,
        cols: &[usize],
        values: &[Value<'_>],
        first: Option<u64>,
        index: &str,
    ) -> Error {
        let index = if index.is_empty() { String::new() } else { format!(" ({index})") };
        let what = match first {
            Some(first) => format!("also on input row {first} with a different key{index}"),
            None => format!("already used by another row of table {}{index}", quote_ident(&self.table.name)),
        };
        let key: Vec<String> = self.key.iter().map(|&i| quote_ident(&self.columns[i].name)).collect();
        Error::Conflict {
            at: Location { input: self.input.clone(), row, line: None },
            reason: format!(
                "{} is {what}; the load's key is ({}), so the row can be neither inserted nor updated",
                self.show_columns(cols, values),
                key.join(", ")
            ),
        }
    }

    /// Shows a key for messages: `("id")=(5)`, `("a", "b")=('x', 2)`.
    pub fn show_key(&self, values: &[Value<'_>]) -> String {
        self.show_columns(&self.key, values)
    }

    /// Shows columns (indexes into `columns`) and their values for messages.
    pub fn show_columns(&self, columns: &[usize], values: &[Value<'_>]) -> String {
        let names: Vec<String> = columns.iter().map(|&i| quote_ident(&self.columns[i].name)).collect();
        let vals: Vec<String> = values.iter().map(show_value).collect();
        format!("({})=({})", names.join(", "), vals.join(", "))
    }
}

/// Refuses what a keyless `--replace-where` load cannot honour: the options that say how
/// to treat an existing key (nothing matches by key: every row is new), and a required
/// column the input lacks (every row is inserted).
fn keyless_usage(table: &Table, spec: &Spec) -> Result<()> {
    let t = quote_ident(&table.name);
    let by_key = [
        (spec.on_conflict != crate::spec::OnConflict::Update, "--on-conflict"),
        (spec.update_columns() != UpdateColumns::All, "--update/--no-update"),
        (spec.always_update, "--always-update"),
        (spec.duplicates == crate::spec::Duplicates::Error, "--duplicates error"),
        (spec.key_where.is_some(), "--key-where"),
        (spec.newer_by.is_some(), "--newer-by"),
    ];
    if let Some((_, flag)) = by_key.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "table {t} has no key: --replace-where deletes its window and inserts every input row, so {flag} \
             does not apply"
        )));
    }
    Ok(())
}

/// A list for a message, cut after 20 names: a 5,000-column table must not make a
/// 44 KB error.
fn capped(names: &[String]) -> String {
    const SHOWN: usize = 20;
    match names.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{}, and {more} more", names[..SHOWN].join(", ")),
        _ => names.join(", "),
    }
}

fn show_value(v: &Value<'_>) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Blob(b) => crate::value::blob_text(b),
        Value::Date(_) | Value::Time(_) | Value::Timestamp { .. } => {
            format!("'{}'", v.temporal_text().unwrap_or_default())
        }
    }
}

fn cols_text(cols: &[String]) -> String {
    cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

/// The input's columns matched to the table's (by name, ignoring case), in input order;
/// `left_out`: input columns the plan skips (a MySQL dry run's new columns).
fn match_columns(table: &Table, input: &str, input_columns: &[String], left_out: &[usize]) -> Result<Vec<PlanColumn>> {
    let mut columns: Vec<PlanColumn> = Vec::with_capacity(input_columns.len());
    let mut unknown = Vec::new();
    for (i, name) in input_columns.iter().enumerate().filter(|(i, _)| !left_out.contains(i)) {
        match table.find_column(name) {
            Some(c) => {
                let col = &table.columns[c];
                if col.generated {
                    return Err(Error::Schema(format!(
                        "column {} of table {} is generated by the database and cannot be loaded; drop it from the input",
                        quote_ident(&col.name),
                        quote_ident(&table.name)
                    )));
                }
                if let Some(other) = columns.iter().find(|p| p.name == col.name) {
                    return Err(Error::Schema(format!(
                        "{input}: input columns {} and {} both match column {} of table {}: keep one",
                        quote_ident(&input_columns[other.input]),
                        quote_ident(name),
                        quote_ident(&col.name),
                        quote_ident(&table.name)
                    )));
                }
                columns.push(PlanColumn {
                    name: col.name.clone(),
                    input: i,
                    ty: col.ty.clone(),
                    not_null: col.not_null,
                    is_key: false,
                    fill: None,
                });
            }
            None => unknown.push(quote_ident(name)),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::Schema(format!(
            "{input}: column{} {} not in table {} (its columns: {}); pass --evolve to add {} to the table",
            if unknown.len() > 1 { "s" } else { "" },
            capped(&unknown),
            quote_ident(&table.name),
            capped(&table.columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>()),
            if unknown.len() > 1 { "them" } else { "it" }
        )));
    }
    Ok(columns)
}

/// The key: `--key`, else `--constraint`'s columns, else (`--history`) the entity's key,
/// else the primary key; none for a keyless `--replace-where`. Marks the key's plan
/// columns, and finds the unique key (or partial index) that backs it.
fn resolve_key(
    table: &Table,
    input: &str,
    spec: &Spec,
    columns: &mut [PlanColumn],
    history: Option<&[PlanColumn]>,
) -> Result<(Vec<usize>, UniqueKey)> {
    let named = match &spec.constraint {
        Some(name) => Some(find_named(table, name)?),
        None => None,
    };
    // A fact table (no unique key at all) whose window `--replace-where` replaces:
    // keyless, every input row is inserted once the window is deleted.
    let keyless = spec.replace_where.is_some() && spec.key.is_empty() && named.is_none() && table.keys.is_empty();
    let key_names: Vec<String> = match (spec.key_columns(), &named) {
        (Some(k), _) => k.to_vec(),
        (None, Some(uk)) => uk.columns.clone(),
        (None, None) if keyless => Vec::new(),
        (None, None) if history.is_some() => history::entity_key(table, history.map_or("", |h| h[0].name.as_str()))?,
        (None, None) => match table.primary_key() {
            Some(pk) => pk.columns.clone(),
            None => {
                return Err(Error::Schema(format!(
                    "table {} has no primary key: name the key columns with --key",
                    quote_ident(&table.name)
                )))
            }
        },
    };
    let mut key = Vec::new();
    for k in &key_names {
        let Some(tc) = table.find_column(k) else {
            return Err(Error::Schema(format!(
                "key column {} is not a column of table {}",
                quote_ident(k),
                quote_ident(&table.name)
            )));
        };
        let tname = &table.columns[tc].name;
        let Some(pc) = columns.iter().position(|c| &c.name == tname) else {
            return Err(Error::Schema(format!("{input}: key column {} is not in the input", quote_ident(tname))));
        };
        if key.contains(&pc) {
            return Err(Error::Usage(format!("key column {} is named twice", quote_ident(tname))));
        }
        columns[pc].is_key = true;
        key.push(pc);
    }
    let key_names: Vec<String> = key.iter().map(|&i| columns[i].name.clone()).collect();
    let key_constraint = if keyless {
        keyless_usage(table, spec)?;
        UniqueKey { name: None, columns: Vec::new(), collations: Vec::new(), primary: false, predicate: None }
    } else if let Some(h) = history {
        history::unique_key(table, &key_names, &h[0].name, columns)?
    } else {
        find_unique(table, &key_names, named.as_ref(), spec.key_where.as_deref())?
    };
    Ok((key, key_constraint))
}

/// The plan columns `list` names (for `flag`'s message), none of them a key column.
fn non_key_columns(table: &Table, columns: &[PlanColumn], list: &[String], flag: &str) -> Result<Vec<usize>> {
    list.iter()
        .map(|n| {
            let tc = table.find_column(n).map(|c| &table.columns[c].name);
            match tc.and_then(|t| columns.iter().position(|c| &c.name == t)) {
                Some(i) if columns[i].is_key => Err(Error::Usage(format!(
                    "{flag}: {} is a key column; key columns are never updated",
                    quote_ident(n)
                ))),
                Some(i) => Ok(i),
                None => Err(Error::Usage(format!("{flag}: {} is not an input column", quote_ident(n)))),
            }
        })
        .collect()
}

/// The columns a matched row has written: every non-key input column, narrowed by
/// `--update` / `--no-update`.
fn update_columns(table: &Table, spec: &Spec, columns: &[PlanColumn]) -> Result<Vec<usize>> {
    let non_key = (0..columns.len()).filter(|&i| !columns[i].is_key);
    Ok(match &spec.update_columns() {
        UpdateColumns::All => non_key.collect(),
        UpdateColumns::Only(list) => {
            let only = non_key_columns(table, columns, list, "--update")?;
            non_key.filter(|i| only.contains(i)).collect()
        }
        UpdateColumns::AllBut(list) => {
            let but = non_key_columns(table, columns, list, "--no-update")?;
            non_key.filter(|i| !but.contains(i)).collect()
        }
    })
}

/// `--scope`'s plan columns: each must be in the input (the scope is the values it holds).
fn scope_columns(table: &Table, input: &str, spec: &Spec, columns: &[PlanColumn]) -> Result<Vec<usize>> {
    spec.scope
        .iter()
        .map(|n| {
            let tc = table.find_column(n).map(|c| &table.columns[c].name);
            match tc.and_then(|t| columns.iter().position(|c| &c.name == t)) {
                Some(i) => Ok(i),
                None if tc.is_some() => Err(Error::Usage(format!(
                    "--scope: {} is not in the input {input}: the scope is the values the input holds",
                    quote_ident(n)
                ))),
                None => Err(Error::Usage(format!(
                    "--scope: {} is not a column of table {}",
                    quote_ident(n),
                    quote_ident(&table.name)
                ))),
            }
        })
        .collect()
}

/// `--newer-by`'s plan column: an updated one.
fn newer_by_column(table: &Table, spec: &Spec, columns: &[PlanColumn], update: &[usize]) -> Result<Option<usize>> {
    let Some(n) = &spec.newer_by else { return Ok(None) };
    let i = non_key_columns(table, columns, std::slice::from_ref(n), "--newer-by")?[0];
    if !update.contains(&i) {
        return Err(Error::Usage(format!(
            "--newer-by: {} must be updated too (--update/--no-update leave it out), or no row \
             would ever be newer than the one it replaced",
            quote_ident(&columns[i].name)
        )));
    }
    Ok(Some(i))
}

/// `--soft-delete`'s column, added to the plan (filled, always written: a marked row
/// whose key comes back is cleared), and how it marks.
fn soft_delete_column(
    table: &Table,
    spec: &Spec,
    columns: &mut Vec<PlanColumn>,
    update: &mut Vec<usize>,
) -> Result<Option<(usize, Mark)>> {
    let Some(name) = &spec.soft_delete else { return Ok(None) };
    let Some(tc) = table.find_column(name).map(|c| &table.columns[c]) else {
        return Err(Error::Usage(format!(
            "--soft-delete: {} is not a column of table {}",
            quote_ident(name),
            quote_ident(&table.name)
        )));
    };
    if columns.iter().any(|c| c.name == tc.name) {
        return Err(Error::Usage(format!(
            "--soft-delete: {} is in the input; the load sets it, so leave it out",
            quote_ident(&tc.name)
        )));
    }
    let (mark, fill) = match tc.ty {
        SqlType::Boolean => (Mark::Flag, Fill::False),
        SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz => (Mark::Time, Fill::Null),
        _ => {
            return Err(Error::Usage(format!(
                "--soft-delete: {} is {}; it must be a date, a timestamp or a boolean",
                quote_ident(&tc.name),
                tc.ty.describe()
            )))
        }
    };
    columns.push(PlanColumn {
        name: tc.name.clone(),
        input: usize::MAX,
        ty: tc.ty.clone(),
        not_null: tc.not_null,
        is_key: false,
        fill: Some(fill),
    });
    update.push(columns.len() - 1);
    Ok(Some((columns.len() - 1, mark)))
}

/// The unique constraint or index called `name` (exactly, else ignoring case).
fn find_named(table: &Table, name: &str) -> Result<UniqueKey> {
    let found = table
        .keys
        .iter()
        .find(|k| k.name.as_deref() == Some(name))
        .or_else(|| table.keys.iter().find(|k| k.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))));
    found.cloned().ok_or_else(|| {
        let names: Vec<String> = table.keys.iter().filter_map(|k| k.name.as_deref().map(quote_ident)).collect();
        Error::Schema(format!(
            "table {} has no unique constraint or index named {} (it has: {})",
            quote_ident(&table.name),
            quote_ident(name),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ))
    })
}

/// The unique constraint or index that backs the key: exactly the key's columns (in any
/// order); when `key_where` is given, the partial index with that condition.
fn find_unique(table: &Table, key: &[String], named: Option<&UniqueKey>, key_where: Option<&str>) -> Result<UniqueKey> {
    let same = |k: &UniqueKey| k.columns.len() == key.len() && key.iter().all(|c| k.columns.contains(c));
    let cols = cols_text(key);
    let matches = |k: &UniqueKey, w: &str| {
        k.predicate.as_deref().map(crate::schema::normalize_predicate) == Some(crate::schema::normalize_predicate(w))
    };
    if let Some(uk) = named {
        let name = quote_ident(uk.name.as_deref().unwrap_or_default());
        if !same(uk) {
            return Err(Error::Usage(format!(
                "--constraint {name} is on ({}), not on the key ({cols})",
                cols_text(&uk.columns)
            )));
        }
        return match (&uk.predicate, key_where) {
            (None, None) => Ok(uk.clone()),
            (Some(p), None) => Err(Error::Schema(format!(
                "{name} is a partial unique index (WHERE {p}): pass --key-where \"{p}\" to key on it"
            ))),
            (None, Some(w)) => Err(Error::Usage(format!("--key-where {w:?}: {name} is not a partial index"))),
            (Some(p), Some(w)) if !matches(uk, w) => {
                Err(Error::Schema(format!("--key-where {w:?} is not the condition of {name} (WHERE {p})")))
            }
            _ => Ok(uk.clone()),
        };
    }
    if let Some(w) = key_where {
        if let Some(k) = table.keys.iter().find(|k| same(k) && matches(k, w)) {
            return Ok(k.clone());
        }
        let partial: Vec<String> = table
            .keys
            .iter()
            .filter(|k| same(k))
            .filter_map(|k| k.predicate.as_ref().map(|p| format!("WHERE {p}")))
            .collect();
        return Err(Error::Schema(format!(
            "no partial unique index on ({cols}) of table {} has the condition {w:?} (those on ({cols}): {})",
            quote_ident(&table.name),
            if partial.is_empty() { "none".to_string() } else { partial.join("; ") }
        )));
    }
    if let Some(k) = table.keys.iter().find(|k| same(k) && !k.is_partial()) {
        return Ok(k.clone());
    }
    if let Some(p) = table.keys.iter().filter(|k| same(k)).find_map(|k| k.predicate.as_ref()) {
        return Err(Error::Schema(format!(
            "the only unique index on ({cols}) of table {} is partial (WHERE {p}): pass --key-where \"{p}\" to key on it",
            quote_ident(&table.name)
        )));
    }
    let known = if table.keys.is_empty() {
        "it has none".to_string()
    } else {
        table.keys.iter().map(|k| format!("({})", cols_text(&k.columns))).collect::<Vec<_>>().join(", ")
    };
    if let Some(by) = table.distributed_by.as_ref().filter(|by| !key.contains(by)) {
        // Citus keeps a unique index per shard: no index can make a key without the
        // distribution column unique.
        return Err(Error::Schema(format!(
            "table {} is distributed by column {} (Citus), and its key must include it: the key ({cols}) does not (the table's keys: {known})",
            quote_ident(&table.name),
            quote_ident(by)
        )));
    }
    Err(Error::Schema(format!(
        "no primary key or unique constraint of table {} is exactly ({cols}) (its keys: {known}); an upsert key must be unique: add a unique index on ({cols}) or choose another --key",
        quote_ident(&table.name)
    )))
}
