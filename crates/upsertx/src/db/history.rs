//! The merge of `--history` (a slowly changing dimension, type 2), written once for every
//! database: each dialect supplies its spelling of the staged values, of "a column
//! differs", of a delete, and of the load's time (a bound parameter, never spliced).
//!
//! Under the load's merge turn, against the de-duplicated input `s` (one row per entity):
//!
//! 1. [`Statements::too_late`]: the first input row whose entity's current version (`to`
//!    NULL) began after the load's time fails the load (history only moves forward).
//! 2. [`Statements::replace`]: a current version that began at the load's time itself (an
//!    earlier load of the same instant) and differs is deleted: the new version takes
//!    its place rather than leaving a version valid for no time at all.
//! 3. [`Statements::close`]: every other current version that differs gets `to` = the
//!    load's time (and the flag `false`).
//! 4. [`Statements::insert`]: every input row whose entity has no current version now (new
//!    entities, changed ones, ones that come back after being closed) is inserted with
//!    `from` = the load's time, `to` NULL (and the flag `true`), in key order.
//!
//! Counts: `updated` = closed + replaced, `inserted` = inserted rows - updated, the rest
//! of the input `unchanged` ([`counts`]). With `--newer-by`, a version is closed or
//! replaced only for a newer input row (`sql::newer`), and the rows whose entity still
//! differs after all this were not newer: [`Statements::stale`]. `--delete-missing` then closes the absent
//! entities' current versions through the `--soft-delete` path ([`sql::soft_set`]).

use super::sql::{self, key_match, list};
use super::MergeCounts;
use crate::plan::{HistoryColumns, Plan};
use crate::spec::OnConflict;

/// How one database spells the parts of the statements.
pub(crate) struct Dialect<'a> {
    pub q: fn(&str) -> String,
    /// The table, qualified and quoted.
    pub target: &'a str,
    /// Where the insert looks for the input's entities' current versions (aliased `t`,
    /// with the key and `to` columns): the table itself, or on Citus a CTE of them.
    pub current: &'a str,
    /// The de-duplicated input (aliased `s`), with its `ord` column.
    pub stage: &'a str,
    /// Staged column `i` of `s` as the table's type.
    pub value: &'a dyn Fn(usize) -> String,
    /// "The table's column equals a staged value" such that the stage's index finds the
    /// staged row of a table row (SQLite's differs from [`sql::equals`]).
    pub eq: sql::Equals,
    /// Column `i` of the table's row `t` differs from `s`'s.
    pub differs: &'a dyn Fn(usize) -> String,
    /// The load's time as a value of the `from` column (a parameter).
    pub time: &'a str,
    /// `DELETE FROM target AS t` as the database accepts it.
    pub delete: &'a str,
    /// An expression as text (for a message).
    pub text: fn(String) -> String,
}

/// The statements, in the order they run. `replace` and `close` are `None` when the
/// input has no column to compare (only the key): no entity can change.
pub(crate) struct Statements {
    pub too_late: String,
    pub replace: Option<String>,
    pub close: Option<String>,
    pub insert: String,
    /// `--newer-by`, after the rest: the input rows whose entity's current version still
    /// differs (they were not newer): `stale`.
    pub stale: Option<String>,
}

pub(crate) fn statements(plan: &Plan, h: HistoryColumns, d: &Dialect<'_>) -> Statements {
    let q = d.q;
    let (target, stage, time) = (d.target, d.stage, d.time);
    let col = |i: usize| format!("t.{}", q(&plan.columns[i].name));
    let (from, to) = (col(h.from), col(h.to));
    let on = key_match(plan, q);
    let staged_row = list(&plan.key, |i| (d.eq)(&col(i), &(d.value)(i)), " AND ");
    let differs = list(&plan.update, |i| (d.differs)(i), " OR ");
    // `--newer-by`: a version changes only for a newer input row.
    let newer = sql::newer(plan, |i| (d.value)(i), col).map(|n| format!(" AND {n}")).unwrap_or_default();
    let changed = (!plan.update.is_empty())
        .then(|| format!("EXISTS (SELECT 1 FROM {stage} AS s WHERE {staged_row} AND ({differs}){newer})"));
    let all = plan.all_columns();
    let keys = list(&plan.key, |i| format!("s.{}", sql::stage_col(i)), ", ");
    Statements {
        too_late: format!(
            "SELECT s.ord, {} FROM {stage} AS s JOIN {target} AS t ON {on} WHERE {to} IS NULL AND {from} > {time} \
             ORDER BY s.ord LIMIT 1",
            (d.text)(from.clone())
        ),
        replace: changed
            .as_ref()
            .map(|changed| format!("{} WHERE {to} IS NULL AND {from} = {time} AND {changed}", d.delete)),
        close: changed.as_ref().map(|changed| {
            let set = sql::soft_set(plan, q, time).unwrap_or_default();
            format!("UPDATE {target} AS t SET {set} WHERE {to} IS NULL AND {changed}")
        }),
        insert: format!(
            "INSERT INTO {target} ({}) SELECT {} FROM {stage} AS s \
             WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {on} AND {to} IS NULL) ORDER BY {keys}",
            list(&all, |i| q(&plan.columns[i].name), ", "),
            list(&all, |i| (d.value)(i), ", "),
            d.current,
        ),
        stale: (plan.newer_by.is_some() && !plan.update.is_empty()).then(|| {
            format!("SELECT count(*) FROM {stage} AS s JOIN {target} AS t ON {on} AND {to} IS NULL WHERE {differs}")
        }),
    }
}

/// The counts of a history merge of `staged` entities that inserted `rows`, of which
/// `closed` closed and `replaced` replaced a current version.
pub(crate) fn counts(staged: u64, rows: u64, closed: u64, replaced: u64) -> MergeCounts {
    let updated = closed + replaced;
    MergeCounts::derive(OnConflict::Update, staged, rows.saturating_sub(updated), updated)
}

/// The error for input row `row`: its entity's current version began (`from`, as the
/// table holds it) after the load's time.
pub(crate) fn too_late(plan: &Plan, row: u64, from: Option<String>) -> crate::error::Error {
    let h = plan.history.expect("a history plan");
    crate::error::Error::Input {
        at: crate::error::Location { input: plan.input.clone(), row, line: None },
        reason: format!(
            "its entity's current version in table {} began at {} ({}), after the load's time {}: --history only \
             adds versions after the current one (see --as-of); nothing was written",
            crate::error::quote_ident(&plan.table.name),
            from.unwrap_or_default(),
            crate::error::quote_ident(&plan.columns[h.from].name),
            crate::time::format_micros(plan.loaded_at)
        ),
    }
}

/// `--delete-missing` under `--history`, so that no version ever closes before it began:
/// - `latest`, before the absent entities' current versions are closed: the latest of
///   them that began at or after the load's time, as text: its `from`, `after` or `at`,
///   then its key ([`check_latest`]). One that began after fails the load
///   ([`closing_too_late`]), as for an input row; one that began at it means `instant`
///   is to run;
/// - `instant`, after: the condition (on `t`) of the versions that began at the load's
///   time itself and so were just closed at it: they are removed, as
///   [`Statements::replace`] removes a changed one, rather than kept valid for no time.
pub(crate) struct DeleteGuards {
    pub latest: String,
    pub instant: String,
}

/// The guards of the rows `doomed` finds (a condition on the table's alias `t`), with
/// `time` the load's time as a value of the `from` column (twice in `latest`, once
/// more in `instant`) and `text` an expression as text.
pub(crate) fn delete_guards(
    plan: &Plan,
    h: HistoryColumns,
    q: fn(&str) -> String,
    target: &str,
    doomed: &str,
    time: &str,
    text: fn(String) -> String,
) -> DeleteGuards {
    let col = |i: usize| format!("t.{}", q(&plan.columns[i].name));
    let (from, to) = (col(h.from), col(h.to));
    let keys = list(&plan.key, |i| text(col(i)), ", ");
    DeleteGuards {
        latest: format!(
            "SELECT {}, CASE WHEN {from} > {time} THEN 'after' ELSE 'at' END, {keys} FROM {target} AS t \
             WHERE {doomed} AND {from} >= {time} ORDER BY {from} DESC LIMIT 1",
            text(from.clone())
        ),
        instant: format!("{from} = {time} AND {to} = {time}"),
    }
}

/// What [`DeleteGuards::latest`] found (its row's values as text): the load fails for a
/// version that began after its time; `true` when one began at it (then `instant` runs).
pub(crate) fn check_latest(plan: &Plan, row: Option<Vec<Option<String>>>) -> crate::error::Result<bool> {
    let Some(mut row) = row else { return Ok(false) };
    if row.get(1).cloned().flatten().as_deref() != Some("after") {
        return Ok(true);
    }
    let key = row.split_off(2);
    Err(closing_too_late(plan, row.swap_remove(0), &key))
}

/// The error for an entity absent from the input (`key`, its key's values) whose current
/// version began (`from`, as the table holds it) after the load's time.
fn closing_too_late(plan: &Plan, from: Option<String>, key: &[Option<String>]) -> crate::error::Error {
    let h = plan.history.expect("a history plan");
    let key = key.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect::<Vec<_>>().join(", ");
    crate::error::Error::Refused(format!(
        "{}: the current version of entity ({key}) of table {}, absent from the input, began at {} ({}), after the \
         load's time {}: --delete-missing cannot close it before it began (--history only adds versions after the \
         current one; see --as-of); nothing was written",
        plan.input,
        crate::error::quote_ident(&plan.table.name),
        from.unwrap_or_default(),
        crate::error::quote_ident(&plan.columns[h.from].name),
        crate::time::format_micros(plan.loaded_at)
    ))
}
