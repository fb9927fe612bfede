//! End-to-end tests of typed input (Parquet, Arrow IPC file and stream) against every
//! database: every Arrow type upsertx maps, NULLs, several row groups, `--create` from
//! the schema, and typed values refused naming their row and column.

use crate::common::{dialect, rows, upsertx, upsertx_bytes, TestDb};
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int8Type;
use arrow_array::*;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// Writes a Parquet file with at most `group_rows` rows per row group.
fn write_parquet(path: &Path, batches: &[RecordBatch], group_rows: usize, compression: Compression) {
    let props =
        WriterProperties::builder().set_max_row_group_row_count(Some(group_rows)).set_compression(compression).build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batches[0].schema(), Some(props)).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn ipc_file(path: &Path, batches: &[RecordBatch]) {
    let mut w =
        arrow_ipc::writer::FileWriter::try_new(std::fs::File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

fn ipc_stream(batches: &[RecordBatch]) -> Vec<u8> {
    let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    w.into_inner().unwrap()
}

/// A batch whose columns are all nullable, so that batches of one file share a schema.
fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true))).unwrap()
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Rows 1-3 in every Arrow type upsertx maps, NULLs in most columns; `name2` is row 2's name.
fn every_type(ids: &[i64], name2: &str) -> RecordBatch {
    let pick = |all: [usize; 3]| ids.iter().map(|&id| all[(id - 1).min(2) as usize]).collect::<Vec<_>>();
    let idx = pick([0, 1, 2]);
    let at = |values: &[Option<i64>]| idx.iter().map(|&i| values[i]).collect::<Vec<_>>();
    let mut tags = ListBuilder::new(StringBuilder::new());
    for &i in &idx {
        match i {
            0 => {
                tags.values().append_value("a");
                tags.values().append_value("b \"quoted\"");
                tags.append(true);
            }
            1 => tags.append(true),
            _ => tags.append_null(),
        }
    }
    let names = [Some("Ada"), Some(name2), Some("")];
    batch(vec![
        ("id", Arc::new(Int64Array::from(ids.to_vec()))),
        (
            "small",
            Arc::new(Int16Array::from(
                at(&[Some(-32768), Some(7), None]).iter().map(|v| v.map(|v| v as i16)).collect::<Vec<_>>(),
            )),
        ),
        (
            "int32",
            Arc::new(Int32Array::from(
                at(&[Some(2_147_483_647), Some(0), None]).iter().map(|v| v.map(|v| v as i32)).collect::<Vec<_>>(),
            )),
        ),
        (
            "uint32",
            Arc::new(UInt32Array::from(
                at(&[Some(4_294_967_295), Some(1), None]).iter().map(|v| v.map(|v| v as u32)).collect::<Vec<_>>(),
            )),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(idx.iter().map(|&i| [Some(1.5f32), Some(0.25), None][i]).collect::<Vec<_>>())),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(idx.iter().map(|&i| [Some(2.25), Some(-0.5), None][i]).collect::<Vec<_>>())),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(
                    at(&[Some(1230), Some(-5), None]).iter().map(|v| v.map(i128::from)).collect::<Vec<_>>(),
                )
                .with_precision_and_scale(10, 2)
                .unwrap(),
            ),
        ),
        ("name", Arc::new(StringArray::from(idx.iter().map(|&i| names[i]).collect::<Vec<_>>()))),
        ("big", Arc::new(LargeStringArray::from(idx.iter().map(|&i| ["ünï", "x", "y"][i]).collect::<Vec<_>>()))),
        ("view", Arc::new(StringViewArray::from(idx.iter().map(|&i| ["v1", "v2", "v3"][i]).collect::<Vec<_>>()))),
        (
            "flag",
            Arc::new(BooleanArray::from(idx.iter().map(|&i| [Some(true), Some(false), None][i]).collect::<Vec<_>>())),
        ),
        // 1815-12-10 and 2024-02-29, as days since 1970-01-01.
        (
            "day",
            Arc::new(Date32Array::from(
                at(&[Some(-56_270), Some(19_782), None]).iter().map(|v| v.map(|v| v as i32)).collect::<Vec<_>>(),
            )),
        ),
        ("clock", Arc::new(Time64MicrosecondArray::from(at(&[Some(45_000_500_000), Some(0), None])))),
        // 2024-05-01 12:30:00 and 1999-12-31 23:59:59.123456 on the wall.
        (
            "wall",
            Arc::new(TimestampMicrosecondArray::from(at(&[
                Some(19_844 * MICROS_PER_DAY + 45_000_000_000),
                Some(10_956 * MICROS_PER_DAY + 86_399_123_456),
                None,
            ]))),
        ),
        // 2024-05-01 12:30:00+02:00, an instant, in milliseconds.
        (
            "instant",
            Arc::new(
                TimestampMillisecondArray::from(at(&[
                    Some((19_844 * MICROS_PER_DAY + 37_800_000_000) / 1000),
                    None,
                    None,
                ]))
                .with_timezone("+02:00"),
            ),
        ),
        (
            "bytes",
            Arc::new(BinaryArray::from(
                idx.iter().map(|&i| [Some(&[0u8, 1, 255][..]), Some(&[][..]), None][i]).collect::<Vec<_>>(),
            )),
        ),
        ("cat", Arc::new(idx.iter().map(|&i| ["red", "blue", "red"][i]).collect::<DictionaryArray<Int8Type>>())),
        ("tags", Arc::new(tags.finish())),
    ])
}

/// Every column of the `every_type` table as each database shows it after `--create`.
fn every_type_table(db: &dyn TestDb, table: &str) -> Vec<Vec<String>> {
    let d = dialect(db);
    if d == "postgres" {
        db.exec("SET TIME ZONE 'UTC'");
    }
    let q = |c: &str| db.q(c);
    let hex =
        if d == "postgres" { format!("encode({}, 'hex')", q("bytes")) } else { format!("lower(hex({}))", q("bytes")) };
    let plain = |cols: &[&str]| cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    db.rows(&format!(
        "SELECT {}, CASE WHEN {flag} IS NULL THEN 'null' WHEN {flag} THEN 'yes' ELSE 'no' END, {}, {hex}, {} FROM {} ORDER BY 1",
        plain(&["id", "small", "int32", "uint32", "f32", "f64", "dec", "name", "big", "view"]),
        plain(&["day", "clock", "wall", "instant"]),
        plain(&["cat", "tags"]),
        q(table),
        flag = q("flag"),
    ))
}

fn expected_every_type(db: &dyn TestDb, name2: &str) -> Vec<Vec<String>> {
    let d = dialect(db);
    let by = |sqlite: &str, postgres: &str, mysql: &str| match d {
        "sqlite" => sqlite.to_string(),
        "postgres" => postgres.to_string(),
        _ => mysql.to_string(),
    };
    let frac = |s: &str| by(s, s, &format!("{s}.000000"));
    vec![
        vec![
            "1".into(),
            "-32768".into(),
            "2147483647".into(),
            "4294967295".into(),
            "1.5".into(),
            "2.25".into(),
            by("12.3", "12.30", "12.30"),
            "Ada".into(),
            "ünï".into(),
            "v1".into(),
            "yes".into(),
            "1815-12-10".into(),
            by("12:30:00.500000", "12:30:00.5", "12:30:00.500000"),
            frac("2024-05-01 12:30:00"),
            by("2024-05-01 10:30:00+00:00", "2024-05-01 10:30:00+00", "2024-05-01 10:30:00.000000"),
            "0001ff".into(),
            "red".into(),
            by(r#"["a","b \"quoted\""]"#, r#"["a", "b \"quoted\""]"#, r#"["a","b \"quoted\""]"#),
        ],
        vec![
            "2".into(),
            "7".into(),
            "0".into(),
            "1".into(),
            "0.25".into(),
            "-0.5".into(),
            "-0.05".into(),
            name2.into(),
            "x".into(),
            "v2".into(),
            "no".into(),
            "2024-02-29".into(),
            by("00:00:00", "00:00:00", "00:00:00.000000"),
            "1999-12-31 23:59:59.123456".into(),
            "NULL".into(),
            "".into(),
            "blue".into(),
            "[]".into(),
        ],
        vec![
            "3".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            "".into(),
            "y".into(),
            "v3".into(),
            "null".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            "NULL".into(),
            by("", "NULL", "NULL"), // SQLite's hex(NULL) is ''
            "red".into(),
            "NULL".into(),
        ],
    ]
}

/// A two-row-group Parquet file creates the table from its schema, then a second file
/// updates one row, leaves an identical one alone, and inserts a new one.
pub fn parquet_every_type_create_then_upsert(db: &dyn TestDb) {
    let first = every_type(&[1, 2, 3], "Grace");
    write_parquet(&db.dir().join("every.parquet"), &[first], 2, Compression::SNAPPY);
    let run = upsertx(db, &["every.parquet", "--key", "id", "--create", "--json"], None);
    assert_eq!(run.counts(), (3, 0, 0, 0, 0), "{}", run.stderr);
    assert_eq!(run.report()["created"], true);
    assert_eq!(every_type_table(db, "every"), expected_every_type(db, "Grace"));

    // Row 1 as it is, row 2 renamed, a row 4 (shaped like row 3), in zstd.
    let second = every_type(&[1, 2, 4], "Hopper");
    write_parquet(&db.dir().join("every.parquet"), &[second], 1, Compression::ZSTD(ZstdLevel::default()));
    let run = upsertx(db, &["every.parquet", "--json"], None);
    assert_eq!(run.counts(), (1, 1, 1, 0, 0), "{}", run.stderr);
    let mut expected = expected_every_type(db, "Hopper");
    let mut four = expected[2].clone();
    four[0] = "4".into();
    expected.push(four);
    assert_eq!(every_type_table(db, "every"), expected);
}

/// An Arrow IPC file (`.arrow`) and the stream format on standard input.
pub fn arrow_ipc_file_and_stdin(db: &dyn TestDb) {
    // Two batches sharing one dictionary (an IPC file allows no replacement).
    let all = every_type(&[1, 2, 3], "Grace");
    ipc_file(&db.dir().join("every.arrow"), &[all.slice(0, 1), all.slice(1, 2)]);
    let run = upsertx(db, &["every.arrow", "--key", "id", "--create", "--json"], None);
    assert_eq!(run.counts(), (3, 0, 0, 0, 0), "{}", run.stderr);
    assert_eq!(every_type_table(db, "every"), expected_every_type(db, "Grace"));

    let stream = ipc_stream(&[every_type(&[1, 2], "Hopper"), every_type(&[4], "Grace")]);
    let run = upsertx_bytes(db, &["-", "--format", "arrow", "--table", "every", "--json"], Some(&stream));
    assert_eq!(run.counts(), (1, 1, 1, 0, 0), "{}", run.stderr);
    assert_eq!(table_ids(db), ["1", "2", "3", "4"]);
    // The IPC file format read from standard input too.
    let file = std::fs::read(db.dir().join("every.arrow")).unwrap();
    let run = upsertx_bytes(db, &["-", "--format", "arrow", "--table", "every", "--json"], Some(&file));
    assert_eq!(run.counts(), (0, 1, 2, 0, 0), "{}", run.stderr);
}

fn table_ids(db: &dyn TestDb) -> Vec<String> {
    db.rows("SELECT id FROM every ORDER BY id").into_iter().map(|r| r[0].clone()).collect()
}

/// Typed values are held to the column's type: a float with a fraction is not an
/// integer, a timestamp with a time of day is not a date, a string parses as in CSV, a
/// NULL key is refused; each error names the file, row and column, and leaves the table
/// as it was.
pub fn typed_values_are_checked(db: &dyn TestDb) {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, d DATE, amount DECIMAL(10,2))");
    db.exec("INSERT INTO t VALUES (1, 1, '2024-01-01', 1.00)");
    let load = |name: &str, columns: Vec<(&str, ArrayRef)>| {
        let b = batch(columns);
        // Rows 1-2 in the first row group, row 3 in the second: row numbers run on.
        write_parquet(&db.dir().join(name), &[b], 2, Compression::UNCOMPRESSED);
        upsertx(db, &[name, "--table", "t"], None)
    };
    let ids = || Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef;
    // Whole floats are integers; 2.5 is not.
    load("n.parquet", vec![("id", ids()), ("n", Arc::new(Float64Array::from(vec![1.0, 2.0, 2.5])))])
        .fails(1, &["n.parquet: row 3, column \"n\": \"2.5\": not an integer (it has a fraction)"]);
    // Midnight timestamps are dates (pandas has no date type); a time of day is refused.
    let ts = TimestampMicrosecondArray::from(vec![
        19_844 * MICROS_PER_DAY,
        19_845 * MICROS_PER_DAY,
        19_845 * MICROS_PER_DAY + 1,
    ]);
    load("d.parquet", vec![("id", ids()), ("d", Arc::new(ts))])
        .fails(1, &["d.parquet: row 3, column \"d\": \"2024-05-02 00:00:00.000001\": a timestamp with a time of day is not a date"]);
    // Strings parse as they would in a CSV field.
    load("s.parquet", vec![("id", ids()), ("amount", Arc::new(StringArray::from(vec!["1.5", "2", "abc"])))])
        .fails(1, &["s.parquet: row 3, column \"amount\": \"abc\": not a number"]);
    load(
        "k.parquet",
        vec![
            ("id", Arc::new(Int64Array::from(vec![Some(5), Some(6), None]))),
            ("n", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        ],
    )
    .fails(1, &["k.parquet: row 3, column \"id\": NULL: NULL in a key column"]);
    load("b.parquet", vec![("id", ids()), ("n", Arc::new(BooleanArray::from(vec![true, false, true])))])
        .fails(1, &["b.parquet: row 1, column \"n\": \"true\": a boolean is not a"]);
    assert_eq!(db.rows("SELECT id, n FROM t"), rows(&[&["1", "1"]]), "nothing written");

    // The same columns, all good: loaded.
    let ts = TimestampMicrosecondArray::from(vec![19_844 * MICROS_PER_DAY, 19_845 * MICROS_PER_DAY, 0]);
    let run = load(
        "ok.parquet",
        vec![
            ("id", ids()),
            ("n", Arc::new(Float64Array::from(vec![10.0, 20.0, 30.0]))),
            ("d", Arc::new(ts)),
            ("amount", Arc::new(StringArray::from(vec![Some("1.5"), Some("2"), None]))),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        db.rows("SELECT id, n, d FROM t ORDER BY id"),
        rows(&[&["1", "10", "2024-05-01"], &["2", "20", "2024-05-02"], &["3", "30", "1970-01-01"]])
    );
}

/// Range checks that need the database's own integer widths (SQLite has one).
pub fn typed_integers_are_range_checked(db: &dyn TestDb) {
    db.exec("CREATE TABLE r (id INTEGER PRIMARY KEY, s SMALLINT)");
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("s", Arc::new(Int64Array::from(vec![32_767, 32_768]))),
    ]);
    write_parquet(&db.dir().join("r.parquet"), &[b], 10, Compression::SNAPPY);
    upsertx(db, &["r.parquet"], None)
        .fails(1, &["r.parquet: row 2, column \"s\": \"32768\": out of range for a 16-bit integer"]);
    assert!(db.rows("SELECT id FROM r").is_empty(), "nothing written");
}

/// A file that is not Parquet, and an Arrow type upsertx cannot create a column for.
pub fn unreadable_typed_input_is_named(db: &dyn TestDb) {
    crate::common::write(db, "bad.parquet", "id,name\n1,a\n");
    upsertx(db, &["bad.parquet", "--table", "x", "--key", "id", "--create"], None)
        .fails(1, &["bad.parquet: not a readable Parquet file"]);
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("span", DataType::Duration(arrow_schema::TimeUnit::Second), true),
        ])),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(DurationSecondArray::from(vec![5]))],
    )
    .unwrap();
    ipc_file(&db.dir().join("d.arrow"), &[b]);
    upsertx(db, &["d.arrow", "--key", "id", "--create"], None)
        .fails(1, &["d.arrow: column \"span\": Arrow type Duration(s) is not supported"]);
}

/// `--evolve` from a typed stream on stdin (read once: kept to be read again): a float
/// column into an integer one becomes a double (SQLite: takes the fractions), a longer
/// text widens its varchar, a new column is added with the stream's type.
pub fn evolve_from_an_arrow_stream(db: &dyn TestDb) {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, score INTEGER, name VARCHAR(3))");
    let input = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("score", Arc::new(Float64Array::from(vec![1.5, 2.0]))),
        ("name", Arc::new(StringArray::from(vec!["Ann", "Bobby"]))),
        ("extra", Arc::new(Int64Array::from(vec![Some(7), None]))),
    ]);
    let args = ["-", "--format", "arrow", "--table", "t", "--evolve", "--json"];
    let r = upsertx_bytes(db, &args, Some(&ipc_stream(std::slice::from_ref(&input)))).report();
    let changes: Vec<&str> = r["schema_changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    match dialect(db) {
        "sqlite" => assert_eq!(changes.len(), 2, "{changes:?}"),
        _ => {
            assert_eq!(changes.len(), 3, "{changes:?}");
            assert!(changes[0].starts_with("widened \"score\" ") && changes[0].ends_with("-> double precision"));
            assert!(changes[1].starts_with("widened \"name\" ") && changes[1].ends_with("(5)"), "{changes:?}");
        }
    }
    assert!(changes.last().unwrap().starts_with("added column \"extra\" "), "{changes:?}");
    let got = db.rows("SELECT id, CAST(score * 2 AS INTEGER), name, extra FROM t ORDER BY id");
    assert_eq!(got, rows(&[&["1", "3", "Ann", "7"], &["2", "4", "Bobby", "NULL"]]));
    // The same from a Parquet file: read again from the file, not kept.
    db.exec("CREATE TABLE t2 (id INTEGER PRIMARY KEY, score INTEGER, name VARCHAR(3))");
    write_parquet(&db.dir().join("t2.parquet"), &[input], 1, Compression::SNAPPY);
    let r2 = upsertx(db, &["t2.parquet", "--evolve", "--json"], None).report();
    assert_eq!(r2["schema_changes"].as_array().map(Vec::len), Some(changes.len()));
    let got = db.rows("SELECT id, CAST(score * 2 AS INTEGER), name, extra FROM t2 ORDER BY id");
    assert_eq!(got, rows(&[&["1", "3", "Ann", "7"], &["2", "4", "Bobby", "NULL"]]));
}

/// An Arrow IPC stream cut at a batch boundary (no end-of-stream marker) reads like a
/// whole one: a load that deletes what its input lacks refuses it (from a file and from
/// stdin), with nothing written, where a whole stream loads. A load that deletes nothing
/// takes the rows the stream holds.
pub fn a_cut_arrow_stream_deletes_nothing(db: &dyn TestDb) {
    db.exec("CREATE TABLE ev (id BIGINT PRIMARY KEY, v BIGINT)");
    let seed: Vec<String> = (1..=20).map(|i| format!("({i}, 0)")).collect();
    db.exec(&format!("INSERT INTO ev VALUES {}", seed.join(", ")));
    let part = |from: i64| {
        let ids: Vec<i64> = (from..from + 5).collect();
        batch(vec![("id", Arc::new(Int64Array::from(ids.clone())) as ArrayRef), ("v", Arc::new(Int64Array::from(ids)))])
    };
    let batches: Vec<RecordBatch> = [1, 6, 11, 16].into_iter().map(part).collect();
    let whole = ipc_stream(&batches);
    // The schema and the first batch only: what a writer killed after one batch leaves.
    let first = {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batches[0].schema()).unwrap();
        w.write(&batches[0]).unwrap();
        w.flush().unwrap();
        w.get_ref().clone()
    };
    assert!(whole.starts_with(&first) && whole.len() > first.len());
    std::fs::write(db.dir().join("cut.arrows"), &first).unwrap();
    let args = ["cut.arrows", "--table", "ev", "--delete-missing", "--json"];
    upsertx(db, &args, None)
        .fails(1, &["cut.arrows", "ends after 5 rows without its end-of-stream marker", "nothing was written"]);
    let stdin = ["-", "--format", "arrow", "--table", "ev", "--replace-where", "id > 0", "--json"];
    crate::common::upsertx_bytes(db, &stdin, Some(&first)).fails(1, &["<stdin>", "end-of-stream marker"]);
    assert_eq!(db.rows("SELECT COUNT(*), SUM(v) FROM ev"), rows(&[&["20", "0"]]));
    // Without deletions the rows it holds load.
    assert_eq!(upsertx(db, &["cut.arrows", "--table", "ev", "--json"], None).counts(), (0, 5, 0, 0, 0));
    std::fs::write(db.dir().join("whole.arrows"), &whole).unwrap();
    let run = upsertx(db, &["whole.arrows", "--table", "ev", "--delete-missing", "--json"], None);
    assert_eq!(run.counts(), (0, 15, 5, 0, 0));
    assert_eq!(crate::common::upsertx_bytes(db, &stdin, Some(&whole)).counts(), (0, 0, 20, 0, 0));
}

/// Year 0 (ISO 8601's 1 BC) is refused, never shifted to year 1 (MariaDB's DATETIME and
/// SQLite's `--as-of` did) or written as 1 BC: in text, in `--as-of`; a typed year before
/// 1 is named with its era.
pub fn year_zero_is_refused_not_shifted(db: &dyn TestDb) {
    let ts = if dialect(db) == "mysql" { "DATETIME" } else { "TIMESTAMP" };
    db.exec(&format!("CREATE TABLE y0 (id BIGINT PRIMARY KEY, d DATE, t {ts})"));
    std::fs::write(
        db.dir().join("y0.csv"),
        "id,d,t\n1,2020-01-01,2020-01-01 00:00:00\n2,2020-01-01,0000-06-15 12:00:00\n",
    )
    .unwrap();
    upsertx(db, &["y0.csv", "--json"], None)
        .fails(1, &["row 2", "column \"t\"", "0000-06-15 12:00:00", "years 1 to 9999"]);
    std::fs::write(db.dir().join("y0.csv"), "id,d\n1,0000-01-01\n").unwrap();
    upsertx(db, &["y0.csv", "--json"], None).fails(1, &["row 1", "column \"d\"", "years 1 to 9999"]);
    assert_eq!(db.rows("SELECT COUNT(*) FROM y0"), rows(&[&["0"]]));
    db.exec(&format!("CREATE TABLE dim0 (id BIGINT NOT NULL, v VARCHAR(5), valid_from {ts} NOT NULL, valid_to {ts}, PRIMARY KEY (id, valid_from))"));
    std::fs::write(db.dir().join("dim0.csv"), "id,v\n1,a\n").unwrap();
    let args = ["dim0.csv", "--history", "valid_from,valid_to", "--as-of", "0000-06-15T12:34:56"];
    upsertx(db, &args, None).fails(2, &["--as-of", "0000-06-15T12:34:56", "years 1 to 9999"]);
    // A typed timestamp of year -1199: named as such.
    let micros = (-719_162i64 - 438_291) * 86_400_000_000;
    let b = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("t", Arc::new(TimestampMicrosecondArray::from(vec![micros])) as ArrayRef),
    ]);
    ipc_file(&db.dir().join("old.arrow"), &[b]);
    upsertx(db, &["old.arrow", "--table", "y0"], None).fails(1, &["BC", "years 1 to 9999"]);
}

every_dialect!(
    year_zero_is_refused_not_shifted,
    evolve_from_an_arrow_stream,
    parquet_every_type_create_then_upsert,
    arrow_ipc_file_and_stdin,
    typed_values_are_checked,
    unreadable_typed_input_is_named,
    a_cut_arrow_stream_deletes_nothing,
);

/// SQLite stores any integer in any integer column: no narrower range to check.
mod server_integers {
    use super::*;
    scenarios!(postgres: crate::common::Postgres::new => typed_integers_are_range_checked);
    scenarios!(mariadb: crate::common::Mariadb::new => typed_integers_are_range_checked);
}
