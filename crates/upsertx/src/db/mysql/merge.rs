//! Merging the stage into the target for MySQL and MariaDB, in the load's transaction:
//!
//! 1. other unique keys are checked: a row whose value for another unique index is
//!    already held by a row with a different key (or by another input row) fails the
//!    load, naming the row, instead of updating or replacing the wrong row;
//! 2. when `ON DUPLICATE KEY UPDATE` cannot fire on another unique key nor burn
//!    auto-increment values, one `INSERT ... SELECT ... ON DUPLICATE KEY UPDATE` in key
//!    order, counted from its affected rows and the server's `Duplicates:` figure;
//! 3. otherwise `UPDATE target JOIN stage ... WHERE NOT (all equal)` writes the changed
//!    rows (NULL-safe `<=>`, text compared as bytes so case changes are seen under `_ci`
//!    collations; its row count is `updated`), and `INSERT INTO target SELECT ... WHERE
//!    NOT EXISTS (key in target)` adds the new keys; the other staged rows matched and
//!    were unchanged. Both are locking reads under repeatable read (pinned at connect):
//!    they see the latest committed rows, and the UPDATE's next-key locks keep other
//!    transactions from inserting one of the load's keys in between, so no row can be
//!    skipped by both. Under `--on-conflict error` the INSERT has no filter: a key
//!    committed by another load since the (locking) check is a duplicate-key error,
//!    reported as that key existing.
//!
//! `INSERT IGNORE` is never used against the target: it swallows truncation and
//! bad-date errors.

use super::session::db_error;
use super::sql::q;
use super::stage::stage_name;
use crate::db::sql::{self, list, stage_col};
use crate::db::{history, MergeCounts, Told};
use crate::error::{quote_ident, Error, Result};
use crate::plan::{HistoryColumns, Plan};
use crate::spec::OnConflict;
use crate::value::Value;
use mysql::prelude::Queryable;
use mysql::Conn;

fn key_match(plan: &Plan) -> String {
    sql::key_match(plan, q)
}

fn is_text(plan: &Plan, i: usize) -> bool {
    matches!(
        plan.table_column(i).map(|c| c.native.as_str()),
        Some("char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set")
    )
}

/// Every updated column equal (NULL-safe; text as bytes).
fn all_equal(plan: &Plan) -> String {
    if plan.update.is_empty() {
        return "1".into();
    }
    list(&plan.update, |i| same(plan, i), " AND ")
}

/// Column `i` of the table's row `t` differs from the staged row `s`'s (NULL-safe; text
/// as bytes): the same name for the same test on every database.
pub(super) fn column_differs(plan: &Plan, i: usize) -> String {
    format!("NOT ({})", same(plan, i))
}

/// Column `i` of the table's row `t` equals the staged row `s`'s (NULL-safe; text as
/// bytes).
fn same(plan: &Plan, i: usize) -> String {
    let (t, s) = (format!("t.{}", q(&plan.columns[i].name)), format!("s.{}", stage_col(i)));
    if is_text(plan, i) {
        format!("CAST({t} AS BINARY) <=> CAST({s} AS BINARY)")
    } else {
        format!("{t} <=> {s}")
    }
}

/// `--history` (see `db/history.rs`), under the load's merge lock; the load's time
/// is a parameter, as text.
fn history(
    conn: &mut Conn,
    plan: &Plan,
    h: HistoryColumns,
    target: &str,
    staged: u64,
) -> std::result::Result<Result<MergeCounts>, mysql::Error> {
    let delete = format!("DELETE t FROM {target} AS t");
    let dialect = history::Dialect {
        q,
        target,
        current: target,
        stage: stage_name(plan),
        value: &|i| format!("s.{}", stage_col(i)),
        eq: sql::equals,
        differs: &|i| column_differs(plan, i),
        time: "?",
        delete: &delete,
        text: super::sql::text,
    };
    let sql = history::statements(plan, h, &dialect);
    let time = || mysql::Params::Positional(vec![sql::mark_time(plan).into()]);
    if let Some((row, from)) = conn.exec_first::<(u64, Option<String>), _, _>(&sql.too_late, time())? {
        return Ok(Err(history::too_late(plan, row, from)));
    }
    let mut changed = [0, 0];
    for (n, sql) in changed.iter_mut().zip([&sql.replace, &sql.close]) {
        if let Some(sql) = sql {
            conn.exec_drop(sql, time())?;
            *n = conn.affected_rows();
        }
    }
    conn.query_drop(&sql.insert)?;
    let rows = conn.affected_rows();
    let stale = match &sql.stale {
        Some(stale) => conn.query_first::<u64, _>(stale)?.unwrap_or(0),
        None => 0,
    };
    crate::trace::trace("merged (history)");
    Ok(Ok(history::counts(staged, rows, changed[1], changed[0]).with_stale(stale)))
}

/// Frees the stage once merged, unless the deletions still need its keys.
fn drop_stage(conn: &mut Conn, plan: &Plan) -> std::result::Result<(), mysql::Error> {
    if plan.spec.deletes() {
        return Ok(());
    }
    conn.query_drop(format!("DROP TEMPORARY TABLE {}", stage_name(plan)))
}

/// Merges the stage into `target`. `told`: under `--changes`, what the locking read
/// before the merge found it will write (see `changes.rs`).
pub(crate) fn merge(conn: &mut Conn, plan: &Plan, target: &str, told: Option<Told>) -> Result<MergeCounts> {
    let stage = stage_name(plan);
    let ctx = format!("merging into table {}", quote_ident(&plan.table.name));
    let db = |e: mysql::Error| db_error(ctx.clone(), e);
    if plan.keyless() {
        conn.query_drop(sql::append(plan, q, target, stage, |i| format!("s.{}", stage_col(i)))).map_err(db)?;
        let inserted = conn.affected_rows();
        return Ok(MergeCounts::derive(plan.spec.on_conflict, inserted, inserted, 0));
    }
    if let Some(h) = plan.history {
        let staged: u64 = conn.query_first(format!("SELECT COUNT(*) FROM {stage}")).map_err(db)?.unwrap_or(0);
        let counts = history(conn, plan, h, target, staged).map_err(db)?;
        drop_stage(conn, plan).map_err(db)?;
        return counts;
    }
    check_other_keys(conn, plan, target)?;
    let missing = plan.missing_required();
    // The read locked the rows it found and the new keys' gaps: when it found only rows
    // to update, or only new ones, or none, only the statement for those runs.
    let told = told.filter(|t| plan.spec.on_conflict == OnConflict::Update && t.one_kind(plan));
    if plan.spec.on_conflict != OnConflict::Error && missing.is_none() && one_statement_is_safe(plan) && told.is_none()
    {
        return merge_in_one_statement(conn, plan, target);
    }
    let staged: u64 = conn.query_first(format!("SELECT COUNT(*) FROM {stage}")).map_err(db)?.unwrap_or(0);
    let on = key_match(plan);
    let equal = all_equal(plan);

    if plan.spec.on_conflict == OnConflict::Error {
        check_no_existing(conn, plan, target)?;
    }

    let mut updated = 0;
    let writes = plan.spec.on_conflict == OnConflict::Update && !plan.update.is_empty();
    if writes && told.is_none_or(|t| t.updating(plan)) {
        // A locking read (repeatable read takes next-key locks): it sees the latest
        // committed rows, and no other transaction can insert one of these keys until
        // this one ends, so the INSERT below sees exactly the rows this UPDATE saw.
        let set = list(&plan.update, |i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)), ", ");
        let conds: Vec<String> =
            [(!plan.spec.always_update).then(|| format!("NOT ({equal})")), newer(plan)].into_iter().flatten().collect();
        let guard = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
        conn.query_drop(format!("UPDATE {target} AS t JOIN {stage} AS s ON {on} SET {set}{guard}")).map_err(db)?;
        // Under --always-update rows whose values were all equal are written but not
        // counted as affected: then every matched row counts (derived below).
        updated = conn.affected_rows();
        crate::trace::trace("updated");
    }

    if let Some(column) = missing {
        // A new row cannot be inserted without it (strict mode refuses even an empty
        // INSERT ... SELECT): name the first new key, else there is nothing to insert.
        if let Some((row, key)) = first_row(conn, plan, target, false)? {
            return Err(plan.new_row_needs(column, row, &key));
        }
        let stale = stale(conn, plan, target)?;
        drop_stage(conn, plan).map_err(db)?;
        if writes && plan.spec.always_update && plan.newer_by.is_none() {
            updated = staged;
        }
        return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, 0, updated).with_stale(stale));
    }

    let all = plan.all_columns();
    let names = list(&all, |i| q(&plan.columns[i].name), ", ");
    let values = list(&all, |i| format!("s.{}", stage_col(i)), ", ");
    let keys = list(&plan.key, |i| format!("s.{}", stage_col(i)), ", ");
    // Under `error` no filter: a key another load committed since the check is a
    // duplicate-key error, reported as that key existing.
    let only_new = match plan.spec.on_conflict {
        OnConflict::Error => String::new(),
        _ => format!(" WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {on})"),
    };
    let inserting = match told.is_none_or(|t| t.inserts() > 0) {
        true => conn
            .query_drop(format!(
                "INSERT INTO {target} ({names}) SELECT {values} FROM {stage} AS s{only_new} ORDER BY {keys}"
            ))
            .map(|()| conn.affected_rows()),
        false => Ok(0),
    };
    let inserted = match inserting {
        Ok(n) => n,
        Err(e) => {
            if plan.spec.on_conflict == OnConflict::Error && is_duplicate_key(&e) {
                check_no_existing(conn, plan, target)?;
            }
            return Err(db(e));
        }
    };
    crate::trace::trace("inserted");
    let stale = stale(conn, plan, target)?;
    drop_stage(conn, plan).map_err(db)?;
    // Every staged row was updated, inserted, or found (locked) and left as it was.
    let matched = staged - inserted;
    if writes && plan.spec.always_update && plan.newer_by.is_none() {
        updated = matched;
    }
    Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, updated).with_stale(stale))
}

/// The condition under which the merge changes a matched row (`t` the table's, `s` the
/// staged one): some updated column differs, and under `--newer-by` it is newer. `None`
/// when the merge updates no row.
pub(super) fn will_change(plan: &Plan) -> Option<String> {
    if plan.spec.on_conflict != OnConflict::Update || plan.update.is_empty() {
        return None;
    }
    let differs = format!("NOT ({})", all_equal(plan));
    Some(match newer(plan) {
        Some(newer) => format!("{differs} AND {newer}"),
        None => differs,
    })
}

/// `--newer-by`: the staged row `s` is newer than the table's `t`.
fn newer(plan: &Plan) -> Option<String> {
    sql::newer(plan, |i| format!("s.{}", stage_col(i)), |i| format!("t.{}", q(&plan.columns[i].name)))
}

/// `--newer-by`: the matched rows not rewritten because they were not newer: those that
/// still differ from the input. A locking read, of rows the merge locked already.
fn stale(conn: &mut Conn, plan: &Plan, target: &str) -> Result<u64> {
    if plan.newer_by.is_none() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT COUNT(*) FROM {} AS s JOIN {target} AS t ON {} WHERE NOT ({}) LOCK IN SHARE MODE",
        stage_name(plan),
        key_match(plan),
        all_equal(plan)
    );
    let n: Option<u64> = conn.query_first(sql).map_err(|e| db_error("counting the stale rows", e))?;
    Ok(n.unwrap_or(0))
}

fn is_duplicate_key(e: &mysql::Error) -> bool {
    matches!(e, mysql::Error::MySqlError(m) if m.code == 1062)
}

/// The first staged row (and its key) whose key is in the table (`existing`), or is
/// not ([`sql::first_row`]); a locking read, so rows another transaction committed are
/// seen, and none can appear or vanish until this one ends.
fn first_row(conn: &mut Conn, plan: &Plan, target: &str, existing: bool) -> Result<Option<(u64, Vec<Value<'static>>)>> {
    let lookup = sql::Lookup::LockingJoin;
    let sql = sql::first_row(plan, q, (target, stage_name(plan)), existing, lookup, |s| format!("CAST({s} AS CHAR)"));
    let row: Option<mysql::Row> = conn.query_first(sql).map_err(|e| db_error("looking up the input's keys", e))?;
    Ok(row.map(|row| {
        let key = (0..plan.key.len()).map(|n| plan.typed_value(plan.key[n], row.get(n + 1))).collect();
        (row.get::<i64, _>(0).unwrap_or(0) as u64, key)
    }))
}

/// Fails on the first staged row whose key is in the table.
fn check_no_existing(conn: &mut Conn, plan: &Plan, target: &str) -> Result<()> {
    match first_row(conn, plan, target, true)? {
        Some((row, key)) => Err(plan.key_exists(row, &key)),
        None => Ok(()),
    }
}

/// `INSERT ... ON DUPLICATE KEY UPDATE` is safe against the target only when it cannot
/// fire on another unique key (the load's key is the table's only one) and cannot burn
/// auto-increment values (no auto-increment column is missing from the input).
pub(super) fn one_statement_is_safe(plan: &Plan) -> bool {
    plan.table.keys.len() == 1 && plan.table.keys[0] == plan.key_constraint && !plan.leaves_out_a_sequence()
}

/// One `INSERT ... SELECT ... ORDER BY key ON DUPLICATE KEY UPDATE`, counted exactly
/// from what the server reports: `Records: R  Duplicates: D` (R = the staged rows, D =
/// the existing rows it changed: MySQL and MariaDB skip a row whose values are all
/// equal) and the affected rows (1 per insert, 2 per changed row). So inserted =
/// affected - 2D, updated = D, and the other matched rows were unchanged.
fn merge_in_one_statement(conn: &mut Conn, plan: &Plan, target: &str) -> Result<MergeCounts> {
    let stage = stage_name(plan);
    let ctx = format!("merging into table {}", quote_ident(&plan.table.name));
    let db = |e: mysql::Error| db_error(ctx.clone(), e);
    let all = plan.all_columns();
    let names = list(&all, |i| q(&plan.columns[i].name), ", ");
    let values = list(&all, |i| format!("s.{}", stage_col(i)), ", ");
    let keys = list(&plan.key, |i| format!("s.{}", stage_col(i)), ", ");
    let set = on_duplicate(plan);
    conn.query_drop(format!(
        "INSERT INTO {target} ({names}) SELECT {values} FROM {stage} AS s ORDER BY {keys} ON DUPLICATE KEY UPDATE {set}"
    ))
    .map_err(db)?;
    let affected = conn.affected_rows();
    let info = conn.info_str().into_owned();
    let (staged, changed) = parse_insert_info(&info)
        .ok_or_else(|| Error::db(ctx.clone(), format!("the server did not report its row counts ({info:?})")))?;
    crate::trace::trace("merged");
    let stale = stale(conn, plan, target)?;
    drop_stage(conn, plan).map_err(db)?;
    Ok(one_statement_counts(plan, staged, affected, changed).with_stale(stale))
}

/// The counts of `INSERT ... ON DUPLICATE KEY UPDATE` statements from what the server
/// reported for them, summed: `records` rows, `affected` (1 per insert, 2 per changed
/// row), `changed` (the `Duplicates:` figure: existing rows it changed).
pub(super) fn one_statement_counts(plan: &Plan, records: u64, affected: u64, changed: u64) -> MergeCounts {
    let inserted = affected.saturating_sub(2 * changed);
    let matched = records.saturating_sub(inserted);
    let updated = match plan.spec.on_conflict {
        OnConflict::Update if plan.spec.always_update && plan.newer_by.is_none() => matched,
        OnConflict::Update => changed.min(matched),
        _ => 0,
    };
    MergeCounts::derive(plan.spec.on_conflict, records, inserted, updated)
}

/// The `ON DUPLICATE KEY UPDATE` assignments of the one-statement merge.
pub(super) fn on_duplicate(plan: &Plan) -> String {
    match plan.spec.on_conflict {
        OnConflict::Update if plan.newer_by.is_some() => {
            // Each column takes the input's value when it is newer, the `--newer-by`
            // column last: an assignment sees the ones before it.
            let newer =
                sql::newer(plan, |i| format!("VALUES({})", q(&plan.columns[i].name)), |i| q(&plan.columns[i].name))
                    .unwrap_or_default();
            let last: Vec<usize> =
                plan.update.iter().copied().filter(|&i| Some(i) != plan.newer_by).chain(plan.newer_by).collect();
            list(&last, |i| format!("{0} = IF({newer}, VALUES({0}), {0})", q(&plan.columns[i].name)), ", ")
        }
        OnConflict::Update if !plan.update.is_empty() => {
            list(&plan.update, |i| format!("{0} = VALUES({0})", q(&plan.columns[i].name)), ", ")
        }
        _ => {
            let k = q(&plan.columns[plan.key[0]].name);
            format!("{k} = {k}")
        }
    }
}

/// `Records: 3  Duplicates: 1  Warnings: 0` (an `INSERT ... SELECT`'s info) as
/// (records, duplicates).
pub(super) fn parse_insert_info(info: &str) -> Option<(u64, u64)> {
    let figure = |name: &str| info.split(name).nth(1)?.split_whitespace().next()?.parse::<u64>().ok();
    Some((figure("Records:")?, figure("Duplicates:")?))
}

/// Fails on the first input row whose value for a unique key other than the load's is
/// held by a row with another key, or by another input row.
fn check_other_keys(conn: &mut Conn, plan: &Plan, target: &str) -> Result<()> {
    let stage = stage_name(plan);
    let db = |e: mysql::Error| db_error("checking the other unique keys", e);
    for uk in plan.table.keys.iter().filter(|k| **k != plan.key_constraint) {
        let Some(cols) =
            uk.columns.iter().map(|c| plan.columns.iter().position(|p| &p.name == c)).collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let name = uk.name.clone().unwrap_or_default();
        let shown = list(&cols, |i| format!("CAST(s.{} AS CHAR)", stage_col(i)), ", ");
        let [held, _] = sql::other_key_probes(plan, q, (target, stage), &cols, |s| format!("CAST({s} AS CHAR)"));
        let hit: Option<mysql::Row> = conn.query_first(held).map_err(db)?;
        let mut found = hit.map(|row| (row.get::<i64, _>(0).unwrap_or(0) as u64, None, row));
        if found.is_none() {
            // Two input rows (distinct keys, since the stage is keyed) sharing the value.
            let raw = list(&cols, stage_col, ", ");
            let not_null = list(&cols, |i| format!("{} IS NOT NULL", stage_col(i)), " AND ");
            let dup: Option<mysql::Row> = conn
                .query_first(format!(
                    "SELECT MIN(ord), MAX(ord) FROM {stage} WHERE {not_null} GROUP BY {raw} HAVING COUNT(*) > 1 ORDER BY MAX(ord) LIMIT 1"
                ))
                .map_err(db)?;
            if let Some(dup) = dup {
                let (first, last): (i64, i64) = (dup.get(0).unwrap_or(0), dup.get(1).unwrap_or(0));
                let row: Option<mysql::Row> = conn
                    .query_first(format!("SELECT s.ord, NULL, {shown} FROM {stage} AS s WHERE s.ord = {last}"))
                    .map_err(db)?;
                found = row.map(|r| (last as u64, Some(first), r));
            }
        }
        if let Some((row, first, values)) = found {
            let shown_values: Vec<Value<'static>> =
                (0..cols.len()).map(|n| plan.typed_value(cols[n], values.get(n + 2))).collect();
            let index = format!("unique index {}", quote_ident(&name));
            return Err(plan.other_key_conflict(row, &cols, &shown_values, first.map(|f| f as u64), &index));
        }
    }
    Ok(())
}
