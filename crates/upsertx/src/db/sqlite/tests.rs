//! Staging across several sorted runs (each spilled to a temporary file), on a real
//! SQLite database in memory. A run normally holds 32 MiB of rows; here each row is a
//! run of its own.

use super::SqliteConnection;
use crate::batch::Batch;
use crate::db::{load_id_size, Connection, MergeCounts};
use crate::error::Error;
use crate::net::url::SqliteTarget;
use crate::plan::Plan;
use crate::spec::{Duplicates, Spec};
use crate::value::Value;

/// Loads `batches` of (id, size) rows, numbered from 1, into `t` (holding 1 and 9);
/// returns the counts (or the error) and the table's rows.
fn load(
    key_type: &str,
    duplicates: Duplicates,
    batches: &[&[(i64, &str)]],
) -> (Result<MergeCounts, Error>, Vec<(i64, String)>) {
    let mut conn = SqliteConnection::open(&SqliteTarget::Memory, true).unwrap();
    conn.conn
        .execute_batch(&format!(
            "CREATE TABLE t (id {key_type} PRIMARY KEY, size TEXT); INSERT INTO t VALUES (1, 's'), (9, 's')"
        ))
        .unwrap();
    conn.stager.run_bytes = 1;
    let id: fn(i64) -> Value<'static> = if key_type == "TEXT" { |n| Value::text(n.to_string()) } else { Value::Int };
    let counts = load_id_size(&mut conn, duplicates, batches, id);
    if counts.is_err() {
        conn.rollback().unwrap();
    }
    let rows = conn
        .conn
        .prepare("SELECT CAST(id AS INTEGER), size FROM t ORDER BY CAST(id AS INTEGER)")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (counts, rows)
}

/// Keys repeated across runs, shuffled within them: 5 at rows 1, 4 and 6; 1 at rows 2 and 5.
const BATCHES: &[&[(i64, &str)]] = &[&[(5, "s"), (1, "m")], &[(3, "s"), (5, "m")], &[(1, "l"), (5, "l")]];

fn rows(r: &[(i64, &str)]) -> Vec<(i64, String)> {
    r.iter().map(|&(k, v)| (k, v.to_string())).collect()
}

/// Integer keys go through the sorter, text keys straight into the stage: the same
/// outcome either way.
#[test]
fn duplicates_across_runs_follow_the_input_order() {
    for key_type in ["INTEGER", "TEXT"] {
        let (counts, table) = load(key_type, Duplicates::Last, BATCHES);
        assert_eq!(
            counts.unwrap(),
            MergeCounts { staged: 3, inserted: 2, updated: 1, unchanged: 0, ignored: 0, stale: 0 }
        );
        assert_eq!(table, rows(&[(1, "l"), (3, "s"), (5, "l"), (9, "s")]), "{key_type}");

        let (counts, table) = load(key_type, Duplicates::First, BATCHES);
        assert_eq!(
            counts.unwrap(),
            MergeCounts { staged: 3, inserted: 2, updated: 1, unchanged: 0, ignored: 0, stale: 0 }
        );
        assert_eq!(table, rows(&[(1, "m"), (3, "s"), (5, "s"), (9, "s")]), "{key_type}");

        // The first duplicate in input order: row 4 (key 5, first at row 1), though key
        // 1's (row 5) comes first in key order.
        match load(key_type, Duplicates::Error, BATCHES) {
            (Err(Error::DuplicateKey { at, key, first_row }), table) => {
                assert_eq!((at.row, at.line, first_row), (4, Some(5), 1), "{key_type}: key {key}");
                assert!(key.contains('5'), "{key}");
                assert_eq!(table, rows(&[(1, "s"), (9, "s")]));
            }
            (other, _) => panic!("{key_type}: {other:?}"),
        }
    }
}

/// Batches in key order go straight into the stage; from the first key out of order on,
/// through the sorter. Duplicates between the two follow the input order too.
#[test]
fn a_sorted_beginning_goes_straight_in() {
    // Rows 1 to 4 in order; then 3 (row 5, a duplicate of row 2), 2 (new) and 7 (row 7,
    // a duplicate of row 4).
    let batches: &[&[(i64, &str)]] = &[&[(1, "a"), (3, "b")], &[(5, "c"), (7, "d")], &[(3, "x"), (2, "y"), (7, "z")]];
    let (counts, table) = load("INTEGER", Duplicates::Last, batches);
    assert_eq!(counts.unwrap(), MergeCounts { staged: 5, inserted: 4, updated: 1, unchanged: 0, ignored: 0, stale: 0 });
    assert_eq!(table, rows(&[(1, "a"), (2, "y"), (3, "x"), (5, "c"), (7, "z"), (9, "s")]));
    let (_, table) = load("INTEGER", Duplicates::First, batches);
    assert_eq!(table, rows(&[(1, "a"), (2, "y"), (3, "b"), (5, "c"), (7, "d"), (9, "s")]));
    match load("INTEGER", Duplicates::Error, batches) {
        (Err(Error::DuplicateKey { at, first_row, .. }), table) => {
            assert_eq!((at.row, first_row), (5, 2));
            assert_eq!(table, rows(&[(1, "s"), (9, "s")]));
        }
        (other, _) => panic!("{other:?}"),
    }
    // In order throughout: nothing goes through the sorter.
    let (counts, _) = load("INTEGER", Duplicates::Error, &[&[(2, "a"), (4, "b")], &[(6, "c")]]);
    assert_eq!(counts.unwrap().inserted, 3);
}

#[test]
fn every_type_survives_the_temporary_file() {
    let mut conn = SqliteConnection::open(&SqliteTarget::Memory, true).unwrap();
    conn.conn
        .execute_batch(
            "CREATE TABLE t (a INTEGER, b INTEGER, i INTEGER, r REAL, s TEXT, x BLOB, d DATE, PRIMARY KEY (a, b))",
        )
        .unwrap();
    conn.stager.run_bytes = 1;
    conn.begin().unwrap();
    let table = conn.reflect("t").unwrap().unwrap();
    let names: Vec<String> = ["a", "b", "i", "r", "s", "x", "d"].map(String::from).to_vec();
    let plan = Plan::new(table, "in.csv", &names, &Spec::default()).unwrap();
    conn.create_stage(&plan).unwrap();
    let row =
        |n: u64, a: i64, b: i64, v: Vec<Value<'static>>| (n, None, [vec![Value::Int(a), Value::Int(b)], v].concat());
    let batch = Batch::from_rows(vec![
        row(
            1,
            2,
            i64::MIN,
            vec![
                Value::Int(-7),
                Value::Real(0.5),
                Value::text("tab\there".into()),
                Value::Blob(vec![0, 1, 255].into()),
                Value::text("2024-02-29".into()),
            ],
        ),
        row(
            2,
            -1,
            i64::MAX,
            vec![Value::Null, Value::Null, Value::text(String::new()), Value::Blob(Vec::new().into()), Value::Null],
        ),
    ]);
    conn.stage(&plan, &mut std::iter::once(Ok(batch))).unwrap();
    conn.finish_stage(&plan).unwrap();
    assert_eq!(conn.merge(&plan, None).unwrap().inserted, 2);
    let got: Vec<String> = conn
        .conn
        .prepare("SELECT quote(a) || ' ' || quote(b) || ' ' || quote(i) || ' ' || quote(r) || ' ' || quote(s) || ' ' || quote(x) || ' ' || quote(d) FROM t ORDER BY a")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got,
        [
            format!("-1 {} NULL NULL '' X'' NULL", i64::MAX),
            format!("2 {} -7 0.5 'tab\there' X'0001FF' '2024-02-29'", i64::MIN)
        ]
    );
}

/// The delete of `--delete-missing` looks each target row up in the stage's and the
/// scope table's indexes: with the target column's affinity on the comparison, SQLite
/// scanned the untyped stage once per target row (a million-row sync ran for hours).
#[test]
fn the_delete_looks_rows_up_by_index() {
    let mut conn = SqliteConnection::open(&SqliteTarget::Memory, true).unwrap();
    conn.conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, region TEXT, qty INTEGER)").unwrap();
    conn.begin().unwrap();
    let table = conn.reflect("t").unwrap().unwrap();
    let spec = Spec { delete_missing: true, scope: vec!["region".into()], ..Spec::default() };
    let plan = Plan::new(table, "in.csv", &["id".into(), "region".into(), "qty".into()], &spec).unwrap();
    conn.create_stage(&plan).unwrap();
    conn.finish_stage(&plan).unwrap();
    conn.prepare_delete(&plan).unwrap();
    let explain = format!("EXPLAIN QUERY PLAN {}", super::delete::delete_sql(&plan, None));
    let steps: Vec<String> =
        conn.conn.prepare(&explain).unwrap().query_map([], |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
    // The stage is `s`, the scope table `p`.
    for alias in ["s", "p"] {
        assert!(steps.iter().any(|s| s.starts_with(&format!("SEARCH {alias} USING"))), "{steps:?}");
        assert!(!steps.iter().any(|s| s.starts_with(&format!("SCAN {alias}"))), "{steps:?}");
    }
}
