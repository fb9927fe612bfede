//! End-to-end tests of the sync options (`--delete-missing` and its scope and guards)
//! against real databases, once per dialect.

use crate::common::{rows, table, upsertx, write, TestDb};

/// `stock`: a, b in region eu; c in us.
fn stock(db: &dyn TestDb) {
    db.exec("CREATE TABLE stock (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER)");
    db.exec("INSERT INTO stock VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)");
}

fn stock_rows(db: &dyn TestDb) -> Vec<Vec<String>> {
    table(db, "stock", "sku, region, qty")
}

/// (inserted, updated, unchanged, deleted) of a successful run's report.
fn counts(run: &crate::common::Run) -> (u64, u64, u64, u64) {
    let r = run.report();
    let n = |k: &str| r[k].as_u64().unwrap();
    (n("inserted"), n("updated"), n("unchanged"), n("deleted"))
}

/// Tonight's extract of region eu: a changed, b gone, d new.
const EU: &str = "sku,region,qty\na,eu,10\nd,eu,4\n";

pub fn delete_missing_without_a_scope_syncs_the_whole_table(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0, 2));
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "10"], &["d", "eu", "4"]]));
    // The text report says so too; a rerun deletes nothing more.
    let again = upsertx(db, &["stock.csv", "--delete-missing"], None);
    assert!(again.stdout.contains("0 inserted, 0 updated, 2 unchanged in"), "{}", again.stdout);
    assert!(!again.stdout.contains("deleted"), "{}", again.stdout);
}

pub fn delete_missing_within_a_partition(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--scope", "region", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0, 1));
    assert!(upsertx(db, &["stock.csv", "--delete-missing", "--scope", "region"], None).stdout.contains("2 unchanged"));
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "10"], &["c", "us", "3"], &["d", "eu", "4"]]));
    // The text line names the deletions.
    write(db, "only_a.csv", "sku,region,qty\na,eu,10\n");
    let run = upsertx(db, &["only_a.csv", "--table", "stock", "--delete-missing", "--scope", "region"], None);
    assert!(run.stdout.contains("1 unchanged, 1 deleted in"), "{}", run.stdout);
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "10"], &["c", "us", "3"]]));
}

/// Two scope columns: a row is in scope when its pair of values occurs in the input.
pub fn delete_missing_with_a_two_column_scope(db: &dyn TestDb) {
    db.exec("CREATE TABLE visits (id INTEGER PRIMARY KEY, site VARCHAR(10), day VARCHAR(10))");
    db.exec(
        "INSERT INTO visits VALUES (1, 'x', 'mon'), (2, 'x', 'mon'), (3, 'x', 'tue'), (4, 'y', 'mon'), (5, NULL, 'mon')",
    );
    write(db, "visits.csv", "id,site,day\n1,x,mon\n6,y,tue\n");
    // In scope: (x, mon) and (y, tue): rows 1 and 2. Row 3 (x, tue), 4 (y, mon) and 5
    // (NULL site: matches nothing) are not.
    let run = upsertx(db, &["visits.csv", "--delete-missing", "--scope", "site,day", "--json"], None);
    assert_eq!(counts(&run), (1, 0, 1, 1));
    assert_eq!(table(db, "visits", "id"), rows(&[&["1"], &["3"], &["4"], &["5"], &["6"]]));
}

pub fn delete_missing_within_a_condition(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    let run =
        upsertx(db, &["stock.csv", "--delete-missing", "--scope-where", "region = 'eu' AND qty < 5", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0, 1));
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "10"], &["c", "us", "3"], &["d", "eu", "4"]]));
}

pub fn an_empty_input_deletes_nothing_unless_allowed(db: &dyn TestDb) {
    stock(db);
    let before = stock_rows(db);
    write(db, "empty.csv", "sku,region,qty\n");
    let run = upsertx(db, &["empty.csv", "--table", "stock", "--delete-missing"], None);
    run.fails(1, &["empty.csv: the input is empty", "--delete-missing would delete every row", "--allow-empty"]);
    assert_eq!(stock_rows(db), before);
    let run = upsertx(db, &["empty.csv", "--table", "stock", "--delete-missing", "--allow-empty", "--json"], None);
    assert_eq!(counts(&run), (0, 0, 0, 3));
    assert_eq!(stock_rows(db), Vec::<Vec<String>>::new());
}

pub fn max_delete_refuses_a_load_that_would_delete_too_much(db: &dyn TestDb) {
    stock(db);
    let before = stock_rows(db);
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "1"], None);
    run.fails(1, &["would delete 2 rows of table \"stock\", more than --max-delete 1: nothing was written"]);
    assert_eq!(stock_rows(db), before, "table unchanged");
    // 2 of the 3 rows in the table before the load: 66.7%.
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "50%"], None);
    run.fails(1, &["would delete 2 of the 3 rows of table \"stock\" in scope (66.7%), more than --max-delete 50%"]);
    assert_eq!(stock_rows(db), before, "table unchanged");
    // Within the limits: the same load goes through.
    assert_eq!(counts(&upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "2", "--json"], None)).3, 2);
    db.exec("DELETE FROM stock");
    db.exec("INSERT INTO stock VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)");
    // Within a partition, the percentage is of the partition's rows: 1 of 2.
    let run =
        upsertx(db, &["stock.csv", "--delete-missing", "--scope", "region", "--max-delete", "50%", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0, 1));
}

pub fn a_dry_run_predicts_the_deletions(db: &dyn TestDb) {
    stock(db);
    let before = stock_rows(db);
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--dry-run", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0, 2));
    assert_eq!(run.report()["dry_run"], true);
    assert_eq!(stock_rows(db), before);
}

/// A load into an empty table (MariaDB's straight-into-the-table path) has nothing to
/// delete.
pub fn delete_missing_into_an_empty_table(db: &dyn TestDb) {
    db.exec("CREATE TABLE stock (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER)");
    write(db, "stock.csv", EU);
    let run = upsertx(db, &["stock.csv", "--delete-missing", "--scope", "region", "--json"], None);
    assert_eq!(counts(&run), (2, 0, 0, 0));
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "10"], &["d", "eu", "4"]]));
}

/// An integer key, with more rows than one batch: the sorted stages (SQLite, MariaDB)
/// and the de-duplicated PostgreSQL source all hold every input key.
pub fn delete_missing_with_an_integer_key_and_duplicates(db: &dyn TestDb) {
    db.exec("CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)");
    let mut values: Vec<String> = (1..=6000).map(|i| format!("({i}, 0)")).collect();
    db.exec(&format!("INSERT INTO n VALUES {}", values.join(", ")));
    // Every third key is gone; the rest come twice (the last wins), shuffled.
    let mut csv = String::from("id,v\n");
    for pass in 0..2 {
        for i in (1..=6000).rev().filter(|i| i % 3 != 0) {
            csv.push_str(&format!("{i},{pass}\n"));
        }
    }
    write(db, "n.csv", &csv);
    let run = upsertx(db, &["n.csv", "--delete-missing", "--json"], None);
    let r = run.report();
    assert_eq!(
        (r["updated"].as_u64(), r["duplicates"].as_u64(), r["deleted"].as_u64()),
        (Some(4000), Some(4000), Some(2000))
    );
    values = db.rows("SELECT count(*), min(v), max(v), sum(id % 3) FROM n").remove(0);
    assert_eq!(values, ["4000", "1", "1", "6000"]);
}

pub fn sync_usage_errors_exit_2(db: &dyn TestDb) {
    stock(db);
    write(db, "stock.csv", EU);
    upsertx(db, &["stock.csv", "--scope", "region"], None)
        .fails(2, &["--scope only applies with --delete-missing (or --replace-where)"]);
    upsertx(db, &["stock.csv", "--allow-empty"], None).fails(2, &["--allow-empty only applies with --delete-missing"]);
    upsertx(db, &["stock.csv", "--max-delete", "5"], None)
        .fails(2, &["--max-delete only applies with --delete-missing"]);
    upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "lots"], None).fails(2, &["--max-delete"]);
    upsertx(db, &["stock.csv", "--delete-missing", "--max-delete", "120%"], None).fails(2, &["--max-delete"]);
    upsertx(db, &["stock.csv", "--delete-missing", "--scope", "planet"], None)
        .fails(2, &["--scope: \"planet\" is not a column of table \"stock\""]);
    write(db, "no_region.csv", "sku,qty\na,1\n");
    upsertx(db, &["no_region.csv", "--table", "stock", "--delete-missing", "--scope", "region"], None)
        .fails(2, &["--scope: \"region\" is not in the input"]);
    assert_eq!(stock_rows(db), rows(&[&["a", "eu", "1"], &["b", "eu", "2"], &["c", "us", "3"]]));
}

/// `stock` with a `deleted_at` timestamp and a `gone` flag, both live.
fn soft_stock(db: &dyn TestDb) {
    db.exec(
        "CREATE TABLE stock (sku VARCHAR(10) PRIMARY KEY, region VARCHAR(10) NOT NULL, qty INTEGER, \
         deleted_at TIMESTAMP NULL DEFAULT NULL, gone BOOLEAN NOT NULL DEFAULT FALSE)",
    );
    db.exec("INSERT INTO stock (sku, region, qty) VALUES ('a', 'eu', 1), ('b', 'eu', 2), ('c', 'us', 3)");
}

/// sku, and whether the `deleted_at` and `gone` marks are set.
fn marks(db: &dyn TestDb) -> Vec<Vec<String>> {
    db.rows(
        "SELECT sku, CASE WHEN deleted_at IS NULL THEN 'live' ELSE 'marked' END, \
         CASE WHEN gone THEN 'gone' ELSE 'here' END FROM stock ORDER BY sku",
    )
}

pub fn soft_delete_marks_with_the_load_time_and_clears_on_return(db: &dyn TestDb) {
    soft_stock(db);
    write(db, "stock.csv", EU);
    let args = ["stock.csv", "--delete-missing", "--scope", "region", "--soft-delete", "deleted_at", "--json"];
    assert_eq!(counts(&upsertx(db, &args, None)), (1, 1, 0, 1));
    assert_eq!(
        marks(db),
        rows(&[&["a", "live", "here"], &["b", "marked", "here"], &["c", "live", "here"], &["d", "live", "here"]])
    );
    let at = db.rows("SELECT deleted_at FROM stock WHERE sku = 'b'").remove(0).remove(0);
    assert!(at.starts_with("20") && at.len() >= 19, "the load's time: {at}");
    // Marked already: not a candidate again, not counted again.
    assert_eq!(counts(&upsertx(db, &args, None)), (0, 0, 2, 0));
    assert_eq!(db.rows("SELECT deleted_at FROM stock WHERE sku = 'b'").remove(0).remove(0), at);
    // b comes back unchanged otherwise: cleared, and counted updated.
    write(db, "back.csv", "sku,region,qty\na,eu,10\nb,eu,2\nd,eu,4\n");
    let back = [
        "back.csv",
        "--table",
        "stock",
        "--delete-missing",
        "--scope",
        "region",
        "--soft-delete",
        "deleted_at",
        "--json",
    ];
    assert_eq!(counts(&upsertx(db, &back, None)), (0, 1, 2, 0));
    assert_eq!(marks(db)[1], ["b", "live", "here"]);
    // A dry run marks nothing.
    write(db, "only_a.csv", "sku,region,qty\na,eu,10\n");
    let dry =
        ["only_a.csv", "--table", "stock", "--delete-missing", "--soft-delete", "deleted_at", "--dry-run", "--json"];
    assert_eq!(counts(&upsertx(db, &dry, None)), (0, 0, 1, 3));
    assert_eq!(db.rows("SELECT count(*) FROM stock WHERE deleted_at IS NOT NULL"), rows(&[&["0"]]));
}

pub fn soft_delete_with_a_flag(db: &dyn TestDb) {
    soft_stock(db);
    write(db, "stock.csv", EU);
    let args = ["stock.csv", "--delete-missing", "--soft-delete", "gone", "--max-delete", "2", "--json"];
    assert_eq!(counts(&upsertx(db, &args, None)), (1, 1, 0, 2));
    assert_eq!(
        marks(db),
        rows(&[&["a", "live", "here"], &["b", "live", "gone"], &["c", "live", "gone"], &["d", "live", "here"]])
    );
    // The percentage counts the rows not marked yet: a and d, of which d goes (50%).
    write(db, "only_a.csv", "sku,region,qty\na,eu,10\n");
    let run = upsertx(
        db,
        &["only_a.csv", "--table", "stock", "--delete-missing", "--soft-delete", "gone", "--max-delete", "49%"],
        None,
    );
    run.fails(1, &["would delete 1 of the 2 rows of table \"stock\" in scope (50.0%)"]);
    let run = upsertx(
        db,
        &[
            "only_a.csv",
            "--table",
            "stock",
            "--delete-missing",
            "--soft-delete",
            "gone",
            "--max-delete",
            "50%",
            "--json",
        ],
        None,
    );
    assert_eq!(counts(&run), (0, 0, 1, 1));
    assert_eq!(db.rows("SELECT count(*) FROM stock WHERE gone"), rows(&[&["3"]]));
}

pub fn soft_delete_usage_errors(db: &dyn TestDb) {
    soft_stock(db);
    write(db, "stock.csv", EU);
    upsertx(db, &["stock.csv", "--soft-delete", "gone"], None)
        .fails(2, &["--soft-delete only applies with --delete-missing"]);
    write(db, "no_qty.csv", "sku,region\na,eu\n");
    upsertx(db, &["no_qty.csv", "--table", "stock", "--delete-missing", "--soft-delete", "qty"], None)
        .fails(2, &["--soft-delete: \"qty\" is", "it must be a date, a timestamp or a boolean"]);
    upsertx(db, &["stock.csv", "--delete-missing", "--soft-delete", "region"], None)
        .fails(2, &["--soft-delete: \"region\" is in the input"]);
    upsertx(db, &["stock.csv", "--delete-missing", "--soft-delete", "nope"], None)
        .fails(2, &["--soft-delete: \"nope\" is not a column of table \"stock\""]);
    assert_eq!(marks(db).len(), 3);
}

/// Yesterday's window: the rows of day "tue" become the input's, the rest stay.
pub fn replace_where_replaces_a_window(db: &dyn TestDb) {
    db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, day VARCHAR(10) NOT NULL, n INTEGER)");
    db.exec("INSERT INTO events VALUES (1, 'mon', 1), (2, 'mon', 2), (3, 'tue', 3), (4, 'tue', 4)");
    let events = || table(db, "events", "id, day, n");
    write(db, "tue.csv", "id,day,n\n3,tue,30\n5,tue,5\n");
    let args = ["tue.csv", "--table", "events", "--replace-where", "day = 'tue'", "--json"];
    assert_eq!(counts(&upsertx(db, &args, None)), (1, 1, 0, 1));
    let after = rows(&[&["1", "mon", "1"], &["2", "mon", "2"], &["3", "tue", "30"], &["5", "tue", "5"]]);
    assert_eq!(events(), after);
    // A row outside the window is refused, named, and nothing is written.
    write(db, "bad.csv", "id,day,n\n3,tue,31\n6,wed,6\n");
    upsertx(db, &["bad.csv", "--table", "events", "--replace-where", "day = 'tue'"], None)
        .fails(1, &["bad.csv: row 2", "outside --replace-where (day = 'tue')"]);
    assert_eq!(events(), after);
    // The condition may only name the input's columns.
    upsertx(db, &["tue.csv", "--table", "events", "--replace-where", "week = 3"], None)
        .fails(2, &["--replace-where (week = 3) cannot be checked on the input's rows"]);
    // The guards apply: an empty window input, and --max-delete.
    write(db, "none.csv", "id,day,n\n");
    upsertx(db, &["none.csv", "--table", "events", "--replace-where", "day = 'tue'"], None)
        .fails(1, &["the input is empty, and --replace-where would delete every row of table \"events\" in scope"]);
    write(db, "one.csv", "id,day,n\n1,mon,1\n");
    upsertx(db, &["one.csv", "--table", "events", "--replace-where", "day = 'mon'", "--max-delete", "0"], None)
        .fails(1, &["--replace-where would delete 1 rows of table \"events\", more than --max-delete 0"]);
    assert_eq!(events(), after);
    upsertx(db, &["tue.csv", "--table", "events", "--replace-where", "day = 'tue'", "--delete-missing"], None)
        .fails(2, &["--delete-missing does not combine with it"]);
}

/// A fact table with no key: the window's rows are deleted and every input row inserted
/// (identical rows too); a rerun replaces the window again.
pub fn replace_where_on_a_table_without_a_key(db: &dyn TestDb) {
    db.exec("CREATE TABLE clicks (day VARCHAR(10) NOT NULL, page VARCHAR(10), n INTEGER, gone BOOLEAN DEFAULT FALSE)");
    db.exec(
        "INSERT INTO clicks (day, page, n) VALUES ('mon', 'a', 1), ('mon', 'b', 2), ('tue', 'a', 3), ('tue', 'a', 3)",
    );
    let clicks = || table(db, "clicks", "day, page, n");
    write(
        db,
        "tue.csv",
        "day,page,n
tue,a,5
tue,a,5
tue,c,6
",
    );
    let args = ["tue.csv", "--table", "clicks", "--replace-where", "day = 'tue'", "--json"];
    let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
    let before = clicks();
    let run = upsertx(db, &dry, None);
    assert_eq!((counts(&run), run.report()["duplicates"].as_u64()), ((3, 0, 0, 2), Some(0)));
    assert_eq!(clicks(), before, "a dry run writes nothing");
    let run = upsertx(db, &args, None);
    assert_eq!((counts(&run), run.report()["rows_read"].as_u64()), ((3, 0, 0, 2), Some(3)));
    let after =
        rows(&[&["mon", "a", "1"], &["mon", "b", "2"], &["tue", "a", "5"], &["tue", "a", "5"], &["tue", "c", "6"]]);
    assert_eq!(clicks(), after);
    // Rerun: the same window again.
    assert_eq!(counts(&upsertx(db, &args, None)), (3, 0, 0, 3));
    assert_eq!(clicks(), after);
    // The guards and the window check hold as with a key.
    upsertx(db, &["tue.csv", "--table", "clicks", "--replace-where", "day = 'tue'", "--max-delete", "2"], None)
        .fails(1, &["--replace-where would delete 3 rows of table \"clicks\", more than --max-delete 2"]);
    write(
        db,
        "bad.csv",
        "day,page,n
tue,a,5
wed,a,1
",
    );
    upsertx(db, &["bad.csv", "--table", "clicks", "--replace-where", "day = 'tue'"], None)
        .fails(1, &["bad.csv: row 2", "outside --replace-where (day = 'tue')"]);
    assert_eq!(clicks(), after);
    // Soft delete: the window's live rows are marked, the input's rows added live.
    let soft = ["tue.csv", "--table", "clicks", "--replace-where", "day = 'tue'", "--soft-delete", "gone", "--json"];
    assert_eq!(counts(&upsertx(db, &soft, None)), (3, 0, 0, 3));
    assert_eq!(db.rows("SELECT count(*) FROM clicks WHERE gone"), rows(&[&["3"]]));
    assert_eq!(db.rows("SELECT count(*) FROM clicks WHERE NOT gone"), rows(&[&["5"]]));
    // What needs a key is refused; without --replace-where a key is still needed.
    upsertx(db, &["tue.csv", "--table", "clicks", "--replace-where", "day = 'tue'", "--on-conflict", "ignore"], None)
        .fails(2, &["table \"clicks\" has no key", "--on-conflict does not apply"]);
    upsertx(db, &["tue.csv", "--table", "clicks"], None)
        .fails(1, &["table \"clicks\" has no primary key: name the key columns with --key"]);
    write(
        db,
        "no_day.csv",
        "page,n
a,1
",
    );
    upsertx(db, &["no_day.csv", "--table", "clicks", "--replace-where", "n = 1"], None)
        .fails(1, &["column \"day\" of table \"clicks\" is NOT NULL with no default"]);
}

/// Table `name`, defined by `columns`, loaded by upsertx (so its timestamps are as a
/// load writes them): a, b, f and g at 10:00 on Nov 1st, c with no time.
fn prices(db: &dyn TestDb, name: &str, columns: &str) {
    db.exec(&format!("CREATE TABLE {name} ({columns})"));
    let t = "2026-11-01 10:00:00";
    write(db, "seed.csv", &format!("sku,price,at\na,1,{t}\nb,2,{t}\nc,3,\nf,6,{t}\ng,7,{t}\n"));
    upsertx(db, &["seed.csv", "--table", name, "--key", "sku", "--json"], None).report();
}

/// (inserted, updated, unchanged, stale, duplicates) of a successful run's report.
fn newer_counts(run: &crate::common::Run) -> (u64, u64, u64, u64, u64) {
    let r = run.report();
    let n = |k: &str| r[k].as_u64().unwrap();
    (n("inserted"), n("updated"), n("unchanged"), n("stale"), n("duplicates"))
}

/// Late events: a row is rewritten only by a newer one; a stored NULL is older than
/// anything, an input NULL replaces nothing; among the input's rows of a key the newest
/// wins, wherever it is. Keyed by the primary key (one statement), and by a unique
/// column beside a generated id (the merges that update, then insert).
pub fn newer_by_keeps_the_newest_rows(db: &dyn TestDb) {
    let csv = "sku,price,at\n\
               a,10,2026-11-02 09:00:00\n\
               b,20,2026-10-31 23:00:00\n\
               c,30,2026-10-01 00:00:00\n\
               d,40,2026-11-02 00:00:00\n\
               e,50,2026-11-05 00:00:00\n\
               e,51,2026-11-03 00:00:00\n\
               f,60,\n\
               g,7,2026-11-01 10:00:00\n";
    write(db, "late.csv", csv);
    let tables = [
        ("prices", "sku VARCHAR(10) PRIMARY KEY, price INTEGER, at TIMESTAMP NULL DEFAULT NULL".to_string()),
        (
            "prices_by_sku",
            format!(
                "{}, sku VARCHAR(10) NOT NULL UNIQUE, price INTEGER, at TIMESTAMP NULL DEFAULT NULL",
                db.auto_id("rid")
            ),
        ),
    ];
    for (name, columns) in tables {
        prices(db, name, &columns);
        let price_rows = || table(db, name, "sku, price");
        let args = ["late.csv", "--table", name, "--key", "sku", "--newer-by", "at", "--json"];
        let before = price_rows();
        let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
        // a and c updated; d and e inserted; g unchanged; b (older) and f (NULL) stale;
        // e's older row dropped.
        assert_eq!(newer_counts(&upsertx(db, &dry, None)), (2, 2, 1, 2, 1), "{name}");
        assert_eq!(price_rows(), before, "a dry run writes nothing");
        assert_eq!(newer_counts(&upsertx(db, &args, None)), (2, 2, 1, 2, 1), "{name}");
        let after =
            rows(&[&["a", "10"], &["b", "2"], &["c", "30"], &["d", "40"], &["e", "50"], &["f", "6"], &["g", "7"]]);
        assert_eq!(price_rows(), after, "{name}");
        // The rerun: what was applied is unchanged now, the stale rows still stale.
        let run = upsertx(db, &args[..7], None);
        let line = "0 inserted, 0 updated, 5 unchanged, 1 duplicate keys dropped, 2 stale in";
        assert!(run.stdout.contains(line), "{name}: {}", run.stdout);
        assert_eq!(price_rows(), after, "{name}");
    }
}

/// Rows of one key with the same `--newer-by` value: `--duplicates` decides.
pub fn newer_by_ties_follow_the_duplicates_policy(db: &dyn TestDb) {
    db.exec("CREATE TABLE v (id INTEGER PRIMARY KEY, n INTEGER, who VARCHAR(10))");
    write(db, "v.csv", "id,n,who\n1,5,first\n1,5,last\n1,4,older\n2,,x\n2,,y\n");
    let last = upsertx(db, &["v.csv", "--newer-by", "n", "--json"], None);
    assert_eq!(newer_counts(&last), (2, 0, 0, 0, 3));
    assert_eq!(table(db, "v", "id, who"), rows(&[&["1", "last"], &["2", "y"]]));
    db.exec("DELETE FROM v");
    upsertx(db, &["v.csv", "--newer-by", "n", "--duplicates", "first", "--json"], None).report();
    assert_eq!(table(db, "v", "id, who"), rows(&[&["1", "first"], &["2", "x"]]));
    upsertx(db, &["v.csv", "--newer-by", "n", "--duplicates", "error"], None)
        .fails(1, &["v.csv: row 2", "duplicate key (\"id\")=(1) (first seen at row 1)"]);
    // Usage errors.
    upsertx(db, &["v.csv", "--newer-by", "id"], None).fails(2, &["--newer-by: \"id\" is a key column"]);
    upsertx(db, &["v.csv", "--newer-by", "at"], None).fails(2, &["--newer-by: \"at\" is not an input column"]);
    upsertx(db, &["v.csv", "--newer-by", "n", "--no-update", "n"], None)
        .fails(2, &["--newer-by: \"n\" must be updated too"]);
    upsertx(db, &["v.csv", "--newer-by", "n", "--on-conflict", "ignore"], None)
        .fails(2, &["--newer-by says which rows to update, but --on-conflict ignore never updates one"]);
}

/// Two `--newer-by` loads at once on overlapping keys, several times: whatever their
/// order, every row ends with the greater version, and one of them found the other's
/// newer rows stale.
pub fn concurrent_newer_by_loads_keep_the_newest(db: &dyn TestDb) {
    db.exec("CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER, who VARCHAR(10))");
    // a: version 2 on even ids, 1 on odd; b the other way round.
    let csv = |who: &str, ids: std::ops::RangeInclusive<i64>, even: i64| {
        let mut s = String::from("id,v,who\n");
        for id in ids.clone().rev().filter(|i| i % 2 == 0).chain(ids.filter(|i| i % 2 == 1)) {
            s.push_str(&format!("{id},{},{who}\n", if id % 2 == 0 { even } else { 3 - even }));
        }
        s
    };
    write(db, "a.csv", &csv("a", 1..=1500, 2));
    write(db, "b.csv", &csv("b", 500..=2000, 1));
    for round in 0..3 {
        db.exec("DELETE FROM n");
        let seed: Vec<String> = (1..=2000).map(|i| format!("({i}, 0, 'seed')")).collect();
        db.exec(&format!("INSERT INTO n VALUES {}", seed.join(", ")));
        let spawn =
            |file: &str| crate::common::spawn_upsertx(db, &[file, "--table", "n", "--newer-by", "v", "--json", "-q"]);
        let (a, b) = (spawn("a.csv"), spawn("b.csv"));
        let mut stale = 0;
        for child in [a, b] {
            let run = crate::common::Run::from(child.wait_with_output().unwrap());
            stale += run.report()["stale"].as_u64().unwrap();
        }
        // The second load finds the first's newer rows among 500..=1500: 500 odd ids
        // (a second) or 501 even ones (b second).
        assert!(stale == 500 || stale == 501, "round {round}: {stale} stale");
        let who = |sql: &str| db.rows(sql).remove(0);
        assert_eq!(who("SELECT count(*) FROM n WHERE id BETWEEN 500 AND 1500 AND v = 2"), ["1001"], "round {round}");
        assert_eq!(
            who("SELECT count(*) FROM n WHERE who = CASE WHEN id < 500 OR (id <= 1500 AND id % 2 = 0) THEN 'a' ELSE 'b' END"),
            ["2000"],
            "round {round}"
        );
    }
}

/// Two `--delete-missing` loads at once on overlapping rows, several times: both
/// succeed (no deadlock), and the table is one of the two inputs, as after one serial
/// order or the other; together they delete what either order deletes.
pub fn concurrent_syncs_take_turns(db: &dyn TestDb) {
    db.exec("CREATE TABLE n (id INTEGER PRIMARY KEY, who VARCHAR(10))");
    write(db, "a.csv", &crate::common::ids_by("a", 1..=1500));
    write(db, "b.csv", &crate::common::ids_by("b", 500..=2000));
    for round in 0..4 {
        db.exec("DELETE FROM n");
        let seed: Vec<String> = (1..=2000).map(|i| format!("({i}, 'seed')")).collect();
        db.exec(&format!("INSERT INTO n VALUES {}", seed.join(", ")));
        let spawn =
            |file: &str| crate::common::spawn_upsertx(db, &[file, "--table", "n", "--delete-missing", "--json", "-q"]);
        let (a, b) = (spawn("a.csv"), spawn("b.csv"));
        let mut deleted = 0;
        for child in [a, b] {
            let run = crate::common::Run::from(child.wait_with_output().unwrap());
            deleted += run.report()["deleted"].as_u64().unwrap();
        }
        // a then b: a deletes 1501-2000, b deletes 1-499; b then a: the same, swapped.
        assert_eq!(deleted, 999, "round {round}");
        let who = db.rows("SELECT min(id), max(id), count(*), min(who), max(who) FROM n").remove(0);
        assert!(
            who == ["1", "1500", "1500", "a", "a"] || who == ["500", "2000", "1501", "b", "b"],
            "round {round}: {who:?}"
        );
    }
}

every_dialect!(
    newer_by_ties_follow_the_duplicates_policy,
    concurrent_newer_by_loads_keep_the_newest,
    soft_delete_usage_errors,
    sync_usage_errors_exit_2,
    concurrent_syncs_take_turns,
    replace_where_replaces_a_window,
    replace_where_on_a_table_without_a_key,
    soft_delete_marks_with_the_load_time_and_clears_on_return,
    soft_delete_with_a_flag,
    delete_missing_without_a_scope_syncs_the_whole_table,
    delete_missing_within_a_partition,
    delete_missing_with_a_two_column_scope,
    delete_missing_within_a_condition,
    an_empty_input_deletes_nothing_unless_allowed,
    max_delete_refuses_a_load_that_would_delete_too_much,
    a_dry_run_predicts_the_deletions,
    delete_missing_into_an_empty_table,
    delete_missing_with_an_integer_key_and_duplicates;
    not on distributed tables:
    // A second unique key without the distribution column.
    newer_by_keeps_the_newest_rows,
);
