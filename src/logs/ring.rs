//! The per-service in-memory ring of recent lines (for `tend logs`).
//!
//! What it answers is the eager ring's: the longest run of newest lines
//! that holds at most `RING_LINES` lines and at most `RING_BYTES` bytes of
//! text (newlines not counted; the newest line is always kept, however
//! long); sequence numbers are consecutive.
//!
//! How: lines are indexed lazily. A push stores raw bytes in one deque as a
//! *chunk* (a run of whole lines of one stream, read at one time: its first
//! seq, its line count, its length), never an entry per line. A run of a
//! 1 MiB read costs one SIMD newline count and one copy of the part that can
//! still be asked for (the tail holding its last `RING_LINES` lines or more
//! than `RING_BYTES`, found by counting newlines in a window that doubles).
//! Only queries (`tail`, `since`, `export`) find line starts.
//!
//! Invariants (after every push): every chunk but the first lies wholly in
//! the answer (they hold fewer than `RING_LINES` lines and at most
//! `RING_BYTES` bytes), so only the first chunk is walked to find where the
//! answer starts; memory is at most `RING_BYTES` + `RING_LINES` newlines for
//! those plus one stored chunk (at most `STORE_CAP` bytes for a run of lines
//! of at most `MAX_LINE`, what `split` makes), about 2 MiB per service.
//! UTF-8 is only checked (and replaced) when lines are asked for.

use super::{LogLine, MAX_LINE, Stream};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::SystemTime;

/// At most this many lines are kept per service.
pub const RING_LINES: usize = 1000;
/// At most this many bytes of text are kept per service.
pub const RING_BYTES: usize = 1 << 20;

/// The first window `push_run` counts newlines in.
const WINDOW: usize = 128 * 1024;
/// A window this long always holds enough of a run (its first line may be
/// cut, then more than `RING_BYTES` bytes or `RING_LINES` lines follow).
pub(super) const STORE_CAP: usize = RING_BYTES + RING_LINES + MAX_LINE + 2;

#[derive(Debug)]
struct Chunk {
    /// The seq of its first line.
    seq: u64,
    stream: Stream,
    time: SystemTime,
    /// Its lines, each ending with a newline in `text`.
    lines: usize,
    /// Its bytes in `text`, newlines included.
    len: usize,
}

impl Chunk {
    /// Bytes of text, newlines not counted.
    fn text_bytes(&self) -> usize {
        self.len - self.lines
    }
}

#[derive(Debug)]
pub(crate) struct Ring {
    chunks: VecDeque<Chunk>,
    /// The bytes of `chunks`, in order.
    text: VecDeque<u8>,
    /// Lines in `chunks`.
    lines: usize,
    /// Bytes of text in `chunks`, newlines not counted.
    bytes: usize,
    next_seq: u64,
}

/// Where line `k` (from 0) of `bytes` starts: `bytes` holds `lines` lines,
/// each ending with a newline. Walks from the nearer end.
fn line_start(bytes: &[u8], k: usize, lines: usize) -> usize {
    if k == 0 {
        return 0;
    }
    let nl = if k <= lines / 2 {
        memchr::memchr_iter(b'\n', bytes).nth(k - 1)
    } else {
        memchr::memrchr_iter(b'\n', bytes).nth(lines - k)
    };
    nl.map_or(bytes.len(), |p| p + 1)
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            chunks: VecDeque::new(),
            text: VecDeque::new(),
            lines: 0,
            bytes: 0,
            next_seq: 1,
        }
    }

    /// Stores a line (without its newline) read at `time`.
    pub fn push(&mut self, stream: Stream, line: &[u8], time: SystemTime) {
        self.chunk(stream, 1, line.len() + 1, time);
        self.text.extend(line);
        self.text.push_back(b'\n');
        self.trim();
    }

    fn chunk(&mut self, stream: Stream, lines: usize, len: usize, time: SystemTime) {
        let c = Chunk {
            seq: self.next_seq,
            stream,
            time,
            lines,
            len,
        };
        self.next_seq += lines as u64;
        self.lines += lines;
        self.bytes += c.text_bytes();
        self.chunks.push_back(c);
    }

    /// `n` whole lines at once (`run`: each line with its newline, none
    /// longer than `MAX_LINE`), as `n` pushes would leave the ring: only
    /// the tail that can still be asked for is copied, the lines before it
    /// are only counted (their seqs are used).
    pub fn push_run(&mut self, stream: Stream, run: &[u8], n: usize, time: SystemTime) {
        if n == 0 {
            return;
        }
        let (start, kept) = stored_tail(run, n);
        self.next_seq += (n - kept) as u64;
        if kept > 0 {
            let tail = &run[start..];
            self.chunk(stream, kept, tail.len(), time);
            self.text.extend(tail);
        }
        self.trim();
    }

    /// Drops the first chunk while the others alone fill the bounds (then
    /// none of its lines can be in the answer).
    fn trim(&mut self) {
        while self.chunks.len() > 1 {
            let f = &self.chunks[0];
            let rest_lines = self.lines - f.lines;
            let rest_bytes = self.bytes - f.text_bytes();
            if rest_lines < RING_LINES && rest_bytes <= RING_BYTES {
                break;
            }
            self.lines -= f.lines;
            self.bytes -= f.text_bytes();
            let len = f.len;
            self.chunks.pop_front();
            self.text.drain(..len);
        }
    }

    /// The bytes of the chunk at `off` in `text`, `len` long (borrowed
    /// unless they wrap around the deque's end).
    fn bytes_at(&self, off: usize, len: usize) -> Cow<'_, [u8]> {
        let (a, b) = self.text.as_slices();
        if off + len <= a.len() {
            Cow::Borrowed(&a[off..off + len])
        } else if off >= a.len() {
            Cow::Borrowed(&b[off - a.len()..off - a.len() + len])
        } else {
            Cow::Owned(self.text.range(off..off + len).copied().collect())
        }
    }

    /// How many of the first chunk's lines are not in the answer: walks its
    /// lines back from its end while the bounds hold.
    fn front_skip(&self) -> usize {
        let Some(f) = self.chunks.front() else {
            return 0;
        };
        let (mut lines, mut bytes) = (self.lines - f.lines, self.bytes - f.text_bytes());
        let text = self.bytes_at(0, f.len);
        let mut end = text.len() - 1; // its last newline
        let mut kept = 0;
        while kept < f.lines {
            let from = memchr::memrchr(b'\n', &text[..end]).map_or(0, |p| p + 1);
            let len = end - from;
            if lines > 0 && (lines + 1 > RING_LINES || bytes + len > RING_BYTES) {
                break;
            }
            lines += 1;
            bytes += len;
            kept += 1;
            if from == 0 {
                break;
            }
            end = from - 1;
        }
        f.lines - kept
    }

    /// The oldest seq in the answer (`next_seq` when empty).
    fn oldest(&self) -> u64 {
        self.chunks
            .front()
            .map_or(self.next_seq, |f| f.seq + self.front_skip() as u64)
    }

    /// The seq after the newest line held (`next_seq` but after `resume`).
    fn end_seq(&self) -> u64 {
        self.chunks
            .back()
            .map_or(self.next_seq, |c| c.seq + c.lines as u64)
    }

    /// Calls `f` for each line of the answer with `seq >= from`, in order:
    /// (seq, stream, time, bytes without the newline).
    fn each_from(&self, from: u64, mut f: impl FnMut(u64, Stream, SystemTime, &[u8])) {
        let from = from.max(self.oldest());
        // The first chunk with a line at `from` or after, found from the back.
        let (mut idx, mut off) = (self.chunks.len(), self.text.len());
        while idx > 0 && self.chunks[idx - 1].seq + self.chunks[idx - 1].lines as u64 > from {
            idx -= 1;
            off -= self.chunks[idx].len;
        }
        for c in self.chunks.iter().skip(idx) {
            let text = self.bytes_at(off, c.len);
            off += c.len;
            let skip = usize::try_from(from.saturating_sub(c.seq)).unwrap_or(usize::MAX);
            let at = line_start(&text, skip.min(c.lines), c.lines);
            for (k, line) in super::lines(&text[at..]).enumerate() {
                f(c.seq + (skip + k) as u64, c.stream, c.time, line);
            }
        }
    }

    fn lines_from(&self, from: u64) -> Vec<LogLine> {
        let mut out = Vec::new();
        self.each_from(from, |seq, stream, time, bytes| {
            out.push(LogLine {
                seq,
                stream,
                text: String::from_utf8_lossy(bytes).into_owned(),
                time,
            })
        });
        out
    }

    /// `tend reexec`: every retained line as raw bytes, for the next binary.
    pub fn export(&self) -> (u64, Vec<crate::handover::LineState>) {
        let mut out = Vec::new();
        self.each_from(1, |seq, stream, time, bytes| {
            out.push(crate::handover::LineState {
                seq,
                stream: stream.index() as u8,
                time,
                bytes: bytes.to_vec(),
            })
        });
        (self.next_seq, out)
    }

    /// `tend reexec`: the previous binary's lines, then `next_seq` (seqs
    /// stay consecutive: a line out of order ends the list).
    pub fn resume(&mut self, next_seq: u64, lines: Vec<crate::handover::LineState>) {
        *self = Ring::new();
        for l in lines {
            if !self.chunks.is_empty() && self.next_seq != l.seq {
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

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.lines_from(self.end_seq().saturating_sub(n))
    }

    /// Lines with `seq >= from`, and how many lines before the first one
    /// returned were already gone from the ring.
    pub fn since(&self, from: u64) -> (u64, Vec<LogLine>) {
        let from = from.max(1);
        let dropped = self.oldest().saturating_sub(from);
        (dropped, self.lines_from(from))
    }

    /// Lines in the answer.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.each_from(1, |_, _, _, _| n += 1);
        n
    }

    /// Bytes of text in the answer, newlines not counted.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        let mut n = 0;
        self.each_from(1, |_, _, _, b| n += b.len());
        n
    }

    /// Bytes held, newlines included (what memory the text takes).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.text.len()
    }
}

/// Where the part of `run` (`n` lines) that can still be asked for starts,
/// and how many lines it holds: the last lines, from a line start, holding
/// at least `RING_LINES` lines or more than `RING_BYTES` bytes of text (or
/// all of `run`). Counts newlines in a window from the end that doubles.
fn stored_tail(run: &[u8], n: usize) -> (usize, usize) {
    let mut w = WINDOW;
    loop {
        if w >= run.len() {
            return (0, n);
        }
        // The first line start in the window.
        let from = run.len() - w;
        let start = memchr::memchr(b'\n', &run[from - 1..]).map_or(run.len(), |p| from + p);
        let kept = memchr::memchr_iter(b'\n', &run[start..]).count();
        if kept >= RING_LINES || (run.len() - start) - kept > RING_BYTES {
            return (start, kept);
        }
        // Past `STORE_CAP` only lines over `MAX_LINE` could still fall short.
        w = if w >= STORE_CAP {
            run.len()
        } else {
            (2 * w).min(STORE_CAP)
        };
    }
}
