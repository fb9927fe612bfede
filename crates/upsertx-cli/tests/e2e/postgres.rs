//! PostgreSQL beyond the scenarios every dialect shares (those are in cli.rs): types,
//! server-side errors mapped to input rows, schemas, connection URLs, concurrency.

use crate::common::{
    rows, spawn_upsertx, table, upsertx, upsertx_traced, upsertx_with_url, wait_until, write, Postgres, Run, TestDb,
};

#[test]
fn types_round_trip_exactly() {
    let db = Postgres::new();
    db.exec(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN percent AS numeric(5,2) CHECK (VALUE BETWEEN 0 AND 100);
         CREATE TABLE t (id bigint PRIMARY KEY, small smallint, big bigint, exact numeric, money numeric(12,2),
           f4 real, f8 double precision, code varchar(5), flag boolean, day date, at time, ts timestamp,
           tz timestamptz, span interval, uid uuid, doc json, docb jsonb, raw bytea, feel mood, pct percent)",
    );
    write(
        &db,
        "t.csv",
        "id,small,big,exact,money,f4,f8,code,flag,day,at,ts,tz,span,uid,doc,docb,raw,feel,pct\n\
         1,-32768,9223372036854775807,12345678901234567890.123456789,1.005,1.5,NaN,007,yes,2024-02-29,23:59:59.5,\
         2024-02-29T10:00:00+02:00,2024-02-29T10:00:00+02:00,1 day 02:00,A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,\
         \"{\"\"b\"\": 1,  \"\"a\"\": [1, 2]}\",\"{\"\"b\"\": 1, \"\"a\"\": 2}\",\\xdeadbeef,happy,99.5\n\
         2,,,,,,,,,,,,2024-02-29 10:00:00,,,,,,,\n",
    );
    let run = upsertx(&db, &["t.csv", "--json"], None);
    assert_eq!(run.counts(), (2, 0, 0, 0, 0));
    db.exec("SET TIME ZONE 'UTC'");
    assert_eq!(
        db.rows(
            "SELECT small, big, exact, money, f4, f8, code, flag, day, at, ts, tz, span, uid, doc, docb, raw, feel, pct
             FROM t WHERE id = 1"
        ),
        rows(&[&[
            "-32768",
            "9223372036854775807",
            "12345678901234567890.123456789",
            "1.01",
            "1.5",
            "NaN",
            "007",
            "t",
            "2024-02-29",
            "23:59:59.5",
            "2024-02-29 10:00:00",
            "2024-02-29 08:00:00+00",
            "1 day 02:00:00",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{\"b\": 1,  \"a\": [1, 2]}",
            "{\"a\": 2, \"b\": 1}",
            "\\xdeadbeef",
            "happy",
            "99.50",
        ]])
    );
    // A timestamptz without an offset is UTC, whatever the session's time zone.
    assert_eq!(db.rows("SELECT tz FROM t WHERE id = 2"), rows(&[&["2024-02-29 10:00:00+00"]]));
    // Everything again: json (no equality operator) and NaN compare as unchanged.
    assert_eq!(upsertx(&db, &["t.csv", "--json"], None).counts(), (0, 0, 2, 0, 0));
}

#[test]
fn values_the_server_refuses_name_their_row_and_column() {
    let db = Postgres::new();
    db.exec(
        "CREATE DOMAIN percent AS numeric(5,2) CHECK (VALUE BETWEEN 0 AND 100);
         CREATE TYPE mood AS ENUM ('sad', 'ok');
         CREATE TABLE t (id int PRIMARY KEY, pct percent, feel mood, code varchar(3), n smallint)",
    );
    for (line, needle) in [
        ("2,101,ok,a,1", "column \"pct\": \"101\": value for domain percent violates check constraint"),
        ("2,1,glad,a,1", "column \"feel\": \"glad\": invalid input value for enum mood"),
        ("2,1,ok,abcd,1", "column \"code\": \"abcd\": 4 characters is longer than the column's limit of 3"),
        ("2,1,ok,a,40000", "column \"n\": \"40000\": out of range for a 16-bit integer"),
    ] {
        write(&db, "t.csv", &format!("id,pct,feel,code,n\n1,50,sad,x,1\n{line}\n"));
        upsertx(&db, &["t.csv"], None).fails(1, &["t.csv: row 2", needle]);
    }
    assert!(table(&db, "t", "id").is_empty(), "nothing written");
}

/// A value the server refuses far into a large input (its rows sent by COPYs of 8 MB, many
/// batches each: this one is in the second), after a value spanning two lines: named by
/// its row, line and value (read back from the bytes sent).
#[test]
fn a_refused_value_deep_in_the_input_names_its_row() {
    let db = Postgres::new();
    db.exec(
        "CREATE DOMAIN percent AS numeric(5,2) CHECK (VALUE BETWEEN 0 AND 100);
         CREATE TABLE t (id int PRIMARY KEY, pct percent, note text)",
    );
    let mut csv = String::from("id,pct,note\n1,1,\"two\nlines\"\n");
    let pad = "x".repeat(100);
    for id in 2..=100_000 {
        let pct = if id == 95_001 { "100.50".to_string() } else { (id % 100).to_string() };
        csv.push_str(&format!("{id},{pct},note {id} {pad}\n"));
    }
    write(&db, "t.csv", &csv);
    upsertx(&db, &["t.csv"], None).fails(
        1,
        &[
            "t.csv: row 95001 (line 95003)",
            "column \"pct\": \"100.50\": value for domain percent violates check constraint",
        ],
    );
    assert!(table(&db, "t", "id").is_empty(), "nothing written");
}

#[test]
fn real_is_range_checked_as_a_32_bit_float() {
    let db = Postgres::new();
    db.exec("CREATE TABLE r (id int PRIMARY KEY, x real)");
    for v in ["1e39", "3.5e38", "1e-50", "-1e39"] {
        write(&db, "r.csv", &format!("id,x\n1,1\n2,{v}\n"));
        upsertx(&db, &["r.csv"], None)
            .fails(1, &["r.csv: row 2", "column \"x\"", v, "out of range for a 32-bit float"]);
    }
    assert!(table(&db, "r", "id").is_empty());
    write(&db, "r.csv", "id,x\n1,3.4e38\n2,1e-40\n");
    assert_eq!(upsertx(&db, &["r.csv", "--json"], None).counts(), (2, 0, 0, 0, 0));
}

#[test]
fn schema_qualified_tables_and_search_path() {
    let db = Postgres::new();
    let schema = format!("{}_analytics", db.url().rsplit("%3D").next().unwrap());
    db.exec(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.events (id int PRIMARY KEY, kind text);
         CREATE TABLE events (id int PRIMARY KEY, kind text)"
    ));
    write(&db, "events.csv", "id,kind\n1,click\n");
    let qualified = format!("{schema}.events");
    assert_eq!(upsertx(&db, &["events.csv", "--table", &qualified, "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(db.rows(&format!("SELECT id, kind FROM {schema}.events")), rows(&[&["1", "click"]]));
    assert!(table(&db, "events", "id").is_empty(), "the search_path table was not touched");
    // Without a schema, the table on the search_path.
    assert_eq!(upsertx(&db, &["events.csv", "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(table(&db, "events", "id, kind"), rows(&[&["1", "click"]]));
    // --create into a schema.
    write(&db, "more.csv", "id,n\n1,2.5\n");
    let created = format!("{schema}.more");
    assert_eq!(
        upsertx(&db, &["more.csv", "--table", &created, "--key", "id", "--create", "--json"], None).counts().0,
        1
    );
    assert_eq!(db.rows(&format!("SELECT n FROM {schema}.more")), rows(&[&["2.5"]]));
    db.exec(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn urls_as_libpq_users_write_them() {
    let db = Postgres::new();
    db.exec("CREATE TABLE c (id int PRIMARY KEY, name text)");
    write(&db, "c.csv", "id,name\n1,a\n");
    let search = db.url().split("options=").nth(1).unwrap().to_string();
    // A unix-socket host, and the user and database from PGUSER / PGDATABASE.
    let socket = format!("postgres:///?host=/var/run/postgresql&options={search}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upsertx"))
        .args(["c.csv", "--json", "--db", &socket])
        .env("PGUSER", "root")
        .env("PGDATABASE", "test")
        .current_dir(db.dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(table(&db, "c", "id, name"), rows(&[&["1", "a"]]));
    // A wrong password is refused without ever being printed.
    let bad = "postgresql://nosuchuser:Secr3tPw@127.0.0.1:5432/test";
    let run = crate::common::upsertx_with_url(&db, &["c.csv"], bad);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("postgresql://nosuchuser:***@127.0.0.1:5432/test"), "{}", run.stderr);
    assert!(!run.stderr.contains("Secr3tPw") && !run.stdout.contains("Secr3tPw"));
}

#[test]
fn tls_modes_as_libpq() {
    let db = Postgres::new();
    let ssl = db.rows("SELECT current_setting('ssl'), current_setting('ssl_cert_file')");
    assert_eq!(ssl[0][0], "on", "the test server must have ssl = on (Debian's default, snakeoil certificate)");
    let cert = ssl[0][1].clone();
    db.exec("CREATE TABLE c (id int PRIMARY KEY, name text)");
    write(&db, "c.csv", "id,name\n1,a\n");
    let search = db.url().split("options=").nth(1).unwrap().to_string();
    let url = |host: &str, tls: &str| format!("postgres://root@{host}:5432/test?options={search}&{tls}");
    let ok = |u: String| {
        let run = crate::common::upsertx_with_url(&db, &["c.csv", "--json"], &u);
        assert_eq!(run.code, 0, "{u}: {}", run.stderr);
    };
    let fails = |u: String, code: i32, needle: &str| {
        let run = crate::common::upsertx_with_url(&db, &["c.csv"], &u);
        run.fails(code, &[needle]);
    };
    ok(url("127.0.0.1", "sslmode=disable"));
    ok(url("127.0.0.1", "sslmode=require"));
    // The chain only: the certificate names localhost, not 127.0.0.1.
    ok(url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={cert}")));
    fails(url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={cert}")), 1, "not valid for name \"127.0.0.1\"");
    ok(url("localhost", &format!("sslmode=verify-full&sslrootcert={cert}")));
    // Roots that did not sign the server's certificate (the public CA bundle).
    let public_cas = "/etc/ssl/certs/ca-certificates.crt";
    fails(url("localhost", &format!("sslmode=verify-full&sslrootcert={public_cas}")), 1, "invalid peer certificate");
    fails(url("localhost", "sslmode=sometimes"), 2, "sslmode=sometimes is not one of");
    // libpq's key=value form.
    let kv = format!("host=localhost port=5432 user=root dbname=test sslmode=verify-full sslrootcert={cert}");
    let run = crate::common::upsertx_with_url(
        &db,
        &["c.csv", "--table", &format!("{}.c", search.trim_start_matches("-csearch_path%3D")), "--json"],
        &kv,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(table(&db, "c", "id, name"), rows(&[&["1", "a"]]));
}

#[test]
fn concurrent_loads_on_overlapping_keys_neither_deadlock_nor_lose_rows() {
    let db = Postgres::new();
    db.exec("CREATE TABLE k (id int PRIMARY KEY, who text)");
    db.exec("INSERT INTO k SELECT g, 'base' FROM generate_series(1, 20000, 2) g");
    // Two inputs over the same keys in opposite orders: a deadlock waiting to happen
    // unless both apply rows in key order.
    let mut up = String::from("id,who\n");
    let mut down = String::from("id,who\n");
    for i in 1..=20000 {
        up.push_str(&format!("{i},up\n"));
        down.push_str(&format!("{},down\n", 20001 - i));
    }
    write(&db, "up.csv", &up);
    write(&db, "down.csv", &down);
    for round in 0..3 {
        let (url, dir) = (db.url(), db.dir().to_path_buf());
        let spawn = |file: &'static str| {
            let (url, dir) = (url.clone(), dir.clone());
            move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_upsertx"))
                    .args([file, "--table", "k", "--json", "--db", &url])
                    .current_dir(dir)
                    .output()
                    .unwrap()
            }
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn("up.csv"));
            let b = s.spawn(spawn("down.csv"));
            (a.join().unwrap(), b.join().unwrap())
        });
        for out in [&a, &b] {
            assert!(out.status.success(), "round {round}: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert_eq!(db.rows("SELECT count(*), count(DISTINCT who) FROM k"), rows(&[&["20000", "1"]]));
    }
}

#[test]
fn arrays_from_json_and_from_literals() {
    let db = Postgres::new();
    db.exec("CREATE TABLE a (id int PRIMARY KEY, nums int[], tags text[], grid int[][])");
    write(
        &db,
        "a.ndjson",
        "{\"id\": 1, \"nums\": [1, null, 3], \"tags\": [\"a b\", \"c\\\"d\", \"\"], \"grid\": [[1, 2], [3, 4]]}\n\
         {\"id\": 2, \"nums\": [], \"tags\": null, \"grid\": null}\n",
    );
    assert_eq!(upsertx(&db, &["a.ndjson", "--json"], None).counts(), (2, 0, 0, 0, 0));
    assert_eq!(
        table(&db, "a", "id, nums, tags, grid"),
        rows(&[&["1", "{1,NULL,3}", "{\"a b\",\"c\\\"d\",\"\"}", "{{1,2},{3,4}}"], &["2", "{}", "NULL", "NULL"]])
    );
    // Arrays compare as unchanged on a rerun.
    assert_eq!(upsertx(&db, &["a.ndjson", "--json"], None).counts(), (0, 0, 2, 0, 0));
    // In CSV: PostgreSQL's own literal, or JSON array text.
    write(&db, "a.csv", "id,nums,tags\n3,\"{4,5}\",\"[\"\"x\"\"]\"\n");
    assert_eq!(upsertx(&db, &["a.csv", "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(db.rows("SELECT nums, tags FROM a WHERE id = 3"), rows(&[&["{4,5}", "{x}"]]));
    write(&db, "bad.ndjson", "{\"id\": 4, \"nums\": [1, \"two\"]}\n");
    upsertx(&db, &["bad.ndjson", "--table", "a"], None)
        .fails(1, &["bad.ndjson: row 1, column \"nums\"", "element 2: not an integer"]);
}

#[test]
fn create_maps_inferred_types_to_postgres_types() {
    let db = Postgres::new();
    write(
        &db,
        "new.ndjson",
        "{\"id\": 1, \"code\": \"007\", \"n\": 2.5, \"ok\": true, \"day\": \"2024-01-01\", \"at\": \"2024-01-01 10:00:00\", \"doc\": {\"a\": 1}}\n",
    );
    assert_eq!(upsertx(&db, &["new.ndjson", "--key", "id", "--create", "--json"], None).counts(), (1, 0, 0, 0, 0));
    assert_eq!(
        db.rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a
             WHERE a.attrelid = 'new'::regclass AND a.attnum > 0 ORDER BY a.attnum"
        ),
        rows(&[
            &["id", "bigint", "t"],
            &["code", "text", "f"],
            &["n", "double precision", "f"],
            &["ok", "boolean", "f"],
            &["day", "date", "f"],
            &["at", "timestamp without time zone", "f"],
            &["doc", "jsonb", "f"],
        ])
    );
    assert_eq!(
        db.rows("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'new'::regclass"),
        rows(&[&["PRIMARY KEY (id)"]])
    );
}

#[test]
fn a_missing_database_is_said_once() {
    let db = Postgres::new();
    write(&db, "c.csv", "id\n1\n");
    let server = crate::common::pg_base_url();
    let url = format!("{}/upsertx_no_such_db", server.rsplit_once('/').unwrap().0);
    let run = crate::common::upsertx_with_url(&db, &["c.csv"], &url);
    run.fails(1, &["database \"upsertx_no_such_db\" does not exist"]);
    assert_eq!(run.stderr.matches("does not exist").count(), 1, "{}", run.stderr);
}

/// Keys past the table's greatest are inserted without ON CONFLICT; when another
/// transaction inserts one of them meanwhile (here: uncommitted while the load starts,
/// committed while it waits), the plain INSERT is undone and the same rows go through
/// ON CONFLICT: exact counts, the other transaction's row updated, nothing lost.
#[test]
fn keys_past_the_greatest_inserted_plainly_or_else_upserted() {
    let db = Postgres::new();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    db.exec("INSERT INTO t SELECT g, 'old' FROM generate_series(1, 10) AS g");
    let mut csv = String::from("id,v\n");
    for id in 1..=20 {
        csv.push_str(&format!("{id},{}\n", if id <= 5 { "old" } else { "new" }));
    }
    write(&db, "t.csv", &csv);
    // Alone: 10 inserted plainly, 5 updated, 5 unchanged.
    let run = upsertx_traced(&db, &["t.csv", "--json"]);
    assert_eq!(run.counts(), (10, 5, 5, 0, 0), "{}", run.stderr);
    assert!(run.stderr.contains("inserted plainly"), "{}", run.stderr);

    db.exec("DELETE FROM t WHERE id > 10; UPDATE t SET v = 'old'");
    let mut holder = db.session();
    holder.exec("BEGIN");
    holder.exec("INSERT INTO t VALUES (15, 'theirs')");
    let child = spawn_upsertx(&db, &["t.csv", "--json"]);
    let waited =
        wait_until("the load to wait for key 15", std::time::Duration::from_secs(30), || db.lock_waiters() > 0);
    holder.exec("COMMIT");
    let run = Run::from(child.wait_with_output().unwrap());
    assert!(waited, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.counts(), (9, 6, 5, 0, 0), "{}", run.stderr);
    assert_eq!(
        db.rows("SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'new') FROM t"),
        rows(&[&["20", "210", "15"]])
    );
}

/// With `track_counts` off (as on a Citus coordinator, which keeps no statistics of its
/// workers' rows) the merge counts the rows it returns, on the client: keys past the
/// table's greatest inserted plainly, a new key below it, changed and unchanged rows,
/// in key order and shuffled, dry run or not, all exact.
#[test]
fn counts_are_exact_without_the_sessions_statistics() {
    let db = Postgres::new();
    db.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
    let url = db.url().replace("options=-c", "options=-ctrack_counts%3Doff%20-c");
    let (mut sorted, mut shuffled) = (String::from("id,v\n"), String::from("id,v\n"));
    for id in (1..=20).filter(|id| *id != 7) {
        sorted.push_str(&format!("{id},{}\n", if id <= 5 { "old" } else { "new" }));
    }
    for id in [20, 3, 7, 12, 1, 9] {
        shuffled.push_str(&format!("{id},{}\n", if id <= 5 { "old" } else { "newer" }));
    }
    write(&db, "sorted.csv", &sorted);
    write(&db, "shuffled.csv", &shuffled);
    for (file, dry_run, expected) in [
        ("sorted.csv", true, (11, 3, 5, 0, 0)),
        ("sorted.csv", false, (11, 3, 5, 0, 0)),
        ("shuffled.csv", false, (0, 4, 2, 0, 0)),
    ] {
        db.exec("DELETE FROM t; INSERT INTO t SELECT g, 'old' FROM generate_series(1, 10) AS g WHERE g <> 8");
        if file == "shuffled.csv" {
            upsertx_with_url(&db, &["sorted.csv", "--table", "t"], &url);
        }
        let mut args = vec![file, "--table", "t", "--json"];
        if dry_run {
            args.push("--dry-run");
        }
        let run = upsertx_with_url(&db, &args, &url);
        assert_eq!(run.counts(), expected, "{file} {dry_run}: {}", run.stderr);
    }
    assert_eq!(
        db.rows("SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'newer') FROM t"),
        rows(&[&["20", "210", "4"]])
    );
}
