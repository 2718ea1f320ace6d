//! The sd_notify protocol (sd_notify(3)), as pure data: one datagram of
//! newline-separated `KEY=VALUE` assignments becomes a [`Notice`].
//!
//! No I/O here: the socket is `os::notify`, the client is `notify_cli`.
//!
//! Compatibility notes (what systemd does, and where tend is stricter):
//! - Lines are separated by `\n`; empty lines (a trailing newline, as
//!   `systemd-notify` and many daemons send) are skipped. Nothing is trimmed.
//! - Flags (`READY`, `STOPPING`, `RELOADING`, `BARRIER`) mean something only
//!   with the value `1`; `WATCHDOG` takes `1` (a ping) or `trigger`.
//! - A known key may appear more than once; the first value counts, as in
//!   systemd (later ones are still validated).
//! - Keys tend does not act on (`FDSTORE`, `FDNAME`, `BUSERROR`,
//!   `NOTIFYACCESS`, `X_*`, ...) are collected in [`Notice::unknown`].
//! - Unlike systemd, which acts on the good lines of a partly bad message, a
//!   message with any bad line is refused whole: the caller logs the error
//!   and ignores the datagram, so a half-understood message never changes
//!   state.

/// Largest datagram accepted, in bytes (systemd's `NOTIFY_BUFFER_MAX`, which
/// is `PIPE_BUF`). The socket layer reads at most one byte more, so a longer
/// datagram arrives here with `MAX_DATAGRAM + 1` bytes and is refused.
pub const MAX_DATAGRAM: usize = 4096;

/// `STATUS=` text is kept up to this many characters (the rest is cut).
pub const MAX_STATUS_CHARS: usize = 1024;

/// What one datagram says. Every field is "not said" by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// `READY=1`: startup finished, or a reload finished.
    pub ready: bool,
    /// `STOPPING=1`: the service is shutting down on its own.
    pub stopping: bool,
    /// `RELOADING=1`: a reload began (`READY=1` ends it).
    pub reloading: bool,
    /// `WATCHDOG=1`: keep-alive ping.
    pub watchdog_ping: bool,
    /// `WATCHDOG=trigger`: the service asks to be treated as hung.
    pub watchdog_trigger: bool,
    /// `BARRIER=1`: sd_notify_barrier(3). The client passes a pipe's write
    /// end and waits until the supervisor closes it; `os::notify` closes
    /// every passed fd on receipt, which completes the barrier. Nothing
    /// else to do, and nothing to log.
    pub barrier: bool,
    /// `STATUS=`: free text, at most [`MAX_STATUS_CHARS`] characters.
    /// `Some("")` clears the status (as systemd does).
    pub status: Option<String>,
    /// `MAINPID=`: the service's main process is now this pid (> 0).
    pub main_pid: Option<i32>,
    /// `WATCHDOG_USEC=`: change the watchdog interval (0 disables it).
    pub watchdog_usec: Option<u64>,
    /// `EXTEND_TIMEOUT_USEC=`: the current start/stop/reload deadline must
    /// be at least this far from now.
    pub extend_timeout_usec: Option<u64>,
    /// `MONOTONIC_USEC=`: CLOCK_MONOTONIC timestamp sent with `RELOADING=1`.
    pub monotonic_usec: Option<u64>,
    /// `ERRNO=`: the service failed with this errno (≥ 0).
    pub errno: Option<i32>,
    /// Keys of well-formed assignments tend does not act on, in order.
    pub unknown: Vec<String>,
}

impl Notice {
    /// Whether the message asks for nothing tend acts on (only unknown keys,
    /// a barrier, or nothing at all).
    pub fn is_noop(&self) -> bool {
        let mut blank = self.clone();
        blank.barrier = false;
        blank.unknown.clear();
        blank == Notice::default()
    }
}

/// Parse one datagram. An `Err` is a precise, one-line reason, meant to be
/// logged (with the sender) while the datagram is ignored.
pub fn parse(datagram: &[u8]) -> Result<Notice, String> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(format!(
            "message longer than {MAX_DATAGRAM} bytes (truncated), ignored"
        ));
    }
    if let Some(at) = datagram.iter().position(|&b| b == 0) {
        return Err(format!("NUL byte at offset {at}"));
    }
    let text = std::str::from_utf8(datagram)
        .map_err(|e| format!("not valid UTF-8 (at byte {})", e.valid_up_to()))?;
    let mut n = Notice::default();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let lineno = i + 1;
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {lineno}: {} is not KEY=VALUE", quote(line)));
        };
        if key.is_empty() {
            return Err(format!("line {lineno}: empty key in {}", quote(line)));
        }
        if let Some(c) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        {
            return Err(format!(
                "line {lineno}: key {} has the character {c:?}; keys are letters, digits and _",
                quote(key)
            ));
        }
        assign(&mut n, key, value).map_err(|e| format!("line {lineno}: {e}"))?;
    }
    Ok(n)
}

fn assign(n: &mut Notice, key: &str, value: &str) -> Result<(), String> {
    match key {
        "READY" => n.ready |= flag(key, value)?,
        "STOPPING" => n.stopping |= flag(key, value)?,
        "RELOADING" => n.reloading |= flag(key, value)?,
        "BARRIER" => n.barrier |= flag(key, value)?,
        "WATCHDOG" => match value {
            "1" => n.watchdog_ping = true,
            "trigger" => n.watchdog_trigger = true,
            _ => {
                return Err(format!(
                    "WATCHDOG={} is not understood (WATCHDOG=1 or WATCHDOG=trigger)",
                    quote(value)
                ));
            }
        },
        "STATUS" => {
            if n.status.is_none() {
                n.status = Some(cap_chars(value, MAX_STATUS_CHARS));
            }
        }
        "MAINPID" => {
            let pid = number::<i32>(key, value)?;
            if pid <= 0 {
                return Err(format!("MAINPID={value}: a pid must be greater than 0"));
            }
            n.main_pid.get_or_insert(pid);
        }
        "WATCHDOG_USEC" => {
            let v = number::<u64>(key, value)?;
            n.watchdog_usec.get_or_insert(v);
        }
        "EXTEND_TIMEOUT_USEC" => {
            let v = number::<u64>(key, value)?;
            n.extend_timeout_usec.get_or_insert(v);
        }
        "MONOTONIC_USEC" => {
            let v = number::<u64>(key, value)?;
            n.monotonic_usec.get_or_insert(v);
        }
        "ERRNO" => {
            let v = number::<i32>(key, value)?;
            n.errno.get_or_insert(v);
        }
        _ => n.unknown.push(key.to_string()),
    }
    Ok(())
}

fn flag(key: &str, value: &str) -> Result<bool, String> {
    if value == "1" {
        Ok(true)
    } else {
        Err(format!(
            "{key}={} is not understood (only {key}=1 is)",
            quote(value)
        ))
    }
}

/// A plain non-negative decimal: digits only (no sign, no spaces), in range.
fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    if value.is_empty() {
        return Err(format!("{key}= needs a number"));
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{key}={}: not a non-negative decimal number",
            quote(value)
        ));
    }
    value
        .parse::<T>()
        .map_err(|_| format!("{key}={}: number out of range", quote(value)))
}

fn cap_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

/// A short, escaped rendering of untrusted text for an error message.
fn quote(s: &str) -> String {
    const MAX: usize = 64;
    let cut = cap_chars(s, MAX);
    let more = if cut.len() < s.len() { "..." } else { "" };
    format!("{:?}{more}", cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Notice {
        match parse(s.as_bytes()) {
            Ok(n) => n,
            Err(e) => panic!("{s:?} should parse, got {e}"),
        }
    }

    fn err(s: &[u8]) -> String {
        match parse(s) {
            Ok(n) => panic!("{s:?} should fail, got {n:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn each_key() {
        let d = Notice::default;
        let table: Vec<(&str, Notice)> = vec![
            ("", d()),
            ("\n\n", d()),
            ("READY=1", Notice { ready: true, ..d() }),
            ("READY=1\n", Notice { ready: true, ..d() }),
            (
                "STOPPING=1",
                Notice {
                    stopping: true,
                    ..d()
                },
            ),
            (
                "RELOADING=1",
                Notice {
                    reloading: true,
                    ..d()
                },
            ),
            (
                "BARRIER=1",
                Notice {
                    barrier: true,
                    ..d()
                },
            ),
            (
                "WATCHDOG=1",
                Notice {
                    watchdog_ping: true,
                    ..d()
                },
            ),
            (
                "WATCHDOG=trigger",
                Notice {
                    watchdog_trigger: true,
                    ..d()
                },
            ),
            (
                "STATUS=up and running",
                Notice {
                    status: Some("up and running".into()),
                    ..d()
                },
            ),
            (
                "STATUS=",
                Notice {
                    status: Some(String::new()),
                    ..d()
                },
            ),
            (
                "STATUS=a=b=c",
                Notice {
                    status: Some("a=b=c".into()),
                    ..d()
                },
            ),
            (
                "STATUS=ünï \t 日本",
                Notice {
                    status: Some("ünï \t 日本".into()),
                    ..d()
                },
            ),
            (
                "MAINPID=4242",
                Notice {
                    main_pid: Some(4242),
                    ..d()
                },
            ),
            (
                "MAINPID=2147483647",
                Notice {
                    main_pid: Some(i32::MAX),
                    ..d()
                },
            ),
            (
                "WATCHDOG_USEC=30000000",
                Notice {
                    watchdog_usec: Some(30_000_000),
                    ..d()
                },
            ),
            (
                "WATCHDOG_USEC=0",
                Notice {
                    watchdog_usec: Some(0),
                    ..d()
                },
            ),
            (
                "EXTEND_TIMEOUT_USEC=5000000",
                Notice {
                    extend_timeout_usec: Some(5_000_000),
                    ..d()
                },
            ),
            (
                "MONOTONIC_USEC=18446744073709551615",
                Notice {
                    monotonic_usec: Some(u64::MAX),
                    ..d()
                },
            ),
            (
                "ERRNO=2",
                Notice {
                    errno: Some(2),
                    ..d()
                },
            ),
            (
                "ERRNO=0",
                Notice {
                    errno: Some(0),
                    ..d()
                },
            ),
            // keys are case-sensitive, as in systemd: unknown, not an error
            (
                "ready=1",
                Notice {
                    unknown: vec!["ready".into()],
                    ..d()
                },
            ),
            (
                "FDSTORE=1",
                Notice {
                    unknown: vec!["FDSTORE".into()],
                    ..d()
                },
            ),
            (
                "FDNAME=x\nX_CUSTOM=",
                Notice {
                    unknown: vec!["FDNAME".into(), "X_CUSTOM".into()],
                    ..d()
                },
            ),
            // what redis sends on start, and what libsystemd's users send
            (
                "STATUS=Ready to accept connections\nREADY=1\n",
                Notice {
                    ready: true,
                    status: Some("Ready to accept connections".into()),
                    ..d()
                },
            ),
            (
                "RELOADING=1\nMONOTONIC_USEC=123456\n",
                Notice {
                    reloading: true,
                    monotonic_usec: Some(123456),
                    ..d()
                },
            ),
            (
                "READY=1\nMAINPID=77\nSTATUS=x\nWATCHDOG=1\nERRNO=5",
                Notice {
                    ready: true,
                    main_pid: Some(77),
                    status: Some("x".into()),
                    watchdog_ping: true,
                    errno: Some(5),
                    ..d()
                },
            ),
            // first value counts, as in systemd
            (
                "STATUS=a\nSTATUS=b",
                Notice {
                    status: Some("a".into()),
                    ..d()
                },
            ),
            (
                "MAINPID=5\nMAINPID=6",
                Notice {
                    main_pid: Some(5),
                    ..d()
                },
            ),
            ("READY=1\nREADY=1", Notice { ready: true, ..d() }),
            (
                "WATCHDOG=1\nWATCHDOG=trigger",
                Notice {
                    watchdog_ping: true,
                    watchdog_trigger: true,
                    ..d()
                },
            ),
            // blank lines in the middle are skipped
            (
                "READY=1\n\nSTOPPING=1",
                Notice {
                    ready: true,
                    stopping: true,
                    ..d()
                },
            ),
        ];
        for (input, want) in table {
            assert_eq!(ok(input), want, "input {input:?}");
        }
    }

    #[test]
    fn each_error() {
        let long_line = format!("{}\n", "x".repeat(100));
        let table: Vec<(&[u8], &str)> = vec![
            (b"READY", "line 1: \"READY\" is not KEY=VALUE"),
            (b"READY=1\nhello", "line 2: \"hello\" is not KEY=VALUE"),
            (b"=1", "line 1: empty key in \"=1\""),
            (b"READ Y=1", "line 1: key \"READ Y\" has the character ' '"),
            (
                b"READY=1 ",
                "line 1: READY=\"1 \" is not understood (only READY=1 is)",
            ),
            (
                b"READY=0",
                "READY=\"0\" is not understood (only READY=1 is)",
            ),
            (b"READY=true", "only READY=1 is"),
            (b"STOPPING=yes", "only STOPPING=1 is"),
            (b"RELOADING=", "only RELOADING=1 is"),
            (b"BARRIER=2", "only BARRIER=1 is"),
            (
                b"WATCHDOG=0",
                "WATCHDOG=\"0\" is not understood (WATCHDOG=1 or WATCHDOG=trigger)",
            ),
            (b"MAINPID=0", "MAINPID=0: a pid must be greater than 0"),
            (
                b"MAINPID=-1",
                "MAINPID=\"-1\": not a non-negative decimal number",
            ),
            (b"MAINPID=+5", "not a non-negative decimal number"),
            (b"MAINPID= 5", "not a non-negative decimal number"),
            (b"MAINPID=abc", "not a non-negative decimal number"),
            (b"MAINPID=", "MAINPID= needs a number"),
            (
                b"MAINPID=2147483648",
                "MAINPID=\"2147483648\": number out of range",
            ),
            (
                b"WATCHDOG_USEC=1.5",
                "WATCHDOG_USEC=\"1.5\": not a non-negative decimal",
            ),
            (b"WATCHDOG_USEC=18446744073709551616", "number out of range"),
            (
                b"EXTEND_TIMEOUT_USEC=5s",
                "EXTEND_TIMEOUT_USEC=\"5s\": not a non-negative",
            ),
            (b"MONOTONIC_USEC=", "MONOTONIC_USEC= needs a number"),
            (
                b"ERRNO=-5",
                "ERRNO=\"-5\": not a non-negative decimal number",
            ),
            (b"ERRNO=99999999999", "number out of range"),
            (b"READY=1\n\xff\xfe", "not valid UTF-8 (at byte 8)"),
            (b"READY=1\0", "NUL byte at offset 7"),
            (
                long_line.as_bytes(),
                "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"... is not KEY=VALUE",
            ),
            // a bad line spoils the whole message, even after a good one
            (b"READY=1\nMAINPID=x", "line 2: MAINPID=\"x\""),
        ];
        for (input, want) in table {
            let got = err(input);
            assert!(
                got.contains(want),
                "input {input:?}: {got:?} lacks {want:?}"
            );
        }
    }

    #[test]
    fn size_limit() {
        let mut m = b"READY=1\nSTATUS=".to_vec();
        m.resize(MAX_DATAGRAM, b'a');
        assert!(ok(std::str::from_utf8(&m).unwrap()).ready);
        m.push(b'a');
        assert_eq!(
            err(&m),
            "message longer than 4096 bytes (truncated), ignored"
        );
    }

    #[test]
    fn status_is_capped_by_characters() {
        let s = format!("STATUS={}", "é".repeat(MAX_STATUS_CHARS + 10));
        let status = ok(&s).status.unwrap();
        assert_eq!(status.chars().count(), MAX_STATUS_CHARS);
        let exact = format!("STATUS={}", "z".repeat(MAX_STATUS_CHARS));
        assert_eq!(ok(&exact).status.unwrap().len(), MAX_STATUS_CHARS);
    }

    #[test]
    fn noop() {
        assert!(Notice::default().is_noop());
        assert!(ok("BARRIER=1").is_noop());
        assert!(ok("FDSTORE=1\nFDNAME=x").is_noop());
        assert!(!ok("READY=1").is_noop());
        assert!(!ok("STATUS=").is_noop());
    }

    #[test]
    fn never_panics_on_any_bytes() {
        // a cheap deterministic fuzz: every prefix and byte mutation of a
        // rich message, plus pseudo-random junk
        let base = b"READY=1\nSTATUS=\xc3\xa9t\xc3\xa9\nMAINPID=12\nWATCHDOG_USEC=9\nERRNO=3\n";
        for cut in 0..=base.len() {
            let _ = parse(&base[..cut]);
            for b in [0u8, b'\n', b'=', 0xff, 0xc3, b'-', b'9'] {
                let mut m = base[..cut].to_vec();
                m.push(b);
                m.extend_from_slice(&base[cut..]);
                let _ = parse(&m);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..600usize {
            let m: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"AZ_=1\n\x00\xff9t"[(x % 10) as usize]
                })
                .collect();
            let _ = parse(&m);
        }
    }
}
