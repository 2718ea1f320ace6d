//! Test-only: the ring as it was before lines were indexed lazily (an
//! entry per line, trimmed on every push), kept as the reference model the
//! lazy `ring::Ring` must agree with (`src/logs/tests.rs`).

use super::ring::{RING_BYTES, RING_LINES};
use super::{LogLine, Stream};
use std::collections::VecDeque;
use std::time::SystemTime;

#[derive(Debug)]
struct Entry {
    seq: u64,
    stream: Stream,
    time: SystemTime,
    len: usize,
}

#[derive(Debug)]
pub(crate) struct EagerRing {
    entries: VecDeque<Entry>,
    /// The text of `entries`, in order, each line with its newline.
    text: VecDeque<u8>,
    /// Bytes of text held, newlines not counted (what `RING_BYTES` bounds).
    bytes: usize,
    next_seq: u64,
}

impl EagerRing {
    pub fn new() -> EagerRing {
        EagerRing {
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
}
