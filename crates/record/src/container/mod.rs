//! File formats that keep the publisher's encoded media as it arrived.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

pub mod ogg;
pub mod webm;

/// How long written media may wait in memory before it goes to the file: what
/// a killed recorder loses at most.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// A buffered writer that hands its buffer to the file at least once a second,
/// so the muxers' many small writes cost few system calls and a crash costs
/// at most a second of media.
pub struct Durable<W: Write> {
    inner: BufWriter<W>,
    flushed_at: Instant,
}

impl<W: Write> Durable<W> {
    pub fn new(out: W) -> Self {
        Self {
            inner: BufWriter::with_capacity(256 * 1024, out),
            flushed_at: Instant::now(),
        }
    }

    /// Everything written so far, in the file.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(|e| e.into_error())
    }
}

impl<W: Write> Write for Durable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if self.flushed_at.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flushed_at = Instant::now();
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for Durable<W> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}
