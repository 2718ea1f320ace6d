//! The per-service in-memory ring of recent lines (for `tend logs`).
//!
//! Invariant: holds at most `RING_LINES` lines and, beyond its newest line,
//! at most `RING_BYTES` bytes of text; sequence numbers are consecutive.

use super::{LogLine, Stream};
use std::collections::VecDeque;

/// At most this many lines are kept per service.
pub const RING_LINES: usize = 1000;
/// At most this many bytes of text are kept per service.
pub const RING_BYTES: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
    next_seq: u64,
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            lines: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
        }
    }

    /// Stores a line; returns its sequence number.
    pub fn push(&mut self, stream: Stream, text: String) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += text.len();
        let time = std::time::SystemTime::now();
        self.lines.push_back(LogLine {
            seq,
            stream,
            text,
            time,
        });
        while self.lines.len() > RING_LINES || (self.bytes > RING_BYTES && self.lines.len() > 1) {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.text.len(),
                None => break,
            }
        }
        seq
    }

    /// The sequence number the next line will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest retained sequence number (`next_seq` when empty).
    fn oldest(&self) -> u64 {
        self.lines.front().map_or(self.next_seq, |l| l.seq)
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines.iter().skip(skip).cloned().collect()
    }

    /// Lines with `seq >= from`, and how many lines before the first one
    /// returned were already gone from the ring.
    pub fn since(&self, from: u64) -> (u64, Vec<LogLine>) {
        let from = from.max(1);
        let oldest = self.oldest();
        let dropped = oldest.saturating_sub(from);
        let start = from.max(oldest);
        let skip = usize::try_from(start - oldest).unwrap_or(usize::MAX);
        (dropped, self.lines.iter().skip(skip).cloned().collect())
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lines.len()
    }
}
