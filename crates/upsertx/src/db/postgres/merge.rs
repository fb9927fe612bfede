//! Merging the stage (see `stage.rs`) into a PostgreSQL table, in the load's
//! transaction:
//!
//! 1. `CREATE TEMP TABLE src AS SELECT DISTINCT ON (key) ... ORDER BY key, ord DESC`
//!    (ASC for `--duplicates first`) de-duplicates on the server and writes the rows in
//!    key order; its row count is the number of distinct keys. Skipped when the client
//!    saw whole-number keys arrive strictly increasing (an export sorted by id): they
//!    hold no duplicates and are in key order already.
//! 2. One `INSERT INTO target SELECT ... FROM src ON CONFLICT (key) DO
//!    UPDATE SET ... WHERE (t.a IS DISTINCT FROM EXCLUDED.a OR ...) RETURNING (xmax = 0)`:
//!    race-safe against concurrent writers, rows locked in key order (so concurrent
//!    loads on overlapping keys cannot deadlock), and exact counts: a returned `true`
//!    is an insert, `false` an update; distinct keys not returned were unchanged.
//!
//! Under `--changes` the table is locked against other writers until commit, and a read
//! before the merge found which rows it writes (`changes.rs`): when they are only updates,
//! only new rows, or none, the merge is only an `UPDATE ... FROM src` of the rows that
//! change, or an `INSERT ... WHERE NOT EXISTS` of the new keys, or nothing (a rerun
//! writes nothing and joins nothing more), counted by their row counts.
//!
//! When a column absent from the input draws its default from a sequence (serial,
//! identity), `INSERT ... ON CONFLICT` would burn a value for every row that turns out
//! to exist. Then the merge first locks the existing rows in key order (`SELECT ...
//! FOR UPDATE`, remembering which input rows matched), updates them (`UPDATE ... FROM
//! src`), and inserts only the input rows that matched nothing, still `ON CONFLICT DO
//! UPDATE` for keys a concurrent writer inserted meanwhile. The lock is what makes this
//! safe: each statement reads the committed rows of its own moment, so a key inserted
//! by another load after the UPDATE began would otherwise be neither updated (the
//! UPDATE did not see it) nor inserted (the INSERT would see it and skip it). Such
//! two-phase merges into one table take turns (a transaction-level advisory lock):
//! each phase is in key order, but the two together are not, and two loads would
//! deadlock.
//!
//! Under `--on-conflict error` the INSERT has no `ON CONFLICT` and no filter: a key
//! committed by another load after the check fails the load with a unique violation,
//! reported as that key existing.

use super::citus::{ctes, dml_ctes, keys_held, with_clause, Placement};
use super::copy::Kind;
use super::session::message;
use super::sql::q;
use super::stage::{declared, native, KeyOrder, MATCHED, SRC, STAGE};
use crate::db::sql::{self, list, stage_col};
use crate::db::{history, MergeCounts, Told};
use crate::error::{Error, Location, Result};
use crate::plan::{HistoryColumns, Plan};
use crate::spec::{Duplicates, OnConflict};
use crate::value::{SqlType, Value};
use postgres::Client;

fn key_match(plan: &Plan) -> String {
    sql::key_match(plan, q)
}

/// How a column's new value is compared with its current one: `IS DISTINCT FROM`,
/// through text for types without an equality operator (json, xml, geometric...).
fn differs(plan: &Plan, i: usize, new: &str) -> String {
    let col = q(&plan.columns[i].name);
    match native(plan, i) {
        "json" | "xml" | "point" | "line" | "lseg" | "box" | "path" | "polygon" | "circle" => {
            format!("t.{col}::text IS DISTINCT FROM {new}::text")
        }
        _ => format!("t.{col} IS DISTINCT FROM {new}"),
    }
}

/// Column `i` of the table's row `t` differs from the source's row `s`.
pub(super) fn column_differs(plan: &Plan, i: usize) -> String {
    differs(plan, i, &source_value(plan, i))
}

/// The staged value of column `i` as the target's type.
pub(super) fn source_value(plan: &Plan, i: usize) -> String {
    if Kind::of(native(plan, i)) == Kind::AsText {
        format!("s.{}::{}", stage_col(i), declared(plan, i))
    } else {
        format!("s.{}", stage_col(i))
    }
}

/// The de-duplicated input and its number of rows: the stage itself when the keys arrived
/// sorted (or there is no key), else `SRC`, made on the first call (`--changes` needs it
/// before the merge).
pub(super) fn source(client: &mut Client, plan: &Plan, order: &mut KeyOrder) -> Result<(&'static str, u64)> {
    if order.sorted || plan.keyless() {
        return Ok((STAGE, order.rows));
    }
    if let Some(rows) = order.deduped {
        return Ok((SRC, rows));
    }
    let keys = list(&plan.key, stage_col, ", ");
    if plan.spec.duplicates == Duplicates::Error {
        check_no_duplicates(client, plan)?;
    }
    let direction = if plan.spec.duplicates == Duplicates::First { "ASC" } else { "DESC" };
    // `--newer-by`: the greatest value first (NULL the least), then the policy.
    let newest = plan.newer_by.map(|i| format!("{} DESC NULLS LAST, ", stage_col(i))).unwrap_or_default();
    let rows = client
        .execute(
            &format!(
                "CREATE TEMP TABLE upsertx_src ON COMMIT DROP AS
                 SELECT DISTINCT ON ({keys}) * FROM {STAGE} ORDER BY {keys}, {newest}ord {direction}"
            ),
            &[],
        )
        .map_err(|e| Error::db("de-duplicating the input by key", message(&e)))?;
    order.deduped = Some(rows);
    Ok((SRC, rows))
}

/// The condition under which the merge changes a matched row (`t` the table's, `s` the
/// source's): some updated column differs, and under `--newer-by` it is newer. `None`
/// when the merge updates no row.
pub(super) fn will_change(plan: &Plan) -> Option<String> {
    if plan.spec.on_conflict != OnConflict::Update || plan.update.is_empty() {
        return None;
    }
    let changed = format!("({})", list(&plan.update, |i| column_differs(plan, i), " OR "));
    Some(match sql::newer(plan, |i| source_value(plan, i), |i| format!("t.{}", q(&plan.columns[i].name))) {
        Some(newer) => format!("{changed} AND {newer}"),
        None => changed,
    })
}

/// Merges the input into `target`. `told`: under `--changes`, what the read before the
/// merge found it will write, the table locked against other writers until commit (see
/// `changes.rs`).
pub(crate) fn merge(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    order: &mut KeyOrder,
    told: Option<Told>,
    placement: &Placement,
) -> Result<MergeCounts> {
    let ctx = format!("merging into table {}", q(&plan.table.name));
    let gap_free = plan.leaves_out_a_sequence();
    // A required column the input lacks: PostgreSQL checks NOT NULL on an INSERT's row
    // before looking for a conflict, so existing rows must be updated, not upserted.
    let missing = plan.missing_required();
    if plan.keyless() {
        let inserted =
            run(client, plan, &sql::append(plan, q, target, STAGE, |i| source_value(plan, i)), &ctx, target, STAGE)?;
        return Ok(MergeCounts::derive(plan.spec.on_conflict, order.rows, inserted, 0));
    }
    let (src, staged) = source(client, plan, order)?;
    if src == SRC {
        client.batch_execute(&format!("DROP TABLE IF EXISTS {STAGE}")).map_err(|e| Error::db(&ctx, message(&e)))?;
    }
    if let Some(h) = plan.history {
        take_turn(client, target, &ctx)?;
        return history(client, plan, h, (target, src), staged, placement).map_err(|e| Error::db(&ctx, message(&e)))?;
    }
    if gap_free {
        // The gap-free path joins the source with the table: give the planner numbers.
        client.batch_execute(&format!("ANALYZE {src}")).map_err(|e| Error::db(&ctx, message(&e)))?;
    }
    crate::trace::trace("de-duplicated");

    if plan.spec.on_conflict == OnConflict::Error {
        check_no_existing(client, plan, target, src, placement.citus())?;
    }

    let select = insert_select(plan, target, src);
    if missing.is_none() && empty_and_locked(client, target, &ctx)? {
        // Every staged row is new, and stays so until commit: a plain INSERT spares
        // ON CONFLICT's speculative insertion (a third of a load into an empty table).
        let inserted = run(client, plan, &select, &ctx, target, src)?;
        crate::trace::trace("merged (into an empty table)");
        return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, 0));
    }
    let update = plan.spec.on_conflict == OnConflict::Update && !plan.update.is_empty();
    // With both to do, one INSERT ... ON CONFLICT costs less than the two statements.
    // (Not on Citus: its DML joins no local table, and the single statement is counted
    // by RETURNING there anyway.)
    if let Some(told) = told.filter(|t| update && missing.is_none() && t.one_kind(plan) && !placement.citus()) {
        // No other writer can add a key until commit: when the read found only rows to
        // update, or only new ones, or none, only the statement for those runs (a rerun
        // writes nothing and joins nothing more; new rows need no ON CONFLICT).
        let updated = match told.updating(plan) {
            true => run(client, plan, &update_sql(plan, target, src), &ctx, target, src)?,
            false => 0,
        };
        let new = format!("NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {})", key_match(plan));
        let insert = format!("{select} WHERE {new}");
        let inserted = match told.inserts() > 0 {
            true => run(client, plan, &insert, &ctx, target, src)?,
            false => 0,
        };
        crate::trace::trace("merged (update, then insert)");
        let stale = stale(client, plan, target, src, &ctx)?;
        return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, updated).with_stale(stale));
    }
    // Inserting a row that already exists would burn a sequence value for an absent
    // serial/identity column (`gap_free`): then update first and insert only the new keys.
    let mut only_new = String::new();
    let mut pre_updated = 0;
    let on_conflict = match plan.spec.on_conflict {
        OnConflict::Update if !plan.update.is_empty() => {
            if gap_free || missing.is_some() {
                pre_updated = update_first(client, plan, target, src, &ctx, placement)?;
                only_new = format!(" WHERE NOT EXISTS (SELECT 1 FROM {MATCHED} AS m WHERE m.ord = s.ord)");
            }
            do_update(plan)
        }
        OnConflict::Update | OnConflict::Ignore => {
            // Rows that exist are left alone: skipping those this statement sees
            // spares their sequence values; ON CONFLICT covers the ones it does not.
            if gap_free {
                only_new = format!(" WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {})", key_match(plan));
            }
            format!("ON CONFLICT ({}) DO NOTHING", conflict_target(plan))
        }
        // No filter: a key that appeared since the check is a unique violation.
        OnConflict::Error => String::new(),
    };
    if let Some(column) = missing {
        // Every row must exist already: name the first that does not; else nothing is
        // left to insert.
        if let Some((row, key)) = first_row(client, plan, (target, src), false, placement.citus())? {
            return Err(plan.new_row_needs(column, row, &key));
        }
        crate::trace::trace("merged");
        let stale = stale(client, plan, target, src, &ctx)?;
        return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, 0, pre_updated).with_stale(stale));
    }
    let insert = format!("{select}{only_new} {on_conflict}");
    // The coordinator of a Citus cluster keeps no statistics of the rows its workers
    // write: there the rows returned are counted.
    let tracks = !placement.citus() && tracks_counts(client)?;
    if only_new.is_empty() && appends(plan) {
        let key = q(&plan.columns[plan.key[0]].name);
        let greatest: Option<i64> = client
            .query_one(&format!("SELECT max({key})::int8 FROM {target}"), &[])
            .map_err(|e| Error::db(&ctx, message(&e)))?
            .get(0);
        if let Some(greatest) = greatest {
            let k = format!("s.{}", stage_col(plan.key[0]));
            let sql = format!("{select} WHERE {k} <= {greatest} {on_conflict}");
            let (mut inserted, updated) = counted_by(tracks, client, plan, &sql, &ctx, (target, src))?;
            // Past the table's greatest key every row is new, unless another transaction
            // has inserted one of those keys since: a plain INSERT spares ON CONFLICT's
            // speculative insertion (1M key-ordered rows, 500k of them past the greatest:
            // 0.6 s against 1.25 s); on a unique violation it is undone and the same rows
            // go through ON CONFLICT. Both statements read the source in key order.
            client.batch_execute("SAVEPOINT upsertx_merge").map_err(|e| Error::db(&ctx, message(&e)))?;
            let tail = client.execute(&format!("{select} WHERE {k} > {greatest}"), &[]);
            let also_updated = match tail {
                Ok(n) => {
                    inserted += n;
                    0
                }
                Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    client
                        .batch_execute("ROLLBACK TO SAVEPOINT upsertx_merge")
                        .map_err(|e| Error::db(&ctx, message(&e)))?;
                    let sql = format!("{select} WHERE {k} > {greatest} {on_conflict}");
                    let (new, updated) = counted_by(tracks, client, plan, &sql, &ctx, (target, src))?;
                    inserted += new;
                    updated
                }
                Err(e) => return Err(explain(client, plan, &e, &ctx, target, src)),
            };
            crate::trace::trace("merged (the keys past the table's greatest inserted plainly)");
            let stale = stale(client, plan, target, src, &ctx)?;
            let updated = updated + also_updated;
            return Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, updated).with_stale(stale));
        }
    }
    let (inserted, updated) = counted_by(tracks, client, plan, &insert, &ctx, (target, src))?;
    crate::trace::trace("merged");
    let updated = updated + pre_updated;
    let stale = stale(client, plan, target, src, &ctx)?;
    Ok(MergeCounts::derive(plan.spec.on_conflict, staged, inserted, updated).with_stale(stale))
}

/// The arbiter of `ON CONFLICT (...)`: the key's columns, and a partial unique index's
/// condition (`columns) WHERE (condition`).
fn conflict_target(plan: &Plan) -> String {
    let cols = list(&plan.key, |i| q(&plan.columns[i].name), ", ");
    match &plan.key_constraint.predicate {
        Some(p) => format!("{cols}) WHERE ({p}"),
        None => cols,
    }
}

/// `ON CONFLICT ... DO UPDATE SET` the updated columns, where the merge changes the row.
fn do_update(plan: &Plan) -> String {
    let set = list(&plan.update, |i| format!("{0} = EXCLUDED.{0}", q(&plan.columns[i].name)), ", ");
    let changed = list(&plan.update, |i| differs(plan, i, &format!("EXCLUDED.{}", q(&plan.columns[i].name))), " OR ");
    let guard = guard(plan, &changed, |i| format!("EXCLUDED.{}", q(&plan.columns[i].name)))
        .map_or(String::new(), |g| format!(" WHERE {g}"));
    format!("ON CONFLICT ({}) DO UPDATE SET {set}{guard}", conflict_target(plan))
}

/// The one-statement merge of `src` (a table or a parenthesized query, read as `s`):
/// `INSERT ... SELECT ... ON CONFLICT` updating the changed rows, or (nothing to
/// update, `--on-conflict ignore`) leaving them alone.
pub(super) fn insert_sql(plan: &Plan, target: &str, src: &str) -> String {
    let on_conflict = match plan.spec.on_conflict == OnConflict::Update && !plan.update.is_empty() {
        true => do_update(plan),
        false => format!("ON CONFLICT ({}) DO NOTHING", conflict_target(plan)),
    };
    format!("{} {on_conflict}", insert_select(plan, target, src))
}

/// `INSERT INTO target AS t (columns) SELECT ... FROM src AS s`: every input column, each
/// staged value as the target's type; the merges add their condition or `ON CONFLICT`.
fn insert_select(plan: &Plan, target: &str, src: &str) -> String {
    let all = plan.all_columns();
    let names = list(&all, |i| q(&plan.columns[i].name), ", ");
    let values = list(&all, |i| source_value(plan, i), ", ");
    format!("INSERT INTO {target} AS t ({names}) SELECT {values} FROM {src} AS s")
}

/// Whether the merge may insert the keys past the table's greatest without `ON
/// CONFLICT` (see `merge`): one whole-number key column (an order the client and the
/// server agree on), rows updated, the key not a partial index's.
fn appends(plan: &Plan) -> bool {
    plan.key.len() == 1
        && matches!(plan.columns[plan.key[0]].ty, SqlType::Integer { .. })
        && plan.spec.on_conflict == OnConflict::Update
        && !plan.update.is_empty()
        && plan.key_constraint.predicate.is_none()
}

/// The load's time as a value of column `i` (a date or timestamp), from the text in
/// parameter `$1` ([`sql::mark_time`], UTC).
pub(super) fn time_param(plan: &Plan, i: usize) -> String {
    match native(plan, i) {
        "timestamptz" => "(CAST($1::text AS timestamp) AT TIME ZONE 'UTC')".into(),
        _ => format!("CAST($1::text AS {})", declared(plan, i)),
    }
}

/// `--history` (see `db/history.rs`), under the load's turn.
fn history(
    client: &mut Client,
    plan: &Plan,
    h: HistoryColumns,
    (target, src): (&str, &str),
    staged: u64,
    placement: &Placement,
) -> std::result::Result<Result<MergeCounts>, postgres::Error> {
    let citus = placement.citus();
    let time = time_param(plan, h.from);
    let delete = format!("DELETE FROM {target} AS t");
    // Citus joins a distributed table with a local one in no DML and no correlated
    // subquery: there every statement reads the stage through a materialized CTE (sent
    // to the workers), and the insert the current versions of the input's entities
    // through another, read after the closes before it.
    let (stage, current) = if citus { ("upsertx_s", "upsertx_cur") } else { (src, target) };
    let stage_cte = ("upsertx_s", format!("SELECT * FROM {src}"));
    let with = match citus {
        true => with_clause(&dml_ctes(client, placement, std::slice::from_ref(&stage_cte))?),
        false => String::new(),
    };
    let dialect = history::Dialect {
        q,
        target,
        current,
        stage,
        value: &|i| source_value(plan, i),
        eq: sql::equals,
        differs: &|i| column_differs(plan, i),
        time: &time,
        delete: &delete,
        text: super::sql::text,
    };
    let sql = history::statements(plan, h, &dialect);
    let mark = sql::mark_time(plan);
    if let Some(row) = client.query_opt(&format!("{with}{}", sql.too_late), &[&mark])? {
        return Ok(Err(history::too_late(plan, row.get::<_, i64>(0) as u64, row.get(1))));
    }
    let mut changed = [0, 0];
    for (n, sql) in changed.iter_mut().zip([&sql.replace, &sql.close]) {
        if let Some(sql) = sql {
            *n = client.execute(&format!("{with}{sql}"), &[&mark])?;
        }
    }
    // The current versions as the closes left them (on a reference table they are read
    // into the statement, see `citus::dml_ctes`: only now).
    let insert = match citus {
        true => {
            let to = q(&plan.columns[h.to].name);
            let cur = ("upsertx_cur", keys_held(plan, target, src, Some(&to)));
            format!("{}{}", with_clause(&dml_ctes(client, placement, &[stage_cte, cur])?), sql.insert)
        }
        false => sql.insert.clone(),
    };
    let rows = client.execute(&insert, &[])?;
    let stale = match &sql.stale {
        Some(stale) => client.query_one(&format!("{with}{stale}"), &[])?.get::<_, i64>(0) as u64,
        None => 0,
    };
    crate::trace::trace("merged (history)");
    Ok(Ok(history::counts(staged, rows, changed[1], changed[0]).with_stale(stale)))
}

/// The condition under which a matched row is rewritten (`None`: always): some column
/// `changed` (unless `--always-update`), and under `--newer-by` the input's row (`new(i)`:
/// its column `i`) is newer than the table's `t`.
fn guard(plan: &Plan, changed: &str, new: impl Fn(usize) -> String) -> Option<String> {
    let newer = sql::newer(plan, new, |i| format!("t.{}", q(&plan.columns[i].name)));
    let conds: Vec<String> =
        [(!plan.spec.always_update).then(|| format!("({changed})")), newer].into_iter().flatten().collect();
    (!conds.is_empty()).then(|| conds.join(" AND "))
}

/// `--newer-by`: the matched rows not rewritten because they were not newer: those that
/// still differ from the input. The merge locked every matched row (ON CONFLICT DO
/// UPDATE locks the rows its condition skips too; the gap-free path locks them first;
/// `--changes` locks the table), so the count is of the rows as this load left them.
fn stale(client: &mut Client, plan: &Plan, target: &str, src: &str, ctx: &str) -> Result<u64> {
    if plan.newer_by.is_none() {
        return Ok(0);
    }
    let changed = list(&plan.update, |i| differs(plan, i, &source_value(plan, i)), " OR ");
    let sql = format!("SELECT count(*) FROM {src} AS s JOIN {target} AS t ON {} WHERE {changed}", key_match(plan));
    client.query_one(&sql, &[]).map(|r| r.get::<_, i64>(0) as u64).map_err(|e| Error::db(ctx, message(&e)))
}

/// Waits for this load's turn among the loads into `target` that lock rows in two
/// phases (the gap-free merge; a merge then `--delete-missing`), until commit: each
/// phase is in key order, but the two together are not, and two such loads could
/// deadlock. The table's name is in the statement's text (not a parameter), so that
/// pg_stat_activity shows which table a waiting load waits for.
pub(super) fn take_turn(client: &mut Client, target: &str, ctx: &str) -> Result<()> {
    let name = target.replace('\'', "''");
    client
        .batch_execute(&format!("SELECT pg_advisory_xact_lock(hashtext('upsertx:' || '{name}'::regclass::oid::text))"))
        .map_err(|e| Error::db(format!("{ctx} (waiting for another upsertx load into the same table)"), message(&e)))
}

/// The gap-free path's first half: locks the target rows the input matches, in key
/// order, remembering which input rows they were (`MATCHED`), then updates the changed
/// ones. Returns the number of rows updated.
fn update_first(
    client: &mut Client,
    plan: &Plan,
    target: &str,
    src: &str,
    ctx: &str,
    placement: &Placement,
) -> Result<u64> {
    let keys = list(&plan.key, |i| format!("s.{}", stage_col(i)), ", ");
    // Two phases (existing keys, then new ones) each in key order are not one key
    // order: two loads would deadlock (A holds 1001 and waits for 500, which B, holding
    // 1001, inserts later). So these merges into one table take turns, until commit.
    take_turn(client, target, ctx)?;
    if placement.citus() {
        // Citus locks no rows of a read across shards (`FOR UPDATE`), and updates from
        // a local table only through a materialized CTE: the table is locked against
        // other writers until commit instead, so the rows matched stay as they were.
        let locked = format!("{ctx} (locking the table against other writers)");
        client
            .batch_execute(&format!(
                "LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE;
                 CREATE TEMP TABLE upsertx_matched ON COMMIT DROP AS
                 {}SELECT s.ord FROM {src} AS s JOIN upsertx_held AS t ON {};
                 CREATE UNIQUE INDEX ON {MATCHED} (ord); ANALYZE {MATCHED}",
                with_clause(&ctes(&[("upsertx_held", keys_held(plan, target, src, None))])),
                key_match(plan)
            ))
            .map_err(|e| Error::db(locked, message(&e)))?;
        let staged = dml_ctes(client, placement, &[("s", format!("SELECT * FROM {src}"))])
            .map_err(|e| Error::db(ctx, message(&e)))?;
        let staged = with_clause(&staged);
        let update = format!("{staged}{}", update_sql(plan, target, "s"));
        return run(client, plan, &update, ctx, target, src);
    }
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE upsertx_matched ON COMMIT DROP AS
             SELECT s.ord FROM {src} AS s JOIN {target} AS t ON {} ORDER BY {keys} FOR UPDATE OF t;
             CREATE UNIQUE INDEX ON {MATCHED} (ord); ANALYZE {MATCHED}",
            key_match(plan)
        ))
        .map_err(|e| Error::db(format!("{ctx} (locking the existing rows)"), message(&e)))?;
    run(client, plan, &update_sql(plan, target, src), ctx, target, src)
}

/// `UPDATE` of the table's rows the source `src` matches, where the merge changes them.
fn update_sql(plan: &Plan, target: &str, src: &str) -> String {
    let set = list(&plan.update, |i| format!("{} = {}", q(&plan.columns[i].name), source_value(plan, i)), ", ");
    let changed = list(&plan.update, |i| differs(plan, i, &source_value(plan, i)), " OR ");
    let guard = guard(plan, &changed, |i| source_value(plan, i)).map_or(String::new(), |g| format!(" AND {g}"));
    format!("UPDATE {target} AS t SET {set} FROM {src} AS s WHERE {}{guard}", key_match(plan))
}

/// Whether the table is empty, and stays so until this load commits: probed, then (when
/// empty) locked against other writers and probed again. `SHARE ROW EXCLUSIVE` lets
/// readers go on; writers, other loads included, wait for the commit (and then find the
/// table no longer empty). Nothing stays locked when the table holds rows.
fn empty_and_locked(client: &mut Client, target: &str, ctx: &str) -> Result<bool> {
    // A plain `LIMIT 1`, not `NOT EXISTS (...)`: Citus runs the subquery's SELECT as a
    // query of its own and pulls every row of the table to the coordinator (1.5 s at 1M
    // rows), where the LIMIT goes to each shard.
    let probe = format!("SELECT 1 FROM {target} LIMIT 1");
    let empty = |client: &mut Client| -> Result<bool> {
        client.query_opt(&probe, &[]).map(|r| r.is_none()).map_err(|e| Error::db(ctx, message(&e)))
    };
    if !empty(client)? {
        return Ok(false);
    }
    // Under a savepoint: when rows arrived meanwhile, rolling back to it releases the
    // lock, so a table holding rows is not kept locked (the gap-free path's advisory lock
    // taken later by this load, and the UPDATE of another load holding that lock, would
    // otherwise wait for each other).
    client
        .batch_execute(&format!("SAVEPOINT upsertx_empty; LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE"))
        .map_err(|e| Error::db(format!("{ctx} (locking the empty table)"), message(&e)))?;
    if empty(client)? {
        return Ok(true);
    }
    client.batch_execute("ROLLBACK TO SAVEPOINT upsertx_empty").map_err(|e| Error::db(ctx, message(&e)))?;
    Ok(false)
}

/// Runs an `INSERT ... ON CONFLICT` and returns the rows it (inserted, updated): the
/// command tag counts both; this transaction's table statistics, read before and after,
/// split them. Cheaper than RETURNING a row per written row.
fn counted(client: &mut Client, plan: &Plan, sql: &str, ctx: &str, target: &str, src: &str) -> Result<(u64, u64)> {
    let before = written(client, target)?;
    let affected = run(client, plan, sql, ctx, target, src)?;
    let after = written(client, target)?;
    let updated = (after.1 - before.1).clamp(0, affected as i64) as u64;
    Ok((affected - updated, updated))
}

/// The (inserted, updated) rows of the `INSERT ... ON CONFLICT` statement `sql`: by the
/// session's statistics where it `tracks` them ([`counted`]), else by its returned rows
/// ([`returned`]).
fn counted_by(
    tracks: bool,
    client: &mut Client,
    plan: &Plan,
    sql: &str,
    ctx: &str,
    (target, src): (&str, &str),
) -> Result<(u64, u64)> {
    match tracks {
        true => counted(client, plan, sql, ctx, target, src),
        false => returned(client, plan, sql, ctx, target, src),
    }
}

/// The (inserted, updated) rows of an `INSERT ... ON CONFLICT` statement `sql`, from the
/// rows it returns (`xmax = 0`: inserted), counted as they arrive: where the session's
/// statistics do not count them (a Citus coordinator, `track_counts` off). Counting them
/// on the client spares the server a CTE of every returned row (1M rows on Citus: 4.2 s
/// where the statement with a counting CTE took 4.8 s, and without `RETURNING` 3.5 s).
fn returned(client: &mut Client, plan: &Plan, sql: &str, ctx: &str, target: &str, src: &str) -> Result<(u64, u64)> {
    use postgres::fallible_iterator::FallibleIterator;
    client.batch_execute("SAVEPOINT upsertx_merge").map_err(|e| Error::db(ctx, message(&e)))?;
    let sql = format!("{sql} RETURNING (xmax = 0)");
    let none: [&(dyn postgres::types::ToSql + Sync); 0] = [];
    let counted = client.query_raw(&sql, none).and_then(|mut rows| {
        let (mut inserted, mut updated) = (0, 0);
        while let Some(row) = rows.next()? {
            match row.try_get::<_, bool>(0)? {
                true => inserted += 1,
                false => updated += 1,
            }
        }
        Ok((inserted, updated))
    });
    counted.map_err(|e| explain(client, plan, &e, ctx, target, src))
}

fn tracks_counts(client: &mut Client) -> Result<bool> {
    let row = client
        .query_one("SELECT current_setting('track_counts')::boolean", &[])
        .map_err(|e| Error::db("reading track_counts", message(&e)))?;
    Ok(row.get(0))
}

/// Rows inserted and updated in the table (all its partitions) by this session and not
/// yet reported to the statistics system: compared before and after one statement,
/// the difference is what that statement did.
fn written(client: &mut Client, target: &str) -> Result<(i64, i64)> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(relid)), 0)::int8,
                    coalesce(sum(pg_stat_get_xact_tuples_updated(relid)), 0)::int8
             FROM (SELECT $1::text::regclass AS relid UNION SELECT relid FROM pg_partition_tree($1::text::regclass)) AS r",
            &[&target],
        )
        .map_err(|e| Error::db("reading the statement's row counts", message(&e)))?;
    Ok((row.get(0), row.get(1)))
}

/// Runs a statement of the merge under a savepoint, so a failure can be explained.
fn run(client: &mut Client, plan: &Plan, sql: &str, ctx: &str, target: &str, src: &str) -> Result<u64> {
    client.batch_execute("SAVEPOINT upsertx_merge").map_err(|e| Error::db(ctx, message(&e)))?;
    match client.execute(sql, &[]) {
        Ok(n) => Ok(n),
        Err(e) => Err(explain(client, plan, &e, ctx, target, src)),
    }
}

/// Turns a failed merge statement into the most useful error: for a unique violation
/// on a constraint other than the load's key, the first input row that collides.
fn explain(client: &mut Client, plan: &Plan, e: &postgres::Error, ctx: &str, target: &str, src: &str) -> Error {
    let fallback = Error::db(ctx, message(e));
    // A Citus coordinator passes on its worker's error without the constraint's field:
    // then its message names it.
    let named = |d: &postgres::error::DbError| {
        d.constraint().map(str::to_owned).or_else(|| {
            let rest = d.message().split("violates unique constraint \"").nth(1)?;
            rest.split('"').next().map(str::to_owned)
        })
    };
    let Some(mut constraint) = e.as_db_error().and_then(named) else {
        return fallback;
    };
    // A Citus worker names the constraint of its shard: the table's, then `_<shard id>`.
    if !plan.table.keys.iter().any(|k| k.name.as_deref() == Some(constraint.as_str())) {
        if let Some((name, shard)) = constraint.rsplit_once('_') {
            if shard.bytes().all(|b| b.is_ascii_digit())
                && plan.table.keys.iter().any(|k| k.name.as_deref() == Some(name))
            {
                constraint = name.to_string();
            }
        }
    }
    if client.batch_execute("ROLLBACK TO SAVEPOINT upsertx_merge").is_err() {
        return fallback;
    }
    if plan.spec.on_conflict == OnConflict::Error && plan.key_constraint.name.as_deref() == Some(constraint.as_str()) {
        // Another load committed one of the keys after the check: name it (on Citus
        // through the lookup Citus can plan).
        let citus = match super::citus::manages(client, target) {
            Ok(citus) => citus,
            Err(_) => return fallback,
        };
        return match check_no_existing(client, plan, target, src, citus) {
            Err(e @ Error::KeyExists { .. }) => e,
            _ => fallback,
        };
    }
    let Some(uk) = plan.table.keys.iter().find(|k| k.name.as_deref() == Some(constraint.as_str())) else {
        return fallback;
    };
    let Some(cols) =
        uk.columns.iter().map(|c| plan.columns.iter().position(|p| &p.name == c)).collect::<Option<Vec<_>>>()
    else {
        return fallback;
    };
    let probes = sql::other_key_probes(plan, q, (target, src), &cols, |s| format!("{s}::text"));
    for sql in probes {
        if let Ok(Some(r)) = client.query_opt(&sql, &[]) {
            // The first probe's NULL comes untyped (text): no earlier row.
            let (row, first): (i64, Option<i64>) = (r.get(0), r.try_get(1).ok().flatten());
            let values: Vec<Value<'static>> =
                (0..cols.len()).map(|i| plan.typed_value(cols[i], r.get(i + 2))).collect();
            let index = format!("constraint {}", q(&constraint));
            return plan.other_key_conflict(row as u64, &cols, &values, first.map(|f| f as u64), &index);
        }
    }
    fallback
}

/// `--duplicates error`: the first staged row, in input order, whose key an earlier one had.
pub(super) fn check_no_duplicates(client: &mut Client, plan: &Plan) -> Result<()> {
    let keys = list(&plan.key, stage_col, ", ");
    let vals = list(&plan.key, |i| format!("{}::text", stage_col(i)), ", ");
    let sql = format!(
        "SELECT ord, first, {vals} FROM (SELECT *, min(ord) OVER (PARTITION BY {keys}) AS first FROM {STAGE}) AS x
         WHERE ord > first ORDER BY ord LIMIT 1"
    );
    let found = client.query_opt(&sql, &[]).map_err(|e| Error::db("checking for duplicate keys", message(&e)))?;
    if let Some(r) = found {
        let key: Vec<Value<'static>> =
            (0..plan.key.len()).map(|i| plan.typed_value(plan.key[i], r.get(i + 2))).collect();
        return Err(Error::DuplicateKey {
            at: Location { input: plan.input.clone(), row: r.get::<_, i64>(0) as u64, line: None },
            key: plan.show_key(&key),
            first_row: r.get::<_, i64>(1) as u64,
        });
    }
    Ok(())
}

/// The first input row (and its key) whose key is in the table (`existing`), or is not
/// ([`sql::first_row`]).
fn first_row(
    client: &mut Client,
    plan: &Plan,
    (target, src): (&str, &str),
    existing: bool,
    citus: bool,
) -> Result<Option<(u64, Vec<Value<'static>>)>> {
    // Citus plans no correlated subquery between a local table and one of its own: the
    // table's keys that the input holds are read first (an intermediate result).
    let (with, table) = match citus {
        true => (with_clause(&ctes(&[("upsertx_held", keys_held(plan, target, src, None))])), "upsertx_held"),
        false => (String::new(), target),
    };
    let sql = with + &sql::first_row(plan, q, (table, src), existing, sql::Lookup::Exists, |s| format!("{s}::text"));
    let found = client.query_opt(&sql, &[]).map_err(|e| Error::db("looking up the input's keys", message(&e)))?;
    Ok(found.map(|r| {
        let key = (0..plan.key.len()).map(|i| plan.typed_value(plan.key[i], r.get(i + 1))).collect();
        (r.get::<_, i64>(0) as u64, key)
    }))
}

fn check_no_existing(client: &mut Client, plan: &Plan, target: &str, src: &str, citus: bool) -> Result<()> {
    match first_row(client, plan, (target, src), true, citus)? {
        Some((row, key)) => Err(plan.key_exists(row, &key)),
        None => Ok(()),
    }
}
