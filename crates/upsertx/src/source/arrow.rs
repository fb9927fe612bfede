//! Typed input: Arrow record batches from an Arrow IPC file or stream, a Parquet file
//! (see [`super::parquet`]), or any [`RecordBatchReader`] a library user hands over.

use crate::error::{Error, Result};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::SchemaRef;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
    /// An Arrow IPC stream that must end with its end-of-stream marker: set when the
    /// stream's reader met the end of the input instead ([`Ends`]).
    cut: Option<Arc<AtomicBool>>,
}

/// A typed input read to its end and kept, to be read again (`--evolve` reads the input
/// once before the load): the batches share their buffers with the ones read.
pub(crate) struct Replay {
    name: String,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl Replay {
    /// The kept input, from its first row.
    pub(crate) fn reader(&self) -> Result<BatchReader> {
        let batches = self.batches.clone().into_iter().map(Ok);
        BatchReader::new(self.name.clone(), Box::new(RecordBatchIterator::new(batches, self.schema.clone())))
    }
}

impl BatchReader {
    /// Reads the rest of the input and keeps it (see [`Replay`]).
    pub(crate) fn keep(mut self) -> Result<Replay> {
        let mut batches = Vec::new();
        while let Some((_, batch)) = self.next_batch(usize::MAX, usize::MAX)? {
            batches.push(batch);
        }
        Ok(Replay { name: self.name, schema: self.schema, batches })
    }

    pub(crate) fn new(name: String, inner: Box<dyn RecordBatchReader + Send>) -> Result<BatchReader> {
        let schema = inner.schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        super::check_columns(&name, &columns)?;
        Ok(BatchReader { name, schema, columns, inner, pending: None, rows: 0, cut: None })
    }

    /// The input's column names, in input order.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The next (at most `max` rows, and about `max_bytes` of memory) of the input, and
    /// the 1-based row number of the first; `None` at the end. Large batches are handed
    /// out in zero-copy slices.
    pub(crate) fn next_batch(&mut self, max: usize, max_bytes: usize) -> Result<Option<(u64, RecordBatch)>> {
        let batch = loop {
            if let Some(b) = self.pending.take() {
                break b;
            }
            match self.inner.next() {
                None if self.cut.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) => {
                    return Err(Error::Source {
                        input: self.name.clone(),
                        reason: format!(
                            "the Arrow IPC stream ends after {} rows without its end-of-stream marker: it may have \
                             been cut short, and this load deletes the rows its input lacks; nothing was written \
                             (a writer that closes its stream writes the marker: pyarrow's `with \
                             pa.ipc.new_stream(...)`, arrow-rs's `StreamWriter::finish`)",
                            self.rows
                        ),
                    })
                }
                None => return Ok(None),
                // A query source's own error (a value its column cannot hold, a lost
                // connection) comes through as it was made.
                Some(Err(arrow_schema::ArrowError::ExternalError(e))) if e.is::<Error>() => {
                    return Err(*e.downcast::<Error>().expect("checked by is"))
                }
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
        let n = batch.num_rows().min(max).min((max_bytes / row_bytes(&batch)).max(1));
        if n < batch.num_rows() {
            self.pending = Some(batch.slice(n, batch.num_rows() - n));
        }
        let first = self.rows + 1;
        self.rows += n as u64;
        Ok(Some((first, batch.slice(0, n))))
    }
}

/// About how many bytes of memory a row of `batch` holds: its own part of the buffers (a
/// slice shares its parent's, which `get_array_memory_size` would count whole).
fn row_bytes(batch: &RecordBatch) -> usize {
    let bytes: usize = batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(8 * c.len())).sum();
    (bytes / batch.num_rows().max(1)).max(1)
}

/// The Arrow IPC file format starts with this (then zeros up to the writer's alignment);
/// the stream format does not.
const FILE_MAGIC: &[u8] = b"ARROW1";

/// The reader under an Arrow IPC stream's: notes when the stream's reader asks for
/// more and the input has ended. A stream that ends with its end-of-stream marker is
/// never read past it; one cut short (even at a batch boundary) is.
struct Ends<R> {
    inner: R,
    hit: Arc<AtomicBool>,
}

impl<R: std::io::Read> std::io::Read for Ends<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Reads an Arrow IPC file (through its footer) or stream from a file; `whole`: a
/// stream must end with its end-of-stream marker.
pub(crate) fn ipc_file(name: String, mut file: std::fs::File, whole: bool) -> Result<BatchReader> {
    use std::io::{Read, Seek};
    let bad = |e: &dyn std::fmt::Display| Error::Source { input: name.clone(), reason: e.to_string() };
    let mut head = [0u8; 6];
    let is_file = file.read_exact(&mut head).is_ok() && head == FILE_MAGIC;
    file.rewind().map_err(|e| bad(&e))?;
    if !is_file {
        return ipc(name, std::io::BufReader::with_capacity(256 * 1024, file), whole);
    }
    let reader = arrow_ipc::reader::FileReader::try_new_buffered(file, None)
        .map_err(|e| bad(&format!("not a readable Arrow IPC file ({e})")))?;
    BatchReader::new(name, Box::new(reader))
}

/// Reads an Arrow IPC stream, or an IPC file read front to back (standard input): a file
/// is its magic and padding, then the stream format, then a footer that is not needed.
/// `whole`: the stream must end with its end-of-stream marker.
pub(crate) fn ipc(name: String, mut input: impl BufRead + Send + 'static, whole: bool) -> Result<BatchReader> {
    let bad = |e: &dyn std::fmt::Display| Error::Source { input: name.clone(), reason: e.to_string() };
    let head = input.fill_buf().map_err(|e| bad(&e))?;
    if head.is_empty() {
        return Err(bad(&"the input is empty (an Arrow IPC stream starts with its schema)"));
    }
    if head.starts_with(FILE_MAGIC) {
        input.consume(FILE_MAGIC.len());
        // The padding: zeros up to the writer's alignment (8 or 64 bytes).
        loop {
            let buf = input.fill_buf().map_err(|e| bad(&e))?;
            let zeros = buf.iter().take_while(|&&b| b == 0).count();
            let more = zeros == buf.len() && !buf.is_empty();
            input.consume(zeros);
            if !more {
                break;
            }
        }
    }
    let hit = Arc::new(AtomicBool::new(false));
    let reader = arrow_ipc::reader::StreamReader::try_new(Ends { inner: input, hit: hit.clone() }, None)
        .map_err(|e| bad(&format!("not an Arrow IPC file or stream ({e})")))?;
    let mut reader = BatchReader::new(name, Box::new(reader))?;
    reader.cut = whole.then_some(hit);
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    fn batch(schema: &SchemaRef, texts: impl Iterator<Item = String>) -> RecordBatch {
        let texts: Vec<String> = texts.collect();
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..texts.len() as i64));
        RecordBatch::try_new(schema.clone(), vec![ids, Arc::new(StringArray::from_iter_values(texts))]).unwrap()
    }

    /// Wide rows come in batches of about 1 MB, narrow ones of `max` rows, each measured on
    /// its own rows: a slice sharing the buffers of a batch with wide rows elsewhere is not
    /// taken for wide.
    #[test]
    fn batches_are_bounded_by_the_bytes_of_their_own_rows() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]));
        let wide = batch(&schema, (0..10_000).map(|_| "w".repeat(1000)));
        let mixed = batch(&schema, (0..20_000).map(|i| if i < 10_000 { "w".repeat(1000) } else { "n".into() }));
        let narrow = mixed.slice(10_000, 10_000);
        let inner = RecordBatchIterator::new([wide, narrow].into_iter().map(Ok), schema);
        let mut reader = BatchReader::new("t.arrow".into(), Box::new(inner)).unwrap();
        let mut sizes = Vec::new();
        while let Some((_, b)) = reader.next_batch(4096, 1 << 20).unwrap() {
            sizes.push(b.num_rows());
        }
        // 1,012 bytes a wide row (8 for its id, 4 for its offset): 1,036 rows in 1 MB.
        assert_eq!(sizes[..9], [1036; 9]);
        assert_eq!(sizes[9], 10_000 - 9 * 1036);
        assert_eq!(sizes[10..], [4096, 4096, 10_000 - 2 * 4096]);
    }
}
