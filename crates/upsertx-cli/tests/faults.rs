//! Faults: `kill -9` of a load while it stages and while it merges leaves the table
//! exactly as it was, and running the same load again succeeds, on every database.
//!
//! Where the load is, is read off its phase trace (`UPSERTX_TRACE=1`, on stderr); to be
//! surely inside the merge on PostgreSQL and MariaDB, another session holds a lock on a
//! row the merge must write, so the load waits there until it is killed.

mod common;

use common::{write, Mariadb, Postgres, Sqlite, TestDb};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: i64 = 200_000;

fn start(db: &dyn TestDb) -> Child {
    Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .args(["big.csv", "--table", "f", "--json", "--db", &db.url()])
        .current_dir(db.dir())
        .env("UPSERTX_TRACE", "1")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn upsertx")
}

/// Reads the load's trace until a line containing `phase`, then kills it (SIGKILL).
fn kill_at(child: &mut Child, phase: &str) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(phase) => break,
            Some(Ok(_)) => {}
            other => panic!("the load ended before {phase:?}: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no {phase:?} within 60 s");
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the load finished before it was killed");
}

/// Every row of the table, as text.
fn dump(db: &dyn TestDb) -> Vec<Vec<String>> {
    db.rows(&format!("SELECT id, v FROM {} ORDER BY id", db.q("f")))
}

fn setup(db: &dyn TestDb) -> Vec<Vec<String>> {
    db.exec(&format!("CREATE TABLE {} (id INTEGER PRIMARY KEY, v VARCHAR(20))", db.q("f")));
    db.exec(&format!("INSERT INTO {} VALUES (1, 'old'), (2, 'old'), (3, 'keep')", db.q("f")));
    let mut csv = String::with_capacity(ROWS as usize * 12);
    csv.push_str("id,v\n");
    for i in 1..=ROWS {
        csv.push_str(&format!("{i},new{}\n", i % 7));
    }
    write(db, "big.csv", &csv);
    dump(db)
}

/// The same load, run to the end, does what it should.
fn rerun(db: &dyn TestDb) {
    let run = common::upsertx(db, &["big.csv", "--table", "f", "--json"], None);
    assert_eq!(run.counts(), ((ROWS - 3) as u64, 3, 0, 0, 0));
    assert_eq!(db.rows(&format!("SELECT count(*) FROM {}", db.q("f"))), vec![vec![ROWS.to_string()]]);
}

/// Killed while staging: the table is untouched, and a rerun succeeds.
fn killed_while_staging(db: &dyn TestDb) {
    let before = setup(db);
    let mut child = start(db);
    kill_at(&mut child, "table ready");
    assert_eq!(dump(db), before);
    rerun(db);
}

/// Killed inside the merge, while it waits for a row another session holds.
fn killed_while_merging(db: &dyn TestDb) {
    let before = setup(db);
    let mut holder = db.session();
    holder.exec(db.begin());
    holder.exec(&format!("SELECT v FROM {} WHERE id = 3 FOR UPDATE", db.q("f")));
    let mut child = start(db);
    let started = Instant::now();
    while db.lock_waiters() == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load never waited for the held row");
        assert!(child.try_wait().unwrap().is_none(), "the load ended before it waited for the held row");
        std::thread::sleep(Duration::from_millis(250));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    holder.exec("ROLLBACK");
    drop(holder);
    // The server notices the dead client and rolls its transaction back.
    let started = Instant::now();
    while dump(db) != before {
        assert!(started.elapsed() < Duration::from_secs(30), "the killed load's rows stayed");
        std::thread::sleep(Duration::from_millis(100));
    }
    rerun(db);
}

#[test]
fn sqlite_kill_while_staging() {
    killed_while_staging(&Sqlite::new());
}

#[test]
fn sqlite_kill_while_merging() {
    // SQLite takes its write lock at the start, so no row lock can hold the merge: kill
    // it as soon as staging is over.
    let db = Sqlite::new();
    let before = setup(&db);
    let mut child = start(&db);
    kill_at(&mut child, "staged");
    assert_eq!(dump(&db), before);
    rerun(&db);
}

#[test]
fn postgres_kill_while_staging() {
    killed_while_staging(&Postgres::new());
}

#[test]
fn postgres_kill_while_merging() {
    killed_while_merging(&Postgres::new());
}

#[test]
fn mariadb_kill_while_staging() {
    killed_while_staging(&Mariadb::new());
}

#[test]
fn mariadb_kill_while_merging() {
    killed_while_merging(&Mariadb::new());
}
