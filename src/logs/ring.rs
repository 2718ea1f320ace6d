//! The per-service in-memory ring of recent lines (for `tend logs`).
//!
//! Invariant: holds at most `RING_LINES` lines and, beyond its newest line,
//! at most `RING_BYTES` bytes of text; sequence numbers are consecutive.
//!
//! The text is kept as raw bytes in one deque, and an entry per line says
//! where its bytes are: storing a line copies it and allocates nothing, and
//! UTF-8 is only checked (and replaced) when lines are asked for, which is
//! rare next to how often they come in.

use super::{LogLine, Stream};
use std::collections::VecDeque;
use std::time::SystemTime;

/// At most this many lines are kept per service.
pub const RING_LINES: usize = 1000;
/// At most this many bytes of text are kept per service.
pub const RING_BYTES: usize = 1 << 20;

#[derive(Debug)]
struct Entry {
    seq: u64,
    stream: Stream,
    time: SystemTime,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct Ring {
    entries: VecDeque<Entry>,
    /// The text of `entries`, in order, each line with its newline.
    text: VecDeque<u8>,
    /// Bytes of text held, newlines not counted (what `RING_BYTES` bounds).
    bytes: usize,
    next_seq: u64,
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            entries: VecDeque::new(),
            text: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
        }
    }

    /// Stores a line (without its newline) read at `time`.
    pub fn push(&mut self, stream: Stream, line: &[u8], time: SystemTime) {
        self.entry(stream, line.len(), time);
        self.text.extend(line);
        self.text.push_back(b'\n');
        self.trim();
    }

    fn entry(&mut self, stream: Stream, len: usize, time: SystemTime) {
        self.entries.push_back(Entry {
            seq: self.next_seq,
            stream,
            time,
            len,
        });
        self.next_seq += 1;
        self.bytes += len;
    }

    /// Drops the oldest lines until the bounds hold (the newest line stays).
    fn trim(&mut self) {
        let mut gone = 0;
        while self.entries.len() > RING_LINES || (self.bytes > RING_BYTES && self.entries.len() > 1)
        {
            match self.entries.pop_front() {
                Some(old) => {
                    gone += old.len + 1;
                    self.bytes -= old.len;
                }
                None => break,
            }
        }
        self.text.drain(..gone.min(self.text.len()));
    }

    /// `n` whole lines at once (`run`: each line with its newline), as `n`
    /// pushes would leave the ring: the lines that would be pushed out at
    /// once are only counted (their seqs are used), never copied.
    pub fn push_run(&mut self, stream: Stream, run: &[u8], n: usize, time: SystemTime) {
        let body = run.strip_suffix(b"\n").unwrap_or(run);
        // Walk back from the newest line to the oldest that would survive.
        let (mut start, mut kept, mut bytes) = (body.len() + 1, 0, 0);
        while kept < n && kept < RING_LINES {
            let end = start - 1; // the newline (or end) after this line
            let from = memchr::memrchr(b'\n', &body[..end]).map_or(0, |p| p + 1);
            let len = end - from;
            // The newest line is always kept, as `push` keeps it.
            if kept > 0 && bytes + len > RING_BYTES {
                break;
            }
            bytes += len;
            kept += 1;
            start = from;
            if from == 0 {
                break;
            }
        }
        self.next_seq += (n - kept) as u64;
        let tail = run.get(start..).unwrap_or_default();
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', tail) {
            self.entry(stream, nl - from, time);
            from = nl + 1;
        }
        self.text.extend(tail);
        self.trim();
    }

    /// `tend reexec`: every retained line as raw bytes, for the next binary.
    pub fn export(&self) -> (u64, Vec<crate::handover::LineState>) {
        let mut at = 0;
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            out.push(crate::handover::LineState {
                seq: e.seq,
                stream: e.stream.index() as u8,
                time: e.time,
                bytes: self.text.range(at..at + e.len).copied().collect(),
            });
            at += e.len + 1;
        }
        (self.next_seq, out)
    }

    /// `tend reexec`: the previous binary's lines, then `next_seq` (seqs
    /// stay consecutive: a line out of order ends the list).
    pub fn resume(&mut self, next_seq: u64, lines: Vec<crate::handover::LineState>) {
        *self = Ring::new();
        for l in lines {
            if self.entries.back().is_some_and(|b| b.seq + 1 != l.seq) {
                break;
            }
            self.next_seq = l.seq;
            let stream = if l.stream == 1 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            self.push(stream, &l.bytes, l.time);
        }
        self.next_seq = self.next_seq.max(next_seq);
    }

    /// The sequence number the next line will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest retained sequence number (`next_seq` when empty).
    fn oldest(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |l| l.seq)
    }

    /// The retained lines from the `skip`th on, as `LogLine`s.
    fn lines_from(&self, skip: usize) -> Vec<LogLine> {
        let mut at: usize = self.entries.iter().take(skip).map(|e| e.len + 1).sum();
        let mut out = Vec::with_capacity(self.entries.len().saturating_sub(skip));
        let mut bytes = Vec::new();
        for e in self.entries.iter().skip(skip) {
            bytes.clear();
            bytes.extend(self.text.range(at..at + e.len));
            at += e.len + 1;
            out.push(LogLine {
                seq: e.seq,
                stream: e.stream,
                text: String::from_utf8_lossy(&bytes).into_owned(),
                time: e.time,
            });
        }
        out
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        self.lines_from(self.entries.len().saturating_sub(n))
    }

    /// Lines with `seq >= from`, and how many lines before the first one
    /// returned were already gone from the ring.
    pub fn since(&self, from: u64) -> (u64, Vec<LogLine>) {
        let from = from.max(1);
        let oldest = self.oldest();
        let dropped = oldest.saturating_sub(from);
        let start = from.max(oldest);
        let skip = usize::try_from(start - oldest).unwrap_or(usize::MAX);
        if skip >= self.entries.len() {
            return (dropped, Vec::new());
        }
        (dropped, self.lines_from(skip))
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
