//! The Citus suite's own scenarios (scripts/test-citus.sh, feature `citus-tests`): what
//! only a cluster shows. The shared scenarios run on Citus too, on distributed and on
//! reference tables (see `every_dialect!`).

use crate::common::{table, upsertx, write, Citus, TestDb};
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

/// What Citus cannot do yet is refused before anything is written, naming the table and
/// the option: into a reference table `--history`, deletes, and a load that updates
/// before it inserts (an identity column the input lacks).
#[test]
fn what_is_not_supported_yet_is_refused() {
    let db = Citus::reference();
    db.exec("CREATE TABLE dim (id integer, valid_from timestamp, valid_to timestamp, name text, PRIMARY KEY (id, valid_from))");
    write(&db, "dim.csv", "id,name\n1,a\n");
    upsertx(&db, &["dim.csv", "--history", "valid_from,valid_to"], None)
        .fails(1, &["table \"dim\" is a Citus reference table: --history into it is not supported yet"]);
    assert!(db.rows("SELECT * FROM dim").is_empty());

    db.exec("CREATE TABLE acct (id serial PRIMARY KEY, code text NOT NULL UNIQUE, n integer)");
    db.exec("INSERT INTO acct (code, n) VALUES ('a', 1)");
    write(&db, "acct.csv", "code,n\na,2\nb,3\n");
    upsertx(&db, &["acct.csv", "--key", "code"], None)
        .fails(1, &["table \"acct\" is a Citus reference table: a load that updates before it inserts"]);
    assert_eq!(table(&db, "acct", "code, n"), [["a", "1"]]);

    db.exec("CREATE TABLE stock (sku text PRIMARY KEY, qty integer)");
    db.exec("INSERT INTO stock VALUES ('a', 1), ('b', 2)");
    write(&db, "stock.csv", "sku,qty\na,5\n");
    upsertx(&db, &["stock.csv", "--delete-missing"], None).fails(
        1,
        &["table \"stock\" is a Citus reference table: deleting (--delete-missing, --replace-where) into it"],
    );
    assert_eq!(table(&db, "stock", "sku, qty"), [["a", "1"], ["b", "2"]]);
    // Upserts into it go on.
    let run = upsertx(&db, &["stock.csv", "--json"], None);
    assert_eq!(counts(&run), (0, 1, 0), "{}", run.stdout);
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
