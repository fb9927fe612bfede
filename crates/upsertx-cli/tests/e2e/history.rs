//! End-to-end tests of `--history` (slowly changing dimension, type 2): every version's
//! from/to and flag, and the counts, against real databases, once per dialect.

use crate::common::{dialect, rows, upsertx, write, TestDb};

const HISTORY: [&str; 4] = ["--history", "valid_from,valid_to", "--current-flag", "is_current"];

/// A dimension keyed by (id, valid_from), with dates for the versions.
fn dim(db: &dyn TestDb) {
    db.exec(
        "CREATE TABLE dim (id INTEGER NOT NULL, name VARCHAR(20), city VARCHAR(20), valid_from DATE NOT NULL, \
         valid_to DATE, is_current BOOLEAN, PRIMARY KEY (id, valid_from))",
    );
}

/// Every version: id, city, from, to, current (`y`/`n`).
fn versions(db: &dyn TestDb) -> Vec<Vec<String>> {
    db.rows(
        "SELECT id, city, valid_from, valid_to, CASE WHEN is_current THEN 'y' ELSE 'n' END FROM dim \
         ORDER BY id, valid_from",
    )
}

/// Loads `csv` as of `day` with the history flags and `more`; returns (inserted,
/// updated, unchanged, deleted).
fn load(db: &dyn TestDb, day: &str, csv: &str, more: &[&str]) -> (u64, u64, u64, u64) {
    write(db, "dim.csv", csv);
    let mut args = vec!["dim.csv", "--as-of", day, "--json"];
    args.extend(HISTORY);
    args.extend(more);
    let r = upsertx(db, &args, None).report();
    let n = |k: &str| r[k].as_u64().unwrap();
    (n("inserted"), n("updated"), n("unchanged"), n("deleted"))
}

/// Three loads of a dimension: a change, an entity vanishing (closed with
/// --delete-missing), an unchanged rerun, and the vanished entity coming back as a new
/// version.
pub fn history_keeps_every_version(db: &dyn TestDb) {
    dim(db);
    let sync = ["--delete-missing"];
    assert_eq!(load(db, "2026-01-01", "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cid,Lima\n", &[]), (3, 0, 0, 0));
    // Ann moved, Bob did not, Cid vanished, Dan is new.
    let feb = "id,name,city\n4,Dan,Kiev\n1,Ann,Bergen\n2,Bob,Rome\n";
    assert_eq!(load(db, "2026-02-01", feb, &sync), (1, 1, 1, 1));
    assert_eq!(load(db, "2026-02-01", feb, &sync), (0, 0, 3, 0), "a rerun changes nothing");
    // Cid is back, Bob vanished.
    assert_eq!(load(db, "2026-03-01", "id,name,city\n1,Ann,Bergen\n3,Cid,Lima\n4,Dan,Kiev\n", &sync), (1, 0, 2, 1));
    let expected = rows(&[
        &["1", "Oslo", "2026-01-01", "2026-02-01", "n"],
        &["1", "Bergen", "2026-02-01", "NULL", "y"],
        &["2", "Rome", "2026-01-01", "2026-03-01", "n"],
        &["3", "Lima", "2026-01-01", "2026-02-01", "n"],
        &["3", "Lima", "2026-03-01", "NULL", "y"],
        &["4", "Kiev", "2026-02-01", "NULL", "y"],
    ]);
    assert_eq!(versions(db), expected);
}

/// A second load at the same instant replaces the version it made (no version valid for
/// no time); a load dated before an entity's current version is refused, the table
/// unchanged; a dry run predicts the counts and writes nothing.
pub fn history_replaces_the_same_instant_and_refuses_the_past(db: &dyn TestDb) {
    dim(db);
    assert_eq!(load(db, "2026-01-01", "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n", &[]), (2, 0, 0, 0));
    assert_eq!(load(db, "2026-01-01", "id,name,city\n1,Ann,Bergen\n2,Bob,Rome\n", &[]), (0, 1, 1, 0));
    let expected = rows(&[&["1", "Bergen", "2026-01-01", "NULL", "y"], &["2", "Rome", "2026-01-01", "NULL", "y"]]);
    assert_eq!(versions(db), expected);

    write(db, "past.csv", "id,name,city\n2,Bob,Paris\n1,Ann,Bergen\n");
    let mut args = vec!["past.csv", "--table", "dim", "--as-of", "2025-12-31"];
    args.extend(HISTORY);
    let needles =
        ["past.csv", "row 1", "began at 2026-01-01 (\"valid_from\")", "--as-of", "2025-12-31", "nothing was written"];
    upsertx(db, &args, None).fails(1, &needles);
    assert_eq!(versions(db), expected);

    assert_eq!(load(db, "2026-02-01", "id,name,city\n1,Ann,Oslo\n3,Cid,Lima\n", &["--dry-run"]), (1, 1, 0, 0));
    assert_eq!(versions(db), expected, "a dry run writes nothing");
}

/// `--create --history` makes (key, from) the primary key; without `--as-of` the load's
/// own time closes the old version and opens the new one, the same instant.
pub fn history_creates_the_table_and_uses_the_load_time(db: &dyn TestDb) {
    write(db, "people.csv", "id,city\n1,Oslo\n2,Rome\n");
    let args =
        ["people.csv", "--key", "id", "--create", "--history", "started,ended", "--current-flag", "live", "--json"];
    assert_eq!(upsertx(db, &args, None).counts(), (2, 0, 0, 0, 0));
    write(db, "people.csv", "id,city\n1,Bergen\n2,Rome\n");
    // The key comes from the primary key (id, started) now.
    let args = ["people.csv", "--history", "started,ended", "--current-flag", "live", "--json"];
    assert_eq!(upsertx(db, &args, None).counts(), (0, 1, 1, 0, 0));
    let t = db.q("people");
    let joined = db.rows(&format!(
        "SELECT o.city, n.city FROM {t} AS o JOIN {t} AS n ON n.id = o.id AND n.started = o.ended \
         WHERE n.ended IS NULL AND n.live AND NOT o.live"
    ));
    assert_eq!(joined, rows(&[&["Oslo", "Bergen"]]));
    let current = db.rows(&format!("SELECT id, city FROM {t} WHERE ended IS NULL ORDER BY id"));
    assert_eq!(current, rows(&[&["1", "Bergen"], &["2", "Rome"]]));
}

/// A table whose primary key is a surrogate (filled by its default), the entity named by
/// --key.
pub fn history_with_a_surrogate_key(db: &dyn TestDb) {
    db.exec(&format!(
        "CREATE TABLE cust ({}, code VARCHAR(10) NOT NULL, tier VARCHAR(10), valid_from DATE NOT NULL, valid_to DATE)",
        db.auto_id("sk")
    ));
    let run = |csv: &str, day: &str| {
        write(db, "cust.csv", csv);
        let args = ["cust.csv", "--key", "code", "--history", "valid_from,valid_to", "--as-of", day, "--json"];
        upsertx(db, &args, None).counts()
    };
    assert_eq!(run("code,tier\na,gold\nb,silver\nb,bronze\n", "2026-01-01"), (2, 0, 0, 0, 1));
    assert_eq!(run("code,tier\na,silver\nb,bronze\n", "2026-02-01"), (0, 1, 1, 0, 0));
    // The surrogate is the database's to number (MySQL's bulk inserts may skip values).
    let got = db.rows("SELECT code, tier, valid_from, valid_to FROM cust ORDER BY code, valid_from");
    let expected = rows(&[
        &["a", "gold", "2026-01-01", "2026-02-01"],
        &["a", "silver", "2026-02-01", "NULL"],
        &["b", "bronze", "2026-01-01", "NULL"],
    ]);
    assert_eq!(got, expected);
    assert_eq!(db.rows("SELECT COUNT(DISTINCT sk) FROM cust"), rows(&[&["3"]]));
}

/// What --history refuses: usage errors exit 2, a table it cannot version exits 1, and
/// the table is unchanged.
pub fn history_refuses_what_it_cannot_do(db: &dyn TestDb) {
    dim(db);
    db.exec("CREATE TABLE plain (id INTEGER PRIMARY KEY, city VARCHAR(20), valid_from DATE, valid_to DATE)");
    write(db, "dim.csv", "id,name,city\n1,Ann,Oslo\n");
    write(db, "dated.csv", "id,city,valid_from\n1,Oslo,2026-01-01\n");
    let h = "valid_from,valid_to";
    let cases: [(&[&str], i32, &str); 6] = [
        (&["dim.csv", "--current-flag", "is_current"], 2, "--current-flag only applies with --history"),
        (&["dim.csv", "--history", "valid_from"], 2, "--history takes two columns"),
        (
            &["dim.csv", "--history", h, "--delete-missing", "--soft-delete", "valid_to"],
            2,
            "--soft-delete does not combine with --history",
        ),
        (&["dated.csv", "--table", "dim", "--history", h], 2, "in the input"),
        (&["dim.csv", "--history", "valid_from,is_current"], 2, "must be a date or a timestamp"),
        (&["dim.csv", "--history", h, "--on-conflict", "ignore"], 2, "does not combine with --history"),
    ];
    for (args, code, needle) in cases {
        upsertx(db, args, None).fails(code, &[needle]);
    }
    write(db, "plain.csv", "id,city\n1,Oslo\n");
    upsertx(db, &["plain.csv", "--key", "id", "--history", h], None)
        .fails(1, &["needs a unique key on (\"id\", \"valid_from\")"]);
    assert!(db.rows("SELECT * FROM dim").is_empty());
    assert!(db.rows("SELECT * FROM plain").is_empty());
}

/// `--changes` under `--history` tells each entity: a new one (its first version), a
/// changed one (the columns that changed), a closed one (the mark of its end), as a dry
/// run previews them.
pub fn history_changes_tell_each_entity(db: &dyn TestDb) {
    dim(db);
    load(db, "2026-01-01", "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n3,Cid,Lima\n", &[]);
    let feb = "id,name,city\n4,Dan,Kiev\n1,Ann,Bergen\n2,Bob,Rome\n";
    let args = ["--delete-missing", "--changes", "out.ndjson"];
    assert_eq!(load(db, "2026-02-01", feb, &[&args[..], &["--dry-run"]].concat()), (1, 1, 1, 1));
    let preview = std::fs::read_to_string(db.dir().join("out.ndjson")).unwrap();
    assert_eq!(load(db, "2026-02-01", feb, &args), (1, 1, 1, 1));
    let text = std::fs::read_to_string(db.dir().join("out.ndjson")).unwrap();
    assert_eq!(text, preview);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected = [
        serde_json::json!({"op": "update", "key": {"id": 1}, "before": {"city": "Oslo"}, "after": {"city": "Bergen"}}),
        serde_json::json!({"op": "insert", "key": {"id": 4}, "before": null, "after": {"id": 4, "name": "Dan",
            "city": "Kiev", "valid_from": "2026-02-01", "valid_to": null, "is_current": true}}),
        serde_json::json!({"op": "delete", "key": {"id": 3}, "before": {"id": 3, "name": "Cid", "city": "Lima",
            "valid_from": "2026-01-01", "valid_to": null, "is_current": true}, "after": {"valid_to": "2026-02-01"}}),
    ];
    assert_eq!(lines, expected);
}

/// `--newer-by` under `--history`: an entity gets a new version only from a newer input
/// row; an older one is `stale`, and among the input's rows of one entity the newest
/// wins.
pub fn history_keeps_the_newest_versions(db: &dyn TestDb) {
    db.exec(
        "CREATE TABLE dim (id INTEGER NOT NULL, city VARCHAR(20), seen DATE, valid_from DATE NOT NULL, \
         valid_to DATE, PRIMARY KEY (id, valid_from))",
    );
    let run = |csv: &str, day: &str| {
        write(db, "dim.csv", csv);
        let args = ["dim.csv", "--history", "valid_from,valid_to", "--newer-by", "seen", "--as-of", day, "--json"];
        let r = upsertx(db, &args, None).report();
        let n = |k: &str| r[k].as_u64().unwrap();
        (n("inserted"), n("updated"), n("unchanged"), n("stale"), n("duplicates"))
    };
    assert_eq!(run("id,city,seen\n1,Oslo,2026-01-01\n2,Rome,2026-01-01\n", "2026-01-01"), (2, 0, 0, 0, 0));
    let feb = "id,city,seen\n1,Bergen,2026-01-31\n2,Paris,2025-12-31\n3,Lima,2026-01-20\n3,Kiev,2026-01-05\n";
    assert_eq!(run(feb, "2026-02-01"), (1, 1, 0, 1, 1));
    let got = db.rows("SELECT id, city, valid_from, valid_to FROM dim ORDER BY id, valid_from");
    let expected = rows(&[
        &["1", "Oslo", "2026-01-01", "2026-02-01"],
        &["1", "Bergen", "2026-02-01", "NULL"],
        &["2", "Rome", "2026-01-01", "NULL"],
        &["3", "Lima", "2026-02-01", "NULL"],
    ]);
    assert_eq!(got, expected);
}

/// Two loads within one second, at the load's own time, into timestamps that keep no
/// fraction (MySQL's `DATETIME`): the second replaces the version the first made (or
/// closes it, a second later), never a duplicate key nor a version ending before it began.
pub fn history_loads_within_one_second(db: &dyn TestDb) {
    let ts = if dialect(db) == "mysql" { "DATETIME" } else { "TIMESTAMP" };
    db.exec(&format!(
        "CREATE TABLE dim (id INTEGER NOT NULL, city VARCHAR(20), valid_from {ts} NOT NULL, valid_to {ts}, \
         PRIMARY KEY (id, valid_from))"
    ));
    for city in ["Oslo", "Bergen", "Rome"] {
        write(db, "dim.csv", &format!("id,city\n1,{city}\n"));
        upsertx(db, &["dim.csv", "--history", "valid_from,valid_to", "--json"], None).report();
    }
    assert_eq!(db.rows("SELECT city FROM dim WHERE valid_to IS NULL"), rows(&[&["Rome"]]));
    assert_eq!(db.rows("SELECT COUNT(*) FROM dim WHERE valid_to < valid_from"), rows(&[&["0"]]));
}

/// Two `--history` loads at once on overlapping entities, several times: they take
/// turns; each entity ends with one current version and versions that follow each other
/// (the earlier-dated load, when it comes second, fails with nothing written).
pub fn concurrent_history_loads_take_turns(db: &dyn TestDb) {
    db.exec("CREATE TABLE dim (id INTEGER NOT NULL, v VARCHAR(10), valid_from DATE NOT NULL, valid_to DATE, PRIMARY KEY (id, valid_from))");
    let csv = |v: &str, ids: std::ops::RangeInclusive<i32>| {
        let mut s = String::from("id,v\n");
        ids.rev().for_each(|i| s.push_str(&format!("{i},{v}\n")));
        s
    };
    write(db, "seed.csv", &csv("seed", 1..=1500));
    write(db, "a.csv", &csv("a", 1..=1000));
    write(db, "b.csv", &csv("b", 500..=1500));
    for round in 0..3 {
        db.exec("DELETE FROM dim");
        let args = |file: &'static str, day: &'static str| {
            ["--table", "dim", "--history", "valid_from,valid_to", "--as-of", day, "--json", "-q", file]
        };
        upsertx(db, &args("seed.csv", "2026-01-01"), None).report();
        let (a, b) = (
            crate::common::spawn_upsertx(db, &args("a.csv", "2026-02-01")),
            crate::common::spawn_upsertx(db, &args("b.csv", "2026-03-01")),
        );
        let (a, b) = (
            crate::common::Run::from(a.wait_with_output().unwrap()),
            crate::common::Run::from(b.wait_with_output().unwrap()),
        );
        b.report();
        if a.code != 0 {
            a.fails(1, &["--as-of", "nothing was written"]);
        }
        let count = |sql: &str| db.rows(sql).remove(0).remove(0);
        assert_eq!(count("SELECT COUNT(*) FROM dim WHERE valid_to IS NULL"), "1500", "round {round}");
        assert_eq!(count("SELECT COUNT(*) FROM dim WHERE valid_to <= valid_from"), "0", "round {round}");
        let b_current = count("SELECT COUNT(*) FROM dim WHERE valid_to IS NULL AND v = 'b'");
        assert_eq!(b_current, "1001", "round {round}: b's rows are current");
    }
}

/// An entity that vanishes after several versions: only its current version is closed,
/// once (the closed ones keep their `to`), and the count and change log say one
/// deletion. (PostgreSQL rewrote every version of the entity, reported `deleted: 2` and
/// told two identical lines.)
pub fn history_delete_closes_only_the_current_version(db: &dyn TestDb) {
    dim(db);
    let sync = ["--delete-missing"];
    assert_eq!(load(db, "2026-01-01", "id,name,city\n1,Ann,Oslo\n2,Bob,Rome\n", &sync), (2, 0, 0, 0));
    assert_eq!(load(db, "2026-02-01", "id,name,city\n1,Ann,Oslo\n2,Bob,Milan\n", &sync), (0, 1, 1, 0));
    let changes = db.dir().join("changes.ndjson");
    let path = changes.to_str().unwrap();
    assert_eq!(
        load(db, "2026-03-01", "id,name,city\n1,Ann,Oslo\n", &["--delete-missing", "--changes", path]),
        (0, 0, 1, 1)
    );
    let expected = rows(&[
        &["1", "Oslo", "2026-01-01", "NULL", "y"],
        &["2", "Rome", "2026-01-01", "2026-02-01", "n"],
        &["2", "Milan", "2026-02-01", "2026-03-01", "n"],
    ]);
    assert_eq!(versions(db), expected);
    let lines = std::fs::read_to_string(&changes).unwrap();
    assert_eq!(lines.lines().count(), 1, "one line for one deletion: {lines}");
    assert!(lines.contains("Milan"), "{lines}");
    // Many versions of many entities: one deletion each, and a percentage of the
    // current versions only.
    db.exec("DELETE FROM dim");
    let all = |v: usize| (1..=9).map(|id| format!("{id},n,c{v}\n")).collect::<String>();
    for v in 1..=9 {
        let day = format!("2026-0{v}-01");
        load(db, &day, &format!("id,name,city\n{}", all(v)), &[]);
    }
    assert_eq!(
        load(db, "2026-10-01", "id,name,city\n1,n,c9\n", &["--delete-missing", "--max-delete", "90%"]),
        (0, 0, 1, 8)
    );
    let closed = db.rows("SELECT COUNT(*) FROM dim WHERE valid_to = '2026-10-01'");
    assert_eq!(closed, rows(&[&["8"]]));
    let overlapping = db.rows(
        "SELECT COUNT(*) FROM dim AS a JOIN dim AS b ON a.id = b.id AND a.valid_from < b.valid_from \
         AND (a.valid_to IS NULL OR a.valid_to > b.valid_from)",
    );
    assert_eq!(overlapping, rows(&[&["0"]]));
}

/// `--delete-missing` never closes a version before it began: an entity whose current
/// version began after the load's time fails the load (nothing written), as an input
/// row's does; one that began at the load's time itself is removed (a version valid
/// for no time), as a changed one is replaced.
pub fn history_delete_never_closes_a_version_before_it_began(db: &dyn TestDb) {
    dim(db);
    assert_eq!(load(db, "2026-01-01", "id,name,city\n1,Ann,Oslo\n", &[]), (1, 0, 0, 0));
    assert_eq!(load(db, "2026-03-01", "id,name,city\n2,Bob,Rome\n", &[]), (1, 0, 0, 0));
    let before = versions(db);
    write(db, "dim.csv", "id,name,city\n1,Ann,Oslo\n");
    let mut args = vec!["dim.csv", "--as-of", "2026-02-01", "--delete-missing"];
    args.extend(HISTORY);
    let needles = ["table \"dim\"", "2026-03-01", "after the load's time", "--as-of", "nothing was written"];
    upsertx(db, &args, None).fails(1, &needles);
    assert_eq!(versions(db), before);
    // The same instant: Bob's version of 2026-03-01 is removed; Ann's stays.
    assert_eq!(load(db, "2026-03-01", "id,name,city\n1,Ann,Oslo\n", &["--delete-missing"]), (0, 0, 1, 1));
    assert_eq!(versions(db), rows(&[&["1", "Oslo", "2026-01-01", "NULL", "y"]]));
    let zero = db.rows("SELECT COUNT(*) FROM dim WHERE valid_to <= valid_from");
    assert_eq!(zero, rows(&[&["0"]]));
}

/// A long `--history --delete-missing` load at the default load time (now), and a short
/// load started 0.1 s after it that changes the entity the long one finds missing: when
/// the short one commits first, its version began after the long load's time, and the
/// long load fails with nothing written instead of closing that version before it began.
/// Either way no version ends before it begins and each entity keeps one current version.
pub fn history_delete_races_a_short_load(db: &dyn TestDb) {
    let ts = if dialect(db) == "mysql" { "DATETIME(6)" } else { "TIMESTAMP" };
    db.exec(&format!(
        "CREATE TABLE dim (id INTEGER NOT NULL, v VARCHAR(10), valid_from {ts} NOT NULL, valid_to {ts}, \
         PRIMARY KEY (id, valid_from))"
    ));
    let n = 100_000;
    let csv = |v: &str, ids: std::ops::RangeInclusive<i32>| {
        let mut s = String::from("id,v\n");
        ids.for_each(|i| s.push_str(&format!("{i},{v}\n")));
        s
    };
    write(db, "seed.csv", &csv("seed", 1..=n));
    write(db, "long.csv", &csv("seed", 1..=n - 1));
    write(db, "short.csv", &csv("short", n..=n));
    let args = |file: &'static str| {
        let mut a = vec!["--table", "dim", "--history", "valid_from,valid_to", "--json", "-q", file];
        if file == "long.csv" {
            a.push("--delete-missing");
        }
        a
    };
    let mut refused = 0;
    for round in 0..3 {
        db.exec("DELETE FROM dim");
        upsertx(db, &args("seed.csv"), None).report();
        let long = crate::common::spawn_upsertx(db, &args("long.csv"));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let short = crate::common::spawn_upsertx(db, &args("short.csv"));
        let (long, short) = (
            crate::common::Run::from(long.wait_with_output().unwrap()),
            crate::common::Run::from(short.wait_with_output().unwrap()),
        );
        short.report();
        if long.code != 0 {
            long.fails(1, &["after the load's time", "nothing was written"]);
            refused += 1;
        }
        // The self-join below needs statistics to be a hash join, not a nested loop over
        // 100,000 rows twice (minutes on a Citus reference table before autovacuum ran).
        db.exec(if dialect(db) == "mysql" { "ANALYZE TABLE dim" } else { "ANALYZE dim" });
        let count = |sql: &str| db.rows(sql).remove(0).remove(0);
        assert_eq!(count("SELECT COUNT(*) FROM dim WHERE valid_to <= valid_from"), "0", "round {round}");
        let current = count(&format!("SELECT COUNT(*) FROM dim WHERE valid_to IS NULL AND id = {n}"));
        assert!(current == "0" || current == "1", "round {round}: {current} current versions");
        let overlapping = count(
            "SELECT COUNT(*) FROM dim AS a JOIN dim AS b ON a.id = b.id AND a.valid_from < b.valid_from \
             AND (a.valid_to IS NULL OR a.valid_to > b.valid_from)",
        );
        assert_eq!(overlapping, "0", "round {round}");
    }
    eprintln!("the long load was refused in {refused} rounds of 3");
}

every_dialect!(
    history_creates_the_table_and_uses_the_load_time,
    history_refuses_what_it_cannot_do,
    history_delete_races_a_short_load,
    history_delete_closes_only_the_current_version,
    history_delete_never_closes_a_version_before_it_began,
    concurrent_history_loads_take_turns,
    history_loads_within_one_second,
    history_keeps_the_newest_versions,
    history_changes_tell_each_entity,
    history_keeps_every_version,
    history_replaces_the_same_instant_and_refuses_the_past,
    history_with_a_surrogate_key,
);
