//! A Parquet file several times larger than the memory a load may take: upsertx streams
//! it row group by row group, so its peak resident memory stays a fraction of the file.
//!
//! PostgreSQL is the target here because nothing on the client side of it holds more
//! than a few batches; SQLite's page caches (64 MiB each for the table and the stage,
//! in the upsertx process) and MariaDB's sorted runs (up to 128 MiB) are bounds of their
//! own, measured by the benchmark (bench/README.md, "Memory"). This test is a binary of
//! its own so that the peak it reads (`getrusage(RUSAGE_CHILDREN)`) is only this load's.

mod common;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use common::{upsertx, Postgres, TestDb};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;

const ROWS: usize = 360_000;
const PAYLOAD: usize = 1_000;
const GROUP_ROWS: usize = 10_000;
/// The most the load may hold: a quarter of the file (90 MB). A file of 240 MB and a
/// third of it (80 MB) left the load's steady 76 to 79 MB (a debug build: 21 MB of it
/// before any row) within 1 MB of the cap, and a run failed on it: a larger file and a
/// smaller share keep the claim (memory does not follow the file) with room.
const CAP_BYTES: u64 = (ROWS * PAYLOAD / 4) as u64;

/// Peak resident memory of the largest child process waited for so far, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_CHILDREN is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: initialised by the successful call above.
    (unsafe { usage.assume_init() }).ru_maxrss as u64 * 1024
}

/// Writes `ROWS` rows of (id, 1,000 pseudo-random hex characters), uncompressed and
/// without dictionaries, so the file is as large as its data.
fn write_big_parquet(path: &std::path::Path) -> u64 {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(GROUP_ROWS))
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(parquet::file::properties::EnabledStatistics::None)
        .build();
    let schema = Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("payload", arrow_schema::DataType::Utf8, false),
    ]));
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema.clone(), Some(props)).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for start in (0..ROWS).step_by(GROUP_ROWS) {
        let ids: Vec<i64> = (start as i64 + 1..=(start + GROUP_ROWS) as i64).collect();
        let payloads: Vec<String> = (0..GROUP_ROWS)
            .map(|_| {
                (0..PAYLOAD)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        HEX[(state >> 60) as usize] as char
                    })
                    .collect()
            })
            .collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(payloads))];
        w.write(&RecordBatch::try_new(schema.clone(), columns).unwrap()).unwrap();
    }
    w.close().unwrap();
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_parquet_file_larger_than_the_memory_cap_streams() {
    let db = Postgres::new();
    db.exec("CREATE TABLE big (id bigint PRIMARY KEY, payload text NOT NULL)");
    let size = write_big_parquet(&db.dir().join("big.parquet"));
    assert!(size > 4 * CAP_BYTES, "the file is {size} bytes");

    let run = upsertx(&db, &["big.parquet", "--json"], None);
    assert_eq!(run.counts(), (ROWS as u64, 0, 0, 0, 0), "{}", run.stderr);
    let peak = children_peak_rss();
    assert!(peak < CAP_BYTES, "peak RSS {} MiB for a {} MiB file", peak >> 20, size >> 20);

    let stored = db.rows("SELECT count(*), sum(length(payload)), min(id), max(id) FROM big");
    let expected = [ROWS.to_string(), (ROWS * PAYLOAD).to_string(), "1".into(), ROWS.to_string()];
    assert_eq!(stored, [expected.to_vec()]);
}
