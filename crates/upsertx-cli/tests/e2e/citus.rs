//! The Citus suite's own scenarios (scripts/test-citus.sh, feature `citus-tests`): what
//! only a cluster shows. The shared scenarios run on Citus too, on distributed and on
//! reference tables (see `every_dialect!`).

use crate::common::{table, upsertx, upsertx_traced, write, Citus, TestDb};
use std::fmt::Write as _;

/// (inserted, updated, unchanged) of a successful run's report.
fn counts(run: &crate::common::Run) -> (u64, u64, u64) {
    let r = run.report();
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    (n("inserted"), n("updated"), n("unchanged"))
}

/// A million rows, half of them new and half changing existing ones, into a table of a
/// million rows: the counts are exact (the coordinator's statistics do not see the rows
/// the workers write), the dry run's the same, and a rerun finds every row unchanged.
fn half_new_half_changed(db: &dyn TestDb) {
    db.exec("CREATE TABLE customers (id bigint PRIMARY KEY, name text)");
    db.exec("INSERT INTO customers SELECT g, 'name ' || g FROM generate_series(1, 1000000) AS g");
    let mut csv = String::from("id,name\n");
    for i in 500_001..=1_500_000 {
        writeln!(csv, "{i},new {i}").unwrap();
    }
    write(db, "customers.csv", &csv);
    let dry = upsertx(db, &["customers.csv", "--dry-run", "--json"], None);
    assert_eq!(counts(&dry), (500_000, 500_000, 0), "{}", dry.stdout);
    let run = upsertx(db, &["customers.csv", "--json"], None);
    assert_eq!(counts(&run), (500_000, 500_000, 0), "{}", run.stdout);
    let summary = db.rows("SELECT count(*), count(*) FILTER (WHERE name LIKE 'new %') FROM customers");
    assert_eq!(summary, [["1500000", "1000000"]]);
    let again = upsertx(db, &["customers.csv", "--json"], None);
    assert_eq!(counts(&again), (0, 0, 1_000_000), "{}", again.stdout);
}

#[test]
fn half_new_half_changed_into_a_distributed_table() {
    half_new_half_changed(&Citus::distributed());
}

#[test]
fn half_new_half_changed_into_a_reference_table() {
    half_new_half_changed(&Citus::reference());
}

/// Citus keeps a unique index per shard, so a key must include the distribution column:
/// one without it is refused, naming the column, and nothing is written.
#[test]
fn a_key_without_the_distribution_column_is_refused() {
    let db = Citus::distributed();
    // Distributed by `tenant`, the primary key's first column.
    db.exec("CREATE TABLE accounts (tenant integer, id integer, name text, PRIMARY KEY (tenant, id))");
    db.exec("INSERT INTO accounts VALUES (1, 1, 'a')");
    write(&db, "accounts.csv", "tenant,id,name\n1,1,b\n2,1,c\n");
    upsertx(&db, &["accounts.csv", "--key", "id"], None)
        .fails(1, &["table \"accounts\" is distributed by column \"tenant\" (Citus), and its key must include it"]);
    assert_eq!(table(&db, "accounts", "tenant, id, name"), [["1", "1", "a"]]);
    // With it, the load goes through.
    let run = upsertx(&db, &["accounts.csv", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0), "{}", run.stdout);
}

/// Into a reference table, the loads whose statements write from the stage (deletes,
/// `--history`, an update before the insert): Citus refuses a write to a reference table
/// that reads a local table in any form, so the stage's rows are written into those
/// statements (`citus::dml_ctes`). Text that array and SQL quoting must carry (quotes,
/// braces, commas, backslashes, the word NULL, a real NULL) arrives as it was.
#[test]
fn reference_tables_take_deletes_history_and_updates_first() {
    let db = Citus::reference();
    db.exec("CREATE TABLE stock (sku text PRIMARY KEY, qty integer, note text)");
    db.exec("INSERT INTO stock VALUES ('a', 1, NULL), ('b', 2, NULL), ('c\"}', 3, NULL)");
    write(&db, "stock.csv", "sku,qty,note\na,5,\"it's {x,y}\"\n\"c\"\"}\",3,\\back\nNULL,7,NULL\nd,,\n");
    let run = upsertx(&db, &["stock.csv", "--delete-missing", "--json"], None);
    assert_eq!(counts(&run), (2, 2, 0), "{}", run.stdout);
    assert_eq!(run.report()["deleted"], 1, "{}", run.stdout);
    assert_eq!(
        table(&db, "stock", "sku, qty, note, note IS NULL"),
        [
            ["NULL", "7", "NULL", "f"],
            ["a", "5", "it's {x,y}", "f"],
            ["c\"}", "3", "\\back", "f"],
            ["d", "NULL", "NULL", "t"]
        ]
    );

    db.exec("CREATE TABLE acct (id serial PRIMARY KEY, code text NOT NULL UNIQUE, n integer)");
    db.exec("INSERT INTO acct (code, n) VALUES ('a', 1)");
    write(&db, "acct.csv", "code,n\na,2\nb,3\n");
    let run = upsertx(&db, &["acct.csv", "--key", "code", "--json"], None);
    assert_eq!(counts(&run), (1, 1, 0), "{}", run.stdout);
    assert_eq!(table(&db, "acct", "id, code, n"), [["1", "a", "2"], ["2", "b", "3"]]);

    db.exec("CREATE TABLE dim (id integer, valid_from timestamp, valid_to timestamp, name text, PRIMARY KEY (id, valid_from))");
    write(&db, "dim.csv", "id,name\n1,a\n2,b\n");
    let history =
        |at: &'static str| ["dim.csv", "--history", "valid_from,valid_to", "--as-of", at, "--delete-missing", "--json"];
    upsertx(&db, &history("2026-01-01"), None);
    write(&db, "dim.csv", "id,name\n1,a2\n");
    let run = upsertx(&db, &history("2026-02-01"), None);
    // A changed entity counts updated (its version closed, a new one inserted); the absent
    // one deleted (closed).
    assert_eq!(counts(&run), (0, 1, 0), "{}", run.stdout);
    assert_eq!(run.report()["deleted"], 1, "{}", run.stdout);
    assert_eq!(
        table(&db, "dim", "id, valid_from, valid_to, name"),
        [
            ["1", "2026-01-01 00:00:00", "2026-02-01 00:00:00", "a"],
            ["1", "2026-02-01 00:00:00", "NULL", "a2"],
            ["2", "2026-01-01 00:00:00", "2026-02-01 00:00:00", "b"],
        ]
    );
}

/// `--create --distribute-by COL` makes a distributed table (by default `--create` makes
/// a table of the coordinator's own); a later load asking the same finds it so; a table
/// that exists otherwise is refused, nothing written; the column must be in the key.
#[test]
fn create_distributes_on_request() {
    let db = Citus::distributed();
    write(&db, "events.csv", "id,kind\n1,a\n2,b\n");
    let run = upsertx(&db, &["events.csv", "--key", "id", "--create", "--distribute-by", "id", "--json"], None);
    assert_eq!(counts(&run), (2, 0, 0), "{}", run.stdout);
    let placed = "SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
                  WHERE logicalrelid = 'events'::regclass";
    assert_eq!(db.rows(placed), [["id"]]);
    write(&db, "events.csv", "id,kind\n2,c\n3,d\n");
    let again = upsertx(&db, &["events.csv", "--key", "id", "--create", "--distribute-by", "id", "--json"], None);
    assert_eq!(counts(&again), (1, 1, 0), "{}", again.stdout);
    assert_eq!(table(&db, "events", "id, kind"), [["1", "a"], ["2", "c"], ["3", "d"]]);
    // Without --distribute-by, --create makes a table of the coordinator's own.
    write(&db, "plain.csv", "id,kind\n1,a\n");
    upsertx(&db, &["plain.csv", "--key", "id", "--create", "--json"], None);
    assert!(db.rows("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'plain'::regclass").is_empty());
    // A table that exists and is not distributed by the column: refused, nothing written.
    write(&db, "plain.csv", "id,kind\n1,b\n");
    upsertx(&db, &["plain.csv", "--key", "id", "--create", "--distribute-by", "id"], None).fails(
        1,
        &["table \"plain\" exists and is not distributed: --distribute-by \"id\" applies when --create creates the table"],
    );
    assert_eq!(table(&db, "plain", "id, kind"), [["1", "a"]]);
    // The column must be one of the key's.
    write(&db, "other.csv", "id,kind\n1,a\n");
    upsertx(&db, &["other.csv", "--key", "id", "--create", "--distribute-by", "kind"], None)
        .fails(2, &["--distribute-by kind: the column must be one of --key"]);
    assert_eq!(db.rows("SELECT (to_regclass('other') IS NULL)::int"), [["1"]]);
}

/// `--colocated-stage`: the input staged in a table distributed like the target, merged
/// by the workers shard by shard. Counts, duplicates and the table are what the
/// temporary stage gives; the stage is dropped; a load it cannot serve (one that deletes)
/// takes the temporary stage; a value the server refuses while staging names its row,
/// and leaves neither rows nor a stage.
#[test]
fn a_colocated_stage_merges_on_the_workers() {
    let db = Citus::distributed();
    db.exec("CREATE DOMAIN small AS integer CHECK (VALUE < 100)");
    for t in ["a", "b"] {
        db.exec(&format!("CREATE TABLE {t} (id bigint PRIMARY KEY, name text, n small)"));
        db.exec(&format!("INSERT INTO {t} SELECT g, 'old ' || g, 1 FROM generate_series(1, 300) AS g"));
    }
    // Shuffled keys, a duplicate (the last wins), rows unchanged, changed and new.
    let mut csv = String::from("id,name,n\n");
    for i in (200..=400).rev() {
        let name = if i % 3 == 0 { format!("old {i}") } else { format!("new {i}") };
        csv.push_str(&format!("{i},{name},1\n"));
    }
    csv.push_str("250,last,2\n");
    write(&db, "in.csv", &csv);
    let stages = "SELECT count(*) FROM pg_class WHERE relname LIKE 'upsertx_stage%' AND relkind = 'r'
                  AND relnamespace = current_schema()::regnamespace";
    let colocated = upsertx_traced(&db, &["in.csv", "--table", "a", "--colocated-stage", "--json"]);
    assert!(colocated.stderr.contains("merged (on the workers)"), "{}", colocated.stderr);
    let temporary = upsertx(&db, &["in.csv", "--table", "b", "--json"], None);
    assert_eq!(colocated.report()["duplicates"], 1, "{}", colocated.stdout);
    assert_eq!(counts(&colocated), counts(&temporary), "{} / {}", colocated.stdout, temporary.stdout);
    assert_eq!(counts(&colocated), (100, 67, 34), "{}", colocated.stdout);
    assert_eq!(table(&db, "a", "id, name, n"), table(&db, "b", "id, name, n"));
    assert_eq!(db.rows(stages), [["0"]]);
    // In key order (no de-duplication), a dry run, and a rerun that changes nothing.
    let mut sorted = String::from("id,name,n\n");
    for i in 350..=450 {
        sorted.push_str(&format!("{i},sorted {i},3\n"));
    }
    write(&db, "sorted.csv", &sorted);
    let dry = upsertx(&db, &["sorted.csv", "--table", "a", "--colocated-stage", "--dry-run", "--json"], None);
    assert_eq!(counts(&dry), (50, 51, 0), "{}", dry.stdout);
    let run = upsertx(&db, &["sorted.csv", "--table", "a", "--colocated-stage", "--json"], None);
    assert_eq!(counts(&run), (50, 51, 0), "{}", run.stdout);
    let again = upsertx(&db, &["sorted.csv", "--table", "a", "--colocated-stage", "--json"], None);
    assert_eq!(counts(&again), (0, 0, 101), "{}", again.stdout);
    // A load that deletes takes the temporary stage, and still syncs.
    let sync = upsertx_traced(&db, &["sorted.csv", "--table", "a", "--colocated-stage", "--delete-missing", "--json"]);
    assert!(!sync.stderr.contains("on the workers"), "{}", sync.stderr);
    assert_eq!(sync.report()["deleted"], 349, "{}", sync.stdout);
    // The domain's check refuses a value at the COPY: its row is named, nothing written.
    let before = table(&db, "a", "id, name, n");
    write(&db, "bad.csv", "id,name,n\n1,x,1\n2,y,500\n");
    upsertx(&db, &["bad.csv", "--table", "a", "--colocated-stage"], None).fails(1, &["bad.csv: row 2", "small"]);
    assert_eq!(table(&db, "a", "id, name, n"), before);
    assert_eq!(db.rows(stages), [["0"]]);
}

/// Rows out of key order into a Citus table are sorted on the client before staging (the
/// stage then needs no de-duplication on the coordinator). A value the server refuses at
/// the COPY still names its row, column and value; `--duplicates error` names the first
/// duplicate in input order, also one between rows staged as they came (an increasing
/// first part) and sorted ones; the last of a key's rows wins by default.
#[test]
fn rows_sorted_on_the_client_keep_the_input_order_semantics() {
    let db = Citus::distributed();
    db.exec("CREATE DOMAIN small AS integer CHECK (VALUE < 100)");
    db.exec("CREATE TABLE t (id bigint PRIMARY KEY, n small)");
    write(&db, "bad.csv", "id,n\n5,1\n3,1\n4,500\n1,1\n");
    upsertx(&db, &["bad.csv", "--table", "t"], None).fails(1, &["bad.csv: row 3", "\"n\"", "500"]);
    assert!(db.rows("SELECT * FROM t").is_empty());
    // 5000 rows in key order (staged as they come), then rows out of order.
    let mut csv = String::from("id,n\n");
    for i in 1..=5000 {
        csv.push_str(&format!("{i},1\n"));
    }
    csv.push_str("6001,1\n2,2\n6000,3\n6001,4\n");
    write(&db, "mixed.csv", &csv);
    upsertx(&db, &["mixed.csv", "--table", "t", "--duplicates", "error"], None)
        .fails(1, &["mixed.csv: row 5002", "(\"id\")=(2)", "first seen at row 2"]);
    assert!(db.rows("SELECT * FROM t").is_empty());
    let run = upsertx_traced(&db, &["mixed.csv", "--table", "t", "--json"]);
    assert!(run.stderr.contains("sorted the rows"), "{}", run.stderr);
    assert_eq!(counts(&run), (5002, 0, 0), "{}", run.stdout);
    assert_eq!(run.report()["duplicates"], 2, "{}", run.stdout);
    assert_eq!(
        db.rows("SELECT id, n FROM t WHERE id IN (2, 6000, 6001) ORDER BY id"),
        [["2", "2"], ["6000", "3"], ["6001", "4"]]
    );
    // All out of order: the duplicate within the sorted rows.
    write(&db, "dup.csv", "id,n\n9,1\n8,1\n9,2\n");
    upsertx(&db, &["dup.csv", "--table", "t", "--duplicates", "error"], None)
        .fails(1, &["dup.csv: row 3", "(\"id\")=(9)", "first seen at row 1"]);
}

/// A `--colocated-stage` load killed (SIGKILL) after staging, while it waits for the
/// table lock another transaction's row lock keeps from it: its transaction is aborted
/// with the stage it created in it, so no stage is left for anyone to clean up, the table
/// is as it was, and the same load then succeeds.
#[test]
fn a_killed_colocated_load_leaves_no_stage() {
    use std::io::{BufRead, BufReader};
    let db = Citus::distributed();
    db.exec("CREATE TABLE k (id bigint PRIMARY KEY, v text)");
    db.exec("INSERT INTO k SELECT g, 'old' FROM generate_series(1, 10) AS g");
    let mut csv = String::from("id,v\n");
    for i in (1..=20_000).rev() {
        csv.push_str(&format!("{i},new\n"));
    }
    write(&db, "k.csv", &csv);
    let mut holder = db.session();
    holder.exec("BEGIN");
    holder.exec("UPDATE k SET v = 'held' WHERE id = 1");
    let mut child = crate::common::spawn_upsertx_traced(&db, &["k.csv", "--colocated-stage"]);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let staged = lines.by_ref().map_while(Result::ok).any(|l| l.contains("staged 20000 rows"));
    assert!(staged, "the load ended before it staged its rows");
    let stages = "SELECT count(*) FROM pg_class WHERE relname LIKE 'upsertx_stage%' AND relkind = 'r'
                  AND relnamespace = current_schema()::regnamespace";
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "the load finished before it was killed");
    holder.exec("ROLLBACK");
    // The coordinator ends the killed session's transaction once it notices the client
    // is gone: wait for that, then nothing of it is left.
    let started = std::time::Instant::now();
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE \"' || current_schema() || '\".\"k\"%'";
    while db.rows(waiting) != [["0"]] {
        assert!(started.elapsed().as_secs() < 30, "the killed load's session lingers");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(db.rows(stages), [["0"]]);
    assert_eq!(db.rows("SELECT count(*), min(v), max(v) FROM k"), [["10", "old", "old"]]);
    let run = upsertx(&db, &["k.csv", "--colocated-stage", "--json"], None);
    assert_eq!(counts(&run), (19_990, 10, 0), "{}", run.stdout);
    assert_eq!(db.rows(stages), [["0"]]);
}

/// `--colocated-stage` loads at the same time on overlapping keys, in opposite orders:
/// neither fails nor deadlocks (each locks the table against other writers from its
/// count to its commit, so they take turns), and the table is what one serial order
/// gives (every row by the one that committed last), with counts that add up. A row
/// lock another transaction holds makes the load wait, and `--lock-timeout` end the wait
/// with nothing written and no stage left.
#[test]
fn colocated_loads_take_turns() {
    let db = Citus::distributed();
    db.exec("CREATE TABLE k (id bigint PRIMARY KEY, who text)");
    let (mut up, mut down) = (String::from("id,who\n"), String::from("id,who\n"));
    for i in 1..=4000 {
        up.push_str(&format!("{i},up\n"));
        down.push_str(&format!("{},down\n", 4001 - i));
    }
    write(&db, "up.csv", &up);
    write(&db, "down.csv", &down);
    for round in 0..3 {
        db.exec("DELETE FROM k");
        db.exec("INSERT INTO k SELECT g, 'base' FROM generate_series(1, 4000, 2) AS g");
        let a = crate::common::spawn_upsertx(&db, &["up.csv", "--table", "k", "--colocated-stage", "--json"]);
        let b = crate::common::spawn_upsertx(&db, &["down.csv", "--table", "k", "--colocated-stage", "--json"]);
        let a = crate::common::Run::from(a.wait_with_output().unwrap());
        let b = crate::common::Run::from(b.wait_with_output().unwrap());
        let (ca, cb) = (counts(&a), counts(&b));
        // The first to commit inserted the even keys and updated the odd ones; the second
        // found every key and rewrote them all.
        let mut both = [ca, cb];
        both.sort();
        assert_eq!(both, [(0, 4000, 0), (2000, 2000, 0)], "round {round}: {} / {}", a.stdout, b.stdout);
        let last = if ca == (0, 4000, 0) { "up" } else { "down" };
        assert_eq!(db.rows("SELECT count(*), min(who), max(who) FROM k"), [["4000", last, last]], "round {round}");
    }
    let stages = "SELECT count(*) FROM pg_class WHERE relname LIKE 'upsertx_stage%' AND relkind = 'r'
                  AND relnamespace = current_schema()::regnamespace";
    let before = db.rows("SELECT count(*), min(who), max(who) FROM k");
    let mut holder = db.session();
    holder.exec("BEGIN");
    holder.exec("UPDATE k SET who = 'held' WHERE id = 1");
    upsertx(&db, &["up.csv", "--table", "k", "--colocated-stage", "--lock-timeout", "1"], None).fails(1, &["lock"]);
    holder.exec("ROLLBACK");
    assert_eq!(db.rows("SELECT count(*), min(who), max(who) FROM k"), before, "nothing written");
    assert_eq!(db.rows(stages), [["0"]]);
    let run = upsertx(&db, &["down.csv", "--table", "k", "--colocated-stage", "--json"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
