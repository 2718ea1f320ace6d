//! The file destination: `{ file, max-size, keep }`, appended and rotated.
//!
//! Invariants: `size + pending.len()` is what the file will hold after the
//! next flush; a line never makes the file pass `max_size` unless it is the
//! first line of the file; a failure is reported once, until a write works
//! again, and never stops the other destinations; the file only ever holds
//! whole lines (a write cut short, by ENOSPC say, is cut back to its last
//! newline); lines that could not be written are counted, and the first
//! write that works again starts with `tend: N lines dropped (REASON)`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Lines are gathered up to this many bytes before a write.
pub(super) const FLUSH_AT: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct FileTarget {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: Option<File>,
    /// Bytes in the file (as far as we know).
    size: u64,
    pending: Vec<u8>,
    /// A failure was reported and nothing has worked since.
    warned: bool,
    /// Lines lost since the last write that worked, and why.
    dropped: u64,
    /// Lines lost since tend started (for metrics).
    dropped_total: u64,
    why: String,
}

/// `path.N`
pub(crate) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Two byte strings read as one (what is queued, then a run written
/// straight from the caller's buffer).
pub(super) struct Two<'a>(pub &'a [u8], pub &'a [u8]);

impl Two<'_> {
    pub(super) fn len(&self) -> usize {
        self.0.len() + self.1.len()
    }

    /// Both, from byte `at` on.
    pub(super) fn from(&self, at: usize) -> (&[u8], &[u8]) {
        match at.checked_sub(self.0.len()) {
            None => (&self.0[at..], self.1),
            Some(k) => (&[], &self.1[k..]),
        }
    }

    /// How many of the first `done` bytes are whole lines.
    pub(super) fn whole(&self, done: usize) -> usize {
        let in_second = done.saturating_sub(self.0.len());
        if let Some(p) = memchr::memrchr(b'\n', &self.1[..in_second]) {
            return self.0.len() + p + 1;
        }
        let in_first = done.min(self.0.len());
        memchr::memrchr(b'\n', &self.0[..in_first]).map_or(0, |p| p + 1)
    }

    /// Newlines from byte `at` on.
    pub(super) fn newlines_from(&self, at: usize) -> u64 {
        let (a, b) = self.from(at.min(self.len()));
        newlines(a) + newlines(b)
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// `path.KEEP` deleted, `path.N` → `path.N+1`, `path` → `path.1` (a
/// missing one skipped): the rotation of log files and of the event journal.
pub(crate) fn shift_numbered(path: &Path, keep: u32) -> io::Result<()> {
    ignore_missing(std::fs::remove_file(numbered(path, keep)))?;
    for n in (1..keep).rev() {
        ignore_missing(std::fs::rename(numbered(path, n), numbered(path, n + 1)))?;
    }
    ignore_missing(std::fs::rename(path, numbered(path, 1)))
}

impl FileTarget {
    pub fn new(path: PathBuf, max_size: u64, keep: u32) -> FileTarget {
        FileTarget {
            path,
            max_size,
            keep,
            file: None,
            size: 0,
            pending: Vec::new(),
            warned: false,
            dropped: 0,
            dropped_total: 0,
            why: String::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes new rotation settings (on reload), keeping the open file.
    pub fn set_limits(&mut self, max_size: u64, keep: u32) {
        self.max_size = max_size;
        self.keep = keep;
    }

    fn fail(&mut self, what: &str, err: &io::Error, warns: &mut Vec<String>) {
        if !self.warned {
            self.warned = true;
            warns.push(format!("log file {}: {what}: {err}", self.path.display()));
        }
    }

    /// Opens the file if it is not open; reports a failure once.
    pub fn open(&mut self, warns: &mut Vec<String>) -> bool {
        if self.file.is_some() {
            return true;
        }
        let opened = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o640)
            .open(&self.path)
            .and_then(|f| f.metadata().map(|m| (f, m.len())));
        match opened {
            Ok((f, len)) => {
                self.file = Some(f);
                self.size = len;
                true
            }
            Err(e) => {
                self.fail("cannot open", &e, warns);
                false
            }
        }
    }

    /// Queues one line (a newline is added), rotating first if it would
    /// make the file pass `max_size`.
    pub fn write_line(&mut self, text: &[u8], warns: &mut Vec<String>) {
        let len = text.len() as u64 + 1;
        let held = self.size + self.pending.len() as u64;
        if self.max_size > 0 && held > 0 && held + len > self.max_size {
            self.flush(warns);
            self.rotate(warns);
        }
        self.pending.extend_from_slice(text);
        self.pending.push(b'\n');
        if self.pending.len() >= FLUSH_AT {
            self.flush(warns);
        }
    }

    /// Queues whole lines at once (`run`: each line with its newline), as
    /// `write_line` of each would: the longest prefix that fits goes in
    /// whole, a rotation falls between lines; a big run is written straight
    /// from `run` (one `writev` with what is queued, no copy).
    pub fn write_run(&mut self, mut run: &[u8], warns: &mut Vec<String>) {
        while !run.is_empty() {
            let held = self.size + self.pending.len() as u64;
            if self.max_size == 0 || held + run.len() as u64 <= self.max_size {
                return self.append(run, warns);
            }
            // The whole lines that still fit under `max_size`.
            let room = usize::try_from(self.max_size.saturating_sub(held)).unwrap_or(usize::MAX);
            let take = memchr::memrchr(b'\n', &run[..room.min(run.len())]).map_or(0, |p| p + 1);
            if take > 0 {
                self.append(&run[..take], warns);
                run = &run[take..];
            } else if held > 0 {
                // The next line does not fit: it starts the next file.
                self.flush(warns);
                self.rotate(warns);
            } else {
                // The first line of a file goes in whole, however long.
                let end = memchr::memchr(b'\n', run).map_or(run.len(), |p| p + 1);
                self.append(&run[..end], warns);
                run = &run[end..];
            }
        }
    }

    /// Queues whole lines; from `FLUSH_AT` on, writes them with what is
    /// queued.
    fn append(&mut self, lines: &[u8], warns: &mut Vec<String>) {
        if self.pending.len() + lines.len() < FLUSH_AT {
            self.pending.extend_from_slice(lines);
        } else {
            self.flush_with(lines, warns);
        }
    }

    /// Writes the queued lines; on failure they are counted as dropped
    /// (and the failure reported once).
    pub fn flush(&mut self, warns: &mut Vec<String>) {
        self.flush_with(&[], warns);
    }

    /// Writes the queued lines, then `extra` (whole lines), in one go; on
    /// failure the lines not written are counted as dropped (and the
    /// failure reported once).
    fn flush_with(&mut self, extra: &[u8], warns: &mut Vec<String>) {
        if self.pending.is_empty() && extra.is_empty() {
            return;
        }
        if !self.open(warns) {
            self.pending.extend_from_slice(extra);
            self.lose("cannot open the file");
            return;
        }
        // After a loss, the next lines start with how many were lost.
        let notice = (self.dropped > 0)
            .then(|| format!("tend: {} lines dropped ({})\n", self.dropped, self.why));
        if let Some(n) = &notice {
            self.pending.splice(0..0, n.bytes());
        }
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let both = Two(&self.pending, extra);
        let total = both.len();
        let mut done = 0;
        let failed = loop {
            let (a, b) = both.from(done);
            let written = if a.is_empty() {
                f.write(b)
            } else if b.is_empty() {
                f.write(a)
            } else {
                f.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)])
            };
            match written {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    done += n;
                    if done == total {
                        break None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        // Only whole lines stay in the file: a torn last line is cut away.
        let whole = both.whole(done);
        if whole < done {
            let _ = f.set_len(self.size + whole as u64);
        }
        self.size += whole as u64;
        match failed {
            None => {
                if self.warned || notice.is_some() {
                    warns.push(format!(
                        "log file {}: written again{}",
                        self.path.display(),
                        match notice {
                            Some(_) => format!(" after {} lines were dropped", self.dropped),
                            None => String::new(),
                        }
                    ));
                }
                self.warned = false;
                self.dropped = 0;
                self.pending.clear();
            }
            Some(e) => {
                // Count the lines not written; if the notice itself went
                // out, its count was said and starts again.
                let notice_len = notice.as_ref().map_or(0, String::len);
                let start = if whole >= notice_len {
                    self.dropped = 0;
                    whole
                } else {
                    notice_len
                };
                let lost = both.newlines_from(start);
                self.fail(
                    "write failed (lines are counted until it works again)",
                    &e,
                    warns,
                );
                self.dropped += lost;
                self.dropped_total += lost;
                self.why = e.to_string();
                self.pending.clear();
                // Reopen next time (the file may have been removed).
                self.file = None;
            }
        }
        if self.pending.capacity() > 2 * FLUSH_AT {
            self.pending.shrink_to(FLUSH_AT);
        }
    }

    /// Lines lost since tend started.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// The queued lines are lost: count them.
    fn lose(&mut self, why: &str) {
        let lost = newlines(&self.pending);
        self.dropped += lost;
        self.dropped_total += lost;
        self.why = why.to_string();
        self.pending.clear();
    }

    /// `file` → `file.1` → … → `file.KEEP` (the oldest deleted); with
    /// `keep == 0` the file is truncated instead.
    fn rotate(&mut self, warns: &mut Vec<String>) {
        self.file = None;
        self.size = 0;
        let result = if self.keep == 0 {
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .open(&self.path)
                .and_then(|f| f.set_len(0))
        } else {
            self.shift()
        };
        if let Err(e) = result {
            self.fail("cannot rotate", &e, warns);
        }
        self.open(warns);
    }

    fn shift(&self) -> io::Result<()> {
        shift_numbered(&self.path, self.keep)
    }
}
