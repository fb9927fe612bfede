//! The SQL every database writes alike, written once: column lists, the staged
//! columns' names, the key match between the target and the stage, CREATE TABLE, and
//! what `--delete-missing` deletes.
//! A database passes in only what it spells its own way (its identifier quoting, its
//! type names).

use crate::plan::{Mark, Plan, Staged};
use crate::schema::Column;

/// Quotes an identifier with double quotes (PostgreSQL, SQLite, and every message).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) use crate::error::quote_ident as double_quoted;

/// Joins `f(i)` for each index: the building block of generated column lists.
pub(crate) fn list(idx: &[usize], f: impl Fn(usize) -> String, sep: &str) -> String {
    idx.iter().map(|&i| f(i)).collect::<Vec<_>>().join(sep)
}

/// `CREATE TABLE <name> (<columns>, PRIMARY KEY (<key>))` for `--create`: `name` comes
/// quoted (and qualified) by the dialect, `q` quotes a column, `ty` gives a column's type
/// (told whether the column is part of the key), unless the column carries a type every
/// database spells alike (`DECIMAL(10,2)` from a typed source).
pub(crate) fn create_table_sql(
    name: &str,
    columns: &[Column],
    key: &[String],
    q: fn(&str) -> String,
    ty: impl Fn(&Column, bool) -> &'static str,
) -> String {
    let mut defs: Vec<String> = columns.iter().map(|c| column_def(c, key.contains(&c.name), q, &ty)).collect();
    defs.push(format!("PRIMARY KEY ({})", list(&(0..key.len()).collect::<Vec<_>>(), |i| q(&key[i]), ", ")));
    format!("CREATE TABLE {name} ({})", defs.join(", "))
}

/// `"name" type [NOT NULL]` of a column `--create` or `--evolve` makes (`ty`: the
/// database's type for it, unless it has a `declared` one; key columns NOT NULL).
pub(crate) fn column_def(
    c: &Column,
    is_key: bool,
    q: fn(&str) -> String,
    ty: &impl Fn(&Column, bool) -> &'static str,
) -> String {
    let not_null = if is_key { " NOT NULL" } else { "" };
    let ty = if c.declared.is_empty() { ty(c, is_key) } else { &c.declared };
    format!("{} {ty}{not_null}", q(&c.name)).trim_end().to_owned()
}

/// `--evolve`: adds `columns` (nullable) to table `name` (`table` as the user named it,
/// for messages) by `ALTER TABLE ... ADD COLUMN`, each run by `exec(context, sql)` unless
/// `apply` is false; returns what it did, for the report (`added column "tier" text`).
pub(crate) fn add_columns(
    table: &str,
    name: &str,
    columns: &[Column],
    q: fn(&str) -> String,
    ty: impl Fn(&Column, bool) -> &'static str,
    apply: bool,
    mut exec: impl FnMut(&str, &str) -> crate::error::Result<()>,
) -> crate::error::Result<Vec<String>> {
    let mut done = Vec::new();
    for c in columns {
        let def = column_def(c, false, q, &ty);
        if apply {
            let what = format!("adding column {} to table {} (--evolve)", q(&c.name), q(table));
            exec(&what, &format!("ALTER TABLE {name} ADD COLUMN {def}"))?;
        }
        done.push(
            format!("added column {}", crate::error::quote_ident(&c.name)) + &def[q(&c.name).len()..].to_lowercase(),
        );
    }
    Ok(done)
}

/// The digits after the second a timestamp column keeps, by its declared type: `(n)`
/// when it says (`datetime(3)`, `timestamp(0) without time zone`), else `bare`.
pub(crate) fn second_digits(declared: &str, bare: u32) -> u32 {
    let digits = declared.split_once('(').and_then(|(_, rest)| rest.split_once(')')).map(|(n, _)| n.trim().parse());
    match digits {
        Some(Ok(n)) => n,
        _ => bare,
    }
}

/// The stage's name for plan column `i` (`ord` holds the input row number).
pub(crate) fn stage_col(i: usize) -> String {
    format!("c{i}")
}

/// `t."a" = s.c0 AND ...` over the load's key, `t` the target's alias and `s` the
/// stage's; for a partial unique index, only the rows its condition holds for (the
/// condition as the database shows it, never user text).
pub(crate) fn key_match(plan: &Plan, q: fn(&str) -> String) -> String {
    key_match_by(plan, q, equals)
}

/// [`key_match`], each key column's equality written by `eq`.
pub(crate) fn key_match_by(plan: &Plan, q: fn(&str) -> String, eq: Equals) -> String {
    let keys =
        list(&plan.key, |i| eq(&format!("t.{}", q(&plan.columns[i].name)), &format!("s.{}", stage_col(i))), " AND ");
    match &plan.key_constraint.predicate {
        Some(p) => format!("{keys} AND ({p})"),
        None => keys,
    }
}

/// How the first input row whose key is in the table (or is not) is read (each database
/// uses one: a build with some left out leaves the other unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum Lookup {
    /// `WHERE [NOT] EXISTS (...)`: SQLite (the load holds the database's write lock) and
    /// PostgreSQL (the merge's own statement then takes the rows).
    Exists,
    /// A join read `FOR UPDATE` (MySQL): the rows it finds stay until the load ends.
    LockingJoin,
}

/// The first staged row (`s`, in `stage`) whose key is in `target` (`existing`), or is
/// not: its `ord` then its key's columns, each as `key(column)` says (as text, or as it
/// is). The one query behind `--on-conflict error` (an existing key) and a new key the
/// input cannot insert (a required column missing), on every database.
pub(crate) fn first_row(
    plan: &Plan,
    q: fn(&str) -> String,
    (target, stage): (&str, &str),
    existing: bool,
    lookup: Lookup,
    key: impl Fn(String) -> String,
) -> String {
    let keys = list(&plan.key, |i| key(format!("s.{}", stage_col(i))), ", ");
    let on = key_match(plan, q);
    let (find, lock) = match (lookup, existing) {
        (Lookup::Exists, true) => (format!("WHERE EXISTS (SELECT 1 FROM {target} AS t WHERE {on})"), ""),
        (Lookup::Exists, false) => (format!("WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {on})"), ""),
        (Lookup::LockingJoin, true) => (format!("JOIN {target} AS t ON {on}"), " FOR UPDATE"),
        (Lookup::LockingJoin, false) => {
            let absent = list(&plan.key, |i| format!("t.{} IS NULL", q(&plan.columns[i].name)), " AND ");
            (format!("LEFT JOIN {target} AS t ON {on} WHERE {absent}"), " FOR UPDATE")
        }
    };
    format!("SELECT s.ord, {keys} FROM {stage} AS s {find} ORDER BY s.ord LIMIT 1{lock}")
}

/// The two probes that find the input row behind a clash on a unique key other than the
/// load's (its columns `cols`): first one whose values belong to a table row of another
/// key, then one whose values an earlier input row of another key holds. Each returns
/// the row's `ord`, the earlier row's `ord` (NULL for the first probe), then the values
/// as `value(column)` sends them. The same on every database (MySQL, which probes before
/// every load, replaces the second by a `GROUP BY` that stays fast without an index).
pub(crate) fn other_key_probes(
    plan: &Plan,
    q: fn(&str) -> String,
    (target, stage): (&str, &str),
    cols: &[usize],
    value: impl Fn(String) -> String,
) -> [String; 2] {
    let vals = list(cols, |i| value(format!("s.{}", stage_col(i))), ", ");
    let held = list(cols, |i| format!("t.{} = s.{}", q(&plan.columns[i].name), stage_col(i)), " AND ");
    let same = list(cols, |i| format!("d.{c} = s.{c}", c = stage_col(i)), " AND ");
    let same_key = list(&plan.key, |i| format!("d.{c} = s.{c}", c = stage_col(i)), " AND ");
    let earlier = format!("{same} AND NOT ({same_key})");
    [
        format!(
            "SELECT s.ord, NULL, {vals} FROM {stage} AS s JOIN {target} AS t ON {held} WHERE NOT ({}) \
             ORDER BY s.ord LIMIT 1",
            key_match(plan, q)
        ),
        format!(
            "SELECT s.ord, (SELECT min(d.ord) FROM {stage} AS d WHERE {earlier}), {vals} FROM {stage} AS s \
             WHERE EXISTS (SELECT 1 FROM {stage} AS d WHERE {earlier} AND d.ord < s.ord) ORDER BY s.ord LIMIT 1"
        ),
    ]
}

/// How a database writes "the target's column equals a staged value" so that the staged
/// side's index serves the lookup: [`equals`] (`t.a = s.c0`) for most.
pub(crate) type Equals = fn(target: &str, staged: &str) -> String;

/// `target = staged`.
pub(crate) fn equals(target: &str, staged: &str) -> String {
    format!("{target} = {staged}")
}

/// The name of the table holding the `--scope` values the input holds.
pub(crate) const SCOPE: &str = "upsertx_scope";

/// `SELECT DISTINCT` of the scope columns' staged values, each named as in the stage;
/// `value(i)` is column `i` of the stage `s` as the target's type.
pub(crate) fn scope_select(plan: &Plan, stage: &str, value: impl Fn(usize) -> String) -> String {
    let cols = list(&plan.scope, |i| format!("{} AS {}", value(i), stage_col(i)), ", ");
    format!("SELECT DISTINCT {cols} FROM {stage} AS s")
}

/// The target's rows (`t`, the table's alias or name) that `--delete-missing` may delete:
/// their `--scope` values among those of the input (`scope`, filled by [`scope_select`];
/// a NULL matches nothing), the caller's `--scope-where` condition, and for a partial
/// unique key its condition (a row outside it has no key to miss).
pub(crate) fn in_scope(plan: &Plan, q: fn(&str) -> String, t: &str, scope: &str, eq: Equals) -> String {
    let mut conds = Vec::new();
    if !plan.scope.is_empty() {
        let eq = list(
            &plan.scope,
            |i| eq(&format!("{t}.{}", q(&plan.columns[i].name)), &format!("p.{}", stage_col(i))),
            " AND ",
        );
        conds.push(format!("EXISTS (SELECT 1 FROM {scope} AS p WHERE {eq})"));
    }
    if let Some(w) = plan.spec.delete_where() {
        conds.push(format!("({w})"));
    }
    if let Some(p) = &plan.key_constraint.predicate {
        conds.push(format!("({p})"));
    }
    // A row `--soft-delete` marked already is not a candidate again.
    conds.extend(unmarked(plan, q, t));
    if conds.is_empty() {
        "1 = 1".into()
    } else {
        conds.join(" AND ")
    }
}

/// `--soft-delete`: row `t` (the table's alias or name) is not marked yet (under
/// `--history`: it is an entity's current version, not a closed one). `None` without a
/// mark.
pub(crate) fn unmarked(plan: &Plan, q: fn(&str) -> String, t: &str) -> Option<String> {
    let (i, mark) = plan.soft_delete?;
    let col = format!("{t}.{}", q(&plan.columns[i].name));
    Some(match mark {
        Mark::Time => format!("{col} IS NULL"),
        Mark::Flag => format!("({col} IS NULL OR {col} = FALSE)"),
    })
}

/// The target's rows (`t`, the table's alias or name) whose key no staged row (`s`, `value(i)` its column `i` as
/// the target's type) has; when the stage holds the keys to delete ([`Staged::Gone`]),
/// the rows whose key one has. Without a key, every row (a keyless `--replace-where`
/// deletes its window before inserting).
pub(crate) fn missing(
    plan: &Plan,
    q: fn(&str) -> String,
    t: &str,
    stage: &str,
    value: impl Fn(usize) -> String,
    eq: Equals,
) -> String {
    if plan.keyless() {
        return "1 = 1".into();
    }
    let eq = list(&plan.key, |i| eq(&format!("{t}.{}", q(&plan.columns[i].name)), &value(i)), " AND ");
    match plan.staged {
        // The stage holds the keys to delete.
        Staged::Gone => format!("EXISTS (SELECT 1 FROM {stage} AS s WHERE {eq})"),
        Staged::Rows | Staged::Keys => format!("NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {eq})"),
    }
}

/// The table's keys (`target`: its name as the statement says it), under `--history`
/// its current versions' (one per entity): what `upsertx sync`'s incremental deletes
/// compare with the source's (see `diff.rs`). Rows `--soft-delete` marked are read too:
/// a source key finds its row, marked or not.
pub(crate) fn table_keys(plan: &Plan, q: fn(&str) -> String, target: &str) -> String {
    let keys = list(&plan.key, |i| format!("t.{c} AS {c}", c = q(&plan.columns[i].name)), ", ");
    let current = match plan.history {
        Some(_) => unmarked(plan, q, "t").map(|c| format!(" WHERE {c}")).unwrap_or_default(),
        None => String::new(),
    };
    format!("SELECT {keys} FROM {target} AS t{current}")
}

/// What `--delete-missing` does to the rows it finds: `DELETE`, or with `--soft-delete`
/// (and `--history`'s `to` column, with its flag) `SET column = TRUE`, or `= param` where `param` is the dialect's placeholder for the
/// load's time ([`mark_time`]).
pub(crate) fn soft_set(plan: &Plan, q: fn(&str) -> String, param: &str) -> Option<String> {
    let (i, mark) = plan.soft_delete?;
    let value = match mark {
        Mark::Time => param,
        Mark::Flag => "TRUE",
    };
    // `--history --current-flag`: a closed version is no longer current.
    let flag = match plan.history.and_then(|h| h.flag) {
        Some(f) => format!(", {} = FALSE", q(&plan.columns[f].name)),
        None => String::new(),
    };
    Some(format!("{} = {value}{flag}", q(&plan.columns[i].name)))
}

/// The load's time as `--soft-delete` writes it into its column: `YYYY-MM-DD` for a
/// date, else `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
pub(crate) fn mark_time(plan: &Plan) -> String {
    let text = crate::time::format_micros(plan.loaded_at);
    match plan.soft_delete {
        Some((i, _)) if plan.columns[i].ty == crate::value::SqlType::Date => text[..10].to_string(),
        _ => text,
    }
}

/// For `--replace-where`: the `ord` of the first staged row for which the condition does
/// not hold (`IS NOT TRUE`: NULL fails it too). The condition names the table's columns:
/// each staged column `value(i)` goes by its table column's name.
pub(crate) fn first_outside(
    plan: &Plan,
    q: fn(&str) -> String,
    stage: &str,
    value: impl Fn(usize) -> String,
) -> Option<String> {
    let cond = plan.spec.replace_where.as_deref()?;
    let read: Vec<usize> = (0..plan.columns.len()).filter(|&i| plan.columns[i].fill.is_none()).collect();
    let cols = list(&read, |i| format!("{} AS {}", value(i), q(&plan.columns[i].name)), ", ");
    Some(format!(
        "SELECT ord FROM (SELECT s.ord, {cols} FROM {stage} AS s) AS t WHERE ({cond}) IS NOT TRUE ORDER BY ord LIMIT 1"
    ))
}

/// The merge of a load into a table with no key (see [`Plan::keyless`]): every staged row
/// inserted, in input order.
pub(crate) fn append(
    plan: &Plan,
    q: fn(&str) -> String,
    target: &str,
    stage: &str,
    value: impl Fn(usize) -> String,
) -> String {
    let all = plan.all_columns();
    format!(
        "INSERT INTO {target} ({}) SELECT {} FROM {stage} AS s ORDER BY s.ord",
        list(&all, |i| q(&plan.columns[i].name), ", "),
        list(&all, value, ", ")
    )
}

/// `--newer-by`: whether the input's value `new` of the plan's `--newer-by` column
/// replaces the table's `old`: it is greater, or `old` is NULL (older than anything). An
/// input NULL replaces only a NULL. `None` without `--newer-by`.
pub(crate) fn newer(plan: &Plan, new: impl Fn(usize) -> String, old: impl Fn(usize) -> String) -> Option<String> {
    let i = plan.newer_by?;
    let (new, old) = (new(i), old(i));
    Some(format!("COALESCE({new} > {old}, {old} IS NULL)"))
}

/// `--newer-by` among the input's rows of one key: whether a later row `new` takes the
/// place of the one kept so far, `old`: its value is greater (NULL is the least), or
/// equal (`same` is the database's NULL-safe `=`: `IS`, `<=>`) and the last row wins.
/// `new` and `old` spell a staged column (named as [`stage_col`]) of either row.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn wins_in_input(
    plan: &Plan,
    new: impl Fn(&str) -> String,
    old: impl Fn(&str) -> String,
    same: &str,
) -> Option<String> {
    let c = stage_col(plan.newer_by?);
    let (new, old) = (new(&c), old(&c));
    let greater = format!("COALESCE({new} > {old}, {old} IS NULL AND {new} IS NOT NULL)");
    Some(match plan.spec.duplicates {
        crate::spec::Duplicates::Last => format!("({greater} OR {new} {same} {old})"),
        _ => greater,
    })
}

fn order_by(plan: &Plan, alias: &str, col: impl Fn(usize) -> String) -> String {
    match plan.keyless() {
        true => String::new(),
        false => format!(" ORDER BY {}", list(&plan.key, |i| format!("{alias}.{}", col(i)), ", ")),
    }
}

/// `--changes`, before the merge: the rows it will write (the input joined with the
/// table), in key order (keyless: every
/// staged row, in input order), laid out as [`ChangeOp`](super::ChangeOp) says: first the
/// change mask (NULL for an insert; for an update, one `0` or `1` per updated column,
/// `1` where `differs(i)`, the merge's own test, holds, joined by `concat`), then every
/// plan column as the merge writes it (`value(i)`, over the de-duplicated input `s` at
/// `src`), then, for an update, the updated columns as the table `t` holds them; every
/// value as the database hands it over (`text(Some(i), e)`: expression `e` of plan
/// column `i`; `None`, the mask's NULL). `changes` is the merge's condition for rewriting a matched
/// row (`None`: it rewrites none). An update's unchanged values come too, unused: leaving
/// them out (a `CASE` per value, its comparison made again) cost PostgreSQL and MariaDB
/// more than sending them. Under `--history` the table's row is the entity's current
/// version.
#[allow(clippy::too_many_arguments)]
pub(crate) fn written_select(
    plan: &Plan,
    q: fn(&str) -> String,
    target: &str,
    src: &str,
    value: impl Fn(usize) -> String,
    differs: impl Fn(usize) -> String,
    concat: fn(Vec<String>) -> String,
    changes: Option<&str>,
    text: impl Fn(Option<usize>, String) -> String,
) -> String {
    let null = text(None, "NULL".into());
    let after = list(&plan.all_columns(), |i| text(Some(i), value(i)), ", ");
    if plan.keyless() {
        return format!("SELECT {null}, {after} FROM {src} AS s ORDER BY s.ord");
    }
    let absent = format!("t.{} IS NULL", q(&plan.columns[plan.key[0]].name));
    let mask = match plan.update.is_empty() {
        true => null.clone(),
        false => {
            concat(plan.update.iter().map(|&i| format!("CASE WHEN {} THEN '1' ELSE '0' END", differs(i))).collect())
        }
    };
    let then = list(&plan.update, |i| format!(", {}", text(Some(i), format!("t.{}", q(&plan.columns[i].name)))), "");
    let changes = changes.unwrap_or("1 = 0");
    let mut on = key_match(plan, q);
    if let Some(h) = plan.history {
        // `--history`: an entity's current version; one with none is inserted.
        on.push_str(&format!(" AND t.{} IS NULL", q(&plan.columns[h.to].name)));
    }
    format!(
        "SELECT CASE WHEN {absent} THEN {null} ELSE {mask} END, {after}{then} \
         FROM {src} AS s LEFT JOIN {target} AS t ON {on} WHERE {absent} OR ({changes}){order}",
        order = order_by(plan, "s", stage_col)
    )
}

/// `a || b || c`: text joined, as SQLite and PostgreSQL write it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn concat_pipes(parts: Vec<String>) -> String {
    parts.join(" || ")
}

/// `--changes`, before the deletion: the rows `cond` finds (the ones to delete or mark),
/// every plan column `i` of the table's row `t` as `text(i, column)` sends it, in key order.
pub(crate) fn deleted_select(
    plan: &Plan,
    q: fn(&str) -> String,
    target: &str,
    cond: &str,
    text: impl Fn(usize, String) -> String,
) -> String {
    let cols = list(&plan.all_columns(), |i| text(i, format!("t.{}", q(&plan.columns[i].name))), ", ");
    format!("SELECT {cols} FROM {target} AS t WHERE {cond}{}", order_by(plan, "t", |i| q(&plan.columns[i].name)))
}

/// `upsertx sync`'s table of marks, made when missing, keyed by the target table and
/// the item marked (`''` for a cursor, a file's path): `key` is the type of those two,
/// `text` of the values, `options` what follows the columns.
pub(crate) fn create_marks(q: fn(&str) -> String, key: [&str; 2], text: &str, options: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (target_table {} NOT NULL, item {} NOT NULL, stream {text} NOT NULL, \
         cursor_column {text} NOT NULL, mark {text} NOT NULL, PRIMARY KEY (target_table, item)){options}",
        q(super::MARKS),
        key[0],
        key[1]
    )
}

/// The statement that reads one mark: its stream, cursor column and value, for the
/// target table and item bound as `p`.
pub(crate) fn read_mark(q: fn(&str) -> String, p: [&str; 2]) -> String {
    format!(
        "SELECT stream, cursor_column, mark FROM {} WHERE target_table = {} AND item = {}",
        q(super::MARKS),
        p[0],
        p[1]
    )
}

/// The statement that saves one mark (target table, item, stream, cursor column, mark,
/// bound as `p`), replacing the table's: `ON CONFLICT` where the database has it, else
/// MySQL's `ON DUPLICATE KEY UPDATE`.
pub(crate) fn save_mark(q: fn(&str) -> String, p: [&str; 5], on_conflict: bool) -> String {
    let update = match on_conflict {
        true => {
            "ON CONFLICT (target_table, item) DO UPDATE SET stream = excluded.stream, \
                 cursor_column = excluded.cursor_column, mark = excluded.mark"
        }
        false => {
            "ON DUPLICATE KEY UPDATE stream = VALUES(stream), cursor_column = VALUES(cursor_column), \
                  mark = VALUES(mark)"
        }
    };
    format!(
        "INSERT INTO {} (target_table, item, stream, cursor_column, mark) VALUES ({}) {update}",
        q(super::MARKS),
        p.join(", ")
    )
}

/// `text` as a standard SQL string literal (quotes doubled): PostgreSQL, SQLite.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
