//! Test harness: a real database per test, the real `upsertx` binary, and helpers to
//! read back what it wrote. Scenarios are written once against [`TestDb`] and run for
//! every dialect that implements it.

#![allow(dead_code)]

/// One `#[test]` per scenario in a module per database: `scenarios!(sqlite:
/// crate::common::Sqlite::new => a, b)`.
#[allow(unused_macros)]
macro_rules! scenarios {
    ($module:ident: $db:path => $($name:ident),* $(,)?) => {
        mod $module {
            $(#[test] fn $name() { super::$name(&$db()); })*
        }
    };
}

/// The scenarios every database runs (MariaDB twice: staging by `LOAD DATA LOCAL
/// INFILE` and by INSERTs).
#[allow(unused_macros)]
///
/// The Citus suite (feature `citus-tests`, scripts/test-citus.sh) runs them on distributed
/// and on reference tables too, but for those listed after `; not on citus:` (neither),
/// `; not on reference tables:` or `; not on distributed tables:`, each list with its
/// reason beside it.
macro_rules! every_dialect {
    (
        $($name:ident),* $(,)?
        $(; not on citus: $($other:ident),* $(,)?)?
        $(; not on reference tables: $($distributed:ident),* $(,)?)?
        $(; not on distributed tables: $($reference:ident),* $(,)?)?
    ) => {
        scenarios!(sqlite: crate::common::Sqlite::new
            => $($name,)* $($($other,)*)? $($($distributed,)*)? $($($reference),*)?);
        scenarios!(postgres: crate::common::Postgres::new
            => $($name,)* $($($other,)*)? $($($distributed,)*)? $($($reference),*)?);
        scenarios!(mariadb: crate::common::Mariadb::new
            => $($name,)* $($($other,)*)? $($($distributed,)*)? $($($reference),*)?);
        // The same server, staging by INSERTs instead of LOAD DATA LOCAL INFILE.
        scenarios!(mariadb_inserts: crate::common::Mariadb::without_local_infile
            => $($name,)* $($($other,)*)? $($($distributed,)*)? $($($reference),*)?);
        #[cfg(feature = "citus-tests")]
        scenarios!(citus: crate::common::Citus::distributed => $($name,)* $($($distributed),*)?);
        #[cfg(feature = "citus-tests")]
        scenarios!(citus_reference: crate::common::Citus::reference => $($name,)* $($($reference),*)?);
    };
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A database the scenarios can load into and read back from.
pub trait TestDb {
    /// The URL passed to `--db`.
    fn url(&self) -> String;
    /// A directory for input files (the binary runs there).
    fn dir(&self) -> &Path;
    /// Runs statements.
    fn exec(&self, sql: &str);
    /// Every row of a query, values rendered as text (NULL as `NULL`).
    fn rows(&self, sql: &str) -> Vec<Vec<String>>;
    /// Quotes an identifier.
    fn q(&self, ident: &str) -> String;
    /// Column definition of an auto-generated integer primary key named `name`.
    fn auto_id(&self, name: &str) -> String;
    /// A connection of its own to the test's database, for holding locks while a load runs.
    fn session(&self) -> Box<dyn Session>;
    /// How many sessions on this test's database wait for a lock (a row lock, or a named
    /// lock on MySQL): lets a test force an interleaving instead of hoping for it.
    fn lock_waiters(&self) -> u64;
    /// `BEGIN` in this database's spelling.
    fn begin(&self) -> &'static str {
        "BEGIN"
    }
}

/// A second connection, for statements between the steps of a concurrent scenario.
pub trait Session: Send {
    fn try_exec(&mut self, sql: &str) -> Result<(), String>;
    fn exec(&mut self, sql: &str) {
        self.try_exec(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Session for rusqlite::Connection {
    fn try_exec(&mut self, sql: &str) -> Result<(), String> {
        self.execute_batch(sql).map_err(|e| e.to_string())
    }
}

impl Session for postgres::Client {
    fn try_exec(&mut self, sql: &str) -> Result<(), String> {
        self.batch_execute(sql).map_err(|e| e.to_string())
    }
}

impl Session for mysql::Conn {
    fn try_exec(&mut self, sql: &str) -> Result<(), String> {
        use mysql::prelude::Queryable;
        self.query_drop(sql).map_err(|e| e.to_string())
    }
}

pub struct Sqlite {
    dir: tempfile::TempDir,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        Sqlite { dir: tempfile::tempdir().expect("temp dir") }
    }

    fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("test.db")).expect("open test db")
    }
}

impl TestDb for Sqlite {
    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("test.db").display())
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn exec(&self, sql: &str) {
        self.conn().execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        use rusqlite::types::ValueRef as V;
                        Ok(match r.get_ref(i)? {
                            V::Null => "NULL".to_string(),
                            V::Integer(v) => v.to_string(),
                            V::Real(v) => v.to_string(),
                            V::Text(t) => String::from_utf8_lossy(t).into_owned(),
                            V::Blob(b) => format!("\\x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .expect("query");
        rows.collect::<rusqlite::Result<_>>().expect("rows")
    }
    fn q(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn auto_id(&self, name: &str) -> String {
        format!("{} INTEGER PRIMARY KEY AUTOINCREMENT", self.q(name))
    }
    fn session(&self) -> Box<dyn Session> {
        Box::new(self.conn())
    }
    fn lock_waiters(&self) -> u64 {
        0
    }
}

/// PostgreSQL: each test in a schema of its own in database `test` (see
/// `UPSERTX_TEST_PG`), found through the connection's `search_path`.
pub struct Postgres {
    dir: tempfile::TempDir,
    base: String,
    schema: String,
    client: std::cell::RefCell<postgres::Client>,
}

/// The server the PostgreSQL tests use: `UPSERTX_TEST_PG`, by default the local test
/// server that scripts/test.sh makes ready.
pub fn pg_base_url() -> String {
    std::env::var("UPSERTX_TEST_PG").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

impl Postgres {
    pub fn new() -> Postgres {
        Postgres::at(pg_base_url())
    }

    /// A schema of its own on another server.
    pub fn at(base: String) -> Postgres {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let schema = format!("t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut client = postgres::Client::connect(&base, postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL test server at {base}: {e} (scripts/test.sh starts it)"));
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; SET search_path TO {schema}"
            ))
            .unwrap();
        Postgres { dir: tempfile::tempdir().unwrap(), base, schema, client: std::cell::RefCell::new(client) }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.client.borrow_mut().batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

impl TestDb for Postgres {
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.schema)
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn exec(&self, sql: &str) {
        self.client.borrow_mut().batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let messages = self.client.borrow_mut().simple_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect())
                }
                _ => None,
            })
            .collect()
    }
    fn q(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn auto_id(&self, name: &str) -> String {
        format!("{} integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", self.q(name))
    }
    fn session(&self) -> Box<dyn Session> {
        let mut client = postgres::Client::connect(&self.base, postgres::NoTls).expect("a second session");
        client.exec(&format!("SET search_path TO {}", self.schema));
        Box::new(client)
    }
    fn lock_waiters(&self) -> u64 {
        // upsertx names its tables schema-qualified: its statements mention the schema.
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%{}%'",
            self.schema
        );
        self.rows(&sql)[0][0].parse().unwrap()
    }
}

/// A Citus coordinator (`UPSERTX_TEST_CITUS`, see scripts/test-citus.sh): a schema of
/// its own as for [`Postgres`], and every table a scenario creates is distributed as its
/// statement ends: by the first column of its primary key (the first column without
/// one), or made a reference table. The scenarios run unchanged on distributed tables.
pub struct Citus {
    pg: Postgres,
    reference: bool,
}

impl Citus {
    pub fn distributed() -> Citus {
        Citus::new(false)
    }

    pub fn reference() -> Citus {
        Citus::new(true)
    }

    fn new(reference: bool) -> Citus {
        let base = std::env::var("UPSERTX_TEST_CITUS")
            .expect("UPSERTX_TEST_CITUS: a Citus coordinator's URL (scripts/test-citus.sh sets it)");
        Citus { pg: Postgres::at(base), reference }
    }

    /// Distributes the tables of the test's schema that Citus does not manage yet.
    fn distribute_new(&self) {
        let found = self.pg.rows(&format!(
            "SELECT c.oid::regclass::text,
                    coalesce((SELECT a.attname::text FROM pg_index i JOIN pg_attribute a
                              ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                              WHERE i.indrelid = c.oid AND i.indisprimary),
                             (SELECT a.attname::text FROM pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attnum = 1))
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = '{}' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)",
            self.pg.schema
        ));
        for t in found {
            let (table, column) = (t[0].replace('\'', "''"), t[1].replace('\'', "''"));
            let sql = match self.reference {
                true => format!("SELECT create_reference_table('{table}')"),
                false => format!("SELECT create_distributed_table('{table}', '{column}')"),
            };
            self.pg.exec(&sql);
        }
    }
}

impl TestDb for Citus {
    fn url(&self) -> String {
        self.pg.url()
    }
    fn dir(&self) -> &Path {
        self.pg.dir()
    }
    fn exec(&self, sql: &str) {
        self.pg.exec(sql);
        self.distribute_new();
    }
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.pg.rows(sql)
    }
    fn q(&self, ident: &str) -> String {
        self.pg.q(ident)
    }
    fn auto_id(&self, name: &str) -> String {
        self.pg.auto_id(name)
    }
    fn session(&self) -> Box<dyn Session> {
        self.pg.session()
    }
    fn lock_waiters(&self) -> u64 {
        self.pg.lock_waiters()
    }
}

/// MariaDB (or MySQL): each test in a database of its own (see `UPSERTX_TEST_MYSQL`).
pub struct Mariadb {
    dir: tempfile::TempDir,
    base: String,
    database: String,
    /// Appended to the URL the binary gets (`?local-infile=0` for the INSERT transport).
    query: &'static str,
    conn: std::cell::RefCell<mysql::Conn>,
}

/// The server the MariaDB tests use: `UPSERTX_TEST_MYSQL`, by default the local test
/// server that scripts/test.sh makes ready.
pub fn mysql_base_url() -> String {
    std::env::var("UPSERTX_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

impl Mariadb {
    pub fn new() -> Mariadb {
        Mariadb::with_query("")
    }

    /// upsertx staging by multi-row INSERTs, as when the server refuses `LOAD DATA LOCAL`.
    pub fn without_local_infile() -> Mariadb {
        Mariadb::with_query("?local-infile=0")
    }

    /// A database of its own on another server (`mysql://user@host:port/db`).
    pub fn on(base: &str) -> Mariadb {
        Mariadb::at(base.to_string(), "")
    }

    fn with_query(query: &'static str) -> Mariadb {
        Mariadb::at(mysql_base_url(), query)
    }

    fn at(base: String, query: &'static str) -> Mariadb {
        use mysql::prelude::Queryable;
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let database = format!("t_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let opts = mysql::Opts::from_url(&base).expect("UPSERTX_TEST_MYSQL");
        let mut conn = mysql::Conn::new(opts)
            .unwrap_or_else(|e| panic!("MariaDB test server at {base}: {e} (scripts/test.sh starts it)"));
        conn.query_drop(format!(
            "DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database} CHARACTER SET utf8mb4; USE {database}"
        ))
        .unwrap();
        Mariadb { dir: tempfile::tempdir().unwrap(), base, database, query, conn: std::cell::RefCell::new(conn) }
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        use mysql::prelude::Queryable;
        let _ = self.conn.borrow_mut().query_drop(format!("DROP DATABASE IF EXISTS {}", self.database));
    }
}

impl TestDb for Mariadb {
    fn url(&self) -> String {
        let server = self.base.rsplit_once('/').map_or(self.base.as_str(), |(s, _)| s);
        format!("{server}/{}{}", self.database, self.query)
    }
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn exec(&self, sql: &str) {
        use mysql::prelude::Queryable;
        self.conn.borrow_mut().query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        use mysql::prelude::Queryable;
        let rows: Vec<mysql::Row> = self.conn.borrow_mut().query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql::Value::NULL => "NULL".to_string(),
                        mysql::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                        other => other.as_sql(true),
                    })
                    .collect()
            })
            .collect()
    }
    fn q(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }
    fn auto_id(&self, name: &str) -> String {
        format!("{} INT AUTO_INCREMENT PRIMARY KEY", self.q(name))
    }
    fn session(&self) -> Box<dyn Session> {
        let opts = mysql::Opts::from_url(&self.url().replace(self.query, "")).expect("URL");
        Box::new(mysql::Conn::new(opts).expect("a second session"))
    }
    fn lock_waiters(&self) -> u64 {
        // Row locks (InnoDB) and named locks (GET_LOCK) of sessions using this database.
        let sql = format!(
            "SELECT (SELECT COUNT(*) FROM information_schema.innodb_trx AS t JOIN information_schema.processlist AS p
                       ON p.id = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.db = '{0}')
                  + (SELECT COUNT(*) FROM information_schema.processlist WHERE db = '{0}' AND state LIKE '%lock%')",
            self.database
        );
        self.rows(&sql)[0][0].parse().unwrap()
    }
    fn begin(&self) -> &'static str {
        "START TRANSACTION"
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The `--json` report on the last line of stdout, after checking the run succeeded
    /// and that its counts add up.
    pub fn report(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "upsertx failed: {}", self.stderr);
        let line = self.stdout.lines().last().expect("a report line");
        let r: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("report lacks {k}: {r}"));
        assert_eq!(
            n("rows_read"),
            n("inserted") + n("updated") + n("unchanged") + n("ignored") + n("duplicates") + n("stale"),
            "counts do not add up: {r}"
        );
        r
    }

    /// (inserted, updated, unchanged, ignored, duplicates) of the report.
    pub fn counts(&self) -> (u64, u64, u64, u64, u64) {
        let r = self.report();
        let n = |k: &str| r[k].as_u64().unwrap();
        (n("inserted"), n("updated"), n("unchanged"), n("ignored"), n("duplicates"))
    }

    /// Checks the run failed with `code` and that stderr mentions every `needle`.
    pub fn fails(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, code, "expected exit {code}; stdout: {}; stderr: {}", self.stdout, self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}: {}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
    }
}

/// `id,who` rows for keys `ids`, every one by `who`, shuffled a little (every other key
/// first): the inputs of two concurrent loads on overlapping keys.
pub fn ids_by(who: &str, ids: std::ops::RangeInclusive<i64>) -> String {
    let mut s = String::from("id,who\n");
    for id in ids.clone().filter(|i| i % 2 == 0).chain(ids.filter(|i| i % 2 == 1)) {
        s.push_str(&format!("{id},{who}\n"));
    }
    s
}

/// Writes an input file into the database's directory.
pub fn write(db: &dyn TestDb, name: &str, content: &str) -> PathBuf {
    let path = db.dir().join(name);
    std::fs::write(&path, content).expect("write input");
    path
}

/// Runs `upsertx ARGS --db URL` in the database's directory, feeding `stdin` if given.
pub fn upsertx(db: &dyn TestDb, args: &[&str], stdin: Option<&str>) -> Run {
    upsertx_bytes(db, args, stdin.map(str::as_bytes))
}

/// `upsertx ARGS --db URL` in the database's directory, its output captured.
fn command(db: &dyn TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upsertx"));
    cmd.args(args).arg("--db").arg(db.url()).current_dir(db.dir()).env_remove("DATABASE_URL");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// [`upsertx`] with its phases traced (`UPSERTX_TRACE=1`, on stderr): for tests of which
/// way a load went.
pub fn upsertx_traced(db: &dyn TestDb, args: &[&str]) -> Run {
    command(db, args).env("UPSERTX_TRACE", "1").output().expect("run upsertx").into()
}

/// Starts `upsertx ARGS --db URL` without waiting: for loads that run at the same time
/// (`Run::from(child.wait_with_output()?)` when done).
pub fn spawn_upsertx(db: &dyn TestDb, args: &[&str]) -> std::process::Child {
    command(db, args).spawn().expect("spawn upsertx")
}

/// [`spawn_upsertx`] with its phases traced on its piped stderr: for tests that act at a
/// phase of a running load.
pub fn spawn_upsertx_traced(db: &dyn TestDb, args: &[&str]) -> std::process::Child {
    command(db, args).env("UPSERTX_TRACE", "1").spawn().expect("spawn upsertx")
}

/// [`upsertx`] with binary standard input.
pub fn upsertx_bytes(db: &dyn TestDb, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = command(db, args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn upsertx");
    if let Some(input) = stdin {
        // upsertx may exit before reading stdin (a usage error): a broken pipe is fine,
        // the exit status and stderr tell what happened.
        if let Err(e) = child.stdin.take().unwrap().write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    child.wait_with_output().expect("wait for upsertx").into()
}

/// Which database a test runs on: `sqlite`, `postgres` or `mysql`, from its URL.
pub fn dialect(db: &dyn TestDb) -> &'static str {
    let url = db.url();
    ["sqlite", "postgres", "mysql"].into_iter().find(|d| url.starts_with(d)).expect("a known URL scheme")
}

/// Shorthand for a table's rows ordered by its first column.
pub fn table(db: &dyn TestDb, name: &str, cols: &str) -> Vec<Vec<String>> {
    db.rows(&format!("SELECT {cols} FROM {} ORDER BY 1", db.q(name)))
}

/// Rows from string slices, for comparisons.
pub fn rows(data: &[&[&str]]) -> Vec<Vec<String>> {
    data.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
}

/// Runs `upsertx ARGS --db URL` with a URL other than the database's own.
pub fn upsertx_with_url(db: &dyn TestDb, args: &[&str], url: &str) -> Run {
    Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .args(args)
        .arg("--db")
        .arg(url)
        .current_dir(db.dir())
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run upsertx")
        .into()
}

/// Polls `cond` until it holds or `limit` passes (then says what it gave up on).
pub fn wait_until(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        // Not faster: MariaDB refreshes information_schema.innodb_trx only when it was
        // not read in the last 0.1 s.
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    eprintln!("gave up waiting: {what}");
    false
}
