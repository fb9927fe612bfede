//! Staging across several sorted runs, against the real MariaDB test server
//! (`UPSERTX_TEST_MYSQL`, by default the one scripts/test.sh makes ready). A run
//! normally holds 32 MiB of rows; here each row is a run of its own (spilled to a
//! temporary file), and each statement sends one row.

use super::MyConnection;
use crate::db::{load_id_size, Connection, MergeCounts};
use crate::error::Error;
use crate::spec::Duplicates;
use crate::value::Value;
use mysql::prelude::Queryable;

/// A database of its own on the test server, dropped at the end.
struct TestDatabase {
    conn: mysql::Conn,
    url: String,
    name: String,
}

impl TestDatabase {
    fn new(tag: &str) -> TestDatabase {
        let base = std::env::var("UPSERTX_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        let name = format!("u_{}_{tag}", std::process::id());
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&base).unwrap())
            .unwrap_or_else(|e| panic!("MariaDB test server at {base}: {e} (scripts/test.sh starts it)"));
        conn.query_drop(format!(
            "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4; USE {name};
             CREATE TABLE t (id INT PRIMARY KEY, size ENUM('s','m','l') NOT NULL);
             INSERT INTO t VALUES (1, 's'), (9, 's')"
        ))
        .unwrap();
        let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
        TestDatabase { conn, url, name }
    }

    fn rows(&mut self) -> Vec<(i64, String)> {
        self.conn.query("SELECT id, size FROM t ORDER BY id").unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = self.conn.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

/// Loads `batches` of (id, size) rows, numbered from 1, each row a run of its own.
fn load(
    db: &TestDatabase,
    load_data: bool,
    duplicates: Duplicates,
    batches: &[&[(i64, &str)]],
) -> Result<MergeCounts, Error> {
    let mut conn = MyConnection::open(&db.url).unwrap();
    // (The infile handler streams this stager's run: change it, never replace it.)
    conn.stager.load_data = load_data;
    conn.stager.run_bytes = 1;
    load_id_size(&mut conn, duplicates, batches, Value::Int)
}

/// Keys repeated across runs, shuffled within them: 5 at rows 1, 4 and 6; 1 at rows 2 and 5.
const BATCHES: &[&[(i64, &str)]] = &[&[(5, "s"), (1, "m")], &[(3, "s"), (5, "m")], &[(1, "l"), (5, "l")]];

#[test]
fn duplicates_across_runs_follow_the_input_order() {
    for load_data in [true, false] {
        let mut db = TestDatabase::new(if load_data { "load" } else { "ins" });
        let counts = load(&db, load_data, Duplicates::Last, BATCHES).unwrap();
        assert_eq!(counts, MergeCounts { staged: 3, inserted: 2, updated: 1, unchanged: 0, ignored: 0, stale: 0 });
        let l = || "l".to_string();
        assert_eq!(db.rows(), [(1, l()), (3, "s".into()), (5, l()), (9, "s".into())], "load_data: {load_data}");

        let mut db = TestDatabase::new(if load_data { "loadf" } else { "insf" });
        let counts = load(&db, load_data, Duplicates::First, BATCHES).unwrap();
        assert_eq!(counts, MergeCounts { staged: 3, inserted: 2, updated: 1, unchanged: 0, ignored: 0, stale: 0 });
        assert_eq!(db.rows(), [(1, "m".into()), (3, "s".into()), (5, "s".into()), (9, "s".into())]);

        let mut db = TestDatabase::new(if load_data { "loade" } else { "inse" });
        match load(&db, load_data, Duplicates::Error, BATCHES) {
            Err(Error::DuplicateKey { at, key, first_row }) => {
                assert_eq!((at.row, at.line, first_row), (4, Some(5), 1), "key {key}");
                assert!(key.contains('5'), "{key}");
            }
            other => panic!("load_data {load_data}: {other:?}"),
        }
        assert_eq!(db.rows(), [(1, "s".into()), (9, "s".into())]);
    }
}

#[test]
fn a_value_refused_in_a_later_run_names_its_row() {
    for load_data in [true, false] {
        let mut db = TestDatabase::new(if load_data { "bad_load" } else { "bad_ins" });
        // Sent one row per statement, in key order: 2, 3, 4 (refused: input row 3).
        let batches: &[&[(i64, &str)]] = &[&[(7, "s"), (2, "m")], &[(4, "xl"), (8, "m"), (3, "s")]];
        match load(&db, load_data, Duplicates::Last, batches) {
            Err(Error::Value { at, column, value, reason }) => {
                assert_eq!((at.row, column.as_str(), value.as_deref()), (3, "size", Some("xl")), "{reason}");
            }
            other => panic!("load_data {load_data}: {other:?}"),
        }
        assert_eq!(db.rows(), [(1, "s".into()), (9, "s".into())]);
    }
}

/// A connection the server drops mid-load (a restart, a KILL) is reported as lost, with
/// the server's address, not as the driver's `CodecError { IO error: Broken pipe }`.
#[test]
fn a_lost_connection_names_the_server() {
    let mut db = TestDatabase::new("lost");
    let mut load = MyConnection::open(&db.url).unwrap();
    load.begin().unwrap();
    let id: u64 = load.conn.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    db.conn.query_drop(format!("KILL CONNECTION {id}")).unwrap();
    let err = load.commit().unwrap_err().to_string();
    let server = db.url.split('@').nth(1).and_then(|s| s.split('/').next()).unwrap();
    assert!(err.contains(&format!("the connection to the server at {server} was lost")), "{err}");
    assert!(err.contains("nothing was committed") && !err.contains("CodecError"), "{err}");
}

/// Keys in order for two batches (sent as they come), then out of order (sorted): 5 and 3
/// again, 2 new. The stage keeps the last or the first of a key's rows across both ways.
const IN_ORDER_THEN_NOT: &[&[(i64, &str)]] =
    &[&[(1, "m"), (3, "s")], &[(5, "s"), (7, "m")], &[(5, "l"), (2, "s"), (3, "l")]];

#[test]
fn rows_sent_as_they_come_then_sorted_keep_the_duplicates_policy() {
    for load_data in [true, false] {
        let tag = |t: &str| format!("{t}{}", if load_data { "l" } else { "i" });
        let counts = MergeCounts { staged: 5, inserted: 4, updated: 1, unchanged: 0, ignored: 0, stale: 0 };
        let mut db = TestDatabase::new(&tag("iol"));
        assert_eq!(load(&db, load_data, Duplicates::Last, IN_ORDER_THEN_NOT).unwrap(), counts);
        let want = [(1, "m"), (2, "s"), (3, "l"), (5, "l"), (7, "m"), (9, "s")];
        assert_eq!(db.rows(), want.map(|(k, v)| (k, v.to_string())), "load_data: {load_data}");

        let mut db = TestDatabase::new(&tag("iof"));
        assert_eq!(load(&db, load_data, Duplicates::First, IN_ORDER_THEN_NOT).unwrap(), counts);
        let want = [(1, "m"), (2, "s"), (3, "s"), (5, "s"), (7, "m"), (9, "s")];
        assert_eq!(db.rows(), want.map(|(k, v)| (k, v.to_string())), "load_data: {load_data}");

        let mut db = TestDatabase::new(&tag("ioe"));
        match load(&db, load_data, Duplicates::Error, IN_ORDER_THEN_NOT) {
            // The first duplicate in input order: row 5, key 5 again (first at row 3).
            Err(Error::DuplicateKey { at, key, first_row }) => {
                assert_eq!((at.row, first_row), (5, 3), "key {key}");
                assert!(key.contains('5'), "{key}");
            }
            other => panic!("load_data {load_data}: {other:?}"),
        }
        assert_eq!(db.rows(), [(1, "s".into()), (9, "s".into())]);
    }
}
