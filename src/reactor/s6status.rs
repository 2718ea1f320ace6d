//! s6-supervise's `supervise/status` for s6's own tools: `s6-svstat DIR`
//! reads it (after `s6-svok`'s test of the lock that `supervise-lock`
//! holds). tend writes it at each change it says in the `event` fifodir
//! (spawned, ready, down), as s6-supervise does: 35 bytes (s6's
//! `s6_svstatus_pack`), written to `status.new` and renamed over
//! `status`, so a reader never sees half a record.

use crate::event::{EventKind, ExitStatus};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `S6_SVSTATUS_SIZE`.
pub const SIZE: usize = 35;

/// skalibs' TAI64 label of the Unix epoch: 2^62 + 10, plus the 27 leap
/// seconds since 1972 (its `tai_from_sysclock` on a UTC clock).
const TAI_EPOCH: u64 = (1 << 62) + 10 + 27;

/// `s6_svstatus_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Svstatus {
    /// When the service last went up or down.
    pub stamp: Duration,
    /// When it became ready (or, down, when it was down for good).
    pub readystamp: Duration,
    /// The main process; 0 when down.
    pub pid: u64,
    /// Its wait status once down (`WIFEXITED`/`WTERMSIG` read it).
    pub wstat: u16,
    pub wantup: bool,
    pub ready: bool,
}

fn tain(at: Duration) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&TAI_EPOCH.saturating_add(at.as_secs()).to_be_bytes());
    out[8..].copy_from_slice(&at.subsec_nanos().to_be_bytes());
    out
}

fn untain(b: &[u8]) -> Duration {
    let mut secs = [0u8; 8];
    secs.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
    let mut nanos = [0u8; 4];
    nanos.copy_from_slice(b.get(8..12).unwrap_or(&[0; 4]));
    let secs = u64::from_be_bytes(secs).saturating_sub(TAI_EPOCH);
    Duration::new(secs, u32::from_be_bytes(nanos).min(999_999_999))
}

/// `s6_svstatus_pack` (paused and finishing are never set by tend).
pub fn pack(s: &Svstatus) -> [u8; SIZE] {
    let mut out = [0u8; SIZE];
    out[..12].copy_from_slice(&tain(s.stamp));
    out[12..24].copy_from_slice(&tain(s.readystamp));
    out[24..32].copy_from_slice(&s.pid.to_be_bytes());
    out[32..34].copy_from_slice(&s.wstat.to_be_bytes());
    out[34] = (u8::from(s.wantup) << 2) | (u8::from(s.ready) << 3);
    out
}

/// `s6_svstatus_unpack` (what tend needs back of its own last record).
pub fn unpack(b: &[u8; SIZE]) -> Svstatus {
    let mut pid = [0u8; 8];
    pid.copy_from_slice(&b[24..32]);
    Svstatus {
        stamp: untain(&b[..12]),
        readystamp: untain(&b[12..24]),
        pid: u64::from_be_bytes(pid),
        wstat: u16::from_be_bytes([b[32], b[33]]),
        wantup: b[34] & 4 != 0,
        ready: b[34] & 8 != 0,
    }
}

/// The wait status of an exit, as waitpid(2) encodes it.
pub fn wstat(status: ExitStatus) -> u16 {
    match status {
        ExitStatus::Code(c) => ((c & 0xff) as u16) << 8,
        ExitStatus::Signal(s) => (s & 0x7f) as u16,
    }
}

/// The record after `kind`, from the one before (`old`); None for an
/// event that changes nothing s6-svstat shows.
pub fn next(
    old: Option<Svstatus>,
    kind: &EventKind,
    now: Duration,
    wantup: bool,
    last_exit: Option<ExitStatus>,
) -> Option<Svstatus> {
    let old = old.unwrap_or(Svstatus {
        stamp: now,
        readystamp: now,
        pid: 0,
        wstat: 0,
        wantup,
        ready: false,
    });
    Some(match kind {
        EventKind::Spawned { pid } => Svstatus {
            stamp: now,
            readystamp: now,
            pid: u64::try_from(*pid).unwrap_or(0),
            wstat: 0,
            wantup,
            ready: false,
        },
        EventKind::Ready { .. } => Svstatus {
            readystamp: now,
            ready: true,
            wantup,
            ..old
        },
        // s6-supervise: down and its finish done is "ready" (s6-svwait -D).
        EventKind::Down => Svstatus {
            stamp: now,
            readystamp: now,
            pid: 0,
            wstat: last_exit.map_or(0, wstat),
            wantup,
            ready: true,
        },
        _ => return None,
    })
}

/// Writes the record after `kind` beside the lock (`supervise/status`).
/// Errors are dropped: the lock's own warning already says when the
/// directory cannot be written.
pub fn update(lock: &Path, kind: &EventKind, wantup: bool, last_exit: Option<ExitStatus>) {
    let path = lock.with_file_name("status");
    let old = std::fs::read(&path)
        .ok()
        .and_then(|b| <[u8; SIZE]>::try_from(b.as_slice()).ok())
        .map(|b| unpack(&b));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let Some(st) = next(old, kind, now, wantup, last_exit) else {
        return;
    };
    let new = lock.with_file_name("status.new");
    if std::fs::write(&new, pack(&st)).is_ok() {
        let _ = std::fs::rename(&new, &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_packed_as_s6_packs_it_and_read_back() {
        let st = Svstatus {
            stamp: Duration::new(1_700_000_000, 5),
            readystamp: Duration::new(1_700_000_001, 0),
            pid: 4242,
            wstat: wstat(ExitStatus::Code(3)),
            wantup: true,
            ready: true,
        };
        let b = pack(&st);
        // TAI64: 2^62 + 37 + unix seconds, big-endian; then nanoseconds.
        assert_eq!(b[..8], ((1u64 << 62) + 37 + 1_700_000_000).to_be_bytes());
        assert_eq!(b[8..12], 5u32.to_be_bytes());
        assert_eq!(b[24..32], 4242u64.to_be_bytes());
        assert_eq!(b[32..34], [3, 0], "WEXITSTATUS 3");
        assert_eq!(b[34], 0b1100, "wantup and ready");
        assert_eq!(unpack(&b), st);
        assert_eq!(wstat(ExitStatus::Signal(15)), 15);
    }

    #[test]
    fn spawned_ready_down_make_the_records_s6_supervise_writes() {
        let t = |s| Duration::from_secs(s);
        let up = next(None, &EventKind::Spawned { pid: 7 }, t(10), true, None).unwrap();
        assert_eq!((up.pid, up.ready, up.stamp), (7, false, t(10)));
        let ready = next(
            Some(up),
            &EventKind::Ready { pid: Some(7) },
            t(12),
            true,
            None,
        )
        .unwrap();
        assert_eq!(
            (ready.pid, ready.ready, ready.stamp, ready.readystamp),
            (7, true, t(10), t(12))
        );
        let exit = Some(ExitStatus::Signal(15));
        let down = next(Some(ready), &EventKind::Down, t(20), false, exit).unwrap();
        assert_eq!(
            (down.pid, down.wstat, down.wantup, down.stamp),
            (0, 15, false, t(20))
        );
        assert_eq!(
            next(
                Some(down),
                &EventKind::SupervisorStarted,
                t(21),
                false,
                None
            ),
            None
        );
    }
}
