//! End-to-end tests of `--changes`: the NDJSON lines of what a load inserted, updated and
//! deleted, against real databases, once per dialect.

use crate::common::{rows, table, upsertx, write, TestDb};
use serde_json::{json, Value};

/// `stock`: a, b in region eu; c in us.
fn stock(db: &dyn TestDb) {
    db.exec("CREATE TABLE stock (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER)");
    db.exec("INSERT INTO stock VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)");
}

/// Tonight's extract of region eu: a changed, b gone, d new.
const EU: &str = "sku,region,qty\na,eu,10\nd,eu,4\n";

/// The lines of a changes file, each parsed.
fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

fn read(db: &dyn TestDb, name: &str) -> Vec<Value> {
    lines(&std::fs::read_to_string(db.dir().join(name)).expect("the changes file"))
}

/// How many lines of each op: (insert, update, delete).
fn ops(lines: &[Value]) -> (u64, u64, u64) {
    let n = |op: &str| lines.iter().filter(|l| l["op"] == op).count() as u64;
    (n("insert"), n("update"), n("delete"))
}

pub fn changes_tell_what_a_sync_did(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let args = ["stock.csv", "--delete-missing", "--scope", "region", "--changes", "out.ndjson", "--json"];
    let expected = vec![
        json!({"op": "update", "key": {"sku": "a"}, "before": {"qty": 1}, "after": {"qty": 10}}),
        json!({"op": "insert", "key": {"sku": "d"}, "before": null, "after": {"sku": "d", "region": "eu", "qty": 4}}),
        json!({"op": "delete", "key": {"sku": "b"}, "before": {"sku": "b", "region": "eu", "qty": 2}, "after": null}),
    ];
    // A dry run previews exactly the lines of the real run, and writes nothing else.
    let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
    let before = table(db, "stock", "sku, region, qty");
    upsertx(db, &dry, None).report();
    assert_eq!(read(db, "out.ndjson"), expected);
    assert_eq!(table(db, "stock", "sku, region, qty"), before);
    let report = upsertx(db, &args, None).report();
    let got = read(db, "out.ndjson");
    assert_eq!(got, expected);
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(ops(&got), (n("inserted"), n("updated"), n("deleted")));
    // A rerun changes nothing: the file is replaced by an empty one; so does a rewrite
    // of rows as they are (--always-update counts them updated).
    upsertx(db, &args, None).report();
    assert_eq!(read(db, "out.ndjson"), Vec::<Value>::new());
    let always: Vec<&str> = args.iter().copied().chain(["--always-update"]).collect();
    assert_eq!(upsertx(db, &always, None).report()["updated"].as_u64(), Some(2));
    assert_eq!(read(db, "out.ndjson"), Vec::<Value>::new());
}

/// `-`: the lines on stdout, the report on stderr; not with --json.
pub fn changes_to_stdout(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--changes", "-"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ops(&lines(&run.stdout)), (1, 1, 0));
    assert!(run.stderr.contains("1 inserted, 1 updated"), "{}", run.stderr);
    upsertx(db, &["stock.csv", "--changes", "-", "--json"], None)
        .fails(2, &["--changes - writes the changes to stdout"]);
    upsertx(db, &["stock.csv", "--changes", "no/such/dir/out.ndjson"], None)
        .fails(2, &["--changes no/such/dir/out.ndjson: the folder no/such/dir does not exist"]);
}

/// Where the lines go is kept as it is: a named pipe gets them written into it (a
/// consumer reading it), a symbolic link still links to the file that gets them (so
/// would `/dev/null`: upsertx once renamed its file over it), and a folder is refused
/// before anything is loaded.
pub fn changes_into_a_pipe_a_link_not_a_folder(db: &dyn TestDb) {
    use std::os::unix::fs::FileTypeExt;
    stock(db);
    write(db, "stock.csv", EU);
    let fifo = db.dir().join("changes.pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let reading = fifo.clone();
    std::thread::spawn(move || tx.send(std::fs::read_to_string(reading)));
    upsertx(db, &["stock.csv", "--changes", "changes.pipe", "--json"], None).report();
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the pipe was replaced");
    let got = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the pipe's reader got the lines").unwrap();
    assert_eq!(ops(&lines(&got)), (1, 1, 0));

    std::fs::write(db.dir().join("real.ndjson"), "old\n").unwrap();
    std::os::unix::fs::symlink("real.ndjson", db.dir().join("link.ndjson")).unwrap();
    write(db, "more.csv", "sku,region,qty\ne,eu,5\n");
    upsertx(db, &["more.csv", "--table", "stock", "--changes", "link.ndjson", "--json"], None).report();
    assert!(std::fs::symlink_metadata(db.dir().join("link.ndjson")).unwrap().file_type().is_symlink());
    assert_eq!(ops(&read(db, "real.ndjson")), (1, 0, 0));

    std::fs::create_dir(db.dir().join("out")).unwrap();
    write(db, "later.csv", "sku,region,qty\nf,eu,6\n");
    upsertx(db, &["later.csv", "--table", "stock", "--changes", "out"], None).fails(2, &["--changes out: is a folder"]);
    assert_eq!(db.rows("SELECT COUNT(*) FROM stock WHERE sku = 'f'"), rows(&[&["0"]]));
}

/// No temporary file of a changes log (`.tmp...`) is left in the test's folder.
fn assert_no_temporary_files(db: &dyn TestDb) {
    let leftovers: Vec<_> = std::fs::read_dir(db.dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".tmp") || n.starts_with(".upsertx-changes-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A load that fails writes no changes, and leaves an earlier file as it was.
pub fn a_failed_load_leaves_no_changes(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    write(db, "out.ndjson", "earlier\n");
    let args = ["stock.csv", "--delete-missing", "--max-delete", "0", "--changes", "out.ndjson"];
    upsertx(db, &args, None).fails(1, &["more than --max-delete 0"]);
    assert_eq!(std::fs::read_to_string(db.dir().join("out.ndjson")).unwrap(), "earlier\n");
    upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "0", "--changes", "new.ndjson"], None).fails(1, &[]);
    assert!(!db.dir().join("new.ndjson").exists());
    assert_no_temporary_files(db);
}

/// A load that fails while its lines are still being written (its 10,000 deletions',
/// refused by `--max-delete`) leaves no temporary file behind either: the writer's thread
/// is joined before the process ends (it once was not, and its file stayed, in 3 runs
/// out of 4).
pub fn a_large_failed_load_leaves_no_temporary_file(db: &dyn TestDb) {
    db.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER)");
    let seed: Vec<String> = (1..=30_000).map(|i| format!("({i}, 0)")).collect();
    db.exec(&format!("INSERT INTO big VALUES {}", seed.join(", ")));
    let input: String =
        std::iter::once("id,v\n".to_string()).chain((1..=20_000).map(|i| format!("{i},{i}\n"))).collect();
    write(db, "big.csv", &input);
    let args = ["big.csv", "--table", "big", "--delete-missing", "--max-delete", "5", "--changes", "out.ndjson"];
    upsertx(db, &args, None).fails(1, &["more than --max-delete 5"]);
    assert!(!db.dir().join("out.ndjson").exists());
    assert_no_temporary_files(db);
    assert_eq!(db.rows("SELECT COUNT(*) FROM big WHERE v = 0"), rows(&[&["30000"]]));
}

/// Typed values: numbers, booleans, NULL, decimals and timestamps as JSON; a soft delete's
/// mark as its `after`; stale and unchanged rows not written.
pub fn changes_carry_typed_values(db: &dyn TestDb) {
    db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, flag BOOLEAN, price DECIMAL(10,2), note VARCHAR(20), \
         at TIMESTAMP NULL DEFAULT NULL, gone BOOLEAN NOT NULL DEFAULT FALSE)",
    );
    write(db, "seed.csv", "id,flag,price,note,at\n1,false,1.50,x,2026-11-01 10:00:00\n2,true,2,y,\n3,true,3,z,\n");
    upsertx(db, &["seed.csv", "--table", "items", "--json"], None).report();
    // 1 newer: flag and price change; 2 unchanged; 3 gone; 4 new with NULLs.
    write(db, "late.csv", "id,flag,price,note,at\n1,true,1.25,x,2026-11-02 10:00:00\n2,true,2,y,\n4,,,,\n");
    let args = [
        "late.csv",
        "--table",
        "items",
        "--newer-by",
        "at",
        "--delete-missing",
        "--soft-delete",
        "gone",
        "--changes",
        "out.ndjson",
        "--json",
    ];
    let report = upsertx(db, &args, None).report();
    assert_eq!((report["inserted"].as_u64(), report["updated"].as_u64()), (Some(1), Some(1)));
    let got = read(db, "out.ndjson");
    assert_eq!(ops(&got), (1, 1, 1), "{got:?}");
    assert_eq!(
        got[1],
        json!({"op": "insert", "key": {"id": 4}, "before": null,
               "after": {"id": 4, "flag": null, "price": null, "note": null, "at": null, "gone": false}})
    );
    let update = &got[0];
    assert_eq!(update["key"], json!({"id": 1}));
    let changed: Vec<&String> = update["after"].as_object().unwrap().keys().collect();
    assert_eq!(changed, ["flag", "price", "at"], "{update}");
    assert_eq!((&update["before"]["flag"], &update["after"]["flag"]), (&json!(false), &json!(true)));
    assert_eq!(update["after"]["price"].as_f64(), Some(1.25), "{update}");
    assert!(update["after"]["at"].as_str().unwrap().starts_with("2026-11-02 10:00:00"), "{update}");
    let delete = &got[2];
    assert_eq!((&delete["key"], &delete["after"]), (&json!({"id": 3}), &json!({"gone": true})));
    assert_eq!((&delete["before"]["note"], &delete["before"]["gone"]), (&json!("z"), &json!(false)));
    assert_eq!(delete["before"]["price"].as_f64(), Some(3.0));
    // An older row for 1 is stale: no line; 3 comes back: cleared, an update of `gone`.
    write(db, "older.csv", "id,flag,price,note,at\n1,false,9,x,2026-10-01 00:00:00\n3,true,3,z,\n");
    let args = ["older.csv", "--table", "items", "--newer-by", "at", "--soft-delete", "gone", "--delete-missing"];
    let more: Vec<&str> =
        args.iter().copied().chain(["--scope-where", "id = 3", "--changes", "more.ndjson", "--json"]).collect();
    let report = upsertx(db, &more, None).report();
    assert_eq!((report["stale"].as_u64(), report["updated"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        read(db, "more.ndjson"),
        vec![json!({"op": "update", "key": {"id": 3}, "before": {"gone": true}, "after": {"gone": false}})]
    );
}

/// A table with no key: the window's rows are deleted (key `{}`) and the input's inserted.
pub fn changes_of_a_keyless_window(db: &dyn TestDb) {
    db.exec("CREATE TABLE clicks (day VARCHAR(10) NOT NULL, n INTEGER)");
    db.exec("INSERT INTO clicks VALUES ('mon', 1), ('tue', 2)");
    write(db, "tue.csv", "day,n\ntue,5\ntue,5\n");
    upsertx(
        db,
        &["tue.csv", "--table", "clicks", "--replace-where", "day = 'tue'", "--changes", "out.ndjson", "--json"],
        None,
    )
    .report();
    let insert = json!({"op": "insert", "key": {}, "before": null, "after": {"day": "tue", "n": 5}});
    let delete = json!({"op": "delete", "key": {}, "before": {"day": "tue", "n": 2}, "after": null});
    assert_eq!(read(db, "out.ndjson"), vec![insert.clone(), insert, delete]);
    assert_eq!(table(db, "clicks", "day, n"), rows(&[&["mon", "1"], &["tue", "5"], &["tue", "5"]]));
}

/// Lines are grouped by op (updates, inserts, deletes: the order a keyed load applies them),
/// each group in key order, whatever order the keys come in;
/// an update names only the columns whose stored value changes (1.5 for a stored 1.50 is
/// no change).
pub fn changes_come_grouped_and_name_only_what_changed(db: &dyn TestDb) {
    db.exec("CREATE TABLE prices (id INTEGER PRIMARY KEY, price DECIMAL(10,2), note VARCHAR(10))");
    db.exec("INSERT INTO prices VALUES (1, 1.50, 'a'), (3, 3, 'c'), (5, 5, 'e')");
    write(db, "prices.csv", "id,price,note\n5,5,f\n4,4.5,d\n1,1.5,b\n3,3.00,c\n2,2,x\n");
    upsertx(db, &["prices.csv", "--changes", "out.ndjson", "--json"], None).report();
    let got = read(db, "out.ndjson");
    let summary: Vec<(String, i64)> =
        got.iter().map(|l| (l["op"].as_str().unwrap().to_string(), l["key"]["id"].as_i64().unwrap())).collect();
    let expected = [("update", 1), ("update", 5), ("insert", 2), ("insert", 4)];
    assert_eq!(summary, expected.map(|(op, id)| (op.to_string(), id)), "{got:?}");
    for update in &got[..2] {
        let changed: Vec<&String> = update["after"].as_object().unwrap().keys().collect();
        assert_eq!(changed, ["note"], "{update}");
    }
    assert_eq!(got[3]["after"]["price"].as_f64(), Some(4.5));
}

/// A load of many rows (the lines go in batches through a thread of their own): every
/// change told once, grouped, in key order.
pub fn changes_of_a_large_load(db: &dyn TestDb) {
    db.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, v VARCHAR(20), n INTEGER)");
    let seed: String = (0..12_000).map(|i| format!("{i},v{i},{i}\n")).collect();
    write(db, "seed.csv", &format!("id,v,n\n{seed}"));
    upsertx(db, &["seed.csv", "--table", "big", "--json"], None).report();
    // Even ids changed (n), odd ones as they are, 12,000..20,000 new; 0..2,000 gone.
    let rows: String = (2_000..20_000)
        .rev()
        .map(|i| if i % 2 == 0 || i >= 12_000 { format!("{i},v{i},{}\n", i + 1) } else { format!("{i},v{i},{i}\n") })
        .collect();
    write(db, "big.csv", &format!("id,v,n\n{rows}"));
    let args = ["big.csv", "--table", "big", "--delete-missing", "--changes", "out.ndjson", "--json"];
    let report = upsertx(db, &args, None).report();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!((n("inserted"), n("updated"), n("deleted"), n("unchanged")), (8_000, 5_000, 2_000, 5_000));
    let got = read(db, "out.ndjson");
    assert_eq!(ops(&got), (8_000, 5_000, 2_000));
    let ids: Vec<i64> = got.iter().map(|l| l["key"]["id"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (2_000..12_000).filter(|i| i % 2 == 0).chain(12_000..20_000).chain(0..2_000).collect();
    assert_eq!(ids, expected);
    assert_eq!(got[0], json!({"op": "update", "key": {"id": 2000}, "before": {"n": 2000}, "after": {"n": 2001}}));
    assert_eq!(got[5_000]["after"], json!({"id": 12000, "v": "v12000", "n": 12001}));
}

/// A text key whose rows the table stores in the reverse of its order (the order they
/// came in): the lines still come grouped, each group in key order.
pub fn changes_in_key_order_whatever_order_the_table_keeps(db: &dyn TestDb) {
    db.exec("CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, n INTEGER)");
    let stored: Vec<String> = (0..30).rev().map(|i| format!("('k{i:02}', {i})")).collect();
    db.exec(&format!("INSERT INTO codes VALUES {}", stored.join(", ")));
    // Multiples of 5 gone, the other even ones changed, the odd ones as they are, 30..35 new.
    let input: String = (0..35)
        .rev()
        .filter(|i| i % 5 != 0 || *i >= 30)
        .map(|i| format!("k{i:02},{}\n", if i % 2 == 0 { i + 100 } else { i }))
        .collect();
    write(db, "codes.csv", &format!("code,n\n{input}"));
    let args = ["codes.csv", "--delete-missing", "--changes", "out.ndjson", "--json"];
    let report = upsertx(db, &args, None).report();
    let got = read(db, "out.ndjson");
    let summary: Vec<(String, String)> = got
        .iter()
        .map(|l| (l["op"].as_str().unwrap().to_string(), l["key"]["code"].as_str().unwrap().to_string()))
        .collect();
    let of = |op: &str, keep: &dyn Fn(i32) -> bool, range: std::ops::Range<i32>| {
        range.filter(|&i| keep(i)).map(|i| (op.to_string(), format!("k{i:02}"))).collect::<Vec<_>>()
    };
    let mut expected = of("update", &|i| i % 2 == 0 && i % 5 != 0, 0..30);
    expected.extend(of("insert", &|_| true, 30..35));
    expected.extend(of("delete", &|i| i % 5 == 0, 0..30));
    assert_eq!(summary, expected, "{got:?}");
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!((n("inserted"), n("updated"), n("deleted")), ops(&got));
    assert_eq!(got[0], json!({"op": "update", "key": {"code": "k02"}, "before": {"n": 2}, "after": {"n": 102}}));
}

/// A table of 520 value columns (on SQLite, an update's values are then more than one
/// function call takes: those rows are read before the merge, the others told by it).
pub fn changes_of_a_wide_table(db: &dyn TestDb) {
    let cols: Vec<String> = (1..=520).map(|c| format!("c{c}")).collect();
    let defs: Vec<String> = cols.iter().map(|c| format!("{c} INTEGER")).collect();
    db.exec(&format!("CREATE TABLE wide (id INTEGER PRIMARY KEY, {})", defs.join(", ")));
    let row = |id: i64, c7: i64| {
        let vals: Vec<String> = (1..=520).map(|c| if c == 7 { c7.to_string() } else { c.to_string() }).collect();
        format!("{id},{}\n", vals.join(","))
    };
    let header = format!("id,{}\n", cols.join(","));
    write(db, "seed.csv", &format!("{header}{}{}{}", row(1, 7), row(2, 7), row(3, 7)));
    upsertx(db, &["seed.csv", "--table", "wide", "--json"], None).report();
    // 1 changed (c7), 2 gone, 3 as it is, 4 new.
    write(db, "wide.csv", &format!("{header}{}{}{}", row(4, 7), row(3, 7), row(1, 70)));
    let args = ["wide.csv", "--table", "wide", "--delete-missing", "--changes", "out.ndjson", "--json"];
    let report = upsertx(db, &args, None).report();
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!((n("inserted"), n("updated"), n("deleted"), n("unchanged")), (1, 1, 1, 1));
    let got = read(db, "out.ndjson");
    assert_eq!(got.len(), 3, "{got:?}");
    let all = |id: i64| {
        let mut o = serde_json::Map::new();
        o.insert("id".into(), json!(id));
        (1..=520).for_each(|c| {
            o.insert(format!("c{c}"), json!(c));
        });
        Value::Object(o)
    };
    assert_eq!(got[0], json!({"op": "update", "key": {"id": 1}, "before": {"c7": 7}, "after": {"c7": 70}}));
    assert_eq!(got[1], json!({"op": "insert", "key": {"id": 4}, "before": null, "after": all(4)}));
    assert_eq!(got[2], json!({"op": "delete", "key": {"id": 2}, "before": all(2), "after": null}));
}

/// A merge statement that fails midway (an input row's email belongs to another row) tells
/// nothing: no changes file, the table as it was.
pub fn a_merge_that_fails_midway_leaves_no_changes(db: &dyn TestDb) {
    db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, email VARCHAR(20) UNIQUE, v VARCHAR(5))");
    db.exec("INSERT INTO people VALUES (1, 'a@x', 'a')");
    write(db, "people.csv", "id,email,v\n2,b@x,b\n3,a@x,c\n1,a@x,A\n");
    upsertx(db, &["people.csv", "--changes", "out.ndjson"], None).fails(1, &["people.csv: row 2", "a@x"]);
    assert!(!db.dir().join("out.ndjson").exists());
    assert_eq!(table(db, "people", "id, email, v"), rows(&[&["1", "a@x", "a"]]));
}

/// When the rows told are not the rows the merge wrote (here the table's own trigger
/// drops or redirects an insert the read before it could not foresee), the load fails
/// rather than tell it wrong: no changes file, the table as it was. The same load without
/// `--changes` runs.
pub fn changes_that_disagree_with_the_merge_fail_the_load(db: &dyn TestDb) {
    stock(db);
    let url = db.url();
    if url.starts_with("sqlite") {
        db.exec("CREATE TRIGGER drop_d BEFORE INSERT ON stock WHEN NEW.sku = 'd' BEGIN SELECT RAISE(IGNORE); END");
    } else if url.starts_with("postgres") {
        db.exec(
            "CREATE FUNCTION drop_d() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN IF NEW.sku = 'd' THEN RETURN NULL; END IF; RETURN NEW; END $$; \
             CREATE TRIGGER drop_d BEFORE INSERT ON stock FOR EACH ROW EXECUTE FUNCTION drop_d()",
        );
    } else {
        // MySQL's triggers cannot drop a row: this one makes d's insert an update of c.
        db.exec("CREATE TRIGGER redirect_d BEFORE INSERT ON stock FOR EACH ROW SET NEW.sku = IF(NEW.sku = 'd', 'c', NEW.sku)");
    }
    write(db, "stock.csv", EU);
    let before = table(db, "stock", "sku, region, qty");
    upsertx(db, &["stock.csv", "--changes", "out.ndjson"], None)
        .fails(1, &["(--changes)", "where 1 and 1 were expected", "nothing was written"]);
    assert!(!db.dir().join("out.ndjson").exists());
    assert_eq!(table(db, "stock", "sku, region, qty"), before);
    upsertx(db, &["stock.csv", "--json"], None).report();
    assert_eq!(db.rows("SELECT qty FROM stock WHERE sku = 'a'"), rows(&[&["10"]]));
}

/// Two `--changes` loads at once on overlapping keys, several times: both succeed, the
/// table is as after one serial order or the other, and each file tells what its load
/// did in that order, down to the values it replaced.
pub fn concurrent_loads_tell_what_each_did(db: &dyn TestDb) {
    db.exec("CREATE TABLE n (id INTEGER PRIMARY KEY, who VARCHAR(10))");
    write(db, "a.csv", &crate::common::ids_by("a", 1..=1500));
    write(db, "b.csv", &crate::common::ids_by("b", 500..=2000));
    for round in 0..4 {
        db.exec("DELETE FROM n");
        let seed: Vec<String> = (1..=1000).map(|i| format!("({i}, 'seed')")).collect();
        db.exec(&format!("INSERT INTO n VALUES {}", seed.join(", ")));
        let spawn = |who: &str| {
            let (file, out) = (format!("{who}.csv"), format!("{who}.ndjson"));
            crate::common::spawn_upsertx(db, &[&file, "--table", "n", "--changes", &out, "--json", "-q"])
        };
        let (a, b) = (spawn("a"), spawn("b"));
        let mut did = Vec::new();
        for (who, child) in [("a", a), ("b", b)] {
            let report = crate::common::Run::from(child.wait_with_output().unwrap()).report();
            let got = read(db, &format!("{who}.ndjson"));
            let n = |k: &str| report[k].as_u64().unwrap();
            assert_eq!(ops(&got), (n("inserted"), n("updated"), 0), "round {round}: {who}");
            // The values each update replaced: the seed's, or the other load's.
            let mut before: Vec<String> =
                got.iter().filter(|l| l["op"] == "update").map(|l| l["before"]["who"].to_string()).collect();
            before.dedup();
            did.push((n("inserted"), n("updated"), before));
        }
        let seed = || "\"seed\"".to_string();
        let other = |who: &str| format!("\"{who}\"");
        // a then b: a inserts 1001-1500 and updates the seed's 1-1000; b inserts
        // 1501-2000, and updates 500-1500, the seed's values gone (a's, in key order).
        let a_first = vec![(500, 1000, vec![seed()]), (500, 1001, vec![other("a")])];
        // b then a: b inserts 1001-2000 and updates the seed's 500-1000; a updates
        // 1-1500: the seed's 1-499, then b's.
        let b_first = vec![(0, 1500, vec![seed(), other("b")]), (1000, 501, vec![seed()])];
        let bs = db.rows("SELECT count(*) FROM n WHERE who = 'b'").remove(0);
        assert_eq!(db.rows("SELECT count(*), min(id), max(id) FROM n").remove(0), ["2000", "1", "2000"]);
        match bs[0].as_str() {
            "1501" => assert_eq!(did, a_first, "round {round}: a then b"),
            "500" => assert_eq!(did, b_first, "round {round}: b then a"),
            other => panic!("round {round}: {other} rows of b, as after no serial order"),
        }
    }
}

/// A load keyed by another unique key than the generated id, told: the lines are exact.
pub fn changes_keep_generated_ids(db: &dyn TestDb) {
    db.exec(&format!(
        "CREATE TABLE users ({}, email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(100))",
        db.auto_id("id")
    ));
    db.exec("INSERT INTO users (email, name) VALUES ('a@x', 'A'), ('b@x', 'B')");
    write(db, "users.csv", "email,name\nb@x,B2\nc@x,C\na@x,A\n");
    let run = upsertx(db, &["users.csv", "--key", "email", "--changes", "out.ndjson", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 1, 0, 0));
    assert_eq!(
        read(db, "out.ndjson"),
        vec![
            json!({"op": "update", "key": {"email": "b@x"}, "before": {"name": "B"}, "after": {"name": "B2"}}),
            json!({"op": "insert", "key": {"email": "c@x"}, "before": null, "after": {"email": "c@x", "name": "C"}}),
        ]
    );
    // The ids, and a new key alone: `cli.rs`'s generated_ids_survive_updates_by_another_unique_key.
}

/// A partial unique index as the key, told: the row outside the index (soft-deleted)
/// is neither updated nor told, and a new live row is inserted beside it.
pub fn changes_through_a_partial_unique_index(db: &dyn TestDb) {
    db.exec("CREATE TABLE acct (id INTEGER PRIMARY KEY, email VARCHAR(50), deleted_at VARCHAR(30), name VARCHAR(50))");
    db.exec("CREATE UNIQUE INDEX acct_live_email ON acct (email) WHERE deleted_at IS NULL");
    db.exec("INSERT INTO acct VALUES (1, 'a@x', '2020-01-01', 'old a'), (2, 'b@x', NULL, 'live b')");
    write(db, "live.csv", "id,email,name\n3,a@x,new a\n2,b@x,live b2\n");
    let args = ["live.csv", "--table", "acct", "--key", "email", "--key-where", "deleted_at IS NULL"];
    let run = upsertx(db, &[&args[..], &["--changes", "out.ndjson", "--json"]].concat(), None);
    assert_eq!(run.counts(), (1, 1, 0, 0, 0));
    assert_eq!(
        read(db, "out.ndjson"),
        vec![
            json!({"op": "update", "key": {"email": "b@x"}, "before": {"name": "live b"}, "after": {"name": "live b2"}}),
            json!({"op": "insert", "key": {"email": "a@x"}, "before": null, "after": {"id": 3, "email": "a@x", "name": "new a"}}),
        ]
    );
    // Only a new key (the rest as they are): the merge is an INSERT alone, keyed through
    // the partial index all the same.
    write(db, "more.csv", "id,email,name\n5,d@x,d\n3,a@x,new a\n");
    let run = upsertx(db, &[&args[..], &["--changes", "out.ndjson", "--json"]].concat(), None);
    let args_more: Vec<&str> = args.iter().map(|&a| if a == "live.csv" { "more.csv" } else { a }).collect();
    assert_eq!(run.counts(), (0, 0, 2, 0, 0), "live.csv again changes nothing");
    let run = upsertx(db, &[&args_more[..], &["--changes", "out.ndjson", "--json"]].concat(), None);
    assert_eq!(run.counts(), (1, 0, 1, 0, 0));
    assert_eq!(
        read(db, "out.ndjson"),
        vec![
            json!({"op": "insert", "key": {"email": "d@x"}, "before": null, "after": {"id": 5, "email": "d@x", "name": "d"}})
        ]
    );
    assert_eq!(
        table(db, "acct", "id, email, deleted_at, name"),
        rows(&[
            &["1", "a@x", "2020-01-01", "old a"],
            &["2", "b@x", "NULL", "live b2"],
            &["3", "a@x", "NULL", "new a"],
            &["5", "d@x", "NULL", "d"]
        ])
    );
}

/// Text that COPY, CSV or JSON escape (tabs, newlines, backslashes, quotes, a literal
/// `\N`, non-ASCII) comes out as stored, in an update's before and after and in inserts.
pub fn changes_carry_text_as_it_is(db: &dyn TestDb) {
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(50))");
    db.exec("INSERT INTO notes VALUES (1, 'tab\there')");
    let odd = ["two\nlines\r\n", "back\\slash\\t", "\\N", "quote \" \u{e9} \u{2713}"];
    let input: String =
        odd.iter().enumerate().map(|(i, body)| format!("{}\n", json!({"id": i + 1, "body": body}))).collect();
    write(db, "notes.ndjson", &input);
    upsertx(db, &["notes.ndjson", "--table", "notes", "--changes", "out.ndjson", "--json"], None).report();
    let mut expected =
        vec![json!({"op": "update", "key": {"id": 1}, "before": {"body": "tab\there"}, "after": {"body": odd[0]}})];
    expected.extend(odd[1..].iter().enumerate().map(
        |(i, body)| json!({"op": "insert", "key": {"id": i + 2}, "before": null, "after": {"id": i + 2, "body": body}}),
    ));
    assert_eq!(read(db, "out.ndjson"), expected);
}

every_dialect!(
    changes_carry_text_as_it_is,
    concurrent_loads_tell_what_each_did,
    changes_come_grouped_and_name_only_what_changed,
    changes_to_stdout,
    a_failed_load_leaves_no_changes,
    changes_carry_typed_values,
    changes_in_key_order_whatever_order_the_table_keeps,
    changes_of_a_keyless_window,
    changes_of_a_large_load,
    changes_of_a_wide_table,
    changes_tell_what_a_sync_did;
    not on citus:
    // A trigger (Citus runs none).
    changes_that_disagree_with_the_merge_fail_the_load;
    not on distributed tables:
    // A second unique key without the distribution column.
    a_merge_that_fails_midway_leaves_no_changes,
    changes_keep_generated_ids,
);

/// PostgreSQL sends dates, timestamps, integers and booleans in binary to `--changes`:
/// their text is the server's own (ISO), BC, infinite and fractional ones included.
pub fn changes_write_dates_as_the_server_does(db: &dyn TestDb) {
    db.exec("CREATE TABLE ev (id INTEGER PRIMARY KEY, at TIMESTAMP, d DATE, n SMALLINT, ok BOOLEAN)");
    db.exec(
        "INSERT INTO ev VALUES (1, '0001-01-01 10:00:00 BC', '0044-03-15 BC', 1, true), \
         (2, 'infinity', '-infinity', -2, false), (3, '2024-01-09 10:41:00.25', '2024-02-29', -32768, NULL)",
    );
    let seeded = db.rows("SET DateStyle = 'ISO'; SELECT at::text, d::text, n::text FROM ev ORDER BY id");
    let input = "{\"id\": 1, \"at\": \"2024-01-01 00:00:00\", \"d\": \"2024-01-01\", \"n\": 7, \"ok\": false}\n\
                 {\"id\": 2, \"at\": \"2024-01-01 00:00:00\", \"d\": \"2024-01-01\", \"n\": 7, \"ok\": true}\n\
                 {\"id\": 3, \"at\": \"2024-01-01 00:00:00\", \"d\": \"2024-01-01\", \"n\": 7, \"ok\": true}\n\
                 {\"id\": 4, \"at\": \"2024-01-09 10:41:00.000001\", \"d\": \"0999-12-31\", \"n\": 32767, \"ok\": null}\n";
    write(db, "ev.ndjson", input);
    upsertx(db, &["ev.ndjson", "--table", "ev", "--changes", "out.ndjson", "--json"], None).report();
    let got = read(db, "out.ndjson");
    assert_eq!(
        got[3],
        json!({"op": "insert", "key": {"id": 4}, "before": null,
               "after": {"id": 4, "at": "2024-01-09 10:41:00.000001", "d": "0999-12-31", "n": 32767, "ok": null}})
    );
    for (line, row) in got[..3].iter().zip(&seeded) {
        let before = &line["before"];
        assert_eq!(
            (before["at"].as_str(), before["d"].as_str()),
            (Some(row[0].as_str()), Some(row[1].as_str())),
            "{line}"
        );
        assert_eq!(before["n"].to_string(), row[2], "{line}");
        assert_eq!(line["after"]["at"], json!("2024-01-01 00:00:00"), "{line}");
    }
    assert_eq!(got[0]["before"]["ok"], json!(true));
    assert_eq!(got[2]["before"]["ok"], json!(null));
    assert_eq!(seeded[0], ["0001-01-01 10:00:00 BC", "0044-03-15 BC", "1"]);
}

/// Pseudo-random 64-bit numbers (splitmix64), the same every run.
fn splitmix64() -> impl FnMut() -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Doubles cross PostgreSQL's read in binary and are written here as the server writes
/// them (`x::text`): the same digits for thousands of doubles of every magnitude, the
/// integers above 2^53 among them (where a decimal can lie exactly halfway between two
/// doubles), `NaN`, the infinities and `-0`; whether read before an update, after an
/// insert, or before a deletion (sent as text).
pub fn changes_write_doubles_as_the_server_does(db: &dyn TestDb) {
    let mut next = splitmix64();
    // Among them two decimals as short and as close (the server takes the even digit).
    let mut values = vec![0.1 + 0.2, 1e15, 1e-5, 5e-324, f64::MAX, f64::MIN_POSITIVE, 2.25, 9007199254740993.0];
    values.extend([965190524549925.0 + 0.25, 562949953421312.0 + 0.25, 562949953421312.0 + 0.75]);
    while values.len() < 3000 {
        let bits = next();
        values.push(match values.len() % 3 {
            0 => f64::from_bits(bits),
            1 => (bits >> 2) as f64,
            _ => (bits % 1_000_000) as f64 / 100.0,
        });
    }
    values.retain(|v| v.is_finite());
    let n = values.len();
    db.exec("CREATE TABLE fl (id INTEGER PRIMARY KEY, x DOUBLE PRECISION)");
    let seeded: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("({}, '{v:e}')", i + 1)).collect();
    db.exec(&format!(
        "INSERT INTO fl VALUES {}, ({}, 'NaN'), ({}, 'Infinity'), ({}, '-Infinity'), ({}, '-0')",
        seeded.join(", "),
        n + 1,
        n + 2,
        n + 3,
        n + 4
    ));
    let before = db.rows("SELECT x::text FROM fl ORDER BY id");
    // Every other seeded row updated to 0.5, the others deleted; each value again as a
    // new row.
    let mut input = String::new();
    for id in (1..=n + 4).filter(|id| id % 2 == 0) {
        input.push_str(&format!("{{\"id\": {id}, \"x\": 0.5}}\n"));
    }
    for (i, v) in values.iter().enumerate() {
        input.push_str(&format!("{{\"id\": {}, \"x\": {v:e}}}\n", 10_000 + i));
    }
    write(db, "fl.ndjson", &input);
    upsertx(db, &["fl.ndjson", "--table", "fl", "--delete-missing", "--changes", "out.ndjson", "--json"], None)
        .report();
    let after = db.rows("SELECT x::text FROM fl WHERE id >= 10000 ORDER BY id");
    let text = std::fs::read_to_string(db.dir().join("out.ndjson")).expect("the changes file");
    let (mut told, mut inserted) = (0, 0);
    for line in text.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap();
        let id = parsed["key"]["id"].as_u64().unwrap() as usize;
        // The first x of the line: the row's before (update, delete) or its after (insert).
        let raw = line.split("\"x\":").nth(1).unwrap().split([',', '}']).next().unwrap().trim_matches('"');
        let expected = match id {
            10_000.. => {
                inserted += 1;
                &after[id - 10_000][0]
            }
            _ => &before[id - 1][0],
        };
        assert_eq!(raw, expected, "{line}");
        told += 1;
    }
    assert_eq!((told, inserted), (2 * n + 4, n), "every row told");
}

/// MariaDB's read sends integers, doubles and dates in binary, written here as its text
/// protocol writes them; FLOAT, DOUBLE(M,D), TIME and YEAR come cast to text. Every
/// value of thousands of rows (doubles of every magnitude among them), told before an
/// update, before a deletion (`DELETE ... RETURNING`) and after an insert, is the text
/// the server shows for it.
pub fn changes_write_values_as_mariadb_does(db: &dyn TestDb) {
    let mut next = splitmix64();
    let cols = ["x", "f", "dd", "t", "y", "dt", "d", "ts", "u", "b", "amount", "e"];
    let fixed = [1e14, 1e15, 1e-15, 1e-16, 1234567890123456.8, 5e-324, f64::MAX, 0.1 + 0.2, -0.0, 3.786249861187026e16];
    // Two decimals as short and as close: the server takes the even digit.
    let fixed = [&fixed[..], &[965190524549925.0 + 0.25, 562949953421312.0 + 0.25, 562949953421312.0 + 0.75]].concat();
    let n = 3000;
    // Each row's values as JSON (the input of the inserts; the seed's SQL literals too).
    let values: Vec<[String; 12]> = (0..n)
        .map(|i| {
            let bits = next();
            let x = match i {
                _ if i < fixed.len() => fixed[i],
                _ if i % 3 == 0 => f64::from_bits(bits),
                _ if i % 3 == 1 => (bits >> 2) as f64 * if i % 2 == 0 { 1.0 } else { -1e-30 },
                _ => (bits % 1_000_000) as f64 / 100.0,
            };
            let x = if x.is_finite() { x } else { 1.5 };
            let (h, m, sec, frac) = (bits % 839, bits / 839 % 60, bits / 50_340 % 60, bits / 3_020_400 % 100);
            [
                format!("{x:e}"),
                format!("{:e}", (bits % 100_000_000) as f32 / 7.0 * if i % 5 == 0 { 1e-20 } else { 1.0 }),
                format!("{}", (bits % 10_000_000) as f64 / 1000.0),
                format!("\"{:02}:{m:02}:{sec:02}.{frac:02}\"", h % 24),
                format!("{}", if i == 1 { 0 } else { 1901 + bits % 254 }),
                format!(
                    "\"{:04}-{:02}-{:02} {h:02}:{m:02}:{sec:02}.{:03}\"",
                    1000 + bits % 9000,
                    1 + m % 12,
                    1 + sec % 28,
                    bits % 1000
                )
                .replace(&format!(" {h:02}:"), &format!(" {:02}:", h % 24)),
                format!("\"{:04}-{:02}-{:02}\"", 1000 + bits % 9000, 1 + m % 12, 1 + sec % 28),
                format!(
                    "\"{:04}-{:02}-{:02} {:02}:{m:02}:{sec:02}.{:06}\"",
                    1971 + bits % 60,
                    1 + m % 12,
                    1 + sec % 28,
                    h % 24,
                    bits % 1_000_000
                ),
                format!("{}", u64::MAX - bits % 1000),
                "1".into(),
                format!("{}.{:04}", bits % 100_000_000, bits % 10_000),
                "\"a\"".into(),
            ]
        })
        .collect();
    db.exec(
        "CREATE TABLE vt (id INT PRIMARY KEY, x DOUBLE, f FLOAT, dd DOUBLE(12,3), t TIME(2), y YEAR, dt DATETIME(3), \
         d DATE, ts TIMESTAMP(6) NULL, u BIGINT UNSIGNED, b TINYINT(1), amount DECIMAL(12,4), e ENUM('a','b'))",
    );
    let literal = |v: &String| match v.starts_with('"') {
        true => format!("'{}'", v.trim_matches('"')),
        false => v.clone(),
    };
    for chunk in values.chunks(500).enumerate() {
        let rows: Vec<String> = (chunk.1.iter().enumerate())
            .map(|(j, row)| {
                let vals: Vec<String> = row.iter().map(literal).collect();
                format!("({}, {})", chunk.0 * 500 + j + 1, vals.join(", "))
            })
            .collect();
        db.exec(&format!("INSERT INTO vt VALUES {}", rows.join(", ")));
    }
    // Times TIME holds beyond a day's, and negative ones.
    db.exec("UPDATE vt SET t = SEC_TO_TIME(id * 7919 % 3000000 + 0.5) * IF(id % 4 = 0, -1, 1) WHERE id % 4 < 2");
    let select = format!("SELECT {} FROM vt", cols.join(", "));
    let before = db.rows(&format!("{select} ORDER BY id"));
    // Every other seeded row updated (every column changed), the others deleted; each
    // row's values again as a new row.
    let mut input = String::new();
    for id in (1..=n).filter(|id| id % 2 == 0) {
        input.push_str(&format!(
            "{{\"id\": {id}, \"x\": 0.5, \"f\": 0.25, \"dd\": 0.125, \"t\": \"00:00:01\", \"y\": 2155, \
             \"dt\": \"2000-01-01 00:00:00\", \"d\": \"2000-01-01\", \"ts\": \"2000-01-01 00:00:00\", \"u\": 1, \
             \"b\": 0, \"amount\": 0.0001, \"e\": \"b\"}}\n"
        ));
    }
    for (i, row) in values.iter().enumerate() {
        let fields: Vec<String> = cols.iter().zip(row).map(|(c, v)| format!("\"{c}\": {v}")).collect();
        input.push_str(&format!("{{\"id\": {}, {}}}\n", 10_000 + i, fields.join(", ")));
    }
    write(db, "vt.ndjson", &input);
    upsertx(db, &["vt.ndjson", "--table", "vt", "--delete-missing", "--changes", "out.ndjson", "--json"], None)
        .report();
    let after = db.rows(&format!("{select} WHERE id >= 10000 ORDER BY id"));
    let text = std::fs::read_to_string(db.dir().join("out.ndjson")).expect("the changes file");
    let (mut told, mut inserted) = (0, 0);
    for line in text.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap();
        let id = parsed["key"]["id"].as_u64().unwrap() as usize;
        let expected = match id {
            10_000.. => {
                inserted += 1;
                &after[id - 10_000]
            }
            _ => &before[id - 1],
        };
        for (c, want) in cols.iter().zip(expected) {
            // The column's first value in the line: the row's before (update, delete)
            // or its after (insert), as written.
            let raw = line.split(&format!("\"{c}\":")).nth(1).unwrap_or_else(|| panic!("{c} missing: {line}"));
            let raw = raw.split([',', '}']).next().unwrap().trim_matches('"');
            // A boolean column's 1 and 0 are written as JSON's true and false.
            let want = match (*c, want.as_str()) {
                ("b", "1") => "true",
                ("b", "0") => "false",
                _ => want,
            };
            assert_eq!(raw, want, "{c} in {line}");
        }
        told += 1;
    }
    assert_eq!((told, inserted), (2 * n, n), "every row told");
}

/// MariaDB: which columns an update changes is found from the values the read sends (as
/// `<=>` finds them: NULL equal to NULL, text by its bytes, so a change of case or of
/// trailing spaces is a change under a case-insensitive collation); by the server when an
/// updated column is a FLOAT (its text rounds to six digits).
pub fn changes_name_what_changed_as_mariadb_compares(db: &dyn TestDb) {
    for (table, float) in [("plain", "DOUBLE"), ("floaty", "FLOAT")] {
        db.exec(&format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, a VARCHAR(10) COLLATE utf8mb4_general_ci, b INT, \
             c {float}, d DATETIME)"
        ));
        db.exec(&format!(
            "INSERT INTO {table} VALUES (1, 'x', NULL, 1.5, NULL), (2, 'y', 2, 2.5, '2024-01-01 00:00:00'), \
             (3, 'z', NULL, NULL, '2024-01-01 00:00:00'), (4, 'w', 4, 16777217, NULL), \
             (5, 'v', 5, 1.2345671, NULL)"
        ));
        let input = "{\"id\": 1, \"a\": \"X\", \"b\": null, \"c\": 1.5, \"d\": null}\n\
                     {\"id\": 2, \"a\": \"y \", \"b\": null, \"c\": 2.5, \"d\": \"2024-01-01 00:00:01\"}\n\
                     {\"id\": 3, \"a\": \"z\", \"b\": 3, \"c\": null, \"d\": \"2024-01-01 00:00:00\"}\n\
                     {\"id\": 4, \"a\": \"w\", \"b\": 4, \"c\": 16777216.5, \"d\": null}\n\
                     {\"id\": 5, \"a\": \"v\", \"b\": 5, \"c\": 1.2345675, \"d\": null}\n";
        write(db, "in.ndjson", input);
        upsertx(db, &["in.ndjson", "--table", table, "--changes", "out.ndjson", "--json"], None).report();
        let got = read(db, "out.ndjson");
        let changed: Vec<(i64, Vec<&String>)> = got
            .iter()
            .map(|l| (l["key"]["id"].as_i64().unwrap(), l["after"].as_object().unwrap().keys().collect()))
            .collect();
        let a = "a".to_string();
        let (b, c, d) = ("b".to_string(), "c".to_string(), "d".to_string());
        let mut expected = vec![(1, vec![&a]), (2, vec![&a, &b, &d]), (3, vec![&b])];
        if float == "DOUBLE" {
            expected.push((4, vec![&c]));
        }
        // A FLOAT's change its text does not show (1.23457 both) is a change still.
        expected.push((5, vec![&c]));
        assert_eq!(changed, expected, "{table}: {got:?}");
        assert_eq!((&got[1]["before"]["a"], &got[1]["after"]["a"]), (&json!("y"), &json!("y ")), "{table}");
    }
}

/// PostgreSQL: an update names the columns `IS DISTINCT FROM` finds changed, whether the
/// server compares them or the read does from their text: not a case change under a
/// case-insensitive collation, trailing spaces of a char(n), `-0` for 0 or `1.50` for a
/// numeric 1.5; NULL for NULL is no change either; a json's new text is one.
pub fn changes_name_what_changed_as_postgres_compares(db: &dyn TestDb) {
    db.exec("CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)");
    db.exec(
        "CREATE TABLE cmp (id INT PRIMARY KEY, ci TEXT COLLATE ci, ch CHAR(4), f DOUBLE PRECISION, n NUMERIC, \
         i INT, t TIMESTAMP, j JSON, v VARCHAR(10))",
    );
    db.exec(
        "INSERT INTO cmp VALUES (1, 'abc', 'ab', 0, 1.5, 1, '2024-01-01', '{\"a\":1}', 'x'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
         (3, 'a', 'a', 1.5, 2, 3, '2024-01-01 00:00:00', '[]', 'y')",
    );
    let input = "{\"id\": 1, \"ci\": \"ABC\", \"ch\": \"ab  \", \"f\": -0.0, \"n\": 1.50, \"i\": 2, \
                 \"t\": \"2024-01-01 00:00:00\", \"j\": \"{\\\"a\\\": 1}\", \"v\": \"X\"}\n\
                 {\"id\": 2, \"ci\": null, \"ch\": null, \"f\": null, \"n\": null, \"i\": 5, \"t\": null, \
                 \"j\": null, \"v\": null}\n\
                 {\"id\": 3, \"ci\": null, \"ch\": \"b\", \"f\": 2.5, \"n\": 2.0, \"i\": 3, \
                 \"t\": \"2024-01-01 00:00:01\", \"j\": \"[]\", \"v\": \"y\"}\n";
    write(db, "in.ndjson", input);
    upsertx(db, &["in.ndjson", "--table", "cmp", "--changes", "out.ndjson", "--json"], None).report();
    let got = read(db, "out.ndjson");
    let changed: Vec<(i64, Vec<&str>)> = got
        .iter()
        .map(|l| {
            let mut cols: Vec<&str> = l["after"].as_object().unwrap().keys().map(String::as_str).collect();
            cols.sort();
            (l["key"]["id"].as_i64().unwrap(), cols)
        })
        .collect();
    assert_eq!(changed, [(1, vec!["i", "j", "v"]), (2, vec!["i"]), (3, vec!["ch", "ci", "f", "t"])], "{got:?}");
}

/// MySQL and MariaDB have no partial indexes.
mod partial {
    use super::*;
    scenarios!(sqlite: crate::common::Sqlite::new => changes_through_a_partial_unique_index);
    scenarios!(postgres: crate::common::Postgres::new => changes_through_a_partial_unique_index);
}

mod binary {
    use super::*;
    scenarios!(postgres: crate::common::Postgres::new => changes_write_dates_as_the_server_does,
        changes_write_doubles_as_the_server_does, changes_name_what_changed_as_postgres_compares);
    scenarios!(mariadb: crate::common::Mariadb::new => changes_write_values_as_mariadb_does,
        changes_name_what_changed_as_mariadb_compares);
}

/// The destination's kind does not depend on the database.
/// `id,v` rows 1..=n, for a log larger than a pipe's buffer.
fn many(db: &dyn TestDb, n: u32) {
    db.exec("CREATE TABLE many (id INTEGER PRIMARY KEY, v VARCHAR(40))");
    let input: String = std::iter::once("id,v\n".to_string())
        .chain((1..=n).map(|i| format!("{i},value number {i} of the change log\n")))
        .collect();
    write(db, "many.csv", &input);
}

/// The change log's writing fails after the commit (the pipe's reader goes away, stdout
/// is closed after 100 bytes): exit status 3, a message that says the load committed and
/// where every line of the log is; the table holds the load; a retry finds the rows
/// unchanged, and the kept file still tells them.
pub fn changes_that_fail_after_the_commit_say_so(db: &dyn TestDb) {
    use std::io::Read;
    many(db, 20_000);
    let fifo = db.dir().join("changes.pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let reading = fifo.clone();
    // A reader that takes 10 bytes and goes.
    let reader = std::thread::spawn(move || {
        let mut first = [0u8; 10];
        std::fs::File::open(reading).unwrap().read_exact(&mut first).unwrap();
    });
    let run = upsertx(db, &["many.csv", "--changes", "changes.pipe", "--json"], None);
    reader.join().unwrap();
    run.fails(3, &["the load committed", "20000 inserted", "was not written whole", "all of its lines are in"]);
    let r: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["inserted"], 20_000, "the report on stdout: {}", run.stdout);
    let kept = run.stderr.rsplit("all of its lines are in ").next().unwrap().trim();
    let kept = lines(&std::fs::read_to_string(kept).unwrap());
    assert_eq!(ops(&kept), (20_000, 0, 0));
    assert_eq!(db.rows("SELECT COUNT(*) FROM many"), rows(&[&["20000"]]));

    // Standard output closed by its reader after 100 bytes (`| head -c 100`).
    db.exec("DELETE FROM many");
    let mut child = crate::common::spawn_upsertx(db, &["many.csv", "--changes", "-"]);
    let mut head = [0u8; 100];
    child.stdout.as_mut().unwrap().read_exact(&mut head).unwrap();
    drop(child.stdout.take());
    let run = crate::common::Run::from(child.wait_with_output().unwrap());
    run.fails(3, &["the load committed", "standard output", "all of its lines are in"]);
    let kept = run.stderr.rsplit("all of its lines are in ").next().unwrap().trim();
    assert_eq!(ops(&lines(&std::fs::read_to_string(kept).unwrap())), (20_000, 0, 0));
    std::fs::remove_file(kept).unwrap();
    let again = upsertx(db, &["many.csv", "--json"], None).report();
    assert_eq!(again["unchanged"], 20_000);

    // The path replaced by a folder while the load runs: the lines are kept beside it.
    db.exec("DELETE FROM many");
    let child = crate::common::spawn_upsertx(db, &["many.csv", "--changes", "out.ndjson"]);
    let started = std::time::Instant::now();
    while !std::fs::read_dir(db.dir())
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".upsertx-changes-"))
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::fs::create_dir(db.dir().join("out.ndjson")).unwrap();
    std::fs::write(db.dir().join("out.ndjson").join("keep"), "").unwrap();
    let run = crate::common::Run::from(child.wait_with_output().unwrap());
    run.fails(3, &["the load committed", "out.ndjson", "all of its lines are in"]);
    let kept = run.stderr.rsplit("all of its lines are in ").next().unwrap().trim();
    assert!(kept.ends_with(".ndjson") && std::path::Path::new(kept).parent() == Some(db.dir()), "{kept}");
    assert_eq!(ops(&lines(&std::fs::read_to_string(kept).unwrap())), (20_000, 0, 0));
}

/// A named pipe nobody opens for reading: the load waits for a reader before it starts
/// (not after its commit, forever), then fails with nothing written.
pub fn changes_into_a_pipe_nobody_reads_fail_first(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let fifo = db.dir().join("nobody.pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let started = std::time::Instant::now();
    let run = upsertx(db, &["stock.csv", "--changes", "nobody.pipe"], None);
    run.fails(1, &["--changes nobody.pipe", "no process opened the pipe for reading", "nothing was written"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(db.rows("SELECT sku, qty FROM stock ORDER BY sku"), rows(&[&["a", "1"], &["b", "2"], &["c", "3"]]));
}

/// The changes file's mode: an existing file keeps its own, a new one gets what the
/// umask leaves of `rw-rw-rw-` (it was always `0600`).
pub fn changes_files_keep_their_mode(db: &dyn TestDb) {
    use std::os::unix::fs::PermissionsExt;
    stock(db);
    write(db, "stock.csv", EU);
    let mode = |name: &str| std::fs::metadata(db.dir().join(name)).unwrap().permissions().mode() & 0o777;
    let run_with_umask = |umask: &str, out: &str| {
        let cmd = format!("umask {umask}; exec \"$0\" stock.csv --changes {out} --db \"$1\"");
        let status = std::process::Command::new("sh")
            .args(["-c", &cmd, env!("CARGO_BIN_EXE_upsertx"), &db.url()])
            .current_dir(db.dir())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    run_with_umask("022", "new.ndjson");
    assert_eq!(mode("new.ndjson"), 0o644);
    run_with_umask("027", "other.ndjson");
    assert_eq!(mode("other.ndjson"), 0o640);
    std::fs::set_permissions(db.dir().join("new.ndjson"), std::fs::Permissions::from_mode(0o664)).unwrap();
    run_with_umask("077", "new.ndjson");
    assert_eq!(mode("new.ndjson"), 0o664, "an existing file keeps its mode");
}

/// A load killed (`kill -9`) while its change log is open leaves its temporary file;
/// the next load with `--changes` into that folder removes it (files of a process that
/// still runs are left alone).
pub fn changes_leftovers_of_a_killed_load_are_removed(db: &dyn TestDb) {
    many(db, 300_000);
    let live = db.dir().join(format!(".upsertx-changes-{}-mine.tmp", std::process::id()));
    std::fs::write(&live, "").unwrap();
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(db.dir())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(".upsertx-changes-") && !n.contains("-mine"))
            .collect()
    };
    let mut child = crate::common::spawn_upsertx(db, &["many.csv", "--changes", "out.ndjson"]);
    let started = std::time::Instant::now();
    while leftovers().is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(leftovers().len(), 1, "the killed load's file");
    write(db, "small.csv", "id,v\n1,x\n");
    upsertx(db, &["small.csv", "--table", "many", "--changes", "out.ndjson", "--json"], None).report();
    assert_eq!(leftovers(), Vec::<String>::new());
    assert!(live.exists(), "a running process's file stays");
}

mod destinations {
    use super::*;
    scenarios!(sqlite: crate::common::Sqlite::new => changes_into_a_pipe_a_link_not_a_folder,
        changes_that_fail_after_the_commit_say_so, changes_into_a_pipe_nobody_reads_fail_first,
        changes_files_keep_their_mode, changes_leftovers_of_a_killed_load_are_removed,
        a_large_failed_load_leaves_no_temporary_file);
}
