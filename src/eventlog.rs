//! The event log: every event tend announces, numbered and retained in memory.
//!
//! Invariants:
//! - `seq` is assigned here only: 1, 2, 3, ... with no gap, ever.
//! - At most `retention` events are kept (the newest); memory is bounded by
//!   that whatever subscribers do. Subscribers are cursors (the next seq they
//!   want) kept by the server; a cursor below `oldest()` means that subscriber
//!   lagged and must be told `{"lagged":true,"resume":oldest()}`.
//! - The optional journal (`journal.rs`) gets every event before memory can
//!   evict it, so a follower below `oldest()` is served from it
//!   (`replay`); a journal write error never fails `push`: it is counted and
//!   reported once per outage through `take_journal_error`.
//!
//! Pure apart from the journal file; the clock is the caller's.

use crate::event::{Event, EventKind};
use crate::journal::{Journal, Reader, Step};
use crate::model::JournalSpec;
use std::collections::VecDeque;
use std::time::SystemTime;

pub struct EventLog {
    events: VecDeque<Event>,
    retention: usize,
    next_seq: u64,
    journal: Option<Journal>,
}

impl EventLog {
    /// `retention` is clamped to at least 1 (the newest event is always
    /// retained). With a journal, seq goes on from the last event it holds
    /// (an earlier run of tend), and events memory no longer holds are read
    /// back from it (`replay`).
    pub fn new(retention: usize, journal: Option<&JournalSpec>) -> std::io::Result<EventLog> {
        let (journal, last) = match journal {
            None => (None, None),
            Some(spec) => {
                let (j, last) = Journal::open(spec)?;
                (Some(j), last)
            }
        };
        let retention = retention.max(1);
        Ok(EventLog {
            events: VecDeque::with_capacity(retention.min(1024)),
            retention,
            next_seq: last.map_or(1, |s| s.saturating_add(1)),
            journal,
        })
    }

    /// Record an event: assigns the next seq, evicts the oldest event beyond
    /// retention, appends the event to the journal.
    pub fn push(
        &mut self,
        time: SystemTime,
        service: Option<std::rc::Rc<str>>,
        kind: EventKind,
    ) -> &Event {
        let event = Event {
            seq: self.next_seq,
            time,
            service,
            kind,
        };
        self.next_seq = self.next_seq.saturating_add(1);
        if let Some(j) = &mut self.journal {
            j.append(&event);
        }
        while self.events.len() >= self.retention {
            self.events.pop_front();
        }
        self.events.push_back(event);
        // Just pushed: the deque is not empty, the index is in bounds.
        let idx = self.events.len() - 1;
        &self.events[idx]
    }

    /// `tend reexec`: the retained events, for the next binary.
    pub fn export(&self) -> Vec<crate::handover::EventState> {
        (self.events.iter())
            .map(|e| crate::handover::EventState {
                seq: e.seq,
                time: e.time,
                service: e.service.as_deref().map(str::to_string),
                kind: e.kind.clone(),
            })
            .collect()
    }

    /// `tend reexec`: seq goes on from the previous binary's `next`, with
    /// the events it retained (those in order below `next` only, so seq
    /// stays gapless; the newest `retention` of them).
    pub fn resume(&mut self, next: u64, events: Vec<crate::handover::EventState>) {
        self.next_seq = self.next_seq.max(next);
        self.events.clear();
        let mut names: std::collections::HashMap<String, std::rc::Rc<str>> = Default::default();
        for e in events.into_iter().filter(|e| e.seq < self.next_seq) {
            if self.events.back().is_some_and(|b| b.seq >= e.seq) {
                continue;
            }
            let service = (e.service).map(|n| {
                names
                    .entry(n)
                    .or_insert_with_key(|n| n.as_str().into())
                    .clone()
            });
            while self.events.len() >= self.retention {
                self.events.pop_front();
            }
            self.events.push_back(Event {
                seq: e.seq,
                time: e.time,
                service,
                kind: e.kind,
            });
        }
    }

    /// Seq of the oldest retained event (= `next()` when nothing is retained).
    pub fn oldest(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |e| e.seq)
    }

    /// Seq the next event will get.
    pub fn next(&self) -> u64 {
        self.next_seq
    }

    pub fn retention(&self) -> usize {
        self.retention
    }

    /// Number of retained events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn get(&self, seq: u64) -> Option<&Event> {
        let idx = seq.checked_sub(self.oldest())?;
        self.events.get(usize::try_from(idx).ok()?)
    }

    /// Events from `since` (inclusive; `None` = oldest retained), in order.
    ///
    /// `Err(oldest)` when events at or after `since` were already evicted (the
    /// caller would miss some). `Some(0)` means "from the very first event":
    /// it is an error only once something was evicted. A `since` at or past
    /// `next()` gives no events (a follower then waits for new ones).
    pub fn since(&self, since: Option<u64>) -> Result<impl Iterator<Item = &Event>, u64> {
        let oldest = self.oldest();
        let from = since.unwrap_or(oldest).max(1);
        if from < oldest {
            return Err(oldest);
        }
        let skip = usize::try_from(from - oldest).unwrap_or(usize::MAX);
        let skip = skip.min(self.events.len());
        Ok(self.events.range(skip..))
    }

    /// A journal write failure the caller has not reported yet, as one line
    /// of text. Reported once per outage: while writes keep failing, later
    /// failures are only counted (`journal_failures`); after a successful
    /// write, a new failure is reported again.
    pub fn take_journal_error(&mut self) -> Option<String> {
        self.journal.as_mut().and_then(Journal::take_error)
    }

    /// Journal writes that failed so far (events missing from the journal).
    pub fn journal_failures(&self) -> u64 {
        self.journal.as_ref().map_or(0, Journal::failures)
    }

    /// The oldest seq a follower can be given: memory's oldest, or the
    /// journal's when it goes back further.
    pub fn earliest(&self) -> u64 {
        let journal = self.journal.as_ref().and_then(Journal::first_seq);
        journal.map_or(self.oldest(), |j| j.min(self.oldest()))
    }

    /// Feed a follower at `cursor` below memory's oldest from the journal:
    /// `emit(seq, line)` for each event in order (the JSON line with its
    /// newline) until it returns false (its buffer is full), the journal's
    /// read budget for this turn is spent, or `cursor` reaches memory.
    /// `reader` is the follower's place in the journal (kept between calls).
    ///
    /// `Err(resume)`: the journal does not have `cursor` (none configured,
    /// a write failed, rotated away); `resume` is where the follower can go
    /// on from.
    pub fn replay(
        &self,
        reader: &mut Option<Box<Reader>>,
        cursor: &mut u64,
        mut emit: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), u64> {
        let oldest = self.oldest();
        while *cursor < oldest {
            let Some(j) = &self.journal else {
                return Err(oldest);
            };
            let r = reader.get_or_insert_with(|| Box::new(j.reader()));
            match r.next(*cursor) {
                Step::Line(line) => {
                    let more = emit(*cursor, line);
                    *cursor += 1;
                    if !more {
                        return Ok(());
                    }
                }
                Step::Later => return Ok(()),
                Step::Gap(resume) => {
                    *reader = None;
                    return Err(resume.map_or(oldest, |s| s.min(oldest)));
                }
            }
        }
        *reader = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExitStatus;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    fn t(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Event>) -> Vec<u64> {
        it.map(|e| e.seq).collect()
    }

    fn spec(path: &Path) -> JournalSpec {
        JournalSpec {
            path: path.to_path_buf(),
            max_size: 10 << 20,
            keep: 5,
        }
    }

    fn temp_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tend-eventlog-{tag}-{}", std::process::id()))
    }

    #[test]
    fn seq_is_gapless_from_one() {
        let mut log = EventLog::new(100, None).expect("new");
        assert_eq!((log.oldest(), log.next()), (1, 1));
        assert!(log.is_empty());
        for i in 1..=10u64 {
            let e = log.push(t(i), Some("web".into()), EventKind::Down);
            assert_eq!(e.seq, i);
            assert_eq!(e.time, t(i));
        }
        assert_eq!((log.oldest(), log.next(), log.len()), (1, 11, 10));
        assert_eq!(
            seqs(log.since(None).expect("since")),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(log.get(4).map(|e| e.seq), Some(4));
        assert!(log.get(0).is_none());
        assert!(log.get(11).is_none());
    }

    #[test]
    fn retention_keeps_the_newest() {
        let mut log = EventLog::new(3, None).expect("new");
        for i in 1..=7 {
            log.push(t(i), None, EventKind::SupervisorStarted);
        }
        assert_eq!(log.len(), 3);
        assert_eq!((log.oldest(), log.next()), (5, 8));
        assert!(log.get(4).is_none());
        assert_eq!(log.get(5).map(|e| e.seq), Some(5));
        assert_eq!(log.get(7).map(|e| e.seq), Some(7));
        assert_eq!(seqs(log.since(None).expect("since")), vec![5, 6, 7]);
    }

    #[test]
    fn retention_zero_keeps_one() {
        let mut log = EventLog::new(0, None).expect("new");
        assert_eq!(log.push(t(1), None, EventKind::Down).seq, 1);
        assert_eq!(log.push(t(2), None, EventKind::Down).seq, 2);
        assert_eq!((log.len(), log.oldest(), log.retention()), (1, 2, 1));
    }

    #[test]
    fn since_bounds() {
        let mut log = EventLog::new(4, None).expect("new");
        // Empty log: anything from the start is fine, nothing comes out.
        assert_eq!(seqs(log.since(Some(0)).expect("empty")), Vec::<u64>::new());
        assert_eq!(seqs(log.since(Some(1)).expect("empty")), Vec::<u64>::new());
        for i in 1..=3 {
            log.push(t(i), None, EventKind::Down);
        }
        // Nothing evicted yet: 0 and 1 both mean "everything".
        assert_eq!(seqs(log.since(Some(0)).expect("0")), vec![1, 2, 3]);
        assert_eq!(seqs(log.since(Some(2)).expect("2")), vec![2, 3]);
        assert_eq!(seqs(log.since(Some(3)).expect("3")), vec![3]);
        assert_eq!(seqs(log.since(Some(4)).expect("next")), Vec::<u64>::new());
        assert_eq!(
            seqs(log.since(Some(99)).expect("future")),
            Vec::<u64>::new()
        );
        for i in 4..=6 {
            log.push(t(i), None, EventKind::Down);
        }
        // Retained: 3..=6.
        assert_eq!(log.since(Some(2)).err(), Some(3));
        assert_eq!(log.since(Some(0)).err(), Some(3));
        assert_eq!(seqs(log.since(Some(3)).expect("oldest")), vec![3, 4, 5, 6]);
        assert_eq!(seqs(log.since(Some(6)).expect("newest")), vec![6]);
        assert_eq!(seqs(log.since(Some(7)).expect("next")), Vec::<u64>::new());
    }

    #[test]
    fn journal_gets_one_json_line_per_event() {
        let path = temp_path("journal");
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, "{\"seq\":0}\n").expect("seed");
        {
            let mut log = EventLog::new(1, Some(&spec(&path))).expect("new");
            log.push(
                t(1500),
                Some("web".into()),
                EventKind::Ready { pid: Some(42) },
            );
            log.push(
                t(2000),
                Some("web".into()),
                EventKind::Exited {
                    pid: 42,
                    status: ExitStatus::Code(1),
                    uptime_ms: 500,
                    error: None,
                },
            );
            log.push(t(3000), None, EventKind::ShutdownStarted);
            assert_eq!(log.take_journal_error(), None);
            assert_eq!(log.journal_failures(), 0);
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "appended, not truncated: {text}");
        assert_eq!(lines[0], "{\"seq\":0}");
        let v: Vec<serde_json::Value> = lines[1..]
            .iter()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(v[0]["seq"], 1);
        assert_eq!(v[0]["event"], "ready");
        assert_eq!(v[0]["pid"], 42);
        assert_eq!(v[0]["service"], "web");
        assert_eq!(v[0]["time"], "1970-01-01T00:00:01.500000Z");
        assert_eq!(v[1]["seq"], 2);
        assert_eq!(v[1]["code"], 1);
        assert_eq!(v[2]["seq"], 3);
        assert_eq!(v[2]["event"], "shutdown-started");
        assert!(v[2]["service"].is_null());
    }

    #[test]
    fn journal_write_errors_are_counted_and_reported_once() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut log = EventLog::new(10, Some(&spec(full))).expect("open /dev/full");
        let seq = log.push(t(1), None, EventKind::Down).seq;
        log.push(t(2), None, EventKind::Down);
        assert_eq!(seq, 1);
        assert_eq!(log.journal_failures(), 2);
        let msg = log.take_journal_error().expect("reported");
        assert!(msg.contains("/dev/full"), "{msg}");
        assert_eq!(log.take_journal_error(), None, "once per outage");
        log.push(t(3), None, EventKind::Down);
        assert_eq!(log.take_journal_error(), None);
        assert_eq!(log.journal_failures(), 3);
        assert_eq!(log.len(), 3, "events are kept whatever the journal does");
    }

    #[test]
    fn journal_open_error_is_returned() {
        let bad = temp_path("no-such-dir").join("journal");
        assert!(EventLog::new(10, Some(&spec(&bad))).is_err());
    }
}
