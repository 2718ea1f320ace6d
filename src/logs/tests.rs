use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A real pipe: `w` is given to `Logs` as stdout, `r` is drained here.
struct Pipe {
    r: RawFd,
    w: RawFd,
}

impl Pipe {
    fn new() -> Pipe {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: plain fcntl on an fd we own.
        unsafe {
            let fl = libc::fcntl(fds[0], libc::F_GETFL);
            libc::fcntl(fds[0], libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        Pipe {
            r: fds[0],
            w: fds[1],
        }
    }

    /// Everything readable right now.
    fn read_now(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            // SAFETY: reads into a live buffer of its size.
            let n = unsafe { libc::read(self.r, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        out
    }

    /// Reads and lets `logs` write until nothing is pending.
    fn drain(&self, logs: &mut Logs) -> String {
        let mut out = self.read_now();
        while logs.stdout_pending() {
            logs.on_stdout_writable();
            out.extend(self.read_now());
        }
        String::from_utf8(out).expect("utf-8 output")
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "tend-logs-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn texts(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn file_target(path: &Path, max_size: u64, keep: u32) -> LogTarget {
    LogTarget::File {
        path: path.to_path_buf(),
        max_size,
        keep,
    }
}

#[test]
fn splits_lines_and_keeps_partial_lines() {
    let pipe = Pipe::new();
    let mut logs = Logs::new(pipe.w);
    logs.configure("web", &[LogTarget::Inherit]);
    assert_eq!(logs.ingest("web", Stream::Stdout, b"a\nb\npar"), 2);
    assert_eq!(pipe.drain(&mut logs), "web | a\nweb | b\n");
    assert_eq!(logs.ingest("web", Stream::Stdout, b"ti"), 0);
    assert_eq!(logs.ingest("web", Stream::Stderr, b"err\n"), 1);
    logs.ingest("web", Stream::Stdout, b"al\n\nx");
    logs.flush_partial("web");
    logs.flush_partial("web"); // nothing left: no empty line
    assert_eq!(
        pipe.drain(&mut logs),
        "web | err\nweb | partial\nweb | \nweb | x\n"
    );
    let tail = logs.tail("web", 100).expect("known");
    assert_eq!(texts(&tail), ["a", "b", "err", "partial", "", "x"]);
    assert_eq!(tail[2].stream, Stream::Stderr);
    assert_eq!(tail[3].stream, Stream::Stdout);
    let seqs: Vec<u64> = tail.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    assert_eq!(logs.next_seq("web"), 7);
    assert_eq!(logs.tail("nope", 1), None);
    assert_eq!(logs.next_seq("nope"), 1);
}

#[test]
fn cuts_long_lines() {
    let mut logs = Logs::new(-1);
    logs.configure("s", &[]);
    let mut data = vec![b'x'; 150_000];
    data.push(b'\n');
    // Fed in odd-sized chunks.
    for chunk in data.chunks(7777) {
        logs.ingest("s", Stream::Stdout, chunk);
    }
    let lens: Vec<usize> = logs
        .tail("s", 10)
        .unwrap_or_default()
        .iter()
        .map(|l| l.text.len())
        .collect();
    assert_eq!(lens, [MAX_LINE, MAX_LINE, 150_000 - 2 * MAX_LINE]);

    // Exactly MAX_LINE then a newline: one line, no empty one after it.
    let mut exact = vec![b'y'; MAX_LINE];
    exact.push(b'\n');
    logs.ingest("s", Stream::Stdout, &exact[..MAX_LINE]);
    logs.ingest("s", Stream::Stdout, b"\n");
    logs.ingest("s", Stream::Stdout, b"z\n");
    let tail = logs.tail("s", 2).unwrap_or_default();
    assert_eq!(tail[0].text.len(), MAX_LINE);
    assert_eq!(tail[1].text, "z");

    // A cut never splits a UTF-8 character.
    let mut utf = vec![b'a'; MAX_LINE - 1];
    utf.extend_from_slice("é!\n".as_bytes());
    logs.ingest("s", Stream::Stderr, &utf);
    let tail = logs.tail("s", 2).unwrap_or_default();
    assert_eq!(tail[0].text.len(), MAX_LINE - 1);
    assert_eq!(tail[1].text, "é!");
}

#[test]
fn ring_is_bounded_by_lines_and_bytes() {
    let mut logs = Logs::new(-1);
    logs.configure("s", &[]);
    let mut data = Vec::new();
    for i in 1..=1500 {
        data.extend_from_slice(format!("{i}\n").as_bytes());
    }
    logs.ingest("s", Stream::Stdout, &data);
    let all = logs.tail("s", usize::MAX).unwrap_or_default();
    assert_eq!(all.len(), RING_LINES);
    assert_eq!(all[0].seq, 501);
    assert_eq!(all[0].text, "501");
    assert_eq!(
        texts(&logs.tail("s", 2).unwrap_or_default()),
        ["1499", "1500"]
    );
    let (dropped, lines) = logs.since("s", 1);
    assert_eq!((dropped, lines.len()), (500, 1000));
    let (dropped, lines) = logs.since("s", 1499);
    assert_eq!((dropped, texts(&lines)), (0, vec!["1499", "1500"]));
    assert_eq!(logs.since("s", logs.next_seq("s")), (0, Vec::new()));
    assert_eq!(logs.since("unknown", 1), (0, Vec::new()));

    let line = vec![b'b'; 1999];
    for _ in 0..2000 {
        logs.ingest("s", Stream::Stdout, &line);
        logs.ingest("s", Stream::Stdout, b"\n");
    }
    let ring = &logs.services["s"].ring;
    assert!(ring.bytes() <= RING_BYTES);
    assert_eq!(ring.len(), RING_BYTES / 1999);
}

#[test]
fn a_flood_without_newlines_stays_bounded() {
    let pipe = Pipe::new();
    let mut logs = Logs::new(pipe.w);
    logs.configure("flood", &[LogTarget::Inherit]);
    let chunk = vec![b'f'; 65536];
    for _ in 0..(100 * 1024 * 1024 / chunk.len()) {
        logs.ingest("flood", Stream::Stdout, &chunk);
        let svc = &logs.services["flood"];
        assert!(svc.partial[0].len() <= MAX_LINE);
        assert!(svc.partial[0].capacity() <= 2 * MAX_LINE);
        assert!(svc.ring.bytes() <= RING_BYTES);
        assert!(logs.stdout.held() <= 2 * STDOUT_MAX);
    }
    assert!(logs.stdout_pending());
    let out = pipe.drain(&mut logs);
    let notice = out
        .lines()
        .filter(|l| l.starts_with("tend | flood: "))
        .count();
    assert_eq!(notice, 1);
}

#[test]
fn rotates_files_keeping_keep() {
    let dir = TempDir::new();
    let path = dir.0.join("svc.log");
    let mut logs = Logs::new(-1);
    logs.configure("s", &[file_target(&path, 100, 2)]);
    assert!(logs.take_warnings().is_empty());
    // 35 lines of 10 bytes: 10 lines per 100-byte file.
    let mut data = Vec::new();
    for i in 1..=35 {
        data.extend_from_slice(format!("line {i:04}\n").as_bytes());
    }
    logs.ingest("s", Stream::Stdout, &data[..123]);
    logs.ingest("s", Stream::Stdout, &data[123..]);
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let expect =
        |from: u32, to: u32| -> String { (from..=to).map(|i| format!("line {i:04}\n")).collect() };
    assert_eq!(read(path.clone()), expect(31, 35));
    assert_eq!(read(dir.0.join("svc.log.1")), expect(21, 30));
    assert_eq!(read(dir.0.join("svc.log.2")), expect(11, 20));
    assert!(!dir.0.join("svc.log.3").exists());
    let mode = std::fs::metadata(&path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    assert_eq!(mode & 0o137, 0, "mode {mode:o}");

    // keep = 0: truncate in place.
    let path0 = dir.0.join("zero.log");
    logs.configure("z", &[file_target(&path0, 100, 0)]);
    logs.ingest("z", Stream::Stdout, &data[..250]);
    assert_eq!(read(path0.clone()), expect(21, 25));
    assert!(!dir.0.join("zero.log.1").exists());

    // Appends to an existing file and counts what is there.
    let mut logs2 = Logs::new(-1);
    logs2.configure("s", &[file_target(&path, 100, 2)]);
    logs2.ingest("s", Stream::Stdout, &data[..60]);
    assert_eq!(read(path.clone()), expect(6, 6));
    assert_eq!(
        read(dir.0.join("svc.log.1")),
        expect(31, 35) + &expect(1, 5)
    );
}

#[test]
fn several_targets_and_a_bad_file() {
    let dir = TempDir::new();
    let good = dir.0.join("good.log");
    let bad = dir.0.join("missing-dir").join("bad.log");
    let pipe = Pipe::new();
    let mut logs = Logs::new(pipe.w);
    let targets = [
        LogTarget::Inherit,
        file_target(&bad, 1 << 20, 1),
        file_target(&good, 1 << 20, 1),
    ];
    logs.configure("s", &targets);
    let warnings = logs.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].0, "s");
    assert!(warnings[0].1.contains("bad.log"), "{warnings:?}");
    for _ in 0..3 {
        logs.ingest("s", Stream::Stdout, b"hello\n");
    }
    assert!(logs.take_warnings().is_empty());
    assert_eq!(pipe.drain(&mut logs), "s | hello\n".repeat(3));
    assert_eq!(
        std::fs::read_to_string(&good).unwrap_or_default(),
        "hello\n".repeat(3)
    );

    // Reconfiguring keeps the ring.
    logs.configure("s", &[file_target(&good, 1 << 20, 1)]);
    logs.ingest("s", Stream::Stdout, b"again\n");
    assert_eq!(logs.tail("s", 10).map(|t| t.len()), Some(4));
    assert_eq!(pipe.read_now(), b"");
    assert_eq!(
        std::fs::read_to_string(&good).unwrap_or_default(),
        "hello\n".repeat(3) + "again\n"
    );
    logs.remove("s");
    assert_eq!(logs.tail("s", 10), None);
}

#[test]
fn counts_drops_when_the_pipe_is_full() {
    let pipe = Pipe::new();
    let mut logs = Logs::new(pipe.w);
    logs.configure("svc", &[LogTarget::Inherit]);
    let total = 3000;
    for i in 0..total {
        let line = format!("{i:06}{}\n", "d".repeat(994));
        logs.ingest("svc", Stream::Stdout, line.as_bytes());
    }
    assert!(logs.stdout_pending());
    logs.system_line("hello from tend");
    let out = pipe.drain(&mut logs);
    let mut seen = 0;
    let mut last = None;
    let (mut dropped, mut system_dropped, mut system_seen) = (0, 0, 0);
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("svc | ") {
            assert_eq!(rest.len(), 1000, "whole line");
            let n: u32 = rest[..6].parse().unwrap_or(u32::MAX);
            assert!(last.is_none_or(|l| n > l), "in order");
            last = Some(n);
            seen += 1;
        } else if let Some(rest) = line.strip_prefix("tend | svc: ") {
            assert!(last.is_some(), "a notice follows what was written");
            let n = rest.strip_suffix(" lines dropped").unwrap_or("x");
            dropped += n.parse::<u64>().unwrap_or(u64::MAX);
        } else if line == "tend | tend: 1 lines dropped" {
            system_dropped += 1;
        } else {
            assert_eq!(line, "tend | hello from tend");
            system_seen += 1;
        }
    }
    assert!(dropped > 0);
    assert_eq!(seen + dropped, total);
    assert_eq!(system_seen + system_dropped, 1);
    // Output resumes normally afterwards.
    logs.ingest("svc", Stream::Stderr, b"after\n");
    assert_eq!(pipe.drain(&mut logs), "svc | after\n");
}

#[test]
fn services_never_interleave_mid_line() {
    let pipe = Pipe::new();
    let mut logs = Logs::new(pipe.w);
    logs.configure("a", &[LogTarget::Inherit]);
    logs.configure("b", &[LogTarget::Inherit]);
    logs.ingest("a", Stream::Stdout, b"aa");
    logs.ingest("b", Stream::Stdout, b"bbb\n");
    logs.ingest("a", Stream::Stdout, b"aa\n");
    assert_eq!(pipe.drain(&mut logs), "b | bbb\na | aaaa\n");

    // Under pressure, with partial writes: every line arrives whole.
    let big_a = vec![b'a'; 40_000];
    let big_b = vec![b'b'; 30_001];
    let mut out = Vec::new();
    for round in 0..60 {
        logs.ingest("a", Stream::Stdout, &big_a[..20_000]);
        logs.ingest("b", Stream::Stdout, &big_b);
        logs.ingest("a", Stream::Stdout, &big_a[20_000..]);
        logs.ingest("b", Stream::Stdout, b"\n");
        logs.ingest("a", Stream::Stdout, b"\n");
        if round % 7 == 0 {
            // Read a little: the next write is partial.
            let mut buf = vec![0u8; 12_345];
            // SAFETY: reads into a live buffer of its size.
            let n = unsafe { libc::read(pipe.r, buf.as_mut_ptr().cast(), buf.len()) };
            out.extend_from_slice(&buf[..n.max(0) as usize]);
            logs.on_stdout_writable();
        }
    }
    out.extend(pipe.drain(&mut logs).into_bytes());
    let out = String::from_utf8(out).unwrap_or_default();
    for line in out.lines() {
        let ok = line == format!("a | {}", "a".repeat(40_000))
            || line == format!("b | {}", "b".repeat(30_001))
            || (line.starts_with("tend | ") && line.ends_with(" lines dropped"));
        assert!(ok, "mixed line: {}", &line[..line.len().min(40)]);
    }
}

#[test]
fn a_full_stdout_never_blocks_and_its_shared_flags_stay_as_they_were() {
    let flags = |fd: RawFd| {
        // SAFETY: plain fcntl.
        unsafe { libc::fcntl(fd, libc::F_GETFL) }
    };
    // A pipe and a socket: both shared with others (a shell, the
    // entrypoint's CMD), so tend must not make them non-blocking for all.
    let pipe = Pipe::new();
    let mut sv = [0 as RawFd; 2];
    // SAFETY: valid out-array; both fds are closed below.
    assert_eq!(
        unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) },
        0
    );
    for fd in [pipe.w, sv[1]] {
        let mut logs = Logs::new(fd);
        assert_eq!(flags(fd) & libc::O_NONBLOCK, 0);
        // Far more than the pipe or socket buffer holds, nobody reading:
        // this returns, with the rest waiting for EPOLLOUT.
        let line = vec![b'x'; 1000];
        for _ in 0..2000 {
            logs.ingest("x", Stream::Stdout, &line);
            logs.ingest("x", Stream::Stdout, b"\n");
        }
        assert!(logs.stdout_pending());
        assert_eq!(flags(fd) & libc::O_NONBLOCK, 0);
    }
    // SAFETY: closing the socketpair made above.
    unsafe {
        libc::close(sv[0]);
        libc::close(sv[1]);
    }

    let dir = TempDir::new();
    let path = dir.0.join("out");
    let file = std::fs::File::create(&path).expect("create");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut logs = Logs::new(fd);
    assert_eq!(flags(fd) & libc::O_NONBLOCK, 0);
    logs.ingest("x", Stream::Stdout, b"one\ntwo\n");
    logs.system_line("up");
    assert!(!logs.stdout_pending());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        "x | one\nx | two\ntend | up\n"
    );
}

#[test]
fn a_run_of_lines_leaves_the_ring_as_line_by_line_pushes_do() {
    // Runs of whole lines take the batched path; one byte at a time takes
    // the partial-line path: both must keep the same lines and seqs.
    let mut data = Vec::new();
    for i in 0..3000 {
        let len = (i * 37) % 3000;
        data.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        data.push(b'\n');
    }
    data.extend_from_slice("é\nlast\n".as_bytes());
    let mut batched = Logs::new(-1);
    batched.configure("s", &[]);
    batched.ingest("s", Stream::Stdout, &data);
    let mut single = Logs::new(-1);
    single.configure("s", &[]);
    for b in &data {
        single.ingest("s", Stream::Stdout, std::slice::from_ref(b));
    }
    assert_eq!(batched.next_seq("s"), single.next_seq("s"));
    let strip = |v: Vec<LogLine>| -> Vec<(u64, String)> {
        v.into_iter().map(|l| (l.seq, l.text)).collect()
    };
    assert_eq!(
        strip(batched.tail("s", usize::MAX).unwrap_or_default()),
        strip(single.tail("s", usize::MAX).unwrap_or_default())
    );
    let (db, lb) = batched.since("s", 1);
    let (ds, ls) = single.since("s", 1);
    assert_eq!((db, strip(lb)), (ds, strip(ls)));
    assert_eq!(
        texts(&batched.tail("s", 2).unwrap_or_default()),
        ["é", "last"]
    );
}
