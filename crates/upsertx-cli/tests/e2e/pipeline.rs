//! End-to-end tests of `upsertx sync PIPELINE.toml`: many tables of one database into
//! another, with PostgreSQL, MariaDB and SQLite each a source and each a target.

use crate::common::{dialect, rows, wait_until, Mariadb, Postgres, Run, Sqlite, TestDb};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `upsertx sync pipeline.toml ARGS` in `dst`'s directory, the file written from `text`.
fn sync(dst: &dyn TestDb, text: &str, args: &[&str]) -> Run {
    sync_with(dst, text, args, &[])
}

/// [`sync`] with variables `env` set.
fn sync_with(dst: &dyn TestDb, text: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    Run::from(sync_command(dst, text, args, env).output().expect("run upsertx sync"))
}

/// `upsertx sync pipeline.toml ARGS` in `dst`'s directory (the file written from
/// `text`), its output captured: [`sync_with`] runs it, the concurrent tests spawn it.
fn sync_command(dst: &dyn TestDb, text: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let file = dst.dir().join("pipeline.toml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_upsertx"));
    cmd.arg("sync").arg(&file).args(args).current_dir(dst.dir()).envs(env.iter().copied());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// The `--json` lines of a run: (stream, its object), then the summary.
fn streams(run: &Run) -> Vec<(String, serde_json::Value)> {
    let lines: Vec<serde_json::Value> =
        run.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
    let (summary, each) = lines.split_last().expect("a summary line");
    assert_eq!(summary["streams"].as_u64(), Some(each.len() as u64), "{summary}");
    each.iter().map(|s| (s["stream"].as_str().unwrap().to_string(), s.clone())).collect()
}

/// (rows read, inserted, updated, unchanged) of each stream, by name, after checking the
/// run succeeded.
fn counts(run: &Run) -> Vec<(String, [u64; 4])> {
    assert_eq!(run.code, 0, "sync failed: {}{}", run.stdout, run.stderr);
    streams(run)
        .into_iter()
        .map(|(name, s)| {
            assert_eq!(s["status"], "ok", "{s}");
            let n = |k: &str| s[k].as_u64().unwrap();
            (name, [n("rows_read"), n("inserted"), n("updated"), n("unchanged")])
        })
        .collect()
}

fn head(src: &dyn TestDb, dst: &dyn TestDb) -> String {
    format!("source = \"{}\"\ntarget = \"{}\"\njobs = 2\n[defaults]\ncreate = true\n", src.url(), dst.url())
}

/// A timestamp column with microseconds, in `db`'s spelling.
fn micros(db: &dyn TestDb) -> &'static str {
    match dialect(db) {
        "mysql" => "DATETIME(6)",
        "postgres" => "TIMESTAMP(6)",
        _ => "TEXT",
    }
}

/// The source: `orders` (cursor `updated_at`, one NULL), and two tables of composite
/// keys that the pattern `app_*` takes; `skipped` it does not.
fn source(src: &dyn TestDb) {
    src.exec(&format!("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER, updated_at {} NULL)", micros(src)));
    src.exec(
        "INSERT INTO orders VALUES (1, 10, '2026-12-01 10:00:00.000000'), (2, 20, '2026-12-02 11:00:00.000005'), \
         (3, 30, NULL)",
    );
    src.exec("CREATE TABLE app_lines (order_id INTEGER, line INTEGER, qty INTEGER, PRIMARY KEY (order_id, line))");
    src.exec("INSERT INTO app_lines VALUES (1, 1, 2), (1, 2, 3), (2, 1, 1)");
    src.exec("CREATE TABLE app_tags (tag VARCHAR(20), order_id INTEGER, PRIMARY KEY (tag, order_id))");
    src.exec("INSERT INTO app_tags VALUES ('gift', 1), ('gift', 2), ('rush', 2)");
    src.exec("CREATE TABLE skipped (id INTEGER PRIMARY KEY)");
}

fn pipeline(src: &dyn TestDb, dst: &dyn TestDb) -> String {
    format!(
        "{}\n[[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\n\n[[streams]]\ntable = \"app_*\"\n",
        head(src, dst)
    )
}

/// The qualified name a source gives a table: `schema.name`, or `name` on SQLite.
fn stream_name(src: &dyn TestDb, table: &str) -> String {
    match dialect(src) {
        "sqlite" => table.to_string(),
        _ => {
            let schema = src.rows(match dialect(src) {
                "postgres" => "SELECT current_schema()",
                _ => "SELECT DATABASE()",
            });
            format!("{}.{table}", schema[0][0])
        }
    }
}

/// The tables of the test's database, by name.
fn tables(db: &dyn TestDb) -> Vec<String> {
    let sql = match dialect(db) {
        "sqlite" => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1",
        "postgres" => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        }
        _ => "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
    };
    db.rows(sql).into_iter().map(|mut r| r.remove(0)).collect()
}

fn orders(db: &dyn TestDb) -> Vec<Vec<String>> {
    db.rows("SELECT id, amount FROM orders ORDER BY id")
}

/// The pattern's tables created and loaded, a rerun all unchanged; then the rows changed
/// at the mark exactly, one microsecond past it, later, and with a NULL cursor are read,
/// a row written before the mark is not (until --full-refresh), and the target equals
/// the source.
fn tables_then_increments(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let text = pipeline(src, dst);
    let (o, l, t) = (stream_name(src, "orders"), stream_name(src, "app_lines"), stream_name(src, "app_tags"));
    let first = counts(&sync(dst, &text, &["--json"]));
    assert_eq!(
        first,
        [(o.clone(), [3, 3, 0, 0]), (l.clone(), [3, 3, 0, 0]), (t.clone(), [3, 3, 0, 0])],
        "every stream created and loaded"
    );
    assert_eq!(tables(dst), ["app_lines", "app_tags", "orders", "upsertx_sync_marks"], "the pattern took app_*");
    // A rerun: the rows at the mark (2) and the NULL cursor (3) read again, unchanged.
    let again = counts(&sync(dst, &text, &["--json"]));
    assert_eq!(again, [(o.clone(), [2, 0, 0, 2]), (l.clone(), [3, 0, 0, 3]), (t.clone(), [3, 0, 0, 3])]);
    src.exec("UPDATE orders SET amount = 21 WHERE id = 2"); // at the mark exactly
    src.exec("INSERT INTO orders VALUES (4, 40, '2026-12-02 11:00:00.000006')"); // 1 µs past it
    src.exec("UPDATE orders SET amount = 11, updated_at = '2026-12-03 09:00:00.000000' WHERE id = 1"); // later
    src.exec("UPDATE orders SET amount = 31 WHERE id = 3"); // NULL cursor
    src.exec("INSERT INTO orders VALUES (5, 50, NULL)"); // NULL cursor, new
    src.exec("INSERT INTO orders VALUES (6, 60, '2026-11-01 00:00:00.000000')"); // before the mark
    let run = sync(dst, &text, &["--json", "--only", &o]);
    let json = streams(&run);
    assert_eq!(json.len(), 1, "--only runs one stream");
    assert_eq!(
        json[0].1["watermark"],
        "2026-12-03 09:00:00.000000".replace(".000000", if dialect(src) == "postgres" { "" } else { ".000000" })
    );
    // Read: 1 (later), 2 (at the mark), 3 and 5 (NULL), 4 (past it); 6 is before it.
    assert_eq!(counts(&run), [(o.clone(), [5, 2, 3, 0])]);
    let want = |with_six: bool| {
        let mut r = vec![vec!["1", "11"], vec!["2", "21"], vec!["3", "31"], vec!["4", "40"], vec!["5", "50"]];
        if with_six {
            r.push(vec!["6", "60"]);
        }
        rows(&r.iter().map(|r| &r[..]).collect::<Vec<_>>())
    };
    assert_eq!(orders(dst), want(false));
    let run = sync(dst, &text, &["--json", "--full-refresh", &o]);
    assert_eq!(counts(&run)[0], (o.clone(), [6, 1, 0, 5]), "a full refresh reads the stream whole");
    assert_eq!(orders(dst), want(true));
    assert_eq!(orders(dst), orders(src));
}

/// A stream whose rows the target refuses fails alone (rolled back, its mark too); the
/// others commit; exit 1 names it; once the source is fixed, a rerun loads it.
fn a_failing_stream_leaves_the_others(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    src.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, n VARCHAR(10), at_ts INTEGER)");
    src.exec("INSERT INTO notes VALUES (1, '1', 1), (2, 'two', 2)");
    dst.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, n INTEGER, at_ts INTEGER)");
    let text = format!(
        "{}\n[[streams]]\ntable = \"notes\"\nincremental = \"at_ts\"\n\n[[streams]]\ntable = \"app_lines\"\n",
        head(src, dst)
    );
    let run = sync(dst, &text, &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let json = streams(&run);
    assert_eq!(json[0].1["status"], "failed");
    assert!(json[0].1["error"].as_str().unwrap().contains("\"two\""), "{}", json[0].1);
    assert_eq!(json[1].1["status"], "ok");
    assert!(run.stderr.contains(&format!("stream {}", stream_name(src, "notes"))), "{}", run.stderr);
    assert!(dst.rows("SELECT id FROM notes").is_empty(), "the failed stream wrote nothing");
    assert_eq!(dst.rows("SELECT count(*) FROM app_lines"), rows(&[&["3"]]));
    src.exec("UPDATE notes SET n = '2' WHERE id = 2");
    let again = counts(&sync(dst, &text, &["--json"]));
    assert_eq!(again[0].1, [2, 2, 0, 0], "no mark was kept: the stream is read whole");
    assert_eq!(again[1].1, [3, 0, 0, 3]);
}

/// `--dry-run`: exact counts, no table created, no mark saved; a later real run agrees.
fn dry_run_writes_nothing(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let text = pipeline(src, dst);
    let run = sync(dst, &text, &["--json", "--dry-run"]);
    let dry = counts(&run);
    assert!(streams(&run).iter().all(|(_, s)| s["dry_run"] == true));
    assert!(tables(dst).is_empty(), "a dry run leaves no table: {:?}", tables(dst));
    assert_eq!(counts(&sync(dst, &text, &["--json"])), dry);
}

/// Every mistake in the file is refused before anything is written, naming the line
/// and the key.
fn mistakes_are_refused_before_anything_is_written(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    src.exec("CREATE TABLE no_key (n INTEGER)");
    let h = head(src, dst); // 5 lines: a stream's [[streams]] is line 6, its first key 7
    let refused = |body: &str, needles: &[&str]| {
        let run = sync(dst, &format!("{h}{body}"), &[]);
        let mut all = vec!["pipeline.toml:"];
        all.extend_from_slice(needles);
        run.fails(2, &all);
    };
    refused(
        "[[streams]]\ntable = \"orders\"\ndelet_missing = true\n",
        &[":8: delet_missing: unknown key (did you mean \"delete_missing\"?)"],
    );
    refused("[[streams]]\ntable = \"nothing_*\"\n", &[":7: table: \"nothing_*\" matches no table of the source"]);
    refused("[[streams]]\ntable = \"no_key\"\n", &[":7: key: ", "no_key has no primary key"]);
    refused(
        "[[streams]]\ntable = \"orders\"\nincremental = \"changed_at\"\n",
        &[":8: incremental: \"changed_at\" is not a column of"],
    );
    refused("[[streams]]\ntable = \"orders\"\nkey = \"nope\"\n", &[":8: key: \"nope\" is not a column of"]);
    refused("[[streams]]\nquery = \"SELECT 1 AS id\"\n", &[":7: query: a query needs a name"]);
    refused(
        "[[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\ndelete_missing = true\nscope = \"amount\"\n",
        &[":8: incremental: scope with delete_missing on an incremental stream is not built yet"],
    );
    refused(
        "[[streams]]\ntable = \"orders\"\n[[streams]]\ntable = \"app_lines\"\ninto = \"orders\"\n",
        &[":9: into: ", "(line 7) both load table \"orders\""],
    );
    let run = sync(dst, &format!("{h}[[streams]]\ntable = \"orders\"\n"), &["--only", "nope"]);
    run.fails(2, &["no stream named \"nope\""]);
    assert!(tables(dst).is_empty(), "nothing written: {:?}", tables(dst));
}

/// `kill -9` while streams load, then a rerun: the target equals the source, no key twice.
fn killed_then_rerun(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let values: Vec<String> =
        (100..20_100).map(|i| format!("({i}, {i}, '2026-12-04 00:00:00.{:06}')", i % 1_000_000)).collect();
    for chunk in values.chunks(2_000) {
        src.exec(&format!("INSERT INTO orders VALUES {}", chunk.join(", ")));
    }
    let text = pipeline(src, dst);
    let file = dst.dir().join("pipeline.toml");
    std::fs::write(&file, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .arg("sync")
        .arg(&file)
        .arg("-q")
        .current_dir(dst.dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let _ = child.kill();
    let _ = child.wait();
    counts(&sync(dst, &text, &["--json"]));
    assert_eq!(orders(dst), orders(src));
    let twice = dst.rows("SELECT id FROM orders GROUP BY id HAVING count(*) > 1");
    assert!(twice.is_empty(), "{twice:?}");
    assert_eq!(dst.rows("SELECT count(*) FROM app_tags"), rows(&[&["3"]]));
}

#[test]
fn postgres_to_sqlite() {
    tables_then_increments(&Postgres::new(), &Sqlite::new());
}

#[test]
fn mariadb_to_postgres() {
    tables_then_increments(&Mariadb::new(), &Postgres::new());
}

#[test]
fn sqlite_to_mariadb() {
    tables_then_increments(&Sqlite::new(), &Mariadb::new());
}

#[test]
fn failing_stream_postgres_to_mariadb() {
    a_failing_stream_leaves_the_others(&Postgres::new(), &Mariadb::new());
}

#[test]
fn failing_stream_sqlite_to_postgres() {
    a_failing_stream_leaves_the_others(&Sqlite::new(), &Postgres::new());
}

#[test]
fn dry_run_mariadb_to_sqlite() {
    dry_run_writes_nothing(&Mariadb::new(), &Sqlite::new());
}

#[test]
fn dry_run_postgres_to_postgres() {
    dry_run_writes_nothing(&Postgres::new(), &Postgres::new());
}

#[test]
fn mistakes_sqlite_to_postgres() {
    mistakes_are_refused_before_anything_is_written(&Sqlite::new(), &Postgres::new());
}

#[test]
fn mistakes_postgres_to_mariadb() {
    mistakes_are_refused_before_anything_is_written(&Postgres::new(), &Mariadb::new());
}

#[test]
fn killed_postgres_to_postgres() {
    killed_then_rerun(&Postgres::new(), &Postgres::new());
}

#[test]
fn killed_mariadb_to_sqlite() {
    killed_then_rerun(&Mariadb::new(), &Sqlite::new());
}

/// A folder as the source: a `files` stream loads the files not loaded before, one
/// transaction each with its mark; a new file alone, a changed file again, all of them
/// with `--full-refresh`.
fn files_stream(dst: &dyn TestDb) {
    let folder = dst.dir().join("landing");
    std::fs::create_dir_all(folder.join("drops")).unwrap();
    std::fs::write(folder.join("drops/a.csv"), "id,n\n1,10\n2,20\n").unwrap();
    std::fs::write(folder.join("drops/b.csv"), "id,n\n3,30\n").unwrap();
    std::fs::write(folder.join("notes.txt"), "not a drop").unwrap();
    let text = format!(
        "source = \"landing\"\ntarget = \"{}\"\n[defaults]\ncreate = true\n\n[[streams]]\nfiles = \"drops/*.csv\"\ninto = \"events\"\nkey = \"id\"\n",
        dst.url()
    );
    let stream = "drops/*.csv".to_string();
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(stream.clone(), [3, 3, 0, 0])]);
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(stream.clone(), [0, 0, 0, 0])], "nothing new");
    std::fs::write(folder.join("drops/c.csv"), "id,n\n4,40\n").unwrap();
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(stream.clone(), [1, 1, 0, 0])], "the new file alone");
    std::fs::write(folder.join("drops/a.csv"), "id,n\n1,11\n2,20\n5,50\n").unwrap();
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(stream.clone(), [3, 1, 1, 1])], "the changed file again");
    assert_eq!(counts(&sync(dst, &text, &["--json", "--full-refresh", &stream])), [(stream.clone(), [5, 0, 0, 5])]);
    assert_eq!(
        dst.rows("SELECT id, n FROM events ORDER BY id"),
        rows(&[&["1", "11"], &["2", "20"], &["3", "30"], &["4", "40"], &["5", "50"]])
    );
    // A bad file fails the stream: the files before it stay loaded, it is read again next time.
    std::fs::write(folder.join("drops/d.csv"), "id,n\n6,sixty\n").unwrap();
    let run = sync(dst, &text, &["--json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("d.csv") && run.stderr.contains("\"sixty\""), "{}", run.stderr);
    std::fs::write(folder.join("drops/d.csv"), "id,n\n6,60\n").unwrap();
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(stream.clone(), [1, 1, 0, 0])]);
    // A table stream cannot read a folder; a files stream cannot read a database.
    let wrong = text.replace("files = \"drops/*.csv\"", "table = \"drops\"");
    sync(dst, &wrong, &[]).fails(2, &[":7: table: the source is a folder"]);
    let wrong = text.replace("source = \"landing\"", &format!("source = \"{}\"", dst.url()));
    sync(dst, &wrong, &[]).fails(2, &[":7: files: files streams read a folder"]);
}

#[test]
fn files_into_sqlite() {
    files_stream(&Sqlite::new());
}

#[test]
fn files_into_postgres() {
    files_stream(&Postgres::new());
}

#[test]
fn files_into_mariadb() {
    files_stream(&Mariadb::new());
}

/// `delete_missing` on an incremental stream: the changed rows upserted and the rows
/// whose key the source no longer has deleted (the source's keys read, all of them), in
/// one transaction, under `max_delete`; a refused delete writes nothing, moves no mark.
fn incremental_deletes(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let text = format!(
        "{}\n[[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\ndelete_missing = true\nmax_delete = 1\n",
        head(src, dst)
    );
    let o = stream_name(src, "orders");
    let first = sync(dst, &text, &["--json"]);
    assert_eq!(counts(&first), [(o.clone(), [3, 3, 0, 0])]);
    assert_eq!(streams(&first)[0].1["deleted"], 0);
    src.exec("DELETE FROM orders WHERE id = 3");
    src.exec("UPDATE orders SET amount = 12, updated_at = '2026-12-05 00:00:00.000000' WHERE id = 1");
    let second = sync(dst, &text, &["--json"]);
    // Read: 1 (later) and 2 (at the mark); 3 is gone from the source.
    assert_eq!(counts(&second), [(o.clone(), [2, 0, 1, 1])]);
    assert_eq!(streams(&second)[0].1["deleted"], 1);
    assert_eq!(orders(dst), orders(src));
    // Two vanish, one may: refused, nothing deleted, the mark where it was.
    src.exec("DELETE FROM orders WHERE id IN (1, 2)");
    src.exec("INSERT INTO orders VALUES (7, 70, '2026-12-06 00:00:00.000000')");
    let refused = sync(dst, &text, &["--json"]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("--max-delete"), "{}", refused.stderr);
    let mark = streams(&refused)[0].1["watermark"].as_str().unwrap().to_string();
    assert!(mark.starts_with("2026-12-05 00:00:00"), "{mark}");
    assert_eq!(orders(dst), rows(&[&["1", "12"], &["2", "20"]]), "nothing written");
    let allowed = text.replace("max_delete = 1", "max_delete = 2");
    let run = sync(dst, &allowed, &["--json"]);
    assert_eq!(counts(&run)[0].1[0], 1, "read again from the old mark: row 7");
    assert_eq!(streams(&run)[0].1["deleted"], 2);
    assert_eq!(orders(dst), orders(src));
}

#[test]
fn incremental_deletes_postgres_to_mariadb() {
    incremental_deletes(&Postgres::new(), &Mariadb::new());
}

#[test]
fn incremental_deletes_sqlite_to_postgres() {
    incremental_deletes(&Sqlite::new(), &Postgres::new());
}

#[test]
fn incremental_deletes_mariadb_to_sqlite() {
    incremental_deletes(&Mariadb::new(), &Sqlite::new());
}

/// `upsertx sync --json` with `UPSERTX_TRACE` set: its phases on stderr.
fn traced(dst: &dyn TestDb, text: &str) -> Run {
    sync_with(dst, text, &["--json"], &[("UPSERTX_TRACE", "1")])
}

/// An incremental stream's deletes compare the table's keys with the source's in memory
/// (the trace says `compared`), and stage the source's keys for the database to compare
/// (`the source's keys staged`) when a source key is not among the table's as read: a
/// row written before the mark (never read, as incremental reads go), or a key the
/// database may hold in another spelling. A key whose case changed in the source is the
/// same row to a case-insensitive MariaDB key, another row to the others.
fn incremental_deletes_compared_or_staged(src: &dyn TestDb, dst: &dyn TestDb) {
    src.exec(&format!("CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, n INTEGER, updated_at {})", micros(src)));
    src.exec(
        "INSERT INTO codes VALUES ('A', 1, '2026-12-01 00:00:00.000000'), ('b', 2, '2026-12-01 00:00:00.000000'), \
         ('c', 3, '2026-12-02 00:00:00.000000'), ('d', 4, '2026-12-02 00:00:00.000000')",
    );
    let text = format!(
        "{}\n[[streams]]\ntable = \"codes\"\nincremental = \"updated_at\"\ndelete_missing = true\n",
        head(src, dst)
    );
    let deleted = |run: &Run| {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        streams(run)[0].1["deleted"].as_u64().unwrap()
    };
    let codes = |db: &dyn TestDb| db.rows("SELECT code, n FROM codes ORDER BY n");
    if dialect(dst) == "mysql" {
        // Made by hand, case-insensitive as MariaDB's default collations are (a table
        // upsertx creates compares text byte for byte).
        dst.exec(
            "CREATE TABLE codes (code VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci PRIMARY KEY, \
             n INTEGER, updated_at DATETIME(6))",
        );
    }
    assert_eq!(counts(&sync(dst, &text, &["--json"]))[0].1, [4, 4, 0, 0]);
    src.exec("DELETE FROM codes WHERE code = 'd'");
    let run = traced(dst, &text);
    assert_eq!(deleted(&run), 1);
    assert!(run.stderr.contains("compared 3 source keys"), "{}", run.stderr);
    assert_eq!(codes(dst), codes(src));
    // 'A' becomes 'a', its cursor before the mark.
    src.exec("UPDATE codes SET code = 'a' WHERE code = 'A'");
    let run = traced(dst, &text);
    assert!(run.stderr.contains("the source's keys staged"), "{}", run.stderr);
    let (gone, left) = match dialect(dst) {
        "mysql" => (0, rows(&[&["A", "1"], &["b", "2"], &["c", "3"]])),
        _ => (1, rows(&[&["b", "2"], &["c", "3"]])),
    };
    assert_eq!(deleted(&run), gone);
    assert_eq!(codes(dst), left);
    // A row written before the mark: not read, yet its key keeps the others from going.
    src.exec("INSERT INTO codes VALUES ('e', 5, '2026-12-01 00:00:00.000000')");
    src.exec("DELETE FROM codes WHERE code = 'b'");
    let run = traced(dst, &text);
    assert!(run.stderr.contains("the source's keys staged"), "{}", run.stderr);
    assert_eq!(deleted(&run), 1);
    assert_eq!(codes(dst), left.into_iter().filter(|r| r[0] != "b").collect::<Vec<_>>());
}

#[test]
fn incremental_deletes_compared_or_staged_sqlite_to_mariadb() {
    incremental_deletes_compared_or_staged(&Sqlite::new(), &Mariadb::new());
}

#[test]
fn incremental_deletes_compared_or_staged_mariadb_to_postgres() {
    incremental_deletes_compared_or_staged(&Mariadb::new(), &Postgres::new());
}

#[test]
fn incremental_deletes_compared_or_staged_postgres_to_sqlite() {
    incremental_deletes_compared_or_staged(&Postgres::new(), &Sqlite::new());
}

/// An incremental stream's deletes under `soft_delete` (the row marked, its mark cleared
/// when it comes back), `history` (the current version closed, a new one when it comes
/// back) and `changes` (each row told), with the changed rows' upsert in one transaction.
fn incremental_deletes_soft_history_changes(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    dst.exec(&format!(
        "CREATE TABLE orders_soft (id INTEGER PRIMARY KEY, amount INTEGER, updated_at {} NULL, gone {} NULL)",
        micros(dst),
        if dialect(dst) == "sqlite" { "TIMESTAMP" } else { micros(dst) }
    ));
    let text = format!(
        "{}\n[[streams]]\nname = \"soft\"\ntable = \"orders\"\ninto = \"orders_soft\"\nincremental = \"updated_at\"\n\
         delete_missing = true\nsoft_delete = \"gone\"\nchanges = \"changes-{{stream}}.ndjson\"\n\n\
         [[streams]]\nname = \"hist\"\ntable = \"orders\"\ninto = \"orders_hist\"\nincremental = \"updated_at\"\n\
         delete_missing = true\nhistory = \"valid_from,valid_to\"\n",
        head(src, dst)
    );
    let deleted = |run: &Run| -> Vec<u64> {
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        streams(run).iter().map(|s| s.1["deleted"].as_u64().unwrap()).collect()
    };
    let soft = || {
        dst.rows("SELECT id, amount, CASE WHEN gone IS NULL THEN 'live' ELSE 'gone' END FROM orders_soft ORDER BY id")
    };
    let current = || dst.rows("SELECT id, amount FROM orders_hist WHERE valid_to IS NULL ORDER BY id");
    let versions = || dst.rows("SELECT count(*) FROM orders_hist")[0][0].clone();
    let ops = || {
        let text = std::fs::read_to_string(dst.dir().join("changes-soft.ndjson")).expect("the changes file");
        let mut ops: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|l| format!("{} {}", l["op"].as_str().unwrap(), l["key"]["id"]))
            .collect();
        ops.sort();
        ops
    };
    assert_eq!(deleted(&sync(dst, &text, &["--json"])), [0, 0]);
    src.exec("DELETE FROM orders WHERE id = 3");
    src.exec("UPDATE orders SET amount = 12, updated_at = '2026-12-05 00:00:00.000000' WHERE id = 1");
    assert_eq!(deleted(&sync(dst, &text, &["--json"])), [1, 1]);
    assert_eq!(soft(), rows(&[&["1", "12", "live"], &["2", "20", "live"], &["3", "30", "gone"]]));
    assert_eq!(ops(), ["delete 3", "update 1"]);
    assert_eq!(current(), rows(&[&["1", "12"], &["2", "20"]]));
    assert_eq!(versions(), "4", "1's old version and 3's, closed");
    // 3 comes back: its mark cleared; a new version of it.
    src.exec("INSERT INTO orders VALUES (3, 33, '2026-12-06 00:00:00.000000')");
    assert_eq!(deleted(&sync(dst, &text, &["--json"])), [0, 0]);
    assert_eq!(soft(), rows(&[&["1", "12", "live"], &["2", "20", "live"], &["3", "33", "live"]]));
    assert_eq!(current(), rows(&[&["1", "12"], &["2", "20"], &["3", "33"]]));
    assert_eq!(versions(), "5");
}

#[test]
fn incremental_deletes_soft_history_changes_postgres_to_mariadb() {
    incremental_deletes_soft_history_changes(&Postgres::new(), &Mariadb::new());
}

#[test]
fn incremental_deletes_soft_history_changes_mariadb_to_sqlite() {
    incremental_deletes_soft_history_changes(&Mariadb::new(), &Sqlite::new());
}

#[test]
fn incremental_deletes_soft_history_changes_sqlite_to_postgres() {
    incremental_deletes_soft_history_changes(&Sqlite::new(), &Postgres::new());
}

/// A view is read when a stream names it (with a `key`: it has no primary key), never
/// taken by a pattern; incremental and with deletes as a table.
fn views_are_named_not_matched(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    src.exec("CREATE VIEW big_orders AS SELECT id, amount, updated_at FROM orders WHERE amount > 15");
    let h = head(src, dst);
    sync(dst, &format!("{h}[[streams]]\ntable = \"big_*\"\n"), &[])
        .fails(2, &[":7: table: \"big_*\" matches no table of the source"]);
    sync(dst, &format!("{h}[[streams]]\ntable = \"big_orders\"\n"), &[])
        .fails(2, &[":7: key: ", "big_orders is a view: give key"]);
    let text = format!(
        "{h}[[streams]]\ntable = \"big_orders\"\nkey = \"id\"\nincremental = \"updated_at\"\ndelete_missing = true\n"
    );
    let v = stream_name(src, "big_orders");
    assert_eq!(counts(&sync(dst, &text, &["--json"])), [(v.clone(), [2, 2, 0, 0])]);
    let view = |db: &dyn TestDb| db.rows("SELECT id, amount FROM big_orders ORDER BY id");
    assert_eq!(view(dst), view(src));
    src.exec("UPDATE orders SET amount = 5 WHERE id = 2"); // out of the view: gone from it
    let run = sync(dst, &text, &["--json"]);
    assert_eq!(streams(&run)[0].1["deleted"], 1, "{}", run.stdout);
    assert_eq!(view(dst), view(src));
    let all = format!("{h}[[streams]]\ntable = \"*\"\n");
    let names: Vec<String> = counts(&sync(dst, &all, &["--json"])).into_iter().map(|(name, _)| name).collect();
    assert!(!names.contains(&v), "{names:?}");
}

#[test]
fn views_postgres_to_sqlite() {
    views_are_named_not_matched(&Postgres::new(), &Sqlite::new());
}

#[test]
fn views_mariadb_to_postgres() {
    views_are_named_not_matched(&Mariadb::new(), &Postgres::new());
}

#[test]
fn views_sqlite_to_mariadb() {
    views_are_named_not_matched(&Sqlite::new(), &Mariadb::new());
}

/// A reader of the output that goes away (`| head -1`) does not make a panic of a run
/// that succeeded.
#[test]
fn output_to_a_closed_pipe() {
    let (src, dst) = (Sqlite::new(), Sqlite::new());
    source(&src);
    let file = dst.dir().join("pipeline.toml");
    std::fs::write(&file, pipeline(&src, &dst)).unwrap();
    for args in [&["--json"][..], &[]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_upsertx"))
            .arg("sync")
            .arg(&file)
            .args(args)
            .current_dir(dst.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Into SQLite the streams run one at a time whatever `jobs` says (one writer): with a
/// lock timeout too short to wait for another stream, every stream still succeeds.
#[test]
fn streams_into_sqlite_take_turns() {
    let (src, dst) = (Postgres::new(), Sqlite::new());
    source(&src);
    let text = format!(
        "{}lock_timeout = 0.001\n{}",
        head(&src, &dst),
        pipeline(&src, &dst).split_once("create = true\n").unwrap().1
    );
    let run = sync(&dst, &text, &["--json", "--jobs", "4"]);
    assert_eq!(counts(&run).len(), 3, "{}", run.stderr);
}

/// Two runs of one incremental pipeline that deletes, at the same time (cron fired twice):
/// both end well, or one fails with nothing of its own written; the target ends equal to
/// the source, as either order of the two runs would leave it, with no key twice.
fn two_syncs_at_once(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let values: Vec<String> = (100..5_100).map(|i| format!("({i}, {i}, '2026-12-04 00:00:00.{:06}')", i)).collect();
    src.exec(&format!("INSERT INTO orders VALUES {}", values.join(", ")));
    let text = format!(
        "{}\n[[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\ndelete_missing = true\n",
        head(src, dst)
    );
    counts(&sync(dst, &text, &["--json"]));
    src.exec("DELETE FROM orders WHERE id % 10 = 3");
    src.exec("UPDATE orders SET amount = amount + 1, updated_at = '2026-12-06 00:00:00.000000' WHERE id % 10 = 7");
    // Both commands first: each writes the pipeline file, which a run already started
    // would read half-written.
    let (mut a, mut b) = (sync_command(dst, &text, &["-q"], &[]), sync_command(dst, &text, &["-q"], &[]));
    let (a, b) = (a.spawn().unwrap(), b.spawn().unwrap());
    for run in [Run::from(a.wait_with_output().unwrap()), Run::from(b.wait_with_output().unwrap())] {
        assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(orders(dst), orders(src));
    assert!(dst.rows("SELECT id FROM orders GROUP BY id HAVING count(*) > 1").is_empty());
    // A later run finds nothing left to do.
    let again = sync(dst, &text, &["--json"]);
    assert_eq!(streams(&again)[0].1["deleted"], 0, "{}", again.stdout);
    assert_eq!(orders(dst), orders(src));
}

#[test]
fn two_syncs_at_once_into_postgres() {
    two_syncs_at_once(&Postgres::new(), &Postgres::new());
}

#[test]
fn two_syncs_at_once_into_mariadb() {
    two_syncs_at_once(&Postgres::new(), &Mariadb::new());
}

#[test]
fn two_syncs_at_once_into_sqlite() {
    two_syncs_at_once(&Mariadb::new(), &Sqlite::new());
}

/// An incremental stream's delete waits for another session's lock on a row it deletes
/// (that session updates the row, then commits), then deletes it: the run ends as if it
/// had come after that session, the target equal to the source. The run has updated a
/// row before (so it is a writing transaction when it waits, as MariaDB reports waits).
fn incremental_deletes_wait_for_a_row_lock(src: &dyn TestDb, dst: &dyn TestDb) {
    source(src);
    let text = format!(
        "{}\n[[streams]]\ntable = \"orders\"\nincremental = \"updated_at\"\ndelete_missing = true\n",
        head(src, dst)
    );
    counts(&sync(dst, &text, &["--json"]));
    let gone = orders(src).last().expect("a source row")[0].clone();
    src.exec(&format!("DELETE FROM orders WHERE id = {gone}"));
    src.exec("UPDATE orders SET amount = amount + 1, updated_at = '2026-12-05 00:00:00.000000' WHERE id = 1");
    let mut holder = dst.session();
    holder.exec(dst.begin());
    holder.exec(&format!("UPDATE orders SET amount = amount + 100 WHERE id = {gone}"));
    let child = sync_command(dst, &text, &["--json"], &[]).spawn().unwrap();
    let waited = wait_until("the sync to wait for the held row", Duration::from_secs(30), || dst.lock_waiters() > 0);
    holder.exec("COMMIT");
    let run = Run::from(child.wait_with_output().unwrap());
    assert!(waited, "the sync never waited for the held row: {}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        (&streams(&run)[0].1["updated"], &streams(&run)[0].1["deleted"]),
        (&1.into(), &1.into()),
        "{}",
        run.stdout
    );
    assert_eq!(orders(dst), orders(src));
}

#[test]
fn incremental_deletes_wait_for_a_row_lock_in_postgres() {
    incremental_deletes_wait_for_a_row_lock(&Mariadb::new(), &Postgres::new());
}

#[test]
fn incremental_deletes_wait_for_a_row_lock_in_mariadb() {
    incremental_deletes_wait_for_a_row_lock(&Postgres::new(), &Mariadb::new());
}
