//! The library API, as a Rust user calls it, against a real SQLite database.

use std::cell::Cell;
use std::rc::Rc;
use upsertx::{Duplicates, Error, Format, OnConflict, Source, Upsert, Words};

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new(ddl: &str) -> Db {
        let db = Db { dir: tempfile::tempdir().unwrap() };
        rusqlite::Connection::open(db.path()).unwrap().execute_batch(ddl).unwrap();
        db
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("api.db")
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }
    fn rows(&self, sql: &str) -> Vec<(i64, Option<String>)> {
        let conn = rusqlite::Connection::open(self.path()).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }
}

fn csv(text: &'static str) -> Source {
    Source::reader("inline.csv", text.as_bytes()).format(Format::Csv)
}

#[test]
fn a_bad_value_is_a_typed_error_with_its_location() {
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 1);");
    let err = Upsert::new(db.url()).table("t").run(csv("id,n\n2,2\n3,three\n")).unwrap_err();
    match &err {
        Error::Value { at, column, value, reason } => {
            assert_eq!((at.input.as_str(), at.row, at.line), ("inline.csv", 2, Some(3)));
            assert_eq!((column.as_str(), value.as_deref()), ("n", Some("three")));
            assert_eq!(reason, "not an integer");
        }
        other => panic!("expected a value error, got {other:?}"),
    }
    assert!(!err.is_usage());
    assert_eq!(db.rows("SELECT id, CAST(n AS TEXT) FROM t"), [(1, Some("1".into()))], "row 2 was not written");
}

#[test]
fn dry_run_counts_and_writes_nothing() {
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'a');");
    let report = Upsert::new(db.url()).table("t").dry_run(true).run(csv("id,name\n1,b\n2,c\n2,d\n")).unwrap();
    assert_eq!((report.inserted, report.updated, report.duplicates, report.dry_run), (1, 1, 1, true));
    assert_eq!(db.rows("SELECT id, name FROM t"), [(1, Some("a".into()))]);
}

#[test]
fn policies_through_the_builder() {
    let db = Db::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT); INSERT INTO t VALUES (1, 'a', 'keep');",
    );
    let report = Upsert::new(db.url())
        .table("t")
        .key(["id"])
        .no_update(["note"])
        .duplicates(Duplicates::First)
        .run(csv("id,name,note\n1,b,lost\n1,c,lost\n"))
        .unwrap();
    assert_eq!((report.updated, report.duplicates), (1, 1));
    assert_eq!(db.rows("SELECT id, name || '/' || note FROM t"), [(1, Some("b/keep".into()))]);

    let err = Upsert::new(db.url()).table("t").on_conflict(OnConflict::Error).run(csv("id,name\n1,x\n")).unwrap_err();
    assert!(matches!(err, Error::KeyExists { .. }), "{err:?}");
    let report = Upsert::new(db.url()).table("t").on_conflict(OnConflict::Ignore).run(csv("id,name\n1,x\n")).unwrap();
    assert_eq!(report.ignored, 1);
}

#[test]
fn progress_is_reported_and_json_sources_work() {
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);");
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let json: String = format!(
        "[{}]",
        (1..=10_000).map(|i| format!("{{\"id\":{i},\"name\":\"n{i}\"}}")).collect::<Vec<_>>().join(",")
    );
    let report = Upsert::new(db.url())
        .table("t")
        .on_progress(move |p| {
            if let upsertx::Progress::Staged(rows) = p {
                s.set(rows)
            }
        })
        .run(Source::reader("rows.json", std::io::Cursor::new(json)).format(Format::Json))
        .unwrap();
    assert_eq!((report.rows_read, report.inserted), (10_000, 10_000));
    assert_eq!(seen.get(), 10_000);
}

#[test]
fn usage_errors_are_marked_as_such() {
    let err = Upsert::new("oracle://root:pw@localhost/x").table("t").run(csv("id\n1\n")).unwrap_err();
    assert!(err.is_usage());
    assert!(!err.to_string().contains(":pw@"), "{err}");
    let err = Upsert::new("sqlite::memory:").run(Source::reader("x", &b"id\n1\n"[..])).unwrap_err();
    assert!(err.is_usage(), "no table and no format: {err}");
}

/// A new SQLite file is kept only when a load commits: a failed or dry-run `--create`
/// (or a missing input) leaves no empty database behind.
#[test]
fn a_failed_or_dry_run_create_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let url = format!("sqlite://{}", path.display());
    let input = || Source::reader("c.csv", "id,n\n1,2\n".as_bytes()).format(Format::Csv);
    let attempts: Vec<upsertx::Result<upsertx::Report>> = vec![
        Upsert::new(&url).table("c").create(true).run(input()),
        Upsert::new(&url).table("c").key(["nope"]).create(true).run(input()),
        Upsert::new(&url).table("c").create(true).run(Source::path(dir.path().join("missing.csv"))),
        Upsert::new(&url).table("c").key(["id"]).create(true).dry_run(true).run(input()),
    ];
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.is_ok(), i == 3, "attempt {i}: {attempt:?}");
        assert!(!path.exists(), "attempt {i} left {}", path.display());
    }
    let report = Upsert::new(&url).table("c").key(["id"]).create(true).run(input()).unwrap();
    assert_eq!((report.inserted, report.created), (1, true));
    assert!(path.exists());
    // A missing folder is named as such, with or without --create.
    let nested = format!("sqlite://{}", dir.path().join("nope/new.db").display());
    for create in [false, true] {
        let err = Upsert::new(&nested).table("c").key(["id"]).create(create).run(input()).unwrap_err();
        assert!(err.to_string().contains("nope does not exist"), "{err}");
    }
}

/// The README's library example is the example program, word for word.
#[test]
fn the_readme_example_is_the_example_program() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let program = std::fs::read_to_string(format!("{root}/crates/upsertx/examples/load_csv.rs")).unwrap();
    let body = &program[program.find("use upsertx").unwrap()..];
    assert!(
        readme.contains(&format!("```rust\n{body}```")),
        "README's library example differs from examples/load_csv.rs"
    );
}

#[test]
fn a_stop_at_any_point_before_the_commit_writes_nothing() {
    // One batch: asked after it is staged, before the merge, before the commit.
    for stop_at in 1..=3 {
        let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t VALUES (1, 'kept');");
        let asked = Rc::new(Cell::new(0));
        let counter = asked.clone();
        let result = Upsert::new(db.url())
            .table("t")
            .stop_when(move || {
                counter.set(counter.get() + 1);
                counter.get() == stop_at
            })
            .run(csv("id,name\n1,changed\n2,new\n"));
        assert!(matches!(result, Err(Error::Interrupted)), "stop at {stop_at}: {result:?}");
        assert_eq!(asked.get(), stop_at);
        assert_eq!(db.rows("SELECT id, name FROM t"), vec![(1, Some("kept".into()))]);
    }
    // Never stopped: asked three times, and the load commits.
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)");
    let asked = Rc::new(Cell::new(0));
    let counter = asked.clone();
    let report = Upsert::new(db.url()).table("t").stop_when(move || {
        counter.set(counter.get() + 1);
        false
    });
    assert_eq!(report.run(csv("id,name\n2,new\n")).unwrap().inserted, 1);
    assert_eq!(asked.get(), 3);
}

#[test]
fn messages_in_the_callers_words() {
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);");
    let err = Upsert::new(db.url()).table("t").run(csv("id,name,tier\n1,a,gold\n")).unwrap_err();
    assert!(err.to_string().contains("pass --evolve to add it"), "{err}");
    assert_eq!(err.message(Words::Cli), err.to_string());
    let python = err.message(Words::Python);
    assert!(python.contains("pass evolve=True to add it") && !python.contains("--"), "{python}");
}

/// A change log that cannot go where it was asked after the commit: the one error after
/// which the table holds the load, with the report and the file that keeps every line.
#[cfg(unix)]
#[test]
fn a_change_log_that_fails_after_the_commit_is_told_as_committed() {
    use std::io::Read;
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);");
    let pipe = db.dir.path().join("changes.pipe");
    assert!(std::process::Command::new("mkfifo").arg(&pipe).status().unwrap().success());
    let reading = pipe.clone();
    // A reader that takes 10 bytes and goes.
    let reader = std::thread::spawn(move || {
        std::fs::File::open(reading).unwrap().read_exact(&mut [0u8; 10]).unwrap();
    });
    let rows: String = std::iter::once("id,name\n".to_string())
        .chain((1..=20_000).map(|i| format!("{i},name number {i}\n")))
        .collect();
    let source = Source::reader("rows.csv", std::io::Cursor::new(rows.into_bytes())).format(Format::Csv);
    let err = Upsert::new(db.url()).table("t").changes(upsertx::ChangesTo::Path(pipe)).run(source).unwrap_err();
    reader.join().unwrap();
    assert!(err.committed(), "{err}");
    let Error::ChangesNotWritten { report, kept, .. } = &err else { panic!("{err:?}") };
    assert_eq!(report.inserted, 20_000);
    let kept = kept.as_ref().expect("the lines are kept");
    assert_eq!(std::fs::read_to_string(kept).unwrap().lines().count(), 20_000);
    std::fs::remove_file(kept).unwrap();
    assert_eq!(db.rows("SELECT count(*), NULL FROM t"), [(20_000, None)]);
}

#[test]
fn a_spec_read_with_serde_runs_the_same_load_as_the_builder() {
    let ddl = "CREATE TABLE stock (sku TEXT PRIMARY KEY, region TEXT, qty INTEGER); \
               INSERT INTO stock VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3);";
    let input = "sku,region,qty\na,eu,5\n";
    // The same options as a sync file or a JSON request would carry them.
    let spec: upsertx::Spec = serde_json::from_str(
        r#"{"table": "stock", "key": "sku", "delete_missing": true, "scope": ["region"], "max_delete": "50%"}"#,
    )
    .unwrap();
    let from_serde = Db::new(ddl);
    let a = Upsert::new(from_serde.url()).spec(spec).run(csv(input)).unwrap();
    let built = Db::new(ddl);
    let b = Upsert::new(built.url())
        .table("stock")
        .key(["sku"])
        .delete_missing(true)
        .scope(["region"])
        .max_delete(upsertx::MaxDelete::Percent(50.0))
        .run(csv(input))
        .unwrap();
    assert_eq!((a.updated, a.deleted), (1, 1));
    assert_eq!((a.inserted, a.updated, a.unchanged, a.deleted), (b.inserted, b.updated, b.unchanged, b.deleted));
    let left = "SELECT qty, sku FROM stock ORDER BY sku";
    assert_eq!(from_serde.rows(left), built.rows(left));
    assert_eq!(from_serde.rows(left), [(5, Some("a".into())), (3, Some("c".into()))]);
}

#[test]
fn an_option_set_by_name_is_checked_and_named_in_the_callers_words() {
    use upsertx::{OptionValue, Spec};
    let mut spec = Spec::default();
    spec.set("history", OptionValue::Text("valid_from,valid_to".into())).unwrap();
    spec.set("as_of", OptionValue::Text("2026-01-01".into())).unwrap();
    assert_eq!(spec.history, ["valid_from", "valid_to"]);
    let e = spec.set("max_delete", OptionValue::Text("a lot".into())).unwrap_err();
    assert!(e.is_usage());
    assert_eq!(e.message(Words::Python), "max_delete: \"a lot\" is not a number of rows (1000) or a percentage (5%)");
    let e = spec.set("delete_mising", OptionValue::Bool(true)).unwrap_err();
    assert_eq!(e.to_string(), "unknown option \"delete_mising\" (did you mean \"delete_missing\"?)");
    // A rule between options is checked when the load runs, whoever set them.
    let db = Db::new("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);");
    let mut spec = Spec::default();
    spec.set("scope", OptionValue::List(vec!["name".into()])).unwrap();
    let e = Upsert::new(db.url()).spec(spec).table("t").run(csv("id,name\n1,a\n")).unwrap_err();
    assert_eq!(e.message(Words::Python), "scope only applies with delete_missing=True (or replace_where)");
    assert!(db.rows("SELECT id, name FROM t").is_empty());
}

#[test]
fn a_sync_stopped_before_it_commits_writes_nothing() {
    let src = Db::new("CREATE TABLE a (id INTEGER PRIMARY KEY); INSERT INTO a VALUES (1), (2);");
    let dst = Db::new("CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);");
    let text = format!("source = \"{}\"\ntarget = \"{}\"\n[[streams]]\ntable = \"a\"\n", src.url(), dst.url());
    let pipeline = upsertx::Pipeline::parse("p.toml", &text).unwrap();
    let reports = upsertx::SyncRun::new(pipeline.clone()).stop_when(|| true).run().unwrap();
    assert_eq!(reports[0].status, upsertx::Status::Failed);
    assert!(reports[0].error.as_deref().unwrap().contains("interrupted"), "{:?}", reports[0].error);
    assert!(dst.rows("SELECT id, name FROM a").is_empty());
    // Told as it goes, from the threads that run the streams.
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = told.clone();
    let reports = upsertx::SyncRun::new(pipeline)
        .on_event(move |e| {
            let what = match e {
                upsertx::SyncEvent::Started(s) => format!("started {s}"),
                upsertx::SyncEvent::Staged(s, n) => format!("staged {s} {n}"),
                upsertx::SyncEvent::Finished(r) => format!("finished {} {:?}", r.stream, r.status),
                _ => "other".into(),
            };
            seen.lock().unwrap().push(what);
        })
        .run()
        .unwrap();
    assert_eq!(reports[0].report.inserted, 2);
    assert_eq!(*told.lock().unwrap(), ["started a", "staged a 2", "finished a Ok"]);
}

#[test]
fn the_readme_pipeline_file_is_a_valid_pipeline() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## Syncing a whole database").nth(1).expect("the README's sync section");
    let toml = section.split("```toml\n").nth(1).and_then(|t| t.split("```").next()).expect("its example file");
    std::env::set_var("APP_PASSWORD", "s3cret");
    let pipeline = upsertx::Pipeline::parse("README.md", toml);
    assert!(pipeline.is_ok(), "{:?}", pipeline.err());
}

#[test]
fn a_pipeline_never_shows_its_passwords() {
    std::env::set_var("UPSERTX_API_TEST_PW", "s3cret");
    let text = "source = \"postgres://app:${UPSERTX_API_TEST_PW}@127.0.0.1:1/shop\"\n\
                target = \"mysql://etl:s3cret@127.0.0.1:1/dw\"\n[[streams]]\ntable = \"orders\"\n";
    let pipeline = upsertx::Pipeline::parse("p.toml", text).unwrap();
    assert!(!format!("{pipeline:?}").contains("s3cret"), "{pipeline:?}");
    let e = upsertx::SyncRun::new(pipeline).run().unwrap_err().to_string();
    assert!(e.contains("postgres://app:***@127.0.0.1:1/shop") && !e.contains("s3cret"), "{e}");
}
