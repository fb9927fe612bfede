//! The files the lines go into, written past the page cache where the system allows it
//! (Linux's `O_DIRECT`): a load's changes are hundreds of megabytes written once, and
//! copying them into the kernel's cache (fresh pages it must find, fill and later write
//! back) cost more than making them (a 1M-row load: 0.6-1 s of CPU, beside the
//! database's work). Written past it, the device takes them from this buffer. Where the
//! file system refuses (tmpfs, some network and FUSE ones), the same writes go through
//! the cache. A reader of the file afterwards reads it from the device.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

/// Writes go in chunks of this many bytes, aligned in the file and in memory to
/// [`ALIGN`] (a multiple of every device's logical block), as `O_DIRECT` requires.
const CHUNK: usize = 1 << 20;
const ALIGN: usize = 4096;

/// A file written in [`CHUNK`]s, past the page cache when it can be.
pub(super) struct Out {
    file: File,
    /// [`CHUNK`] + [`ALIGN`] bytes: the chunk starts at `at`, aligned.
    buf: Vec<u8>,
    at: usize,
    /// Bytes in the chunk, not written yet.
    len: usize,
    direct: bool,
}

impl Out {
    pub(super) fn new(file: File) -> Out {
        let buf = vec![0; CHUNK + ALIGN];
        let at = buf.as_ptr().align_offset(ALIGN);
        let direct = direct(&file, true);
        Out { file, buf, at, len: 0, direct }
    }

    /// Writes the chunk's whole blocks (all of it, through the cache); what is left moves
    /// to the front.
    fn drain(&mut self, all: bool) -> io::Result<()> {
        if all && self.direct && !self.len.is_multiple_of(ALIGN) {
            // The last part of the file is not a whole block: through the cache.
            self.drain(false)?;
            self.direct = direct(&self.file, false);
            if self.direct {
                return Err(io::Error::other("the file's last bytes could not be written through the cache"));
            }
        }
        let whole = if self.direct { self.len / ALIGN * ALIGN } else { self.len };
        if whole == 0 {
            return Ok(());
        }
        let chunk = &self.buf[self.at..self.at + whole];
        match self.file.write_all(chunk) {
            Ok(()) => {}
            // Taken at open, refused at the first write (nothing written): through the cache.
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                self.direct = direct(&self.file, false);
                self.file.write_all(chunk)?;
            }
            Err(e) => return Err(e),
        }
        self.buf.copy_within(self.at + whole..self.at + self.len, self.at);
        self.len -= whole;
        Ok(())
    }

    /// Every byte written: the file, its position at its end.
    pub(super) fn finish(self) -> io::Result<File> {
        self.done().map(|(file, _, _)| file)
    }

    /// [`finish`](Out::finish), and the buffer with where its chunk starts.
    fn done(mut self) -> io::Result<(File, Vec<u8>, usize)> {
        self.drain(true)?;
        if self.direct {
            direct(&self.file, false);
        }
        Ok((self.file, self.buf, self.at))
    }

    /// Appends the bytes of `part`, read back past the cache too (into its own buffer).
    pub(super) fn append(&mut self, part: Out) -> io::Result<()> {
        let (mut file, mut buf, at) = part.done()?;
        file.rewind()?;
        let mut past = direct(&file, true);
        loop {
            let n = match file.read(&mut buf[at..at + CHUNK]) {
                Ok(n) => n,
                Err(e) if past && e.raw_os_error() == Some(EINVAL) => {
                    past = direct(&file, false);
                    if past {
                        return Err(e);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.write_all(&buf[at..at + n])?;
            // A short read before the end would leave the next one unaligned.
            if past && !n.is_multiple_of(ALIGN) {
                past = direct(&file, false);
            }
        }
    }
}

impl Write for Out {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.len);
        let start = self.at + self.len;
        self.buf[start..start + n].copy_from_slice(&data[..n]);
        self.len += n;
        if self.len == CHUNK {
            self.drain(false)?;
        }
        Ok(n)
    }

    /// Writes what makes whole blocks (the rest waits for more, or for
    /// [`finish`](Out::finish)).
    fn flush(&mut self) -> io::Result<()> {
        self.drain(false)
    }
}

/// What a write or read past the cache that the file system refuses fails with.
#[cfg(target_os = "linux")]
const EINVAL: i32 = rustix::io::Errno::INVAL.raw_os_error();
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

/// Sets or clears `O_DIRECT` on `file`; whether it is set now.
#[cfg(target_os = "linux")]
fn direct(file: &File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(file) else { return false };
    let want = if on { flags | OFlags::DIRECT } else { flags - OFlags::DIRECT };
    match fcntl_setfl(file, want) {
        Ok(()) => on,
        Err(_) => flags.contains(OFlags::DIRECT),
    }
}

#[cfg(not(target_os = "linux"))]
fn direct(_: &File, _: bool) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::{Out, CHUNK};
    use std::io::{Read, Seek, Write};

    /// Lines of every length, `n` bytes or more, numbered from `from`.
    fn lines(from: usize, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = from;
        while out.len() < n {
            out.extend_from_slice(format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 700)).as_bytes());
            i += 1;
        }
        out
    }

    /// Several chunks written in pieces of every size, another file's appended midway
    /// (read back past the cache too), an unaligned end: the bytes as they were given.
    #[test]
    fn writes_and_appends_every_byte_in_order() {
        let (a, b, c) = (lines(0, 3 * CHUNK + 123), lines(100_000, 2 * CHUNK + 4095), lines(200_000, 777));
        let mut out = Out::new(tempfile::tempfile().unwrap());
        let mut part = Out::new(tempfile::tempfile().unwrap());
        for piece in a.chunks(8191) {
            out.write_all(piece).unwrap();
        }
        part.write_all(&b).unwrap();
        out.flush().unwrap();
        out.append(part).unwrap();
        out.write_all(&c).unwrap();
        let mut file = out.finish().unwrap();
        let mut got = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), a.len() + b.len() + c.len());
        assert!(got == [a, b, c].concat(), "the bytes differ");
    }

    /// An empty file, and an empty part appended.
    #[test]
    fn nothing_written_is_an_empty_file() {
        let mut out = Out::new(tempfile::tempfile().unwrap());
        out.append(Out::new(tempfile::tempfile().unwrap())).unwrap();
        let mut file = out.finish().unwrap();
        file.rewind().unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert!(got.is_empty());
    }
}
