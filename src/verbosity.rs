//! How much of its own output tend prints: s6-overlay's `S6_VERBOSITY`
//! (0–5, default 2) for an s6-overlay tree. s6-overlay's scale: 0 prints
//! only errors, 1 warnings and errors, 2 every start and stop; 3 to 5 add
//! tracing, which tend has none of (they print what 2 does).

use crate::event::EventKind;

/// Every line: what tend prints without `S6_VERBOSITY`.
pub const DEFAULT: u8 = 2;

/// The level of a message: shown when the verbosity is at least this.
pub const ERROR: u8 = 0;
pub const WARNING: u8 = 1;
pub const INFO: u8 = 2;

/// `S6_VERBOSITY`'s value, or why it is refused (s6-overlay reads a
/// number; beyond 5 is as 5).
pub fn parse(value: &str) -> Result<u8, String> {
    match value.trim().parse::<u64>() {
        Ok(n) => Ok(n.min(5) as u8),
        Err(_) => Err(format!(
            "S6_VERBOSITY=`{value}`: expected 0 to 5, using {DEFAULT}"
        )),
    }
}

/// The level of tend's line about an event: a failure (or a program that
/// could not be run) is an error, a warning is one, the rest is the
/// start-and-stop chatter of level 2.
pub fn level(kind: &EventKind) -> u8 {
    match kind {
        EventKind::Failed { .. } | EventKind::Crashloop { .. } => ERROR,
        EventKind::Exited { error: Some(_), .. } => ERROR,
        EventKind::Warning { .. } => WARNING,
        _ => INFO,
    }
}

/// Whether a line of `level` is printed at `verbosity`.
pub fn shows(verbosity: u8, level: u8) -> bool {
    level <= verbosity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExitStatus;

    #[test]
    fn values_read_as_s6_overlay_reads_them() {
        for (text, want) in [
            ("0", Ok(0)),
            (" 1\n", Ok(1)),
            ("2", Ok(2)),
            ("5", Ok(5)),
            ("9", Ok(5)),
        ] {
            assert_eq!(parse(text), want, "{text:?}");
        }
        for bad in ["", "two", "-1", "1.5"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("expected 0 to 5"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn each_level_shows_what_s6_overlay_documents() {
        let failed = EventKind::Failed { reason: "x".into() };
        let warning = EventKind::Warning {
            message: "x".into(),
        };
        let exec_failed = EventKind::Exited {
            pid: 1,
            status: ExitStatus::Code(127),
            uptime_ms: 0,
            error: Some("exec x: No such file or directory".into()),
        };
        let exited = EventKind::Exited {
            pid: 1,
            status: ExitStatus::Code(0),
            uptime_ms: 0,
            error: None,
        };
        // (event, shown at 0, 1, 2, 5)
        let table = [
            (&failed, [true, true, true, true]),
            (&exec_failed, [true, true, true, true]),
            (&warning, [false, true, true, true]),
            (&exited, [false, false, true, true]),
            (&EventKind::Down, [false, false, true, true]),
        ];
        for (kind, want) in table {
            let got = [0, 1, 2, 5].map(|v| shows(v, level(kind)));
            assert_eq!(got, want, "{}", kind.name());
        }
    }
}
