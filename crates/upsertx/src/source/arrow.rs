//! Typed input: Arrow record batches from an Arrow IPC file or stream, a Parquet file
//! (see [`super::parquet`]), or any [`RecordBatchReader`] a library user hands over.

use crate::error::{Error, Result};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use std::io::BufRead;

/// Record batches under a fixed schema, with the input's row count so far.
pub(crate) struct BatchReader {
    name: String,
    schema: SchemaRef,
    columns: Vec<String>,
    inner: Box<dyn RecordBatchReader + Send>,
    /// What is left of the last batch read.
    pending: Option<RecordBatch>,
    /// Rows handed out so far.
    rows: u64,
}

impl BatchReader {
    pub(crate) fn new(name: String, inner: Box<dyn RecordBatchReader + Send>) -> Result<BatchReader> {
        let schema = inner.schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        super::check_columns(&name, &columns)?;
        Ok(BatchReader { name, schema, columns, inner, pending: None, rows: 0 })
    }

    /// The input's column names, in input order.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next (at most `max` rows) of the input, and the 1-based row number of the
    /// first; `None` at the end. Large batches are handed out in zero-copy slices.
    pub(crate) fn next_batch(&mut self, max: usize) -> Result<Option<(u64, RecordBatch)>> {
        let batch = loop {
            if let Some(b) = self.pending.take() {
                break b;
            }
            match self.inner.next() {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(Error::Input {
                        at: crate::error::Location { input: self.name.clone(), row: self.rows + 1, line: None },
                        reason: e.to_string(),
                    })
                }
                Some(Ok(b)) if b.num_rows() == 0 => continue,
                Some(Ok(b)) => break b,
            }
        };
        let n = batch.num_rows().min(max);
        if n < batch.num_rows() {
            self.pending = Some(batch.slice(n, batch.num_rows() - n));
        }
        let first = self.rows + 1;
        self.rows += n as u64;
        Ok(Some((first, batch.slice(0, n))))
    }
}

/// The Arrow IPC file format starts with this; the stream format does not.
const FILE_MAGIC: &[u8] = b"ARROW1";

/// Reads an Arrow IPC file or stream, telling them apart by the file's magic bytes.
/// An IPC file is its 8-byte preamble, then the stream format, then a footer: reading
/// it as a stream keeps it streaming (stdin works too) and never needs the footer.
pub(crate) fn ipc(name: String, mut input: impl BufRead + Send + 'static) -> Result<BatchReader> {
    let bad = |e: &dyn std::fmt::Display| Error::Source { input: name.clone(), reason: e.to_string() };
    let head = input.fill_buf().map_err(|e| bad(&e))?;
    if head.starts_with(FILE_MAGIC) {
        let mut preamble = [0u8; 8];
        input.read_exact(&mut preamble).map_err(|e| bad(&e))?;
    }
    let reader = arrow_ipc::reader::StreamReader::try_new(input, None)
        .map_err(|e| bad(&format!("not an Arrow IPC file or stream ({e})")))?;
    BatchReader::new(name, Box::new(reader))
}
