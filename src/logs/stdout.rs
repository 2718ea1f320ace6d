//! The `inherit` destination: tend's stdout, written without blocking.
//!
//! Invariants: the buffer only ever holds whole `NAME | line\n` records, so
//! lines never interleave mid-line; it holds at most `STDOUT_MAX` bytes of
//! lines (drop notices may add a few bytes); lines that do not fit are dropped
//! whole and counted, and once the buffer has drained below `LOW_WATER` a
//! `tend | NAME: N lines dropped` notice is queued before any further line.
//!
//! On a terminal (and without `$NO_COLOR`) each service's `NAME | ` prefix
//! has its own colour, as foreman and honcho colour `web.1 | `; elsewhere
//! lines are plain.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// At most this many bytes of output wait for stdout.
pub const STDOUT_MAX: usize = 1 << 20;
/// After dropping, lines resume once the backlog is down to this.
pub const LOW_WATER: usize = STDOUT_MAX / 2;

#[derive(Debug)]
pub(crate) struct StdoutSink {
    fd: RawFd,
    /// How writes avoid blocking without touching what others share.
    how: Nonblocking,
    /// We set O_NONBLOCK ourselves (and must clear it in `restore`).
    set_nonblock: bool,
    buf: Vec<u8>,
    head: usize,
    /// Lines dropped per name, in order of first drop.
    drops: Vec<(String, u64)>,
    /// Lines dropped per name since tend started (for metrics).
    pub drops_total: std::collections::HashMap<String, u64>,
    /// The last write hit EAGAIN: wait for `on_writable`.
    blocked: bool,
    /// A write failed for good: output is discarded from then on.
    broken: bool,
    warning: Option<String>,
    /// Coloured prefixes: the names seen so far, each with the colour of
    /// its place (None: plain output).
    colours: Option<Vec<String>>,
}

use crate::os::{StdoutKind, fd_flags as get_flags, set_fd_flags as set_flags};

/// O_NONBLOCK is a flag of the open file description, which tend shares
/// with whoever else holds its stdout: the shell, and the entrypoint's CMD,
/// whose writes would then fail with EAGAIN. So tend opens the pipe anew
/// (its own description) or asks per call (sockets); only where neither
/// works does it set the shared flag (and clears it at exit).
#[derive(Debug)]
enum Nonblocking {
    /// A regular file or a terminal: plain writes.
    Plain,
    /// The same pipe through a description of tend's own.
    OwnPipe(std::os::fd::OwnedFd),
    /// `send(MSG_DONTWAIT)` on the socket.
    PerCall,
    /// O_NONBLOCK on the shared description (or nothing could be done).
    Shared,
}

impl StdoutSink {
    pub fn new(fd: RawFd) -> StdoutSink {
        let mut set_nonblock = false;
        let how = match crate::os::stdout_kind(fd) {
            StdoutKind::Other => Nonblocking::Plain,
            StdoutKind::Socket => Nonblocking::PerCall,
            StdoutKind::Pipe => match crate::os::reopen_pipe_nonblocking(fd) {
                Some(own) => Nonblocking::OwnPipe(own),
                None => Nonblocking::Shared,
            },
        };
        if matches!(how, Nonblocking::Shared)
            && let Some(flags) = get_flags(fd)
            && flags & libc::O_NONBLOCK == 0
        {
            set_nonblock = set_flags(fd, flags | libc::O_NONBLOCK);
        }
        StdoutSink {
            fd,
            how,
            set_nonblock,
            buf: Vec::new(),
            head: 0,
            drops: Vec::new(),
            drops_total: Default::default(),
            blocked: false,
            broken: false,
            warning: None,
            colours: colour_on(fd).then(Vec::new),
        }
    }

    /// The SGR colour of `name`'s prefix, if output is coloured (tend's
    /// own lines stay plain).
    fn colour(&mut self, name: &str) -> Option<&'static str> {
        let seen = self.colours.as_mut().filter(|_| name != "tend")?;
        let k = match seen.iter().position(|n| n == name) {
            Some(k) => k,
            None => {
                seen.push(name.to_string());
                seen.len() - 1
            }
        };
        Some(crate::color::service(k))
    }

    /// Clears O_NONBLOCK if `new` set it. Idempotent.
    pub fn restore(&mut self) {
        if self.set_nonblock {
            if let Some(flags) = get_flags(self.fd) {
                set_flags(self.fd, flags & !libc::O_NONBLOCK);
            }
            self.set_nonblock = false;
        }
    }

    /// Bytes held, including those already written (for tests).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Output is waiting for the fd to become writable.
    pub fn is_pending(&self) -> bool {
        !self.broken && self.pending() > 0
    }

    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// Queues `NAME | text\n` (and writes it at once when possible), or
    /// drops and counts it when the backlog is full.
    pub fn push_line(&mut self, name: &str, text: &[u8]) {
        if self.broken {
            return;
        }
        let colour = self.colour(name);
        // `ESC[Cm` before the prefix, `ESC[0m` after it.
        let len = name.len() + 3 + text.len() + 1 + colour.map_or(0, |c| c.len() + 7);
        if !self.drops.is_empty() || self.pending() + len > STDOUT_MAX {
            // Make room if the fd takes it; then notices go first.
            self.flush();
            self.queue_notices();
        }
        if self.broken {
            return;
        }
        if !self.drops.is_empty() || self.pending() + len > STDOUT_MAX {
            self.count_drop(name);
            return;
        }
        self.buf.reserve(len);
        if let Some(c) = colour {
            self.buf.extend_from_slice(b"\x1b[");
            self.buf.extend_from_slice(c.as_bytes());
            self.buf.push(b'm');
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b" | ");
        if colour.is_some() {
            self.buf.extend_from_slice(b"\x1b[0m");
        }
        self.buf.extend_from_slice(text);
        self.buf.push(b'\n');
    }

    /// `push_line` of each line of `run` (`n` whole lines, each with its
    /// newline): when all of them fit, the prefix is made once and the
    /// buffer grown once; else line by line.
    pub fn push_run(&mut self, name: &str, run: &[u8], n: usize) {
        if self.broken {
            return;
        }
        let colour = self.colour(name);
        let mut prefix = Vec::with_capacity(name.len() + 16);
        if let Some(c) = colour {
            prefix.extend_from_slice(b"\x1b[");
            prefix.extend_from_slice(c.as_bytes());
            prefix.push(b'm');
        }
        prefix.extend_from_slice(name.as_bytes());
        prefix.extend_from_slice(b" | ");
        if colour.is_some() {
            prefix.extend_from_slice(b"\x1b[0m");
        }
        let total = run.len() + n * prefix.len();
        if !self.drops.is_empty() || self.pending() + total > STDOUT_MAX {
            for line in super::lines(run) {
                self.push_line(name, line);
            }
            return;
        }
        self.buf.reserve(total);
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', run) {
            self.buf.extend_from_slice(&prefix);
            self.buf.extend_from_slice(&run[from..=nl]);
            from = nl + 1;
        }
    }

    fn count_drop(&mut self, name: &str) {
        *self.drops_total.entry(name.to_string()).or_default() += 1;
        match self.drops.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => self.drops.push((name.to_string(), 1)),
        }
    }

    /// Queues the drop notices once the backlog is below `LOW_WATER`.
    fn queue_notices(&mut self) {
        if self.drops.is_empty() || self.pending() > LOW_WATER {
            return;
        }
        for (name, count) in std::mem::take(&mut self.drops) {
            let notice = format!("tend | {name}: {count} lines dropped\n");
            self.buf.extend_from_slice(notice.as_bytes());
        }
    }

    /// The fd became writable.
    pub fn on_writable(&mut self) {
        self.blocked = false;
        self.flush();
    }

    /// Writes as much as the fd takes without blocking.
    pub fn flush(&mut self) {
        if self.blocked || self.broken {
            return;
        }
        loop {
            self.queue_notices();
            if self.pending() == 0 {
                break;
            }
            let data = &self.buf[self.head..];
            let written = match &self.how {
                Nonblocking::OwnPipe(own) => crate::os::write_some(own.as_raw_fd(), data),
                Nonblocking::PerCall => crate::os::send_nonblocking(self.fd, data),
                Nonblocking::Plain | Nonblocking::Shared => crate::os::write_some(self.fd, data),
            };
            let err = match written {
                Ok(n) => {
                    self.head += n;
                    continue;
                }
                Err(e) => e,
            };
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    break;
                }
                _ => {
                    self.broken = true;
                    self.warning = Some(format!(
                        "stdout: write failed: {err}; inherit output is discarded from now on"
                    ));
                    self.buf = Vec::new();
                    self.head = 0;
                    self.drops.clear();
                    return;
                }
            }
        }
        self.compact();
    }

    fn compact(&mut self) {
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
            if self.buf.capacity() > STDOUT_MAX {
                self.buf.shrink_to(64 * 1024);
            }
        } else if self.head >= 256 * 1024 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }
}

impl Drop for StdoutSink {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Colour on a terminal unless `$NO_COLOR` is set (no-color.org).
fn colour_on(fd: RawFd) -> bool {
    crate::os::tty::is_terminal(fd) && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
