//! Faults: `kill -9` of a load while it stages and while it merges leaves the table
//! exactly as it was, and running the same load again succeeds, on every database.
//!
//! Where the load is, is read off its phase trace (`UPSERTX_TRACE=1`, on stderr); to be
//! surely inside the merge on PostgreSQL and MariaDB, another session holds a lock on a
//! row the merge must write, so the load waits there until it is killed.

use crate::common::{write, Mariadb, Postgres, Sqlite, TestDb};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: i64 = 200_000;

fn start(db: &dyn TestDb) -> Child {
    crate::common::spawn_upsertx_traced(db, &["big.csv", "--table", "f", "--json"])
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
    let run = crate::common::upsertx(db, &["big.csv", "--table", "f", "--json"], None);
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

/// A MariaDB server of this test's own (the shared test servers serve other tests at the
/// same time), in a temporary data directory, on a free port: restarted mid-load.
struct OwnServer {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

impl OwnServer {
    fn new() -> OwnServer {
        let dir = tempfile::tempdir().unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--user={}", user.trim()))
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .output()
            .expect("mariadb-install-db (scripts/test.sh installs MariaDB)");
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = OwnServer { dir, port, server: None };
        server.start();
        server
    }

    fn start(&mut self) {
        let d = self.dir.path();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--user={}", user.trim()))
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--log-error={}", d.join("error.log").display()))
            .arg("--innodb-buffer-pool-size=32M")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.server = Some(child);
        let started = Instant::now();
        while mysql::Conn::new(mysql::Opts::from_url(&self.url("mysql")).unwrap()).is_err() {
            let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
            assert!(started.elapsed() < Duration::from_secs(60), "mariadbd did not start: {log}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server dies at once (`kill -9`), as in a crash.
    fn crash(&mut self) {
        if let Some(mut child) = self.server.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    fn query(&self, sql: &str) -> Vec<(i64, String)> {
        use mysql::prelude::Queryable;
        let mut conn = mysql::Conn::new(mysql::Opts::from_url(&self.url("test")).unwrap()).unwrap();
        conn.query(sql).unwrap()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The server crashes while the load waits inside its merge: the load fails saying the
/// connection was lost (naming the server, never a password), the restarted server has
/// the table as it was, and the same load run again succeeds.
#[test]
fn mariadb_server_crash_during_the_merge() {
    use mysql::prelude::Queryable;
    let mut server = OwnServer::new();
    let mut admin = mysql::Conn::new(mysql::Opts::from_url(&server.url("mysql")).unwrap()).unwrap();
    admin
        .query_drop(
            "CREATE DATABASE test; CREATE TABLE test.f (id INTEGER PRIMARY KEY, v VARCHAR(20));
             INSERT INTO test.f VALUES (1, 'old'), (2, 'old'), (3, 'keep')",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,v\n");
    for i in 1..=ROWS {
        csv.push_str(&format!("{i},new{}\n", i % 7));
    }
    std::fs::write(dir.path().join("big.csv"), csv).unwrap();
    let run = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_upsertx"))
            .args(["big.csv", "--table", "f", "--json", "--db", url])
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let before = server.query("SELECT id, v FROM f ORDER BY id");
    admin.query_drop("START TRANSACTION").unwrap();
    admin.query_drop("SELECT v FROM test.f WHERE id = 3 FOR UPDATE").unwrap();
    let load = run(&server.url("test"));
    let started = Instant::now();
    loop {
        let waiting: Option<i64> = admin
            .query_first("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'")
            .unwrap();
        if waiting == Some(1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the load never waited for the held row");
        std::thread::sleep(Duration::from_millis(250));
    }
    server.crash();
    let out = load.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("the connection to the server at 127.0.0.1:{} was lost", server.port)),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("CodecError"), "{stderr}");
    server.start();
    assert_eq!(server.query("SELECT id, v FROM f ORDER BY id"), before);
    let again = run(&server.url("test")).wait_with_output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(server.query("SELECT COUNT(*), '' FROM f"), vec![(ROWS, String::new())]);
}
