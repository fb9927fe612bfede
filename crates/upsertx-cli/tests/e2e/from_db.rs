//! End-to-end tests of `--from-db URL --query SQL`: another database as the source, in
//! each direction between SQLite, PostgreSQL and MariaDB, with the source's types carried
//! into `--create`, an upsert of the changed rows, values the target refuses named by the
//! query's row, and a result larger than one batch.

use crate::common::{dialect, rows, upsertx, Mariadb, Postgres, Sqlite, TestDb};

/// A source table with a column of each common kind, rows 1-3 (NULLs in row 2 and 3).
fn source_table(src: &dyn TestDb) {
    let pg = dialect(src) == "postgres";
    let bytes = if pg { "bytea" } else { "BLOB" };
    let blob = |hex: &str| if pg { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
    let ts = if dialect(src) == "mysql" { "DATETIME(6)" } else { "TIMESTAMP" };
    src.exec(&format!(
        "CREATE TABLE src (id BIGINT PRIMARY KEY, n INTEGER, price DECIMAL(10,2), name VARCHAR(50), flag BOOLEAN, \
         day DATE, {at} {ts}, data {bytes})",
        at = src.q("at"),
    ));
    src.exec(&format!(
        "INSERT INTO src VALUES (1, 10, 12.30, 'Ada', TRUE, '2024-02-29', '2024-05-01 12:30:00.5', {}), \
         (2, NULL, -0.05, '', FALSE, NULL, NULL, NULL), (3, -7, NULL, NULL, NULL, '1815-12-10', '1999-12-31 23:59:59', {})",
        blob("00ff"),
        blob(""),
    ));
}

/// The target's rows as its database shows them, with booleans and bytes made comparable.
fn target_rows(dst: &dyn TestDb) -> Vec<Vec<String>> {
    let q = |c: &str| dst.q(c);
    let hex = match dialect(dst) {
        "postgres" => format!("encode({}, 'hex')", q("data")),
        _ => format!("CASE WHEN {0} IS NULL THEN NULL ELSE lower(hex({0})) END", q("data")),
    };
    dst.rows(&format!(
        "SELECT id, n, price, name, CASE WHEN flag IS NULL THEN 'null' WHEN flag THEN 'yes' ELSE 'no' END, day, {}, {hex} \
         FROM dst ORDER BY id",
        q("at")
    ))
}

/// What `target_rows` shows after loading rows 1-3, by the target's database and the source's.
fn expected(src: &dyn TestDb, dst: &dyn TestDb) -> Vec<Vec<String>> {
    let d = dialect(dst);
    // SQLite keeps NUMERIC as a float (12.3), and as a source has no scale to carry; the
    // servers keep the DECIMAL(10,2) they were created with.
    let price = |v: &str, sqlite: &str| match (dialect(src), d) {
        (_, "sqlite") | ("sqlite", _) => sqlite.to_string(),
        _ => v.to_string(),
    };
    let at = |wall: &str, fraction: &str| match d {
        "postgres" => format!("{wall}{}", fraction.trim_end_matches('0')).trim_end_matches('.').to_string(),
        _ => format!("{wall}{fraction}"),
    };
    let null = "NULL".to_string();
    vec![
        vec![
            "1".into(),
            "10".into(),
            price("12.30", "12.3"),
            "Ada".into(),
            "yes".into(),
            "2024-02-29".into(),
            at("2024-05-01 12:30:00", ".500000"),
            "00ff".into(),
        ],
        vec![
            "2".into(),
            null.clone(),
            price("-0.05", "-0.05"),
            "".into(),
            "no".into(),
            null.clone(),
            null.clone(),
            null.clone(),
        ],
        vec![
            "3".into(),
            "-7".into(),
            null.clone(),
            null.clone(),
            "null".into(),
            "1815-12-10".into(),
            match d {
                "postgres" => "1999-12-31 23:59:59".into(),
                "sqlite" => "1999-12-31 23:59:59".into(),
                _ => "1999-12-31 23:59:59.000000".into(),
            },
            "".into(),
        ],
    ]
}

/// The SQL types `--create` gave the target's columns, lower case, without sizes.
fn target_types(dst: &dyn TestDb) -> Vec<String> {
    let sql = match dialect(dst) {
        "sqlite" => "SELECT lower(type) FROM pragma_table_info('dst') ORDER BY cid".to_string(),
        "postgres" => "SELECT data_type FROM information_schema.columns WHERE table_name = 'dst' \
                       AND table_schema = current_schema() ORDER BY ordinal_position"
            .to_string(),
        _ => "SELECT lower(DATA_TYPE) FROM information_schema.COLUMNS WHERE TABLE_NAME = 'dst' \
              AND TABLE_SCHEMA = DATABASE() ORDER BY ORDINAL_POSITION"
            .to_string(),
    };
    dst.rows(&sql).into_iter().map(|r| r[0].clone()).collect()
}

fn load(src: &dyn TestDb, dst: &dyn TestDb, query: &str, extra: &[&str]) -> crate::common::Run {
    let url = src.url();
    let mut args = vec!["--from-db", &url, "--query", query, "--table", "dst", "--json"];
    args.extend_from_slice(extra);
    upsertx(dst, &args, None)
}

/// The source's rows and types arrive; a second run upserts what changed.
fn rows_and_types_carry_across(src: &dyn TestDb, dst: &dyn TestDb) {
    source_table(src);
    let all = format!("SELECT id, n, price, name, flag, day, {}, data FROM src", src.q("at"));
    let run = load(src, dst, &all, &["--key", "id", "--create"]);
    assert_eq!(run.counts(), (3, 0, 0, 0, 0), "{}", run.stderr);
    assert_eq!(target_rows(dst), expected(src, dst));
    let types = target_types(dst);
    let want: &[&str] = match dialect(dst) {
        // A decimal's precision and scale carry across (`DECIMAL(10,2)`).
        "sqlite" => &["integer", "integer", "decimal(10,2)", "text", "boolean", "date", "timestamp", "blob"],
        // SQLite's integers are all 64-bit.
        "postgres" if dialect(src) == "sqlite" => {
            &["bigint", "bigint", "numeric", "text", "boolean", "date", "timestamp without time zone", "bytea"]
        }
        "postgres" => {
            &["bigint", "integer", "numeric", "text", "boolean", "date", "timestamp without time zone", "bytea"]
        }
        _ => &["bigint", "bigint", "decimal", "text", "tinyint", "date", "datetime", "longblob"],
    };
    assert_eq!(types, want, "column types carried from {}", dialect(src));

    // One row changed, one new; the third as it was.
    src.exec("UPDATE src SET name = 'Grace' WHERE id = 2");
    src.exec("INSERT INTO src (id, n, name) VALUES (4, 40, 'new')");
    let run = load(src, dst, &all, &[]);
    assert_eq!(run.counts(), (1, 1, 2, 0, 0), "{}", run.stderr);
    assert_eq!(dst.rows("SELECT name FROM dst WHERE id IN (2, 4) ORDER BY id"), rows(&[&["Grace"], &["new"]]));
}

/// A value the target cannot hold is named by the query's row and column, past the
/// first batch of rows, and nothing is written.
fn refused_values_name_the_query_row(src: &dyn TestDb, dst: &dyn TestDb) {
    let series = match dialect(src) {
        "postgres" => "SELECT g AS id, CASE WHEN g = 9000 THEN 1.5 ELSE g END AS n FROM generate_series(1, 10000) AS g",
        // MariaDB stops a recursive CTE at 1,000 iterations by default; its sequence
        // engine counts further.
        "mysql" => "SELECT seq AS id, CASE WHEN seq = 9000 THEN 1.5 ELSE seq END AS n FROM seq_1_to_10000",
        _ => {
            "WITH RECURSIVE s (id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM s WHERE id < 10000) \
             SELECT id, CASE WHEN id = 9000 THEN 1.5 ELSE id END AS n FROM s"
        }
    };
    dst.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY, n BIGINT)");
    src.exec("CREATE TABLE keep (x INTEGER)"); // an SQLite source file must exist
    let run = load(src, dst, series, &[]);
    run.fails(1, &["query on ", ": row 9000, column \"n\": \"1.5\": not an integer (it has a fraction)"]);
    assert!(!run.stderr.contains("password"), "{}", run.stderr);
    assert!(dst.rows("SELECT id FROM dst").is_empty(), "nothing written");
    // Without the bad row: all 10,000 rows, in three batches.
    let fine = series.replace("1.5", "9000");
    let run = load(src, dst, &fine, &[]);
    assert_eq!(run.counts(), (10_000, 0, 0, 0, 0), "{}", run.stderr);
}

/// Usage: --from-db needs --query and no INPUT; a bad query is named.
fn usage(src: &dyn TestDb, dst: &dyn TestDb) {
    let url = src.url();
    upsertx(dst, &["--from-db", &url, "--table", "dst"], None).fails(2, &["--query"]);
    upsertx(dst, &["x.csv", "--from-db", &url, "--query", "SELECT 1", "--table", "dst"], None).fails(2, &["--from-db"]);
    upsertx(dst, &["--from-db", &url, "--query", "SELECT 1 AS id"], None).fails(2, &["--table"]);
    dst.exec("CREATE TABLE dst (id BIGINT PRIMARY KEY)");
    upsertx(dst, &["--from-db", &url, "--query", "SELECT nope FROM nowhere", "--table", "dst"], None)
        .fails(1, &["the query"]);
}

#[test]
fn sqlite_to_postgres() {
    rows_and_types_carry_across(&Sqlite::new(), &Postgres::new());
}

#[test]
fn postgres_to_mariadb() {
    rows_and_types_carry_across(&Postgres::new(), &Mariadb::new());
}

#[test]
fn mariadb_to_sqlite() {
    rows_and_types_carry_across(&Mariadb::new(), &Sqlite::new());
}

#[test]
fn postgres_to_postgres() {
    rows_and_types_carry_across(&Postgres::new(), &Postgres::new());
}

#[test]
fn refused_values_sqlite_to_mariadb() {
    refused_values_name_the_query_row(&Sqlite::new(), &Mariadb::new());
}

#[test]
fn refused_values_postgres_to_sqlite() {
    refused_values_name_the_query_row(&Postgres::new(), &Sqlite::new());
}

#[test]
fn refused_values_mariadb_to_postgres() {
    refused_values_name_the_query_row(&Mariadb::new(), &Postgres::new());
}

/// SQLite lets any value into any column: one that does not fit its declared type is
/// named by the query's row and column, and nothing is written.
#[test]
fn sqlite_values_that_do_not_fit_their_declared_type() {
    let (src, dst) = (Sqlite::new(), Postgres::new());
    src.exec("CREATE TABLE src (id INTEGER PRIMARY KEY, n INTEGER)");
    src.exec("INSERT INTO src VALUES (1, 10), (2, 'abc'), (3, 30)");
    dst.exec("CREATE TABLE dst (id bigint PRIMARY KEY, n bigint)");
    let run = load(&src, &dst, "SELECT id, n FROM src ORDER BY id", &[]);
    run.fails(
        1,
        &["query on sqlite://", ": row 2, column \"n\": \"abc\": text in a column the database declares as integer"],
    );
    assert!(!run.stderr.contains("External error"), "{}", run.stderr);
    assert!(dst.rows("SELECT id FROM dst").is_empty(), "nothing written");
}

#[test]
fn usage_errors() {
    usage(&Postgres::new(), &Sqlite::new());
}

/// PostgreSQL's rows come by binary COPY of the query: a query ending in `;` is read as
/// well, and a statement COPY does not take (`SHOW`) row by row.
#[test]
fn postgres_queries_copy_does_not_take() {
    let (src, dst) = (Postgres::new(), Sqlite::new());
    let run = load(&src, &dst, "SELECT 1 AS id, 'a' AS name;", &["--key", "id", "--create"]);
    assert_eq!(run.counts(), (1, 0, 0, 0, 0), "{}", run.stderr);
    dst.exec("DROP TABLE dst");
    let run = load(&src, &dst, "SHOW DateStyle", &["--key", "DateStyle", "--create"]);
    assert_eq!(run.counts(), (1, 0, 0, 0, 0), "{}", run.stderr);
    assert_eq!(dst.rows("SELECT * FROM dst"), rows(&[&["ISO, MDY"]]));
}
