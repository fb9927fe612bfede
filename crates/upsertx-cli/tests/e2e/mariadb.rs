//! MariaDB beyond the scenarios every dialect shares (those are in cli.rs).

use crate::common::{rows, table, upsertx, upsertx_traced, upsertx_with_url, write, Mariadb, TestDb};

#[test]
fn strict_types_and_explicit_time_zones() {
    let db = Mariadb::new();
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, price DECIMAL(6,2), qty TINYINT UNSIGNED, size ENUM('s','m','l'),
                         code CHAR(3), at DATETIME(6), ts TIMESTAMP(6) NULL, raw VARBINARY(8), ok BOOLEAN)",
    );
    // A decimal rounded to its scale is a note, not an error; an offset is converted for
    // TIMESTAMP (an instant, UTC) and dropped for DATETIME (a wall time).
    write(
        &db,
        "t.csv",
        "id,price,qty,size,code,at,ts,raw,ok\n1,1.005,255,m,abc,2024-01-01T10:00:00+02:00,2024-01-01T10:00:00+02:00,\\x00ff,true\n",
    );
    assert_eq!(upsertx(&db, &["t.csv", "--json"], None).counts(), (1, 0, 0, 0, 0));
    db.exec("SET time_zone = '+00:00'");
    assert_eq!(
        db.rows("SELECT price, qty, size, code, at, ts, HEX(raw), ok FROM t"),
        rows(&[&["1.01", "255", "m", "abc", "2024-01-01 10:00:00.000000", "2024-01-01 08:00:00.000000", "00FF", "1"]])
    );
    // What strict mode refuses names its row and column, and nothing is written.
    for (line, needle) in [
        ("2,1,256,m,abc,,,,0", "column \"qty\": \"256\": out of range for an unsigned 8-bit integer (0 to 255)"),
        ("2,1,-1,m,abc,,,,0", "column \"qty\": \"-1\": out of range for an unsigned 8-bit integer"),
        ("2,1,1,xl,abc,,,,0", "column \"size\": \"xl\": Data truncated"),
        ("2,10000,1,m,abc,,,,0", "column \"price\": \"10000\": Out of range value"),
        ("2,1,1,m,abcd,,,,0", "column \"code\": \"abcd\": 4 characters is longer than the column's limit of 3"),
    ] {
        write(&db, "bad.csv", &format!("id,price,qty,size,code,at,ts,raw,ok\n3,1,1,s,x,,,,0\n{line}\n"));
        upsertx(&db, &["bad.csv", "--table", "t"], None).fails(1, &["bad.csv: row 2", needle]);
    }
    assert_eq!(table(&db, "t", "id"), rows(&[&["1"]]));
}

#[test]
fn float_is_range_checked_naming_the_input_column() {
    let db = Mariadb::new();
    db.exec("CREATE TABLE r (id INT PRIMARY KEY, x FLOAT)");
    for v in ["1e39", "3.5e38", "1e-50"] {
        write(&db, "r.csv", &format!("id,x\n1,1\n2,{v}\n"));
        upsertx(&db, &["r.csv"], None)
            .fails(1, &["r.csv: row 2", "column \"x\"", v, "out of range for a 32-bit float"]);
    }
    assert!(table(&db, "r", "id").is_empty());
}

#[test]
fn database_qualified_table_names() {
    let db = Mariadb::new();
    let other = format!("{}_x", db.url().rsplit('/').next().unwrap());
    db.exec(&format!("CREATE DATABASE {other}; CREATE TABLE {other}.events (id INT PRIMARY KEY, kind VARCHAR(10))"));
    write(&db, "events.csv", "id,kind\n1,click\n");
    let qualified = format!("{other}.events");
    assert_eq!(upsertx(&db, &["events.csv", "--table", &qualified, "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(db.rows(&format!("SELECT id, kind FROM {other}.events")), rows(&[&["1", "click"]]));
    db.exec(&format!("DROP DATABASE {other}"));
}

/// TLS as the mysql client's `ssl-mode`, against a real TLS server: scripts/test.sh starts
/// a second MariaDB on 127.0.0.1:3307 with a throwaway CA (`UPSERTX_TEST_MYSQL_TLS_CA`)
/// whose server certificate names only `localhost`.
#[test]
fn tls_modes_against_a_tls_server() {
    let ca =
        std::env::var("UPSERTX_TEST_MYSQL_TLS_CA").unwrap_or_else(|_| "/tmp/upsertx-mariadb-tls/certs/ca.pem".into());
    assert!(std::path::Path::new(&ca).exists(), "{ca} is missing: scripts/test.sh makes the TLS test server");
    let db = Mariadb::on("mysql://root@127.0.0.1:3307/test");
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, name TEXT)");
    write(&db, "t.csv", "id,name\n1,a\n2,b\n");
    let name = db.url().rsplit('/').next().unwrap().to_string();
    let accepted = || -> u64 { db.rows("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")[0][1].parse().unwrap() };
    let url = |host: &str, query: &str| format!("mysql://root@{host}:3307/{name}?{query}");

    let mut inserted = 2;
    for (host, query) in [
        ("127.0.0.1", "ssl-mode=REQUIRED".to_string()),
        ("127.0.0.1", format!("ssl-mode=VERIFY_CA&ssl-ca={ca}")),
        ("localhost", format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")),
    ] {
        let before = accepted();
        let run = upsertx_with_url(&db, &["t.csv", "--json"], &url(host, &query));
        assert_eq!(run.counts(), (inserted, 0, 2 - inserted, 0, 0), "{query}: {}", run.stderr);
        assert!(accepted() > before, "{query}: the connection was not encrypted");
        inserted = 0;
    }
    // A certificate the roots do not vouch for, or for another name, is refused before
    // anything is sent (and the password never shows).
    let refused = |host: &str, query: &str, needle: &str| {
        let url = url(host, query).replace("root@", "root:s3cret@");
        let run = upsertx_with_url(&db, &["t.csv"], &url);
        run.fails(1, &["connecting to MySQL", needle]);
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    };
    refused("127.0.0.1", "ssl-mode=VERIFY_CA", "invalid peer certificate: UnknownIssuer");
    refused(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
        "certificate not valid for name \"127.0.0.1\"",
    );
    // And a server without TLS is not silently used in clear.
    let plain = Mariadb::new();
    plain.exec("CREATE TABLE t (id INT PRIMARY KEY, name TEXT)");
    write(&plain, "t.csv", "id,name\n1,a\n");
    let plain_url = format!("{}?ssl-mode=REQUIRED", plain.url());
    upsertx_with_url(&plain, &["t.csv"], &plain_url).fails(1, &["secure connection"]);
    assert_eq!(table(&plain, "t", "id"), Vec::<Vec<String>>::new());
}

/// Into an empty table the rows go straight into the target (no stage, no merge): the
/// same results as through the stage, duplicates within the input kept by the policy,
/// an absent auto-increment column filled, a value the server refuses named with the
/// table left empty; and a second load into the now non-empty table upserts as usual.
#[test]
fn loads_into_an_empty_table_go_straight_into_it() {
    let db = Mariadb::new();
    db.exec("CREATE TABLE e (id INT PRIMARY KEY, size ENUM('s','m','l') NOT NULL, note VARCHAR(10))");
    write(&db, "bad.csv", "id,size,note\n1,s,a\n2,xl,b\n");
    upsertx(&db, &["bad.csv", "--table", "e"], None)
        .fails(1, &["bad.csv: row 2", "column \"size\": \"xl\": Data truncated"]);
    assert_eq!(table(&db, "e", "id"), Vec::<Vec<String>>::new());

    write(&db, "e.csv", "id,size,note\n3,s,first\n1,m,\n3,l,last\n2,s,x\n");
    let run = upsertx(&db, &["e.csv", "--json"], None);
    assert_eq!(run.counts(), (3, 0, 0, 0, 1), "{}", run.stderr);
    assert_eq!(table(&db, "e", "id, size, note"), rows(&[&["1", "m", "NULL"], &["2", "s", "x"], &["3", "l", "last"]]));

    db.exec("DELETE FROM e");
    let run = upsertx(&db, &["e.csv", "--duplicates", "first", "--json"], None);
    assert_eq!(run.counts(), (3, 0, 0, 0, 1), "{}", run.stderr);
    assert_eq!(table(&db, "e", "id, size, note"), rows(&[&["1", "m", "NULL"], &["2", "s", "x"], &["3", "s", "first"]]));

    write(&db, "more.csv", "id,size,note\n2,s,x\n3,m,changed\n4,l,new\n");
    assert_eq!(upsertx(&db, &["more.csv", "--table", "e", "--json"], None).counts(), (1, 1, 1, 0, 0));

    // An auto-increment key absent from the input: keyed by another unique column, which
    // makes two unique keys, so this goes through the stage; a table keyed by the
    // auto-increment column alone cannot be loaded by key without it.
    db.exec("CREATE TABLE a (rid INT AUTO_INCREMENT PRIMARY KEY, code VARCHAR(5) NOT NULL UNIQUE, n INT)");
    write(&db, "a.csv", "code,n\nx,1\ny,2\n");
    assert_eq!(upsertx(&db, &["a.csv", "--key", "code", "--json"], None).counts(), (2, 0, 0, 0, 0));
    assert_eq!(table(&db, "a", "rid, code, n"), rows(&[&["1", "x", "1"], &["2", "y", "2"]]));
}

/// Rows whose keys come in order go straight into a table that holds rows, upserted as
/// they come (no stage). A value the server refuses far into the input names its row,
/// column and value, and nothing is written; rows in order, then a key seen again out
/// of order, are staged after all, with exact counts and the last row kept.
#[test]
fn key_ordered_rows_are_upserted_as_they_come() {
    let db = Mariadb::new();
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, size ENUM('s','m','l') NOT NULL, n INT)");
    db.exec("INSERT INTO t VALUES (1, 's', 1), (50000, 's', 1)");
    let csv = |ids: &mut dyn Iterator<Item = i64>, size: &dyn Fn(i64) -> &'static str| {
        let mut csv = String::from("id,size,n\n");
        for id in ids {
            csv.push_str(&format!("{id},{},{id}\n", size(id)));
        }
        csv
    };
    write(&db, "t.csv", &csv(&mut (1..=60_000), &|id| if id == 45_001 { "xl" } else { "m" }));
    upsertx_traced(&db, &["t.csv"])
        .fails(1, &["t.csv: row 45001 (line 45002), column \"size\": \"xl\": Data truncated"]);
    assert_eq!(table(&db, "t", "id, size, n"), rows(&[&["1", "s", "1"], &["50000", "s", "1"]]));

    write(&db, "t.csv", &csv(&mut (1..=60_000), &|_| "m"));
    let run = upsertx_traced(&db, &["t.csv", "--json"]);
    assert_eq!(run.counts(), (59_998, 2, 0, 0, 0), "{}", run.stderr);
    assert!(!run.stderr.contains("staged instead"), "{}", run.stderr);
    let summary = "SELECT count(*), sum(n), sum(size = 'm') FROM t";
    assert_eq!(db.rows(summary), rows(&[&["60000", "1800030000", "60000"]]));
    // Again, every row as it is.
    assert_eq!(upsertx_traced(&db, &["t.csv", "--json"]).counts(), (0, 0, 60_000, 0, 0));

    // In order up to 70,000 (half of it changed), then 65,000 again and 80,000.
    let mut ids = (55_001..=70_000).chain([65_000, 80_000]);
    write(&db, "t.csv", &csv(&mut ids, &|id| if id % 2 == 0 { "l" } else { "m" }));
    let run = upsertx_traced(&db, &["t.csv", "--json"]);
    assert!(run.stderr.contains("keys out of order: the rows upserted so far sorted instead"), "{}", run.stderr);
    assert_eq!(run.counts(), (10_001, 2_500, 2_500, 0, 1), "{}", run.stderr);
    let summary = "SELECT count(*), sum(n), sum(size = 'l') FROM t";
    assert_eq!(db.rows(summary), rows(&[&["70001", "2450115000", "7501"]]));
    assert_eq!(db.rows("SELECT size FROM t WHERE id = 65000"), rows(&[&["l"]]));

    // A note (a decimal rounded to its column's scale) in one statement does not stop the
    // statements after it.
    db.exec("CREATE TABLE d (id INT PRIMARY KEY, x DECIMAL(6,2)); INSERT INTO d VALUES (1, 0)");
    let mut decimals = String::from("id,x\n");
    for id in 1..=10_000 {
        decimals.push_str(&format!("{id},{}.125\n", id % 900));
    }
    write(&db, "d.csv", &decimals);
    assert_eq!(upsertx_traced(&db, &["d.csv", "--table", "d", "--json"]).counts(), (9_999, 1, 0, 0, 0));
    assert_eq!(db.rows("SELECT count(*), count(x) FROM d"), rows(&[&["10000", "10000"]]));
}

/// Rows upserted as they come are read first, by key range, and those the table holds
/// exactly as they would be written are not sent: a rerun sends none. Values written
/// another way (`0.10` for 0.1, `1.5` for 1.50, `.500` seconds), case and trailing
/// space changes, NULL against empty: the counts and the table are those of the same
/// load through the stage (`--changes` takes it there); and a value the server refuses
/// in a statement of rows left after the reads names its own row.
#[test]
fn rows_the_table_holds_as_they_are_are_not_sent() {
    let db = Mariadb::new();
    let ddl = |name: &str| {
        format!(
            "CREATE TABLE {name} (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DOUBLE NOT NULL, \
             at DATETIME(3) NOT NULL, d DECIMAL(8,2), day DATE, note TEXT, flag BOOLEAN NOT NULL)"
        )
    };
    db.exec(&ddl("h"));
    db.exec(&ddl("s"));
    let csv = |ids: &mut dyn Iterator<Item = i64>, odd: &dyn Fn(i64) -> Option<&'static str>| {
        let mut csv = String::from("id,name,amount,at,d,day,note,flag\n");
        for id in ids {
            let row = odd(id).map(str::to_string).unwrap_or_else(|| {
                format!("{id},Ann {id},{}.25,2024-02-29 13:05:{:02}.5,1.50,2024-03-01,,{}", id % 97, id % 60, id % 2)
            });
            csv.push_str(&row);
            csv.push('\n');
        }
        csv
    };
    write(&db, "base.csv", &csv(&mut (1..=20_000), &|_| None));
    for t in ["h", "s"] {
        assert_eq!(upsertx(&db, &["base.csv", "--table", t, "--json"], None).counts(), (20_000, 0, 0, 0, 0));
    }
    let run = upsertx_traced(&db, &["base.csv", "--table", "h", "--json"]);
    assert_eq!(run.counts(), (0, 0, 20_000, 0, 0), "{}", run.stderr);
    assert!(run.stderr.contains("20000 rows held as they are: not sent"), "{}", run.stderr);

    // The same values written otherwise, and changes the server sees.
    let odd = |id: i64| -> Option<&'static str> {
        Some(match id {
            3 => "3,Ann 3,3.250,2024-02-29 13:05:03.500,1.5,2024-03-01,,1",
            4 => "4,ann 4,4.25,2024-02-29 13:05:04.5,1.50,2024-03-01,,0",
            5 => "5,Ann 5 ,5.25,2024-02-29 13:05:05.5,1.50,2024-03-01,,1",
            6 => "6,Ann 6,6.25,2024-02-29 13:05:06.5,1.50,2024-03-01,\"\",0",
            7 => "7,Ann 7,7.25,2024-02-29 13:05:07.5,,2024-03-01,,1",
            8 => "8,Ann 8,8.250000000000001,2024-02-29 13:05:08.5,1.50,2024-03-01,,0",
            9 => "9,Ann 9,9.25,2024-02-29 13:05:09.501,1.50,2024-03-01,,1",
            10 => "10,Ann 10,10.25,2024-02-29 13:05:10.5,1.50,2024-03-02,,0",
            11 => "11,Ann 11,11.25,2024-02-29 13:05:11.5,1.50,2024-03-01,,0",
            _ => return None,
        })
    };
    // Mostly new keys at the end: the reads pause there.
    write(&db, "next.csv", &csv(&mut (1..=20_000).chain(30_001..=50_000), &odd));
    let via_stage = upsertx(&db, &["next.csv", "--table", "s", "--changes", "s.ndjson", "--json"], None);
    let held = upsertx_traced(&db, &["next.csv", "--table", "h", "--json"]);
    assert_eq!(held.counts(), via_stage.counts(), "{}", held.stderr);
    assert_eq!(held.counts(), (20_000, 8, 19_992, 0, 0), "{}", held.stderr);
    assert!(held.stderr.contains("rows held as they are: not sent"), "{}", held.stderr);
    let all = "id, name, amount, at, d, day, note, flag";
    assert_eq!(table(&db, "h", all), table(&db, "s", all));

    // Past the reads: row 15,001's name is too long for its column.
    let long = "15001,a name far too long for it,1,2024-02-29 13:05:00,1,2024-03-01,,0";
    write(&db, "bad.csv", &csv(&mut (1..=20_000), &|id| (id == 15_001).then_some(long)));
    upsertx_traced(&db, &["bad.csv", "--table", "h"])
        .fails(1, &["bad.csv: row 15001 (line 15002), column \"name\": \"a name far too long for it\""]);
    assert_eq!(table(&db, "h", all), table(&db, "s", all));
}

/// Rows upserted as they come send whole numbers, plain DOUBLE text and valid dates in
/// binary: the table holds what the same text through the stage (`--changes`) stores,
/// to the last bit of a double and the rounding of a second; a date that does not exist
/// is still refused, naming its row.
#[test]
fn typed_parameters_store_what_the_text_would() {
    let db = Mariadb::new();
    let ddl = |name: &str| {
        format!(
            "CREATE TABLE {name} (id INT PRIMARY KEY, x DOUBLE, f DOUBLE(8,2), at3 DATETIME(3), at0 DATETIME, \
             day DATE, b BOOLEAN)"
        )
    };
    let values = [
        "0.30000000000000004,1.005,2024-02-29 13:05:09.25,2024-02-29 13:05:09.5,2024-02-29,1",
        "1.7976931348623157e308,2.5,2024-02-29 13:05:09.1234,2024-02-29 23:59:59.9,2000-02-29,0",
        "5e-324,-0.125,1999-12-31 23:59:59.999,1999-12-31 23:59:59.000,1000-01-01,1",
        "2.5e-310,3,9999-12-31 23:59:59,1000-01-01 00:00:00,9999-12-31,0",
        "-0,4.999,2024-01-01 00:00:00.000001,2024-01-01 00:00:00.4,2024-01-01,1",
        "123456.789,.5,2024-06-30 12:00:00.5,2024-06-30 12:00:00,2024-06-30,0",
        "1E5,5.,2024-06-30T12:00:00,2024-06-30 12:00:00Z,2024-06-30,1",
    ];
    let mut csv = String::from("id,x,f,at3,at0,day,b\n");
    for (i, v) in values.iter().enumerate() {
        csv.push_str(&format!("{},{v}\n", i + 2));
    }
    write(&db, "t.csv", &csv);
    let all = "id, x, f, at3, at0, day, b, CAST(x AS CHAR), HEX(CAST(x AS BINARY))";
    for t in ["h", "s"] {
        db.exec(&ddl(t));
        db.exec(&format!("INSERT INTO {t} (id) VALUES (1)"));
    }
    let via_stage = upsertx(&db, &["t.csv", "--table", "s", "--changes", "s.ndjson", "--json"], None);
    let typed = upsertx_traced(&db, &["t.csv", "--table", "h", "--json"]);
    assert_eq!(typed.counts(), via_stage.counts(), "{}", typed.stderr);
    assert_eq!(typed.counts(), (7, 0, 0, 0, 0), "{}", typed.stderr);
    assert_eq!(table(&db, "h", all), table(&db, "s", all));
    assert_eq!(db.rows("SELECT x = 1e-1 + 2e-1, at0 FROM h WHERE id = 2"), rows(&[&["1", "2024-02-29 13:05:09"]]));

    write(&db, "bad.csv", "id,x,f,at3,at0,day,b\n2,1,1,2024-02-29 13:05:09,2024-02-29 13:05:09,2024-02-29,1\n3,1,1,2023-02-29 00:00:00,2024-01-01 00:00:00,2024-01-01,1\n");
    upsertx(&db, &["bad.csv", "--table", "h"], None).fails(1, &["bad.csv: row 2 (line 3), column \"at3\""]);
    assert_eq!(table(&db, "h", all), table(&db, "s", all));
}
