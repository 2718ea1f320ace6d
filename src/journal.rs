//! The event journal (`[supervisor] event-journal`): every event as one
//! JSON line (SPEC §3 form) appended to a file that rotates by size like a
//! log file (`file` → `file.1` → … → `file.KEEP`), read back for followers
//! that need events memory no longer retains, and on start for the last seq.
//!
//! Invariants:
//! - Lines are in seq order across the files, oldest file `file.KEEP`,
//!   newest `file`; a line is appended whole (one `write_all` on an
//!   `O_APPEND` file) before the event can be evicted from memory, so every
//!   event below memory's oldest is in the journal unless a write failed.
//! - A write error never fails the caller: it is counted and reported once
//!   per outage (`take_error`).
//! - Reading never trusts the files: a line that does not parse is skipped,
//!   a seq that jumps is a gap said to the follower (never papered over),
//!   lines are bounded (`MAX_LINE`), and each call reads at most a budget of
//!   bytes so one follower far behind cannot hold the loop.
//!
//! Reading a regular file does not wait for anyone (the page cache or the
//! disk); this is the one place the loop reads files after start-up.

use crate::event::Event;
use crate::logs::file::{numbered, shift_numbered};
use crate::model::JournalSpec;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// A journal line longer than this is not one tend wrote: skipped.
const MAX_LINE: usize = 1 << 20;
/// A seq at or above this (2^53, where JSON numbers stop being exact for
/// many clients) is not one tend wrote: such a journal does not set where
/// seq goes on from.
const MAX_SEQ: u64 = 1 << 53;
/// Bytes one `Reader::next` call may read before it lets the loop go on.
const READ_BUDGET: usize = 4 << 20;

pub struct Journal {
    spec: JournalSpec,
    file: File,
    /// Bytes in `file` as far as we know (for rotation).
    size: u64,
    /// Writes that failed since the journal was opened.
    failures: u64,
    /// The current outage: the seq of the first event missing from the
    /// journal and how many are missing so far (cleared, and said, by the
    /// next successful write).
    outage: Option<(u64, u64)>,
    /// A failed rotation has been said (reset when one succeeds).
    rotate_reported: bool,
    /// A report the caller has not taken yet.
    pending: Option<String>,
}

impl Journal {
    /// Open (create 0644, before umask) the journal for appending, and find
    /// the seq of the last event it holds (from an earlier run of tend), in
    /// the newest file that has one. A last line cut short (a crash in the
    /// middle of a write) is ended with a newline so that the next line
    /// starts on its own.
    pub fn open(spec: &JournalSpec) -> io::Result<(Journal, Option<u64>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&spec.path)?;
        let mut size = file.metadata()?.len();
        if size > 0 && !ends_with_newline(&mut file, size)? {
            file.write_all(b"\n")?;
            size += 1;
        }
        let last = std::iter::once(spec.path.clone())
            .chain((1..=spec.keep).map(|n| numbered(&spec.path, n)))
            .find_map(|p| File::open(p).ok().and_then(|mut f| last_seq(&mut f)))
            .filter(|&s| s < MAX_SEQ);
        let journal = Journal {
            spec: spec.clone(),
            file,
            size,
            failures: 0,
            outage: None,
            rotate_reported: false,
            pending: None,
        };
        Ok((journal, last))
    }

    pub fn append(&mut self, event: &Event) {
        let mut line = event.to_json().to_string();
        line.push('\n');
        match self.file.write_all(line.as_bytes()) {
            Ok(()) => {
                if let Some((first, missing)) = self.outage.take() {
                    self.pending = Some(format!(
                        "writing to {} again from event {}: {missing} event(s) from {first} are missing from it",
                        self.spec.path.display(),
                        event.seq
                    ));
                }
                self.size += line.len() as u64;
                if self.size >= self.spec.max_size {
                    self.rotate();
                }
            }
            Err(e) => {
                // Part of the line may be written (a full disk): cut back to
                // the last whole line, so that readers never see a torn one
                // and the next line starts on its own.
                let _ = self.file.set_len(self.size);
                self.failed(event.seq, &e);
            }
        }
    }

    fn rotate(&mut self) {
        let rotated = if self.spec.keep == 0 {
            self.file.set_len(0)
        } else {
            shift_numbered(&self.spec.path, self.spec.keep).and_then(|()| {
                OpenOptions::new()
                    .read(true)
                    .append(true)
                    .create(true)
                    .mode(0o644)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&self.spec.path)
                    .map(|f| self.file = f)
            })
        };
        match rotated {
            Ok(()) => {
                self.size = 0;
                self.rotate_reported = false;
            }
            // Still appending to the old file (or its new name): nothing is
            // lost, the file only grows past its limit.
            Err(e) => {
                self.failures += 1;
                if !self.rotate_reported {
                    self.rotate_reported = true;
                    self.pending = Some(format!(
                        "cannot rotate the event journal {}: {e} (it grows past max-size until a rotation succeeds)",
                        self.spec.path.display()
                    ));
                }
            }
        }
    }

    fn failed(&mut self, seq: u64, e: &io::Error) {
        self.failures += 1;
        let (_, missing) = self.outage.get_or_insert_with(|| {
            self.pending = Some(format!(
                "cannot write the event journal {}: {e} (event {seq} and any further ones \
                 are missing from it until writes succeed again)",
                self.spec.path.display()
            ));
            (seq, 0)
        });
        *missing += 1;
    }

    /// A failure the caller has not reported yet, as one line of text.
    pub fn take_error(&mut self) -> Option<String> {
        self.pending.take()
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// The seq of the oldest event the journal still holds.
    pub fn first_seq(&self) -> Option<u64> {
        self.files_oldest_first()
            .into_iter()
            .find_map(|p| File::open(p).ok().and_then(|f| first_seq(&f)))
    }

    /// A reader for a follower; it finds its place on the first `next`.
    pub fn reader(&self) -> Reader {
        Reader {
            files: self.files_oldest_first(),
            current: None,
            exhausted: None,
            line: Vec::new(),
        }
    }

    fn files_oldest_first(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = (1..=self.spec.keep)
            .rev()
            .map(|n| numbered(&self.spec.path, n))
            .collect();
        files.push(self.spec.path.clone());
        files
    }
}

/// What a `Reader` has for the seq asked.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The event's JSON line (with its newline).
    Line(&'a [u8]),
    /// The journal does not have it; it has events again from this seq
    /// (`None`: none at all after it).
    Gap(Option<u64>),
    /// The budget for this call is spent: ask again on the next turn.
    Later,
}

/// A follower's place in the journal: the file it reads, by descriptor, so
/// a rotation (a rename) under it changes nothing; at the end of a file it
/// finds the next by seq again.
pub struct Reader {
    files: Vec<PathBuf>,
    current: Option<BufReader<File>>,
    /// (dev, ino) of the file last read to its end without the seq wanted.
    exhausted: Option<(u64, u64)>,
    line: Vec<u8>,
}

impl Reader {
    /// The line of event `want`. Called with `want`, then `want + 1`, ...
    pub fn next(&mut self, want: u64) -> Step<'_> {
        let mut budget = READ_BUDGET;
        loop {
            if self.current.is_none() {
                match self.locate(want) {
                    Ok(f) => self.current = Some(BufReader::with_capacity(64 * 1024, f)),
                    Err(resume) => return Step::Gap(resume),
                }
            }
            let Some(r) = self.current.as_mut() else {
                return Step::Gap(None);
            };
            self.line.clear();
            // A read error ends this file as its end would.
            let n = read_line(r, &mut self.line).unwrap_or_default();
            if n == 0 {
                // The end of this file: the next one by seq, unless this
                // one was where `want` should have been.
                self.exhausted = r.get_ref().metadata().ok().map(|m| (m.dev(), m.ino()));
                self.current = None;
                continue;
            }
            budget = budget.saturating_sub(n);
            match line_seq(&self.line) {
                Some(seq) if seq == want => return Step::Line(&self.line),
                Some(seq) if seq > want => {
                    // Events are missing from the journal (a write failed):
                    // the follower is told to resume here.
                    self.current = None;
                    return Step::Gap(Some(seq));
                }
                _ => {}
            }
            if budget == 0 {
                return Step::Later;
            }
        }
    }

    /// The newest file whose first event is at or before `want`.
    fn locate(&mut self, want: u64) -> Result<File, Option<u64>> {
        let mut found = None;
        let mut later = None;
        for p in &self.files {
            let Ok(f) = File::open(p) else { continue };
            match first_seq(&f) {
                Some(s) if s <= want => found = Some(f),
                Some(s) => {
                    later = Some(later.map_or(s, |l: u64| l.min(s)));
                }
                None => {}
            }
        }
        let mut f = found.ok_or(later)?;
        // Back from where `first_seq` left it.
        f.rewind().map_err(|_| later)?;
        let id = f.metadata().ok().map(|m| (m.dev(), m.ino()));
        if id.is_some() && id == self.exhausted {
            // Read to its end already: `want` is not in the journal.
            return Err(later);
        }
        Ok(f)
    }
}

/// One line, at most `MAX_LINE` bytes kept (a longer one is read to its
/// end and comes back cut, so it does not parse). Returns the bytes read.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() < MAX_LINE {
            let room = MAX_LINE - line.len();
            line.extend_from_slice(&buf[..take.min(room)]);
        }
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

/// The `seq` of one journal line.
fn line_seq(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    if line.last() != Some(&b'\n') {
        return None;
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

fn first_seq(f: &File) -> Option<u64> {
    let mut r = BufReader::with_capacity(8 * 1024, f);
    let mut line = Vec::new();
    // The first few lines: one cut short by a crash is skipped.
    for _ in 0..4 {
        line.clear();
        if read_line(&mut r, &mut line).ok()? == 0 {
            return None;
        }
        if let Some(s) = line_seq(&line) {
            return Some(s);
        }
    }
    None
}

/// The seq of the last whole line, read from the end of the file.
fn last_seq(f: &mut File) -> Option<u64> {
    let len = f.metadata().ok()?.len();
    let mut chunk = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(chunk);
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::new();
        f.take(chunk).read_to_end(&mut buf).ok()?;
        // Lines that end within the chunk, newest first; the first piece
        // may be the tail of a line that began before it.
        let whole = match buf.iter().position(|&b| b == b'\n') {
            _ if start == 0 => 0,
            Some(i) => i + 1,
            None => buf.len(),
        };
        let found = buf[whole..]
            .split_inclusive(|&b| b == b'\n')
            .rev()
            .find_map(line_seq);
        if found.is_some() || start == 0 {
            return found;
        }
        chunk = chunk.saturating_mul(4).min(len);
    }
}

fn ends_with_newline(f: &mut File, size: u64) -> io::Result<bool> {
    let mut last = [0u8; 1];
    f.seek(SeekFrom::Start(size - 1))?;
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::eventlog::EventLog;
    use std::time::{Duration, SystemTime};

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("tend-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        Dir(d)
    }
    fn spec(d: &Dir, max_size: u64, keep: u32) -> JournalSpec {
        JournalSpec {
            path: d.0.join("events.jsonl"),
            max_size,
            keep,
        }
    }
    fn push(log: &mut EventLog, n: u64) {
        for i in 0..n {
            let t = SystemTime::UNIX_EPOCH + Duration::from_millis(i);
            log.push(t, Some("web".into()), EventKind::Down);
        }
    }
    /// Everything a follower from `from` gets: the seqs, then how it ended.
    fn follow(log: &EventLog, from: u64) -> (Vec<u64>, Result<u64, u64>) {
        let mut reader = None;
        let mut cursor = from;
        let mut seqs = Vec::new();
        for _ in 0..10_000 {
            let r = log.replay(&mut reader, &mut cursor, |seq, line| {
                assert_eq!(line_seq(line), Some(seq), "the line is the event's");
                seqs.push(seq);
                true
            });
            if let Err(resume) = r {
                return (seqs, Err(resume));
            }
            if cursor >= log.oldest() {
                return (seqs, Ok(cursor));
            }
        }
        panic!("replay made no progress");
    }

    #[test]
    fn a_follower_behind_memory_gets_every_event_across_rotations() {
        let d = dir("rotate");
        // ~120-byte lines, 1 KiB files: about 8 events per file.
        let mut log = EventLog::new(5, Some(&spec(&d, 1024, 20))).expect("new");
        push(&mut log, 100);
        assert_eq!(log.oldest(), 96);
        assert!(d.0.join("events.jsonl.5").exists(), "rotated");
        assert_eq!(log.earliest(), 1);
        let (seqs, end) = follow(&log, 1);
        assert_eq!(seqs, (1..96).collect::<Vec<_>>());
        assert_eq!(end, Ok(96));
        // From the middle of a rotated file.
        let (seqs, _) = follow(&log, 50);
        assert_eq!(seqs, (50..96).collect::<Vec<_>>());
    }

    #[test]
    fn rotated_away_is_a_gap_with_the_place_to_resume() {
        let d = dir("keep");
        let mut log = EventLog::new(5, Some(&spec(&d, 1024, 2))).expect("new");
        push(&mut log, 100);
        let earliest = log.earliest();
        assert!(earliest > 1 && earliest < 96, "{earliest}");
        let (seqs, end) = follow(&log, 3);
        assert!(seqs.is_empty());
        assert_eq!(end, Err(earliest));
        let (seqs, end) = follow(&log, earliest);
        assert_eq!(seqs, (earliest..96).collect::<Vec<_>>());
        assert_eq!(end, Ok(96));
    }

    #[test]
    fn without_a_journal_a_follower_behind_memory_is_told_where_to_resume() {
        let mut log = EventLog::new(5, None).expect("new");
        push(&mut log, 20);
        assert_eq!(log.earliest(), 16);
        assert_eq!(follow(&log, 3), (vec![], Err(16)));
    }

    #[test]
    fn a_hole_in_the_journal_is_said_not_skipped() {
        let d = dir("hole");
        let s = spec(&d, 1 << 20, 2);
        let mut log = EventLog::new(2, Some(&s)).expect("new");
        push(&mut log, 10);
        // Lose events 4 and 5 from the file, as a failed write would.
        let text = std::fs::read_to_string(&s.path).expect("read");
        let kept: String = (text.lines())
            .filter(|l| {
                !l.starts_with("{\"event\":\"down\",\"seq\":4,") && !l.contains("\"seq\":5,")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(kept.lines().count(), 8, "{kept}");
        std::fs::write(&s.path, kept).expect("write");
        let (seqs, end) = follow(&log, 1);
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(end, Err(6));
        assert_eq!(follow(&log, 6), (vec![6, 7, 8], Ok(9)));
    }

    #[test]
    fn seq_goes_on_from_the_journal_of_an_earlier_run() {
        let d = dir("restart");
        let s = spec(&d, 1024, 3);
        {
            let mut log = EventLog::new(10, Some(&s)).expect("first run");
            push(&mut log, 30);
        }
        // A crash cut the last write short.
        let mut f = OpenOptions::new().append(true).open(&s.path).expect("open");
        f.write_all(b"{\"seq\":31,\"ev").expect("cut line");
        drop(f);
        let mut log = EventLog::new(10, Some(&s)).expect("second run");
        assert_eq!((log.oldest(), log.next()), (31, 31));
        push(&mut log, 3);
        assert_eq!(log.oldest(), 31);
        let earliest = log.earliest();
        let (seqs, end) = follow(&log, earliest);
        assert_eq!(seqs, (earliest..31).collect::<Vec<_>>());
        assert_eq!(end, Ok(31));
        // The cut line stayed a line of its own, skipped by readers.
        let text = std::fs::read_to_string(&s.path).expect("read");
        assert!(text.contains("{\"seq\":31,\"ev\n{"), "{text}");
        // Rotated right after the restart: the last seq is in `file.1`.
        std::fs::rename(&s.path, d.0.join("events.jsonl.1")).expect("rename");
        let log = EventLog::new(10, Some(&s)).expect("third run");
        assert_eq!(log.next(), 34);
    }

    #[test]
    fn a_garbage_journal_never_panics() {
        let d = dir("garbage");
        let s = spec(&d, 1 << 20, 1);
        let mut junk = vec![b'x'; 3 << 20];
        junk.extend_from_slice(b"\n{\"seq\":18446744073709551615}\n\xff\xfe\n{\"seq\":-1}\n{}");
        std::fs::write(&s.path, &junk).expect("write");
        std::fs::write(d.0.join("events.jsonl.1"), b"{\"seq\":7}\n{\"seq\":3}\n").expect("write");
        let mut log = EventLog::new(3, Some(&s)).expect("open");
        assert_eq!(log.next(), 1, "not a seq tend wrote");
        push(&mut log, 2);
        let _ = follow(&log, 0);
        let _ = follow(&log, 5);
    }
}
