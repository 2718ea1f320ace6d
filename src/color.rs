//! Colour in the client's output (issue 14 point 5): whether to use it
//! (`--color`, `$NO_COLOR`, a terminal) and which. Pure but for the one
//! process-wide setting `main` makes from `--color`.

use crate::args::ColorWhen;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

static WHEN: AtomicU8 = AtomicU8::new(0);

/// `--color` for this process (`main` sets it once).
pub fn set(when: ColorWhen) {
    let v = match when {
        ColorWhen::Auto => 0,
        ColorWhen::Always => 1,
        ColorWhen::Never => 2,
    };
    WHEN.store(v, Ordering::Relaxed);
}

fn when() -> ColorWhen {
    match WHEN.load(Ordering::Relaxed) {
        1 => ColorWhen::Always,
        2 => ColorWhen::Never,
        _ => ColorWhen::Auto,
    }
}

/// Colour on stdout, now: `always`, `never`, or (auto) when stdout is a
/// terminal and `$NO_COLOR` is unset or empty (no-color.org: a flag
/// overrides it).
pub fn enabled() -> bool {
    decide(
        when(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::io::stdout().is_terminal(),
    )
}

pub fn decide(when: ColorWhen, no_color: bool, tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => tty && !no_color,
    }
}

/// `text` in SGR colour `code`.
pub fn paint(text: &str, code: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The colour of a state (as `tend top` shows them).
pub fn state(state: &str) -> Option<&'static str> {
    Some(match state {
        "ready" => "32",
        "starting" | "stopping" => "33",
        "backoff" => "35",
        "failed" => "31",
        "completed" => "36",
        "down" => "90",
        _ => return None,
    })
}

/// The colour of an event's name.
pub fn event(event: &str) -> Option<&'static str> {
    Some(match event {
        "ready" | "completed" => "32",
        "failed" | "crashloop" => "1;31",
        "exited" | "down" | "stopping" | "warning" => "33",
        "starting" | "spawned" | "restarting" | "reloading" => "36",
        "supervisor-started" | "shutdown-started" | "shutdown-finished" | "supervisor-reexec"
        | "supervisor-resumed" => "1",
        _ => return None,
    })
}

/// The colour of the `k`-th service in `tend logs` (foreman's order).
pub fn service(k: usize) -> &'static str {
    const CYCLE: [&str; 6] = ["36", "33", "32", "35", "34", "31"];
    CYCLE[k % CYCLE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_to_colour() {
        assert!(decide(ColorWhen::Always, true, false));
        assert!(!decide(ColorWhen::Never, false, true));
        assert!(decide(ColorWhen::Auto, false, true));
        assert!(!decide(ColorWhen::Auto, true, true));
        assert!(!decide(ColorWhen::Auto, false, false));
    }

    #[test]
    fn codes() {
        assert_eq!(paint("ready", "32"), "\x1b[32mready\x1b[0m");
        assert_eq!(state("failed"), Some("31"));
        assert_eq!(state("?"), None);
        assert_eq!(event("crashloop"), Some("1;31"));
        assert_ne!(service(0), service(1));
        assert_eq!(service(0), service(6));
    }
}
