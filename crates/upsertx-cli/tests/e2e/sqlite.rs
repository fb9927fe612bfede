//! SQLite's merge in its two forms: one `INSERT ... ON CONFLICT DO UPDATE` where it
//! writes and counts as the two statements would, else an `UPDATE` then an `INSERT` of
//! the new keys; the counts exact either way (the trace tells which ran).

use crate::common::{rows, upsertx_traced, write, Run, Sqlite, TestDb};

const ONE: &str = "merged (one statement)";

/// `id,name,n` rows `ids`, the name `{prefix}{id}` and n the id.
fn csv(ids: impl Iterator<Item = i64>, prefix: impl Fn(i64) -> &'static str) -> String {
    let mut csv = String::from("id,name,n\n");
    for id in ids {
        csv.push_str(&format!("{id},{}{id},{id}\n", prefix(id)));
    }
    csv
}

fn load(db: &Sqlite, args: &[&str]) -> Run {
    let mut all = vec!["items.csv", "--table", "items", "--json"];
    all.extend(args);
    let run = upsertx_traced(db, &all);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    run
}

#[test]
fn one_statement_counts_as_two() {
    let db = Sqlite::new();
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)");
    let values: Vec<String> = (1..=100).map(|i| format!("({i}, 'a{i}', {i})")).collect();
    db.exec(&format!("INSERT INTO items VALUES {}", values.join(", ")));
    // 51-75 as they are, 76-100 changed, 101-1050 new.
    write(&db, "items.csv", &csv(51..=1050, |id| if id <= 75 { "a" } else { "b" }));
    let run = load(&db, &[]);
    assert!(run.stderr.contains(ONE), "{}", run.stderr);
    assert_eq!(run.counts(), (950, 25, 25, 0, 0));
    let summary = "SELECT count(*), sum(n), sum(name LIKE 'b%') FROM items";
    assert_eq!(db.rows(summary), rows(&[&["1050", "551775", "975"]]));
    // Again: nothing changes, nothing is written.
    let run = load(&db, &[]);
    assert!(run.stderr.contains(ONE), "{}", run.stderr);
    assert_eq!(run.counts(), (0, 0, 1000, 0, 0));
    assert_eq!(load(&db, &["--always-update"]).counts(), (0, 1000, 0, 0, 0));
    // --newer-by: rows 51-550 come older (n - 1000: stale, not unchanged), 551-1050 newer.
    let mut older = String::from("id,name,n\n");
    for id in 51..=1050 {
        let n = if id <= 550 { id - 1000 } else { id + 1 };
        older.push_str(&format!("{id},c{id},{n}\n"));
    }
    write(&db, "items.csv", &older);
    let run = load(&db, &["--newer-by", "n"]);
    assert!(run.stderr.contains(ONE), "{}", run.stderr);
    assert_eq!(run.counts(), (0, 500, 0, 0, 0));
    assert_eq!(run.report()["stale"], 500, "{}", run.stdout);
    assert_eq!(db.rows("SELECT count(*) FROM items WHERE name LIKE 'c%'"), rows(&[&["500"]]));
}

/// Where one statement could write or count otherwise, the two run.
#[test]
fn two_statements_where_one_would_differ() {
    // A trigger: here one that adds a row of its own, which the table's row count
    // would take for one the load inserted.
    let db = Sqlite::new();
    db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);
         CREATE TRIGGER items_extra AFTER INSERT ON items WHEN new.id = 3
           BEGIN INSERT INTO items VALUES (100000, 'extra', 0); END;
         INSERT INTO items VALUES (1, 'a1', 1), (2, 'a2', 2)",
    );
    write(&db, "items.csv", &csv(1..=500, |id| if id == 1 { "a" } else { "b" }));
    let run = load(&db, &[]);
    assert_eq!(run.counts(), (498, 1, 1, 0, 0));
    assert!(!run.stderr.contains(ONE) && run.stderr.contains("inserted"), "{}", run.stderr);
    assert_eq!(db.rows("SELECT count(*) FROM items"), rows(&[&["501"]]));

    // Keyed by a unique column beside an AUTOINCREMENT primary key the input lacks: an
    // insert attempt on an existing code would burn an id.
    let db = Sqlite::new();
    db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE NOT NULL, name TEXT);
         INSERT INTO items (code, name) VALUES ('k1', 'a'), ('k2', 'a')",
    );
    let mut codes = String::from("code,name\n");
    for i in 1..=500 {
        codes.push_str(&format!("k{i},b\n"));
    }
    write(&db, "items.csv", &codes);
    let run = load(&db, &["--key", "code"]);
    assert_eq!(run.counts(), (498, 2, 0, 0, 0));
    assert_eq!(db.rows("SELECT count(*), max(id) FROM items"), rows(&[&["500", "500"]]));
    assert!(!run.stderr.contains(ONE), "{}", run.stderr);

    // Another unique key: a new row takes the email an existing row gives up. The UPDATE
    // first moves it away; one statement in key order would collide.
    let db = Sqlite::new();
    db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, email TEXT UNIQUE, n INTEGER);
         INSERT INTO items VALUES (1000, 'y', 0)",
    );
    let mut mails = String::from("id,email,n\n1,y,1\n");
    for id in 2..=500 {
        mails.push_str(&format!("{id},m{id},{id}\n"));
    }
    mails.push_str("1000,z,0\n");
    write(&db, "items.csv", &mails);
    let run = load(&db, &[]);
    assert_eq!(run.counts(), (500, 1, 0, 0, 0));
    assert_eq!(db.rows("SELECT id FROM items WHERE email IN ('y', 'z') ORDER BY id"), rows(&[&["1"], &["1000"]]));
    assert!(!run.stderr.contains(ONE), "{}", run.stderr);
}
