//! Floods of one kind of warning (notify messages refused, or unparsable,
//! by the thousand): each flood is said, but not each copy. Pure.
//!
//! The first `BURST` notes of a window are reported one by one; later ones
//! in the same window are counted, and once the window is over one line
//! says how many there were and what the last one was. Nothing is dropped
//! without being counted, and the count is said even if the flood stops
//! (the caller arms a timer at `deadline`).

use std::time::{Duration, Instant};

/// Notes reported one by one per window.
pub const BURST: u32 = 5;
/// How long a window lasts.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub struct Flood {
    window_start: Option<Instant>,
    in_window: u32,
    suppressed: u64,
    last: String,
}

impl Flood {
    /// A new note at `now`: the message to report now, if any.
    pub fn note(&mut self, now: Instant, message: String) -> Option<String> {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW);
        if fresh && self.suppressed == 0 {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        if self.in_window < BURST {
            self.in_window += 1;
            if self.in_window == BURST {
                return Some(format!(
                    "{message} (more like this in the next {} s are counted, not each reported)",
                    WINDOW.as_secs()
                ));
            }
            return Some(message);
        }
        self.suppressed += 1;
        self.last = message;
        None
    }

    /// When a summary of counted notes is due.
    pub fn deadline(&self) -> Option<Instant> {
        (self.suppressed > 0)
            .then_some(self.window_start?)
            .and_then(|s| s.checked_add(WINDOW))
    }

    /// At or after `deadline`: the line that says what was counted; a new
    /// window starts.
    pub fn summary(&mut self, now: Instant) -> Option<String> {
        if self.deadline().is_none_or(|d| now < d) {
            return None;
        }
        let n = std::mem::take(&mut self.suppressed);
        self.window_start = Some(now);
        self.in_window = 0;
        Some(format!(
            "{n} more like this in the last {} s; the last: {}",
            WINDOW.as_secs(),
            std::mem::take(&mut self.last)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_said_counted_and_summed_up() {
        let t0 = Instant::now();
        let mut f = Flood::default();
        let said: Vec<String> = (0..1000)
            .filter_map(|k| f.note(t0 + Duration::from_millis(k), format!("refused {k}")))
            .collect();
        assert_eq!(said.len(), BURST as usize);
        assert_eq!(said[0], "refused 0");
        assert!(
            said[4].starts_with("refused 4 (more like this"),
            "{}",
            said[4]
        );
        assert_eq!(f.deadline(), Some(t0 + WINDOW));
        assert_eq!(f.summary(t0 + Duration::from_secs(9)), None);
        let s = f.summary(t0 + WINDOW).expect("summary");
        assert_eq!(
            s,
            "995 more like this in the last 10 s; the last: refused 999"
        );
        assert_eq!(f.deadline(), None);
        // A new window: reported again.
        assert_eq!(
            f.note(t0 + WINDOW + Duration::from_secs(1), "again".into()),
            Some("again".into())
        );
    }

    #[test]
    fn a_trickle_is_reported_in_full() {
        let t0 = Instant::now();
        let mut f = Flood::default();
        for k in 0..20u64 {
            let at = t0 + WINDOW * (k as u32);
            assert_eq!(f.note(at, format!("n{k}")), Some(format!("n{k}")));
        }
        assert_eq!(f.deadline(), None);
    }
}
