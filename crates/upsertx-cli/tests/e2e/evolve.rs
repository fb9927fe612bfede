//! End-to-end tests of `--evolve`: the table gains the input's new columns, in the load's
//! transaction where the database allows it, against real databases, once per dialect.

use crate::common::{dialect, rows, upsertx, write, TestDb};

fn people(db: &dyn TestDb) {
    db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(20))");
    db.exec("INSERT INTO people VALUES (1, 'Ann'), (2, 'Bob')");
}

/// Every column of `table` as the database describes it: name, type, width, NULL,
/// default (to compare a schema before and after).
fn schema(db: &dyn TestDb, table: &str) -> Vec<Vec<String>> {
    db.rows(&match dialect(db) {
        "sqlite" => format!("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{table}') ORDER BY cid"),
        "postgres" => format!(
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable, \
             column_default FROM information_schema.columns WHERE table_name = '{table}' \
             AND table_schema = current_schema() ORDER BY ordinal_position"
        ),
        _ => format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS \
             WHERE TABLE_NAME = '{table}' AND TABLE_SCHEMA = DATABASE() ORDER BY ORDINAL_POSITION"
        ),
    })
}

/// How many columns the table has.
fn width(db: &dyn TestDb) -> usize {
    db.rows("SELECT * FROM people ORDER BY id")[0].len()
}

/// New input columns are added, typed from their values, and loaded; the report lists
/// them; a rerun changes nothing more. Without --evolve the error says how.
pub fn evolve_adds_the_columns_the_input_has(db: &dyn TestDb) {
    people(db);
    write(db, "people.csv", "id,name,tier,score\n1,Ann,gold,1.5\n3,Cid,,2\n");
    upsertx(db, &["people.csv"], None).fails(1, &["\"tier\", \"score\" not in table", "--evolve"]);
    assert_eq!(width(db), 2);
    let r = upsertx(db, &["people.csv", "--evolve", "--json"], None).report();
    assert_eq!((r["inserted"].as_u64(), r["updated"].as_u64()), (Some(1), Some(1)));
    let changes: Vec<&str> = r["schema_changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].starts_with("added column \"tier\" "), "{changes:?}");
    assert!(changes[1].starts_with("added column \"score\" "), "{changes:?}");
    let got = db.rows("SELECT id, name, tier, score * 2 FROM people ORDER BY id");
    assert_eq!(got, rows(&[&["1", "Ann", "gold", "3"], &["2", "Bob", "NULL", "NULL"], &["3", "Cid", "NULL", "4"]]));
    let again = upsertx(db, &["people.csv", "--evolve", "--json"], None).report();
    assert_eq!((again["unchanged"].as_u64(), again["schema_changes"].as_array().map(Vec::len)), (Some(2), Some(0)));
}

/// A dry run lists the columns it would add and leaves the table as it was.
pub fn evolve_dry_run_changes_nothing(db: &dyn TestDb) {
    people(db);
    let before = schema(db, "people");
    write(db, "people.ndjson", "{\"id\": 2, \"name\": \"Bob\", \"visits\": 7}\n");
    let r = upsertx(db, &["people.ndjson", "--evolve", "--dry-run", "--json"], None).report();
    let changes = r["schema_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].as_str().unwrap().starts_with("added column \"visits\" "), "{changes:?}");
    assert_eq!(schema(db, "people"), before);
    assert_eq!(db.rows("SELECT id, name FROM people ORDER BY id"), rows(&[&["1", "Ann"], &["2", "Bob"]]));
}

/// A load that fails on a value changes no schema, even where DDL commits (MySQL checks
/// every value before its ALTER).
pub fn evolve_changes_no_schema_when_the_load_fails(db: &dyn TestDb) {
    people(db);
    write(db, "people.csv", "id,name,tier\n1,Ann,gold\nx,Eve,silver\n");
    let before = schema(db, "people");
    upsertx(db, &["people.csv", "--evolve"], None).fails(1, &["people.csv", "row 2", "\"id\"", "x"]);
    assert_eq!(schema(db, "people"), before);
    assert_eq!(db.rows("SELECT id, name FROM people ORDER BY id"), rows(&[&["1", "Ann"], &["2", "Bob"]]));
}

/// A column too narrow for the input is widened: a varchar to the longest value, a
/// smallint to a bigint; its NOT NULL and default stay. A dry run widens nothing. (SQLite
/// declares no widths: it loads these values as they are.)
pub fn evolve_widens_columns_too_small(db: &dyn TestDb) {
    db.exec("CREATE TABLE w (id INTEGER PRIMARY KEY, name VARCHAR(5) NOT NULL DEFAULT 'x', n SMALLINT)");
    db.exec("INSERT INTO w VALUES (1, 'Ann', 1)");
    write(db, "w.csv", "id,name,n\n1,Annabelle-Marie,5\n7,Bo,40000\n");
    if dialect(db) == "sqlite" {
        let r = upsertx(db, &["w.csv", "--evolve", "--json"], None).report();
        assert_eq!(r["schema_changes"], serde_json::json!([]));
    } else {
        upsertx(db, &["w.csv"], None).fails(1, &["w.csv", "row 1", "\"name\"", "Annabelle-Marie"]);
        let before = schema(db, "w");
        let dry = upsertx(db, &["w.csv", "--evolve", "--dry-run", "--json"], None).report();
        assert_eq!(schema(db, "w"), before, "a dry run changes no schema");
        let r = upsertx(db, &["w.csv", "--evolve", "--json"], None).report();
        assert_eq!(r["schema_changes"], dry["schema_changes"]);
        let changes: Vec<&str> = r["schema_changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes[0].starts_with("widened \"name\" ") && changes[0].ends_with("(15)"), "{changes:?}");
        assert!(changes[1].starts_with("widened \"n\" ") && changes[1].ends_with("-> bigint"), "{changes:?}");
        assert_eq!((r["inserted"].as_u64(), r["updated"].as_u64()), (Some(1), Some(1)));
    }
    let got = db.rows("SELECT id, name, n FROM w ORDER BY id");
    assert_eq!(got, rows(&[&["1", "Annabelle-Marie", "5"], &["7", "Bo", "40000"]]));
    db.exec("INSERT INTO w (id) VALUES (99)");
    assert_eq!(db.rows("SELECT name FROM w WHERE id = 99"), rows(&[&["x"]]), "the default stays");
}

/// A decimal gains the digits a value needs before and after the point; an integer
/// column given numbers with a fraction becomes a decimal. Text into a number column
/// stays an error, and changes nothing. (SQLite cannot change a column's type, nor needs
/// to: there the integer column takes the fraction as SQLite stores it, and says so.)
pub fn evolve_widens_decimals_and_integers_given_fractions(db: &dyn TestDb) {
    db.exec("CREATE TABLE d (id INTEGER PRIMARY KEY, price DECIMAL(6,2), qty INTEGER NOT NULL DEFAULT 1)");
    write(db, "text.csv", "id,price,qty\n1,2.5,two\n");
    upsertx(db, &["text.csv", "--table", "d", "--evolve"], None).fails(1, &["text.csv", "row 1", "\"qty\"", "two"]);
    write(db, "d.csv", "id,price,qty\n1,12345.678,2.5\n2,3,4\n");
    let r = upsertx(db, &["d.csv", "--evolve", "--json"], None).report();
    if dialect(db) == "sqlite" {
        let said = serde_json::json!(["\"qty\" INTEGER takes numbers with a fraction (SQLite keeps its type)"]);
        assert_eq!(r["schema_changes"], said);
        let got = db.rows("SELECT id, price, qty, typeof(qty) FROM d ORDER BY id");
        assert_eq!(got, rows(&[&["1", "12345.678", "2.5", "real"], &["2", "3", "4", "integer"]]));
        return;
    }
    let changes: Vec<&str> = r["schema_changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].starts_with("widened \"price\" ") && changes[0].ends_with("-> numeric(8,3)"), "{changes:?}");
    assert!(changes[1].starts_with("widened \"qty\" ") && changes[1].ends_with("-> numeric(11,1)"), "{changes:?}");
    let got = db.rows("SELECT id, price * 1000, qty * 10 FROM d ORDER BY id");
    let thousandths =
        |r: &Vec<String>| (r[1].split('.').next().unwrap().to_string(), r[2].split('.').next().unwrap().to_string());
    assert_eq!(
        got.iter().map(thousandths).collect::<Vec<_>>(),
        [("12345678".into(), "25".into()), ("3000".into(), "40".into())]
    );
    db.exec("INSERT INTO d (id) VALUES (99)");
    assert_eq!(
        db.rows("SELECT qty * 10 FROM d WHERE id = 99")[0][0].split('.').next(),
        Some("10"),
        "the default stays"
    );
}

/// New columns the database refuses (more than a table may have; on MySQL/MariaDB a row
/// too large, or two names equal under the server's rules) leave the table's schema as
/// it was, a column widened with them included, on every database: MariaDB had kept the
/// 993 columns added before the one it refused.
pub fn evolve_that_the_database_refuses_adds_nothing(db: &dyn TestDb) {
    people(db);
    let before = schema(db, "people");
    let header: Vec<String> = (0..2100).map(|i| format!("extra_column_{i}")).collect();
    let values: Vec<String> = (0..2100).map(|i| format!("value {i}")).collect();
    // A name too long for varchar(20) too: its widening goes with the columns' failure.
    let name = "Cid the third of that name";
    write(db, "wide.csv", &format!("id,name,{}\n3,{name},{}\n", header.join(","), values.join(",")));
    let run = upsertx(db, &["wide.csv", "--table", "people", "--evolve"], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(schema(db, "people"), before);
    if dialect(db) == "mysql" {
        write(db, "tier.csv", "id,name,tier,TIER\n3,Cid,gold,GOLD\n");
        let run = upsertx(db, &["tier.csv", "--table", "people", "--evolve"], None);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(schema(db, "people"), before);
    }
    assert_eq!(db.rows("SELECT COUNT(*) FROM people"), rows(&[&["2"]]));
}

/// A new column's name longer than the database keeps (PostgreSQL's 63 bytes, which it
/// cut silently, upsertx then saying "pass --evolve" with `--evolve` given): refused by
/// name, with `--evolve` and `--create`, nothing changed.
pub fn a_new_column_name_too_long_is_named(db: &dyn TestDb) {
    people(db);
    let before = schema(db, "people");
    let long = "a_column_name_of_seventy_characters_which_is_longer_than_sixty_four_xx";
    assert_eq!(long.len(), 70);
    write(db, "long.csv", &format!("id,name,{long}\n3,Cid,x\n"));
    let run = upsertx(db, &["long.csv", "--table", "people", "--evolve"], None);
    if dialect(db) == "sqlite" {
        assert_eq!(run.code, 0, "{}", run.stderr);
        return;
    }
    run.fails(1, &[long, "70 bytes long", "keeps at most"]);
    assert!(!run.stderr.contains("pass --evolve"), "{}", run.stderr);
    assert_eq!(schema(db, "people"), before);
    let run = upsertx(db, &["long.csv", "--table", "fresh", "--key", "id", "--create"], None);
    run.fails(1, &[long, "70 bytes long"]);
}

every_dialect!(
    a_new_column_name_too_long_is_named,
    evolve_that_the_database_refuses_adds_nothing,
    evolve_widens_decimals_and_integers_given_fractions,
    evolve_widens_columns_too_small,
    evolve_adds_the_columns_the_input_has,
    evolve_dry_run_changes_nothing,
    evolve_changes_no_schema_when_the_load_fails,
);
