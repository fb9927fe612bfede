//! End-to-end tests of the `upsertx` command line against real databases. Each
//! scenario runs once per dialect (see the `scenarios!` list at the bottom).

use crate::common::{rows, table, upsertx, write, TestDb};

fn customers(db: &dyn TestDb) {
    db.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100), city VARCHAR(100))");
    db.exec("INSERT INTO customers VALUES (1, 'Ada', 'London'), (2, 'Grace', 'New York')");
}

/// The seed scenario: a text primary key that already exists is updated, not an
/// IntegrityError; a new one is inserted.
pub fn text_key_that_exists_is_updated(db: &dyn TestDb) {
    db.exec("CREATE TABLE products (sku VARCHAR(20) PRIMARY KEY, title VARCHAR(100), price DOUBLE PRECISION)");
    db.exec("INSERT INTO products VALUES ('007', 'Old title', 1.5)");
    write(db, "products.csv", "sku,title,price\n007,New title,2.5\n008,Other,3\n");
    let run = upsertx(db, &["products.csv", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 0, 0, 0));
    assert_eq!(
        table(db, "products", "sku, title, price"),
        rows(&[&["007", "New title", "2.5"], &["008", "Other", "3"]])
    );
}

pub fn rerunning_the_same_file_changes_nothing(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,city\n1,Ada,Paris\n3,Linus,Helsinki\n");
    assert_eq!(upsertx(db, &["customers.csv", "--json"], None).counts(), (1, 1, 0, 0, 0));
    let again = upsertx(db, &["customers.csv", "--json"], None);
    assert_eq!(again.counts(), (0, 0, 2, 0, 0));
    let forced = upsertx(db, &["customers.csv", "--json", "--always-update"], None);
    assert_eq!(forced.counts(), (0, 2, 0, 0, 0));
    assert_eq!(
        table(db, "customers", "id, name, city"),
        rows(&[&["1", "Ada", "Paris"], &["2", "Grace", "New York"], &["3", "Linus", "Helsinki"]])
    );
}

pub fn duplicate_keys_last_wins_by_default(db: &dyn TestDb) {
    customers(db);
    write(db, "c.csv", "id,name,city\n5,First,A\n1,Ada,X\n5,Second,B\n5,Third,C\n");
    let run = upsertx(db, &["c.csv", "--table", "customers", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 0, 0, 2));
    assert_eq!(table(db, "customers", "id, name")[2], ["5", "Third"]);
}

pub fn duplicate_keys_first_wins(db: &dyn TestDb) {
    customers(db);
    write(db, "c.csv", "id,name,city\n5,First,A\n5,Second,B\n1,Ada,London\n1,Ada,Rome\n");
    let run = upsertx(db, &["c.csv", "--table", "customers", "--duplicates", "first", "--json"], None);
    assert_eq!(run.counts(), (1, 0, 1, 0, 2));
    assert_eq!(table(db, "customers", "id, name, city")[0], ["1", "Ada", "London"]);
    assert_eq!(table(db, "customers", "id, name")[2], ["5", "First"]);
}

pub fn duplicate_keys_error_names_both_rows(db: &dyn TestDb) {
    customers(db);
    write(db, "c.csv", "id,name,city\n5,First,A\n6,Other,B\n5,Second,B\n");
    let run = upsertx(db, &["c.csv", "--table", "customers", "--duplicates", "error"], None);
    run.fails(1, &["c.csv: row 3", "duplicate key", "(\"id\")=(5)", "first seen at row 1"]);
    assert_eq!(table(db, "customers", "id").len(), 2, "nothing written");
}

pub fn composite_key(db: &dyn TestDb) {
    db.exec("CREATE TABLE stock (shop VARCHAR(10), item VARCHAR(10), qty INTEGER, PRIMARY KEY (shop, item))");
    db.exec("INSERT INTO stock VALUES ('a', 'x', 1), ('a', 'y', 2), ('b', 'x', 3)");
    write(db, "stock.csv", "item,shop,qty\nx,a,10\ny,a,2\ny,b,7\n");
    let run = upsertx(db, &["stock.csv", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 1, 0, 0));
    assert_eq!(
        db.rows("SELECT shop, item, qty FROM stock ORDER BY 1, 2"),
        rows(&[&["a", "x", "10"], &["a", "y", "2"], &["b", "x", "3"], &["b", "y", "7"]])
    );
    // An explicit key in another order is the same key.
    assert_eq!(upsertx(db, &["stock.csv", "--key", "item,shop", "--json"], None).counts(), (0, 0, 3, 0, 0));
}

pub fn on_conflict_ignore_keeps_existing_rows(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,city\n1,Changed,Changed\n3,New,Oslo\n");
    let run = upsertx(db, &["customers.csv", "--on-conflict", "ignore", "--json"], None);
    assert_eq!(run.counts(), (1, 0, 0, 1, 0));
    assert_eq!(table(db, "customers", "id, name")[0], ["1", "Ada"]);
    assert_eq!(table(db, "customers", "id").len(), 3);
}

pub fn on_conflict_error_names_the_key_and_writes_nothing(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,city\n3,New,Oslo\n2,Changed,Changed\n");
    let run = upsertx(db, &["customers.csv", "--on-conflict", "error"], None);
    run.fails(1, &["customers.csv: row 2", "key (\"id\")=(2) already exists in table \"customers\""]);
    assert_eq!(table(db, "customers", "id").len(), 2, "row 3 was not inserted");
    write(db, "new.csv", "id,name,city\n3,New,Oslo\n");
    let ok = upsertx(db, &["new.csv", "--table", "customers", "--on-conflict", "error", "--json"], None);
    assert_eq!(ok.counts(), (1, 0, 0, 0, 0));
}

pub fn bad_value_deep_in_the_file_leaves_the_table_unchanged(db: &dyn TestDb) {
    customers(db);
    let mut csv = String::from("id,name,city\n");
    for i in 1..=250_000u32 {
        if i == 200_000 {
            csv.push_str("200000,Bad,Row\nnot-a-number,Oops,Row\n");
        } else {
            csv.push_str(&format!("{i},name {i},city {}\n", i % 100));
        }
    }
    write(db, "customers.csv", &csv);
    let run = upsertx(db, &["customers.csv"], None);
    run.fails(1, &["customers.csv: row 200001 (line 200002), column \"id\": \"not-a-number\": not an integer"]);
    assert_eq!(table(db, "customers", "id, name, city"), rows(&[&["1", "Ada", "London"], &["2", "Grace", "New York"]]));
}

pub fn values_are_checked_against_column_types(db: &dyn TestDb) {
    db.exec(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, x DOUBLE PRECISION, ok BOOLEAN, d DATE, ts TIMESTAMP, code VARCHAR(10) NOT NULL)",
    );
    write(db, "t.csv", "id,n,x,ok,d,ts,code\n1,1.0,2.5,true,2024-02-29,2024-02-29T10:00:00Z,007\n");
    assert_eq!(upsertx(db, &["t.csv", "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(table(db, "t", "n, x, CAST(ok AS INTEGER), d, code"), rows(&[&["1", "2.5", "1", "2024-02-29", "007"]]));
    for (line, needle) in [
        ("2,abc,1,true,2024-01-01,2024-01-01,a", "column \"n\": \"abc\": not an integer"),
        ("2,1,one,true,2024-01-01,2024-01-01,a", "column \"x\": \"one\": not a number"),
        ("2,1,1,maybe,2024-01-01,2024-01-01,a", "column \"ok\": \"maybe\": not a boolean"),
        ("2,1,1,true,2023-02-29,2024-01-01,a", "column \"d\": \"2023-02-29\": not a valid date"),
        ("2,1,1,true,2024-01-01,noon,a", "column \"ts\": \"noon\": not a valid timestamp"),
        ("2,1,1,true,2024-01-01,2024-01-01,", "column \"code\": NULL: NULL in a NOT NULL column"),
        (",1,1,true,2024-01-01,2024-01-01,a", "column \"id\": NULL: NULL in a key column"),
    ] {
        write(db, "bad.csv", &format!("id,n,x,ok,d,ts,code\n{line}\n"));
        upsertx(db, &["bad.csv", "--table", "t"], None).fails(1, &["bad.csv: row 1 (line 2)", needle]);
    }
    assert_eq!(table(db, "t", "id").len(), 1);
}

pub fn csv_nulls_empty_strings_quotes_and_newlines(db: &dyn TestDb) {
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)");
    write(db, "notes.csv", "id,body\n1,\n2,\"\"\n3,\"a, \"\"quoted\"\"\nline\"\n4,plain é\n");
    assert_eq!(upsertx(db, &["notes.csv", "--json"], None).counts(), (4, 0, 0, 0, 0));
    assert_eq!(
        table(db, "notes", "id, body"),
        rows(&[&["1", "NULL"], &["2", ""], &["3", "a, \"quoted\"\nline"], &["4", "plain é"]])
    );
}

pub fn tsv_input(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.tsv", "id\tname\tcity\n1\tAda, Countess\tLondon\n");
    assert_eq!(upsertx(db, &["customers.tsv", "--json"], None).counts(), (0, 1, 0, 0, 0));
    assert_eq!(table(db, "customers", "name")[0], ["Ada, Countess"]);
}

pub fn json_array_and_ndjson(db: &dyn TestDb) {
    customers(db);
    write(
        db,
        "customers.json",
        r#"[{"id": 1, "name": "Ada", "city": null}, {"id": 4, "name": "Alan", "city": "Wilmslow"}]"#,
    );
    assert_eq!(upsertx(db, &["customers.json", "--json"], None).counts(), (1, 1, 0, 0, 0));
    assert_eq!(table(db, "customers", "id, city")[0], ["1", "NULL"]);
    write(db, "more.ndjson", "{\"id\": 5, \"name\": \"Barbara\"}\n{\"id\": 4, \"name\": \"Alan T\"}\n");
    assert_eq!(upsertx(db, &["more.ndjson", "--table", "customers", "--json"], None).counts(), (1, 1, 0, 0, 0));
    // city is not in the input: untouched for 4, default (NULL) for 5.
    assert_eq!(
        table(db, "customers", "id, name, city")[2..],
        rows(&[&["4", "Alan T", "Wilmslow"], &["5", "Barbara", "NULL"]])
    );
    write(db, "bad.ndjson", "{\"id\": 6, \"name\": \"x\"}\n{\"id\": \"six\", \"name\": \"y\"}\n");
    upsertx(db, &["bad.ndjson", "--table", "customers"], None)
        .fails(1, &["bad.ndjson: row 2, column \"id\": \"six\": not an integer"]);
}

pub fn stdin_input(db: &dyn TestDb) {
    customers(db);
    let run = upsertx(
        db,
        &["-", "--table", "customers", "--format", "csv", "--json"],
        Some("id,name,city\n2,Grace,NYC\n9,Ken,\n"),
    );
    assert_eq!(run.counts(), (1, 1, 0, 0, 0));
    assert_eq!(table(db, "customers", "id, city")[1], ["2", "NYC"]);
    upsertx(db, &["-", "--table", "customers"], Some("id\n1\n")).fails(2, &["--format"]);
    upsertx(db, &["-", "--format", "csv"], Some("id\n1\n")).fails(2, &["--table"]);
}

pub fn identifiers_with_spaces_quotes_and_reserved_words(db: &dyn TestDb) {
    let t = "my \"odd\" table";
    db.exec(&format!(
        "CREATE TABLE {} ({} INTEGER PRIMARY KEY, {} VARCHAR(50), {} VARCHAR(50))",
        db.q(t),
        db.q("select"),
        db.q("first name"),
        db.q("it's %s (x)")
    ));
    write(db, "odd.csv", "select,first name,it's %s (x)\n1,Ada,a\n2,Grace,'; DROP TABLE x; --\n");
    let run = upsertx(db, &["odd.csv", "--table", t, "--json"], None);
    assert_eq!(run.counts(), (2, 0, 0, 0, 0));
    assert_eq!(run.report()["table"], t);
    write(db, "odd2.csv", "select,first name\n1,Ada L\n");
    let run = upsertx(db, &["odd2.csv", "--table", t, "--key", "select", "--json"], None);
    assert_eq!(run.counts(), (0, 1, 0, 0, 0));
    assert_eq!(
        db.rows(&format!("SELECT {}, {} FROM {} ORDER BY 1", db.q("first name"), db.q("it's %s (x)"), db.q(t))),
        rows(&[&["Ada L", "a"], &["Grace", "'; DROP TABLE x; --"]])
    );
}

/// Also under `--changes`, whose merges differ (the table locked, the statements
/// chosen by what the read before them found).
pub fn generated_ids_survive_updates_by_another_unique_key(db: &dyn TestDb) {
    for told in [&[][..], &["--changes", "told.ndjson"]] {
        db.exec("DROP TABLE IF EXISTS users");
        db.exec(&format!(
            "CREATE TABLE users ({}, email VARCHAR(100) NOT NULL UNIQUE, name VARCHAR(100))",
            db.auto_id("id")
        ));
        db.exec("INSERT INTO users (email, name) VALUES ('a@x', 'A'), ('b@x', 'B')");
        write(db, "users.csv", "email,name\nb@x,B2\nc@x,C\n");
        let args = [&["users.csv", "--key", "email", "--json"][..], told].concat();
        assert_eq!(upsertx(db, &args, None).counts(), (1, 1, 0, 0, 0));
        // A new key alone, and one unchanged.
        write(db, "users2.csv", "email,name\nd@x,D\nb@x,B2\n");
        let args = [&["users2.csv", "--table", "users", "--key", "email", "--json"][..], told].concat();
        assert_eq!(upsertx(db, &args, None).counts(), (1, 0, 1, 0, 0));
        // No id was burnt by the update: the new rows take 3 and 4.
        assert_eq!(
            table(db, "users", "id, email, name"),
            rows(&[&["1", "a@x", "A"], &["2", "b@x", "B2"], &["3", "c@x", "C"], &["4", "d@x", "D"]])
        );
    }
}

pub fn update_and_no_update_narrow_the_written_columns(db: &dyn TestDb) {
    db.exec("CREATE TABLE acct (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at VARCHAR(30), score INTEGER)");
    db.exec("INSERT INTO acct VALUES (1, 'a', '2020-01-01', 1)");
    write(db, "acct.csv", "id,name,created_at,score\n1,b,2024-01-01,5\n2,c,2024-01-01,6\n");
    assert_eq!(upsertx(db, &["acct.csv", "--no-update", "created_at", "--json"], None).counts(), (1, 1, 0, 0, 0));
    assert_eq!(table(db, "acct", "id, name, created_at, score")[0], ["1", "b", "2020-01-01", "5"]);
    write(db, "acct.csv", "id,name,created_at,score\n1,z,2025-01-01,9\n");
    assert_eq!(upsertx(db, &["acct.csv", "--update", "score", "--json"], None).counts(), (0, 1, 0, 0, 0));
    assert_eq!(table(db, "acct", "id, name, created_at, score")[0], ["1", "b", "2020-01-01", "9"]);
    // Only the narrowed columns decide "unchanged".
    assert_eq!(upsertx(db, &["acct.csv", "--update", "score", "--json"], None).counts(), (0, 0, 1, 0, 0));
    upsertx(db, &["acct.csv", "--update", "id"], None).fails(2, &["key column"]);
    upsertx(db, &["acct.csv", "--update", "nope"], None).fails(2, &["\"nope\" is not an input column"]);
    upsertx(db, &["acct.csv", "--update", "name", "--no-update", "score"], None).fails(2, &["cannot be used with"]);
}

pub fn dry_run_reports_without_writing(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,city\n1,Ada,Paris\n2,Grace,New York\n3,New,X\n");
    let run = upsertx(db, &["customers.csv", "--dry-run", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 1, 0, 0));
    assert_eq!(run.report()["dry_run"], true);
    assert_eq!(table(db, "customers", "id, city"), rows(&[&["1", "London"], &["2", "New York"]]));
    let human = upsertx(db, &["customers.csv", "--dry-run"], None);
    assert!(human.stdout.contains("would load 3 rows: 1 inserted, 1 updated, 1 unchanged"), "{}", human.stdout);
}

pub fn create_infers_types_from_the_input(db: &dyn TestDb) {
    write(
        db,
        "events.csv",
        "id,code,amount,flag,day,at,note\n1,007,1.5,true,2024-01-01,2024-01-01T10:00:00Z,\n2,010,2,false,2024-01-02,2024-01-02 11:00:00,hi\n",
    );
    let run = upsertx(db, &["events.csv", "--key", "id", "--create", "--json"], None);
    assert_eq!(run.counts(), (2, 0, 0, 0, 0));
    assert_eq!(run.report()["created"], true);
    assert_eq!(table(db, "events", "id, code, note"), rows(&[&["1", "007", "NULL"], &["2", "010", "hi"]]));
    // The inferred types check later loads.
    write(db, "events2.csv", "id,amount\n3,lots\n");
    upsertx(db, &["events2.csv", "--table", "events"], None).fails(1, &["column \"amount\": \"lots\": not a number"]);
    // Existing table: --create is a no-op.
    assert_eq!(upsertx(db, &["events.csv", "--create", "--json"], None).counts(), (0, 0, 2, 0, 0));
    write(db, "other.csv", "id\n1\n");
    upsertx(db, &["other.csv", "--create"], None).fails(2, &["--create needs --key"]);
}

pub fn create_from_stdin(db: &dyn TestDb) {
    let run = upsertx(
        db,
        &["-", "--format", "ndjson", "--table", "from stdin", "--key", "k", "--create", "--json"],
        Some("{\"k\": \"a\", \"v\": 1}\n{\"k\": \"b\", \"v\": 2.5}\n"),
    );
    assert_eq!(run.counts(), (2, 0, 0, 0, 0));
    assert_eq!(table(db, "from stdin", "k, v"), rows(&[&["a", "1"], &["b", "2.5"]]));
}

pub fn schema_errors_are_clear(db: &dyn TestDb) {
    customers(db);
    db.exec("CREATE TABLE nokey (id INTEGER, name VARCHAR(10))");
    write(db, "nokey.csv", "id,name\n1,a\n");
    upsertx(db, &["nokey.csv"], None)
        .fails(1, &["table \"nokey\" has no primary key: name the key columns with --key"]);
    upsertx(db, &["nokey.csv", "--key", "id"], None)
        .fails(1, &["no primary key or unique constraint of table \"nokey\" is exactly (\"id\")"]);
    write(db, "missing.csv", "id\n1\n");
    upsertx(db, &["missing.csv"], None).fails(1, &["table \"missing\" does not exist", "--create"]);
    write(db, "customers.csv", "id,name,planet\n1,a,Mars\n");
    upsertx(db, &["customers.csv"], None).fails(1, &["column \"planet\" not in table \"customers\""]);
    write(db, "customers.csv", "name\nAda\n");
    upsertx(db, &["customers.csv"], None).fails(1, &["key column \"id\" is not in the input"]);
    upsertx(db, &["customers.csv", "--key", "name"], None).fails(1, &["no primary key or unique constraint"]);
}

/// `--distribute-by` is Citus's: elsewhere a usage error, nothing created; and it only
/// applies with `--create`.
pub fn distribute_by_needs_citus(db: &dyn TestDb) {
    write(db, "events.csv", "id,kind\n1,a\n");
    upsertx(db, &["events.csv", "--key", "id", "--create", "--distribute-by", "id"], None)
        .fails(2, &["--distribute-by distributes a table across a Citus cluster"]);
    upsertx(db, &["events.csv", "--key", "id", "--distribute-by", "id"], None)
        .fails(2, &["--distribute-by only applies with --create"]);
    upsertx(db, &["events.csv", "--key", "id", "--create"], None);
    assert_eq!(table(db, "events", "id, kind"), [["1", "a"]]);
}

pub fn usage_errors_exit_2(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id\n1\n");
    upsertx(db, &["customers.csv", "--on-conflict", "merge"], None).fails(2, &["conflict action"]);
    for (action, flags) in [
        ("ignore", &["--always-update"][..]),
        ("ignore", &["--update", "name"][..]),
        ("error", &["--always-update"][..]),
        ("error", &["--no-update", "name"][..]),
    ] {
        let mut args = vec!["customers.csv", "--on-conflict", action];
        args.extend_from_slice(flags);
        upsertx(db, &args, None).fails(2, &[flags[0], &format!("--on-conflict {action} never updates")]);
    }
    upsertx(db, &["customers.txt"], None).fails(2, &["no such file"]);
    write(db, "customers.txt", "id\n1\n");
    upsertx(db, &["customers.txt"], None).fails(2, &["--format"]);
    let run = crate::common::upsertx_with_url(db, &["customers.csv"], "oracle://ann:s3cret@localhost/db");
    run.fails(2, &["oracle://ann:***@localhost/db", "unknown database URL scheme"]);
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    // A server that cannot be reached: a database error (1), still without the password.
    let run = crate::common::upsertx_with_url(db, &["customers.csv"], "postgres://ann:s3cret@127.0.0.1:1/db");
    run.fails(1, &["connecting to PostgreSQL at postgres://ann:***@127.0.0.1:1/db"]);
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    let run = crate::common::upsertx_with_url(db, &["customers.csv"], "mysql://ann:s3cret@127.0.0.1:1/db");
    run.fails(1, &["connecting to MySQL at mysql://ann:***@127.0.0.1:1/db"]);
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"));
    // Every other place a password can hide (the probe found each printed).
    for url in [
        "host=127.0.0.1 port=1 user=ann password=s3cret dbname=db",
        "postgres://ann@127.0.0.1:1/db?password=s3cret",
        "mysql://ann@127.0.0.1:1/db?password=s3cret",
        "postgres://ann:s3/cret@127.0.0.1:1/db",
        "postgres://ann:s3#cret@127.0.0.1:1/db",
        "mysql://ann:s3/cret@127.0.0.1:1/db",
        "ann:s3cret@127.0.0.1",
    ] {
        let run = crate::common::upsertx_with_url(db, &["customers.csv"], url);
        assert!(run.code == 1 || run.code == 2, "{url}: {}", run.stderr);
        assert!(run.stderr.contains("***"), "{url}: {}", run.stderr);
        for secret in ["s3cret", "cret"] {
            assert!(!run.stderr.contains(secret) && !run.stdout.contains(secret), "{url}: {}", run.stderr);
        }
    }
}

/// A NOT NULL column without a default that the input leaves out: existing rows are
/// still updated; only a new key fails, naming its row and the column.
pub fn required_column_missing_from_the_input(db: &dyn TestDb) {
    db.exec("CREATE TABLE acct (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, owner VARCHAR(20) NOT NULL)");
    db.exec("INSERT INTO acct (id, name, owner) VALUES (1, 'a', 'ann'), (2, 'b', 'bob')");
    write(db, "acct.csv", "id,name\n1,A\n2,b\n");
    assert_eq!(upsertx(db, &["acct.csv", "--json"], None).counts(), (0, 1, 1, 0, 0));
    write(db, "acct.csv", "id,name\n");
    assert_eq!(upsertx(db, &["acct.csv", "--json"], None).counts(), (0, 0, 0, 0, 0));
    write(db, "acct.csv", "id,name\n2,zz\n");
    assert_eq!(upsertx(db, &["acct.csv", "--json", "--on-conflict", "ignore"], None).counts(), (0, 0, 0, 1, 0));
    write(db, "acct.csv", "id,name\n1,A\n2,b\n");
    assert_eq!(upsertx(db, &["acct.csv", "--json", "--always-update"], None).counts(), (0, 2, 0, 0, 0));
    write(db, "acct.csv", "id,name\n1,A2\n3,c\n");
    for mode in ["update", "ignore"] {
        upsertx(db, &["acct.csv", "--on-conflict", mode], None).fails(
            1,
            &[
                "acct.csv: row 2",
                "column \"owner\"",
                "key (\"id\")=(3) is not in table \"acct\"",
                "NOT NULL, no default",
            ],
        );
    }
    assert_eq!(table(db, "acct", "id, name, owner"), rows(&[&["1", "A", "ann"], &["2", "b", "bob"]]));
}

/// Two input columns for one table column (a case variant in a CSV header, a key twice
/// in a JSON object) fail the load instead of one silently overwriting the other.
pub fn one_table_column_twice_in_the_input_is_refused(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,NAME\n1,a,b\n");
    upsertx(db, &["customers.csv"], None)
        .fails(1, &["input columns \"name\" and \"NAME\" both match column \"name\" of table \"customers\""]);
    write(db, "customers.json", "[{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": 99, \"name\": 98}]");
    upsertx(db, &["customers.json"], None).fails(1, &["customers.json: row 2", "the key \"name\" appears twice"]);
    // A long list of unknown columns is cut short.
    let header: Vec<String> = (0..40).map(|i| format!("extra{i}")).collect();
    write(db, "customers.csv", &format!("id,{}\n", header.join(",")));
    let run = upsertx(db, &["customers.csv"], None);
    run.fails(1, &["\"extra19\", and 20 more not in table"]);
    assert!(run.stderr.len() < 1000, "{}", run.stderr);
    assert_eq!(table(db, "customers", "id, name"), rows(&[&["1", "Ada"], &["2", "Grace"]]));
}

/// Tables named like upsertx's own staging tables load like any other.
pub fn tables_named_like_internal_ones(db: &dyn TestDb) {
    for name in ["upsertx_stage", "UPSERTX_STAGE_2", "upsertx_src", "upsertx_matched"] {
        write(db, "t.csv", "id,v\n1,a\n2,b\n");
        let run = upsertx(db, &["t.csv", "--table", name, "--key", "id", "--create", "--json"], None);
        assert_eq!(run.counts(), (2, 0, 0, 0, 0), "{name}");
        write(db, "t.csv", "id,v\n2,B\n3,c\n");
        assert_eq!(upsertx(db, &["t.csv", "--table", name, "--json"], None).counts(), (1, 1, 0, 0, 0), "{name}");
        assert_eq!(table(db, name, "id, v"), rows(&[&["1", "a"], &["2", "B"], &["3", "c"]]), "{name}");
    }
}

/// Numbers beyond a float column's range are refused, never stored as Infinity or 0.
pub fn out_of_range_floats_are_refused(db: &dyn TestDb) {
    db.exec("CREATE TABLE m (id INTEGER PRIMARY KEY, x DOUBLE PRECISION)");
    for v in ["1e309", "-1e309", "1e-400"] {
        write(db, "m.csv", &format!("id,x\n1,1.5\n2,{v}\n"));
        upsertx(db, &["m.csv"], None).fails(1, &["m.csv: row 2", "column \"x\"", v, "out of range"]);
    }
    // JSON numbers too: they keep their text, so underflow is seen as well as overflow.
    for v in ["1e309", "1e-400"] {
        write(db, "m.json", &format!("[{{\"id\": 1, \"x\": 2}}, {{\"id\": 2, \"x\": {v}}}]"));
        upsertx(db, &["m.json", "--table", "m"], None).fails(1, &["m.json: row 2", "column \"x\"", "out of range"]);
    }
    assert!(table(db, "m", "id").is_empty(), "nothing written");
    // MySQL stores no infinity; the others keep one spelled out.
    let mysql = db.q("x").starts_with('`');
    let input = if mysql { "id,x\n1,1e308\n2,0.0\n" } else { "id,x\n1,1e308\n2,0.0\n3,-Infinity\n" };
    write(db, "m.csv", input);
    assert_eq!(upsertx(db, &["m.csv", "--json"], None).counts().0, if mysql { 2 } else { 3 });
}

pub fn collision_on_another_unique_key_fails_and_writes_nothing(db: &dyn TestDb) {
    db.exec("CREATE TABLE members (id INTEGER PRIMARY KEY, email VARCHAR(100) UNIQUE, name VARCHAR(100))");
    db.exec("INSERT INTO members VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')");
    // Row 2 is a new id whose email belongs to member 1: it must not update member 1.
    write(db, "members.csv", "id,email,name\n2,b@x,B2\n3,a@x,Intruder\n");
    upsertx(db, &["members.csv"], None)
        .fails(1, &["members.csv: row 2", "(\"email\")=('a@x') is already used by another row of table \"members\""]);
    write(db, "members.csv", "id,email,name\n4,d@x,D\n5,d@x,E\n");
    upsertx(db, &["members.csv"], None)
        .fails(1, &["members.csv: row 2", "(\"email\")=('d@x') is also on input row 1 with a different key"]);
    assert_eq!(table(db, "members", "id, email, name"), rows(&[&["1", "a@x", "A"], &["2", "b@x", "B"]]));
    // --always-update through the path that updates, then inserts (MySQL: another
    // unique key rules out ON DUPLICATE KEY UPDATE): an equal row counts as updated.
    write(db, "members.csv", "id,email,name\n1,a@x,A\n6,f@x,F\n");
    assert_eq!(upsertx(db, &["members.csv", "--json", "--always-update"], None).counts(), (1, 1, 0, 0, 0));
}

pub fn header_names_match_ignoring_case(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "ID,Name,CITY\n1,Ada,Paris\n");
    assert_eq!(upsertx(db, &["customers.csv", "--key", "Id", "--json"], None).counts(), (0, 1, 0, 0, 0));
    assert_eq!(table(db, "customers", "id, city")[0], ["1", "Paris"]);
}

pub fn database_url_comes_from_the_environment(db: &dyn TestDb) {
    customers(db);
    write(db, "customers.csv", "id,name,city\n7,Env,Var\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .args(["customers.csv", "--json"])
        .env("DATABASE_URL", db.url())
        .current_dir(db.dir())
        .output()
        .expect("run upsertx");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(table(db, "customers", "id").len(), 3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .arg("customers.csv")
        .env_remove("DATABASE_URL")
        .current_dir(db.dir())
        .output()
        .expect("run upsertx");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --db URL or set DATABASE_URL"));
}

fn acct(db: &dyn TestDb) {
    db.exec(&format!(
        "CREATE TABLE acct ({}, code VARCHAR(10), email VARCHAR(50), deleted_at VARCHAR(30), name VARCHAR(50))",
        db.auto_id("id")
    ));
    db.exec("CREATE UNIQUE INDEX acct_code ON acct (code)");
    db.exec("INSERT INTO acct (code, email, deleted_at, name) VALUES ('A', 'a@x', '2020-01-01', 'old a'), ('B', 'a@x', NULL, 'live a')");
}

pub fn named_unique_constraints(db: &dyn TestDb) {
    acct(db);
    // --constraint picks the key by name.
    write(db, "acct.csv", "code,name\nB,B2\nC,C1\n");
    assert_eq!(upsertx(db, &["acct.csv", "--constraint", "acct_code", "--json"], None).counts(), (1, 1, 0, 0, 0));
    upsertx(db, &["acct.csv", "--constraint", "nope"], None)
        .fails(1, &["no unique constraint or index named \"nope\""]);
}

pub fn partial_unique_indexes(db: &dyn TestDb) {
    acct(db);
    db.exec("CREATE UNIQUE INDEX acct_live_email ON acct (email) WHERE deleted_at IS NULL");
    // The partial index keys only the live rows: the soft-deleted a@x is not touched.
    write(db, "live.csv", "email,name\na@x,live a2\n");
    let run = upsertx(
        db,
        &["live.csv", "--table", "acct", "--key", "email", "--key-where", "deleted_at IS NULL", "--json"],
        None,
    );
    assert_eq!(run.counts(), (0, 1, 0, 0, 0));
    assert_eq!(
        db.rows("SELECT id, email, name FROM acct WHERE email = 'a@x' ORDER BY id"),
        rows(&[&["1", "a@x", "old a"], &["2", "a@x", "live a2"]])
    );
    upsertx(db, &["live.csv", "--table", "acct", "--key", "email"], None).fails(1, &["is partial", "--key-where"]);
    upsertx(db, &["live.csv", "--table", "acct", "--key", "email", "--key-where", "deleted_at IS NOT NULL"], None)
        .fails(1, &["no partial unique index on (\"email\")"]);
}

/// A table `--create` makes keys text as SQLite and PostgreSQL do, on every database:
/// case and trailing spaces make keys of their own (MariaDB's default collation made
/// `N123AB` a duplicate of `n123ab`), and a change of case is a change.
pub fn created_tables_compare_text_as_every_database_does(db: &dyn TestDb) {
    write(db, "planes.csv", "tailnum,model\nn123ab,A320\nN123AB,B737\nx,first\n\"x \",second\n");
    let run = upsertx(db, &["planes.csv", "--key", "tailnum", "--create", "--json"], None);
    assert_eq!(run.counts(), (4, 0, 0, 0, 0));
    let got = db.rows("SELECT tailnum, model FROM planes ORDER BY model");
    assert_eq!(got, rows(&[&["n123ab", "A320"], &["N123AB", "B737"], &["x", "first"], &["x ", "second"]]));
    write(db, "planes2.csv", "tailnum,model\nn123ab,a320\n");
    assert_eq!(upsertx(db, &["planes2.csv", "--table", "planes", "--json"], None).counts(), (0, 1, 0, 0, 0));
}

/// A `--create` load that fails leaves no table behind, on every database (MariaDB's
/// DDL commits at once: the table is dropped again).
pub fn a_failed_create_leaves_no_table(db: &dyn TestDb) {
    write(db, "fresh.csv", "id,v\n1,a\n2,b\n1,c\n");
    let args = ["fresh.csv", "--key", "id", "--create", "--duplicates", "error"];
    upsertx(db, &args, None).fails(1, &["duplicate key"]);
    write(db, "fresh.csv", "id,v\n1,a\n2,b\n");
    // The table is created again: it was not there.
    let run = upsertx(db, &["fresh.csv", "--key", "id", "--create", "--json"], None);
    assert_eq!(run.report()["created"], true);
    // A dry run creates nothing either.
    write(db, "dry.csv", "id,v\n1,a\n");
    let run = upsertx(db, &["dry.csv", "--key", "id", "--create", "--dry-run", "--json"], None);
    assert_eq!(run.counts(), (1, 0, 0, 0, 0));
    let again = upsertx(db, &["dry.csv", "--key", "id", "--create", "--json"], None);
    assert_eq!(again.report()["created"], true, "the dry run left its table");
}

/// Two `--create` loads of a missing table at once (a scheduler starts them together):
/// one creates it, the other waits for it and upserts into it; both exit 0.
pub fn two_creates_at_once_both_load(db: &dyn TestDb) {
    let mut a = String::from("id,who\n");
    let mut b = String::from("id,who\n");
    for i in 1..=30_000 {
        a.push_str(&format!("{i},a\n"));
        b.push_str(&format!("{},b\n", i + 15_000));
    }
    write(db, "a.csv", &a);
    write(db, "b.csv", &b);
    for round in 0..3 {
        let table = format!("race_{round}");
        let args =
            |file: &'static str| ["--table", &table, "--key", "id", "--create", "--json", "-q", file].map(String::from);
        let spawn = |file| {
            let args = args(file);
            crate::common::spawn_upsertx(db, &args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let (ra, rb) = (spawn("a.csv"), spawn("b.csv"));
        let (ra, rb) = (
            crate::common::Run::from(ra.wait_with_output().unwrap()),
            crate::common::Run::from(rb.wait_with_output().unwrap()),
        );
        let (ra, rb) = (ra.report(), rb.report());
        assert_ne!(ra["created"], rb["created"], "round {round}: one of them created the table");
        let count = db.rows(&format!("SELECT COUNT(*) FROM {}", db.q(&table)));
        assert_eq!(count, rows(&[&["45000"]]), "round {round}");
        let n = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap();
        assert_eq!(n(&ra, "inserted") + n(&rb, "inserted"), 45_000, "round {round}");
        assert_eq!(n(&ra, "updated") + n(&rb, "updated"), 15_000, "round {round}");
    }
}

every_dialect!(
    created_tables_compare_text_as_every_database_does,
    a_failed_create_leaves_no_table,
    two_creates_at_once_both_load,
    tables_named_like_internal_ones,
    one_table_column_twice_in_the_input_is_refused,
    out_of_range_floats_are_refused,
    text_key_that_exists_is_updated,
    rerunning_the_same_file_changes_nothing,
    duplicate_keys_last_wins_by_default,
    duplicate_keys_first_wins,
    duplicate_keys_error_names_both_rows,
    composite_key,
    on_conflict_ignore_keeps_existing_rows,
    on_conflict_error_names_the_key_and_writes_nothing,
    bad_value_deep_in_the_file_leaves_the_table_unchanged,
    values_are_checked_against_column_types,
    csv_nulls_empty_strings_quotes_and_newlines,
    tsv_input,
    json_array_and_ndjson,
    stdin_input,
    identifiers_with_spaces_quotes_and_reserved_words,
    update_and_no_update_narrow_the_written_columns,
    dry_run_reports_without_writing,
    create_infers_types_from_the_input,
    create_from_stdin,
    usage_errors_exit_2,
    header_names_match_ignoring_case,
    database_url_comes_from_the_environment,
    lock_timeout_ends_a_wait,
    on_conflict_error_names_a_key_committed_meanwhile,
    required_column_missing_from_the_input;
    not on citus:
    // There it distributes the table (tests/e2e/citus.rs).
    distribute_by_needs_citus;
    not on distributed tables:
    // A second unique key without the distribution column; a key without it is refused by
    // the key rule first (tests/e2e/citus.rs).
    generated_ids_survive_updates_by_another_unique_key,
    named_unique_constraints,
    collision_on_another_unique_key_fails_and_writes_nothing,
    schema_errors_are_clear,
);

/// `--on-conflict error` against a key another transaction inserted and commits while the
/// load runs (after its check, on the servers: its insert waits on that key, then fails
/// on it): the load fails naming the key and its input row, as when the check finds it,
/// and writes nothing.
pub fn on_conflict_error_names_a_key_committed_meanwhile(db: &dyn TestDb) {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(10))");
    db.exec("INSERT INTO t VALUES (1, 'a')");
    write(db, "t.csv", "id,name\n2,b\n3,c\n");
    let mut other = db.session();
    other.exec(db.begin());
    other.exec("INSERT INTO t VALUES (3, 'other')");
    let load = crate::common::spawn_upsertx(db, &["t.csv", "--on-conflict", "error"]);
    // Until the load waits on the key (where the database shows it; else a while).
    let started = std::time::Instant::now();
    while db.lock_waiters() == 0 && started.elapsed() < std::time::Duration::from_secs(4) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    other.exec("COMMIT");
    let run = crate::common::Run::from(load.wait_with_output().expect("wait for upsertx"));
    run.fails(1, &["t.csv: row 2", "key (\"id\")=(3) already exists in table \"t\""]);
    assert_eq!(table(db, "t", "id, name"), rows(&[&["1", "a"], &["3", "other"]]), "nothing written");
}

/// `--lock-timeout`: a load that waits for a lock another transaction holds (a row it
/// updates; SQLite's write lock) fails once the time is up, nothing written; without the
/// other transaction it loads as usual.
pub fn lock_timeout_ends_a_wait(db: &dyn TestDb) {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(10))");
    db.exec("INSERT INTO t VALUES (1, 'a')");
    write(db, "t.csv", "id,name\n1,b\n2,c\n");
    let mut holder = db.session();
    holder.exec(db.begin());
    holder.exec("UPDATE t SET name = 'held' WHERE id = 1");
    let started = std::time::Instant::now();
    let run = upsertx(db, &["t.csv", "--lock-timeout", "1"], None);
    let waited = started.elapsed();
    holder.exec("ROLLBACK");
    run.fails(1, &[]);
    assert!(run.stderr.to_lowercase().contains("lock"), "{}", run.stderr);
    assert!(waited.as_secs_f64() >= 0.9 && waited.as_secs() < 30, "waited {waited:?}");
    assert_eq!(table(db, "t", "id, name"), rows(&[&["1", "a"]]), "nothing written");
    assert_eq!(upsertx(db, &["t.csv", "--lock-timeout", "1", "--json"], None).counts(), (1, 1, 0, 0, 0));
    upsertx(db, &["t.csv", "--lock-timeout", "0"], None)
        .fails(2, &["--lock-timeout: \"0\" is not a number of seconds"]);
}

/// MySQL and MariaDB have no partial indexes.
mod partial_indexes {
    use super::*;
    scenarios!(sqlite: crate::common::Sqlite::new => partial_unique_indexes);
    scenarios!(postgres: crate::common::Postgres::new => partial_unique_indexes);
}

/// `--help` names every kind of database URL, not only SQLite's.
#[test]
fn help_names_every_database_url() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upsertx")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for scheme in ["sqlite://", "postgres://", "mysql://", "host=... dbname="] {
        assert!(help.contains(scheme), "--help lacks {scheme}: {help}");
    }
}
