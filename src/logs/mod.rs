//! Service output: every service's stdout/stderr bytes come in through
//! `Logs::ingest`, are split into lines, kept in a per-service ring (for
//! `tend logs`) and sent to every `log` destination (SPEC §2 `log`).
//!
//! Invariants: memory is bounded whatever a service writes (a partial line
//! holds at most `MAX_LINE` bytes per stream, the ring about twice
//! `RING_BYTES` (`ring.rs`), the stdout backlog `STDOUT_MAX`); nothing here blocks on a pipe or socket
//! (stdout is made non-blocking when it is one; regular files are written
//! with plain writes); lines from different services never interleave
//! mid-line; dropped lines are always counted and announced.
//!
//! The reactor owns the pipes and epoll. It hands over bytes with `ingest`,
//! calls `flush_partial` once a service is down and its pipes are drained,
//! watches tend's stdout for EPOLLOUT while `stdout_pending()` and then calls
//! `on_stdout_writable`, and turns `take_warnings` into `warning` events.

#[cfg(test)]
mod eager;
pub(crate) mod file;
mod ring;
mod stdout;
#[cfg(test)]
mod tests;

use crate::model::LogTarget;
use file::FileTarget;
use ring::Ring;
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use stdout::StdoutSink;

pub use ring::{RING_BYTES, RING_LINES};
pub use stdout::STDOUT_MAX;

/// A line longer than this is cut and continued on the next line.
pub const MAX_LINE: usize = 64 * 1024;

/// The name tend's own lines carry on stdout.
pub const SYSTEM_NAME: &str = "tend";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// `"stdout"` or `"stderr"`, as the control protocol spells it.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// One line of a service's output, without its newline. Invalid UTF-8 is
/// replaced (U+FFFD); the destinations get the original bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Per service, from 1, consecutive.
    pub seq: u64,
    pub stream: Stream,
    pub text: String,
    /// When tend read it.
    pub time: std::time::SystemTime,
}

#[derive(Debug)]
enum Target {
    Inherit,
    /// (Boxed: most services only inherit, and a file target is large.)
    File(Box<FileTarget>),
}

#[derive(Debug)]
struct Service {
    ring: Ring,
    /// The unfinished last line of stdout and of stderr.
    partial: [Vec<u8>; 2],
    targets: Vec<Target>,
    /// The name its lines carry on stdout (`log-prefix`), else its own.
    prefix: Option<String>,
}

impl Service {
    fn new() -> Service {
        Service {
            ring: Ring::new(),
            partial: [Vec::new(), Vec::new()],
            targets: vec![Target::Inherit],
            prefix: None,
        }
    }
}

/// Where a line goes: the ring, then every destination.
struct Emitter<'a> {
    name: &'a str,
    ring: &'a mut Ring,
    targets: &'a mut [Target],
    stdout: &'a mut StdoutSink,
    warns: &'a mut Vec<String>,
    /// When the bytes were read (one clock read per batch, not per line).
    now: std::time::SystemTime,
}

impl Emitter<'_> {
    fn emit(&mut self, stream: Stream, bytes: &[u8]) {
        self.ring.push(stream, bytes, self.now);
        for target in self.targets.iter_mut() {
            match target {
                Target::Inherit => self.stdout.push_line(self.name, bytes),
                Target::File(f) => f.write_line(bytes, self.warns),
            }
        }
    }

    /// `n` whole lines at once: `run` is their bytes, each line (at most
    /// `MAX_LINE` bytes) with its newline. The same as `emit` of each line,
    /// with one copy per destination instead of one per line: files take
    /// the bytes as they are, the ring only the lines it would keep.
    fn emit_run(&mut self, stream: Stream, run: &[u8], n: usize) {
        self.ring.push_run(stream, run, n, self.now);
        for target in self.targets.iter_mut() {
            match target {
                Target::Inherit => self.stdout.push_run(self.name, run, n),
                Target::File(f) => f.write_run(run, self.warns),
            }
        }
    }

    fn flush_files(&mut self) {
        for target in self.targets.iter_mut() {
            if let Target::File(f) = target {
                f.flush(self.warns);
            }
        }
    }
}

/// The lines of a run of whole lines (each ending with a newline), without
/// their newlines.
pub(crate) fn lines(run: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut from = 0;
    memchr::memchr_iter(b'\n', run).map(move |nl| {
        let line = &run[from..nl];
        from = nl + 1;
        line
    })
}

/// Where to cut a full partial line: at `buf.len()`, or just before a UTF-8
/// sequence that the cut would split.
fn cut_point(buf: &[u8]) -> usize {
    let n = buf.len();
    for i in (n.saturating_sub(3)..n).rev() {
        let b = buf[i];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back
        }
        let width = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if i + width > n && i > 0 { i } else { n };
    }
    n
}

/// Whether no line of `run` (whole lines, the last ending with a newline)
/// is longer than `MAX_LINE`, looking at one newline per `MAX_LINE / 2`
/// bytes rather than at every line: if every aligned window of that size
/// holds a newline, no two newlines are more than `MAX_LINE - 1` apart.
fn fits_lines(run: &[u8]) -> bool {
    run.chunks(MAX_LINE / 2)
        .all(|w| memchr::memchr(b'\n', w).is_some())
}

/// Splits `data` into lines, continuing `partial`; complete lines (and
/// pieces of over-long ones) go to `out`. Returns how many lines were made.
fn split(partial: &mut Vec<u8>, mut data: &[u8], stream: Stream, out: &mut Emitter) -> usize {
    let mut made = 0;
    while !data.is_empty() {
        if partial.is_empty() {
            // The common case: everything up to the last newline is a run
            // of lines none too long (checked without visiting each line),
            // taken in one go; its lines are only counted (SIMD).
            if let Some(last) = memchr::memrchr(b'\n', data)
                && fits_lines(&data[..=last])
            {
                let run = &data[..=last];
                let n = memchr::memchr_iter(b'\n', run).count();
                out.emit_run(stream, run, n);
                data = &data[last + 1..];
                made += n;
                continue;
            }
            // Else the whole lines before the first one too long.
            let (mut end, mut n) = (0, 0);
            for nl in memchr::memchr_iter(b'\n', data) {
                if nl - end > MAX_LINE {
                    break;
                }
                end = nl + 1;
                n += 1;
            }
            if n > 0 {
                out.emit_run(stream, &data[..end], n);
                data = &data[end..];
                made += n;
                continue;
            }
        }
        if partial.len() >= MAX_LINE {
            if data[0] == b'\n' {
                out.emit(stream, partial);
                partial.clear();
                data = &data[1..];
                made += 1;
                continue;
            }
            let cut = cut_point(partial);
            out.emit(stream, &partial[..cut]);
            partial.drain(..cut);
            made += 1;
        }
        let room = MAX_LINE - partial.len();
        let window = &data[..room.min(data.len())];
        match memchr::memchr(b'\n', window) {
            Some(i) if partial.is_empty() => {
                out.emit(stream, &window[..i]);
                data = &data[i + 1..];
                made += 1;
            }
            Some(i) => {
                partial.extend_from_slice(&window[..i]);
                out.emit(stream, partial);
                partial.clear();
                data = &data[i + 1..];
                made += 1;
            }
            None => {
                partial.extend_from_slice(window);
                data = &data[window.len()..];
            }
        }
    }
    if partial.capacity() > MAX_LINE && partial.len() < 4096 {
        partial.shrink_to(4096);
    }
    made
}

/// The output of every service, and tend's stdout.
#[derive(Debug)]
pub struct Logs {
    services: BTreeMap<String, Service>,
    stdout: StdoutSink,
    warnings: Vec<(String, String)>,
}

impl Logs {
    /// `stdout_fd` is where `inherit` lines go (normally 1). When it is a
    /// FIFO or a socket it is made non-blocking (see `restore`).
    pub fn new(stdout_fd: RawFd) -> Logs {
        Logs {
            services: BTreeMap::new(),
            stdout: StdoutSink::new(stdout_fd),
            warnings: Vec::new(),
        }
    }

    /// Clears the O_NONBLOCK flag `new` set on stdout, if it did (call at
    /// exit; also done on drop). Idempotent.
    pub fn restore(&mut self) {
        self.stdout.restore();
    }

    /// Sets a service's destinations (on load and on reload-config). An
    /// existing service keeps its ring, partial lines, and the open files of
    /// destinations it keeps. A file that cannot be opened is reported (see
    /// `take_warnings`); the other destinations work regardless.
    pub fn configure(&mut self, service: &str, targets: &[LogTarget]) {
        // The default needs no state until the service writes something
        // (`ingest` creates it then): a silent service costs nothing here.
        if targets == [LogTarget::Inherit] && !self.services.contains_key(service) {
            return;
        }
        let svc = self
            .services
            .entry(service.to_string())
            .or_insert_with(Service::new);
        let mut old = std::mem::take(&mut svc.targets);
        let mut warns = Vec::new();
        for target in targets {
            match target {
                LogTarget::Inherit => svc.targets.push(Target::Inherit),
                LogTarget::File {
                    path,
                    max_size,
                    keep,
                } => {
                    let reused = old
                        .iter()
                        .position(|t| matches!(t, Target::File(f) if f.path() == path.as_path()));
                    let mut f = match reused.map(|i| old.swap_remove(i)) {
                        Some(Target::File(f)) => f,
                        _ => Box::new(FileTarget::new(path.clone(), *max_size, *keep)),
                    };
                    f.set_limits(*max_size, *keep);
                    f.open(&mut warns);
                    svc.targets.push(Target::File(f));
                }
            }
        }
        for target in old.iter_mut() {
            if let Target::File(f) = target {
                f.flush(&mut warns);
            }
        }
        self.add_warnings(service, warns);
    }

    /// The name a service's lines carry on stdout (`log-prefix`,
    /// SyslogIdentifier=); None: its own name.
    pub fn set_prefix(&mut self, service: &str, prefix: Option<&str>) {
        if prefix.is_none() && !self.services.contains_key(service) {
            return;
        }
        let svc = self
            .services
            .entry(service.to_string())
            .or_insert_with(Service::new);
        svc.prefix = prefix.map(str::to_string);
    }

    /// Forgets a service (after emitting its partial lines).
    pub fn remove(&mut self, service: &str) {
        self.flush_partial(service);
        self.services.remove(service);
    }

    fn add_warnings(&mut self, service: &str, warns: Vec<String>) {
        self.warnings
            .extend(warns.into_iter().map(|w| (service.to_string(), w)));
    }

    /// Takes the bytes a service wrote on `stream`: complete lines are
    /// stored and delivered at once, an unfinished last line waits for its
    /// newline (or `flush_partial`). An unknown service is created with the
    /// default destination (`inherit`). Returns how many lines were made.
    pub fn ingest(&mut self, service: &str, stream: Stream, data: &[u8]) -> usize {
        if !self.services.contains_key(service) {
            self.services.insert(service.to_string(), Service::new());
        }
        let Some(svc) = self.services.get_mut(service) else {
            return 0;
        };
        let mut warns = Vec::new();
        let mut partial = std::mem::take(&mut svc.partial[stream.index()]);
        let mut out = Emitter {
            name: svc.prefix.as_deref().unwrap_or(service),
            ring: &mut svc.ring,
            targets: &mut svc.targets,
            stdout: &mut self.stdout,
            warns: &mut warns,
            now: std::time::SystemTime::now(),
        };
        let made = split(&mut partial, data, stream, &mut out);
        out.flush_files();
        svc.partial[stream.index()] = partial;
        self.stdout.flush();
        self.add_warnings(service, warns);
        made
    }

    /// Emits the unfinished last lines of a service (stdout's, then
    /// stderr's) as if they had ended. For when the service is down.
    pub fn flush_partial(&mut self, service: &str) {
        let Some(svc) = self.services.get_mut(service) else {
            return;
        };
        let mut warns = Vec::new();
        let partials = std::mem::take(&mut svc.partial);
        let mut out = Emitter {
            name: svc.prefix.as_deref().unwrap_or(service),
            ring: &mut svc.ring,
            targets: &mut svc.targets,
            stdout: &mut self.stdout,
            warns: &mut warns,
            now: std::time::SystemTime::now(),
        };
        for (stream, partial) in [Stream::Stdout, Stream::Stderr].into_iter().zip(partials) {
            if !partial.is_empty() {
                out.emit(stream, &partial);
            }
        }
        out.flush_files();
        self.stdout.flush();
        self.add_warnings(service, warns);
    }

    /// `flush_partial` for every service (at shutdown).
    pub fn flush_all_partial(&mut self) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            self.flush_partial(&name);
        }
    }

    /// One of tend's own messages, on stdout as `tend | text` (one such
    /// line per line of `text`), through the same non-blocking backlog.
    pub fn system_line(&mut self, text: &str) {
        let text = text.strip_suffix('\n').unwrap_or(text);
        for line in text.split('\n') {
            self.stdout.push_line(SYSTEM_NAME, line.as_bytes());
        }
        self.stdout.flush();
    }

    /// Output for stdout is waiting for it to become writable: watch it for
    /// EPOLLOUT and call `on_stdout_writable`. Only ever true when stdout
    /// is a FIFO or socket (other kinds are written blocking).
    pub fn stdout_pending(&self) -> bool {
        self.stdout.is_pending()
    }

    /// Stdout became writable: writes as much as it takes, without blocking.
    pub fn on_stdout_writable(&mut self) {
        self.stdout.on_writable();
    }

    /// Problems to announce as `warning` events: (service, message). The
    /// service is empty for a problem with tend's own stdout.
    pub fn take_warnings(&mut self) -> Vec<(String, String)> {
        if let Some(w) = self.stdout.take_warning() {
            self.warnings.push((String::new(), w));
        }
        std::mem::take(&mut self.warnings)
    }

    /// The last `n` lines of a service, oldest first; `None` if unknown.
    pub fn tail(&self, service: &str, n: usize) -> Option<Vec<LogLine>> {
        self.services.get(service).map(|s| s.ring.tail(n))
    }

    /// For a follower whose cursor is `seq` (the next seq it wants): how
    /// many lines it missed because the ring moved on, then every retained
    /// line from there. Its new cursor is `next_seq`. Unknown: `(0, [])`.
    pub fn since(&self, service: &str, seq: u64) -> (u64, Vec<LogLine>) {
        self.services
            .get(service)
            .map_or((0, Vec::new()), |s| s.ring.since(seq))
    }

    /// The seq the service's next line will get (1 for an unknown service).
    pub fn next_seq(&self, service: &str) -> u64 {
        self.services.get(service).map_or(1, |s| s.ring.next_seq())
    }

    /// `tend reexec`: a service's ring and unfinished lines, for the next
    /// binary (None: nothing is known of it).
    pub fn export(&self, service: &str) -> Option<crate::handover::LogState> {
        let svc = self.services.get(service)?;
        let (next_seq, lines) = svc.ring.export();
        Some(crate::handover::LogState {
            next_seq,
            lines,
            partial: svc.partial.clone(),
        })
    }

    /// `tend reexec`: take over what the previous binary held of a service
    /// (call after `configure`).
    pub fn resume(&mut self, service: &str, state: crate::handover::LogState) {
        let svc = (self.services)
            .entry(service.to_string())
            .or_insert_with(Service::new);
        svc.ring.resume(state.next_seq, state.lines);
        svc.partial = state.partial;
    }

    /// Lines waiting for a slow stdout, written within `budget` (before
    /// an exec: what is left then is dropped and counted as usual).
    pub fn flush_stdout_for(&mut self, budget: std::time::Duration) {
        let deadline = std::time::Instant::now() + budget;
        while self.stdout.is_pending() && std::time::Instant::now() < deadline {
            crate::os::wait_writable(1, 50);
            self.stdout.on_writable();
        }
    }

    /// Whether the service is known here.
    /// Lines of `service` dropped since tend started, at every destination.
    pub fn dropped_total(&self, service: &str) -> u64 {
        let to_files: u64 = (self.services.get(service).into_iter())
            .flat_map(|s| &s.targets)
            .map(|t| match t {
                Target::File(f) => f.dropped_total(),
                Target::Inherit => 0,
            })
            .sum();
        to_files + self.stdout.drops_total.get(service).copied().unwrap_or(0)
    }

    pub fn contains(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }
}
