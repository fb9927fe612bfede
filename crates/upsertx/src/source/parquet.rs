//! Parquet input, streamed by row group: memory follows the row group being read, not
//! the file.

use super::arrow::BatchReader;
use crate::error::{Error, Result};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;

/// Rows per batch read from a row group.
const BATCH_ROWS: usize = 4096;

pub(crate) fn open(name: String, file: File) -> Result<BatchReader> {
    let bad = |e: parquet::errors::ParquetError| Error::Source {
        input: name.clone(),
        reason: format!("not a readable Parquet file ({e})"),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(bad)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(bad)?;
    BatchReader::new(name, Box::new(reader))
}
