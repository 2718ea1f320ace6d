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
        // What the ring holds: its answer plus the one oldest piece.
        assert!(svc.ring.held() <= RING_BYTES + RING_LINES + MAX_LINE + 1);
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

/// A small deterministic generator (xorshift64*) for the randomised tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A line's text: mostly short, sometimes long (up to `max`), with bytes
/// that are not UTF-8 (a lone 0xff, a cut 'é') now and then.
fn random_text(rng: &mut Rng, max: usize) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => rng.below(max + 1),
        1 => rng.below(5000),
        _ => rng.below(200),
    };
    let fill = b'a' + rng.below(26) as u8;
    let mut text = vec![fill; len];
    if len > 2 && rng.below(8) == 0 {
        let at = rng.below(len - 1);
        text[at] = 0xff;
        text[at + 1] = 0xc3; // the first byte of 'é' without its second
    }
    text
}

fn seq_text(lines: &[LogLine]) -> Vec<(u64, Stream, std::time::SystemTime, String)> {
    lines
        .iter()
        .map(|l| (l.seq, l.stream, l.time, l.text.clone()))
        .collect()
}

/// `ring` (lazy) answers every query as `eager` (an entry per line) does.
fn assert_rings_agree(ring: &ring::Ring, eager: &eager::EagerRing, rng: &mut Rng) {
    let next = eager.next_seq();
    assert_eq!(ring.next_seq(), next);
    for n in [0, 1, 2, 1 + rng.below(1200), usize::MAX] {
        assert_eq!(
            seq_text(&ring.tail(n)),
            seq_text(&eager.tail(n)),
            "tail {n}"
        );
    }
    for from in [
        0,
        1,
        next.saturating_sub(1),
        next,
        next + 1,
        1 + rng.below(next as usize) as u64,
    ] {
        let (dr, lr) = ring.since(from);
        let (de, le) = eager.since(from);
        assert_eq!((dr, seq_text(&lr)), (de, seq_text(&le)), "since {from}");
    }
    let all = eager.tail(usize::MAX);
    assert_eq!(ring.len(), all.len());
    let (export_next, exported) = ring.export();
    assert_eq!(export_next, next);
    assert_eq!(
        exported.iter().map(|l| l.seq).collect::<Vec<_>>(),
        all.iter().map(|l| l.seq).collect::<Vec<_>>()
    );
    // Memory: the lines the answer holds, plus at most one stored run.
    assert!(
        ring.held() <= RING_BYTES + RING_LINES + ring::STORE_CAP,
        "held {}",
        ring.held()
    );
}

#[test]
fn the_lazy_ring_answers_as_the_eager_ring_for_random_input() {
    for seed in 1..=6u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut ring = ring::Ring::new();
        let mut eager = eager::EagerRing::new();
        for op in 0..60u64 {
            let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(op);
            let stream = if rng.below(3) == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            if rng.below(3) == 0 {
                // One line (a partial line flushed, a piece of a long one).
                let text = random_text(&mut rng, MAX_LINE);
                ring.push(stream, &text, time);
                eager.push(stream, &text, time);
            } else {
                // A run of whole lines: a few, one read's worth, or more
                // than the ring holds (past `STORE_CAP`, by bytes or lines).
                let count = match rng.below(4) {
                    0 => 1 + rng.below(5),
                    1 => 1 + rng.below(3000),
                    2 => 1 + rng.below(12_000),
                    _ => 1 + rng.below(100),
                };
                let max = if rng.below(2) == 0 { MAX_LINE } else { 300 };
                let mut run = Vec::new();
                for _ in 0..count {
                    let text = random_text(&mut rng, max);
                    eager.push(stream, &text, time);
                    run.extend_from_slice(&text);
                    run.push(b'\n');
                }
                ring.push_run(stream, &run, count, time);
            }
            assert_rings_agree(&ring, &eager, &mut rng);
        }
        // And across `tend reexec`.
        let (next, lines) = ring.export();
        let mut again = ring::Ring::new();
        again.resume(next, lines);
        assert_rings_agree(&again, &eager, &mut rng);
    }
}

#[test]
fn a_run_ending_exactly_at_the_bounds_keeps_what_the_eager_ring_keeps() {
    // Lines of sizes that put the byte bound right at a line's edge.
    let time = std::time::UNIX_EPOCH;
    for (len, count) in [
        (1023, 1025),
        (1024, 1024),
        (1048, 1001),
        (2048, 600),
        (4096, 300),
        (99, 1000),
        (99, 1001),
    ] {
        let mut ring = ring::Ring::new();
        let mut eager = eager::EagerRing::new();
        let mut run = Vec::new();
        for i in 0..count {
            let text = vec![b'0' + (i % 10) as u8; len];
            eager.push(Stream::Stdout, &text, time);
            run.extend_from_slice(&text);
            run.push(b'\n');
        }
        ring.push_run(Stream::Stdout, &run, count, time);
        assert_rings_agree(&ring, &eager, &mut Rng(7));
        ring.push(Stream::Stderr, b"", time);
        eager.push(Stream::Stderr, b"", time);
        assert_rings_agree(&ring, &eager, &mut Rng(8));
    }
}

/// What `split` must make of one stream: each line cut into pieces of at
/// most `MAX_LINE` bytes (never inside a UTF-8 character), byte by byte.
struct RefSplit(Vec<u8>);

impl RefSplit {
    fn feed(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) {
        for &b in data {
            if b == b'\n' {
                out.push(std::mem::take(&mut self.0));
                continue;
            }
            if self.0.len() >= MAX_LINE {
                let cut = cut_point(&self.0);
                out.push(self.0[..cut].to_vec());
                self.0.drain(..cut);
            }
            self.0.push(b);
        }
    }
}

#[test]
fn ingest_in_any_pieces_makes_the_lines_a_byte_by_byte_split_makes() {
    let dir = TempDir::new();
    for seed in 1..=3u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let path = dir.0.join(format!("s{seed}.log"));
        let mut logs = Logs::new(-1);
        logs.configure("s", &[file_target(&path, 0, 0)]);
        let mut refs = [RefSplit(Vec::new()), RefSplit(Vec::new())];
        let mut eager = eager::EagerRing::new();
        let mut file = Vec::new();
        for _ in 0..40 {
            // Some output: lines, now and then one over MAX_LINE.
            let mut data = Vec::new();
            for _ in 0..rng.below(3000) {
                let max = if rng.below(20) == 0 {
                    3 * MAX_LINE
                } else {
                    150
                };
                data.extend_from_slice(&random_text(&mut rng, max));
                data.push(b'\n');
            }
            data.extend_from_slice(&random_text(&mut rng, 100)); // unfinished
            let stream = if rng.below(3) == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let mut rest = &data[..];
            while !rest.is_empty() {
                let piece = match rng.below(4) {
                    0 => 1 + rng.below(16),
                    1 => 1 + rng.below(65_536),
                    _ => 1 + rng.below(1 << 20),
                }
                .min(rest.len());
                let time_before = std::time::SystemTime::now();
                logs.ingest("s", stream, &rest[..piece]);
                let mut made = Vec::new();
                refs[stream.index()].feed(&rest[..piece], &mut made);
                for line in made {
                    eager.push(stream, &line, time_before);
                    file.extend_from_slice(&line);
                    file.push(b'\n');
                }
                rest = &rest[piece..];
            }
        }
        logs.flush_partial("s");
        for (k, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !refs[k].0.is_empty() {
                let line = std::mem::take(&mut refs[k].0);
                eager.push(stream, &line, std::time::SystemTime::now());
                file.extend_from_slice(&line);
                file.push(b'\n');
            }
        }
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            file,
            "seed {seed}"
        );
        assert_eq!(logs.next_seq("s"), eager.next_seq());
        // Times differ (each side read its own clock): compare the rest.
        let strip = |v: Vec<LogLine>| -> Vec<(u64, Stream, String)> {
            v.into_iter().map(|l| (l.seq, l.stream, l.text)).collect()
        };
        assert_eq!(
            strip(logs.tail("s", usize::MAX).unwrap_or_default()),
            strip(eager.tail(usize::MAX))
        );
        let from = 1 + rng.below(eager.next_seq() as usize) as u64;
        let (d, l) = logs.since("s", from);
        let (de, le) = eager.since(from);
        assert_eq!((d, strip(l)), (de, strip(le)));
    }
}

#[test]
fn fits_lines_never_passes_a_line_over_max_line() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let mut run = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let len = MAX_LINE / 2 + rng.below(MAX_LINE) - MAX_LINE / 4;
            run.extend(std::iter::repeat_n(b'x', len));
            run.push(b'\n');
        }
        let longest = run
            .split(|&b| b == b'\n')
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        if fits_lines(&run) {
            assert!(longest <= MAX_LINE, "passed a line of {longest}");
        }
        if longest < MAX_LINE / 2 {
            assert!(fits_lines(&run), "refused lines of at most {longest}");
        }
    }
    // What services write: short lines take the fast path.
    let run = b"a line of output\n".repeat(100_000);
    assert!(fits_lines(&run));
    let mut long = run.clone();
    long.splice(1000..1000, std::iter::repeat_n(b'y', MAX_LINE + 1));
    assert!(!fits_lines(&long));
}

/// Every file of a rotated target, newest first: `path`, `path.1`, ...
fn rotated(path: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![std::fs::read(path).unwrap_or_default()];
    for n in 1.. {
        match std::fs::read(file::numbered(path, n)) {
            Ok(b) => out.push(b),
            Err(_) => break,
        }
    }
    out
}

#[test]
fn a_run_rotates_as_line_by_line_writes_do() {
    let dir = TempDir::new();
    let mut rng = Rng(99);
    for case in 0..12 {
        // Small files (lines longer than a file too), and files of a few
        // runs each (runs past `FLUSH_AT` are written straight from them).
        let (max_size, line_max) = match case % 3 {
            0 => (50 + rng.below(400) as u64, 120),
            1 => (1000 + rng.below(4000) as u64, 300),
            _ => (100_000 + rng.below(300_000) as u64, 3000),
        };
        let keep = 400;
        let (a, b) = (
            dir.0.join(format!("run{case}")),
            dir.0.join(format!("line{case}")),
        );
        let mut by_run = file::FileTarget::new(a.clone(), max_size, keep);
        let mut by_line = file::FileTarget::new(b.clone(), max_size, keep);
        let mut warns = Vec::new();
        for _ in 0..30 {
            let mut run = Vec::new();
            let mut lines = Vec::new();
            for _ in 0..1 + rng.below(if case % 3 == 2 { 400 } else { 10 }) {
                let text = random_text(&mut rng, line_max);
                run.extend_from_slice(&text);
                run.push(b'\n');
                lines.push(text);
            }
            by_run.write_run(&run, &mut warns);
            for l in &lines {
                by_line.write_line(l, &mut warns);
            }
        }
        by_run.flush(&mut warns);
        by_line.flush(&mut warns);
        assert!(warns.is_empty(), "{warns:?}");
        let (ra, rb) = (rotated(&a), rotated(&b));
        assert!(ra.len() > 1, "case {case}: no rotation happened");
        assert!(ra.len() < keep as usize, "case {case}: files were deleted");
        assert_eq!(ra, rb, "case {case} (max-size {max_size})");
    }
}

#[test]
fn two_buffers_read_as_one() {
    let (a, b): (&[u8], &[u8]) = (b"ab\ncd\ne", b"f\ngh\nij");
    let both = file::Two(a, b);
    let joined = [a, b].concat();
    assert_eq!(both.len(), joined.len());
    for at in 0..=joined.len() {
        let (x, y) = both.from(at);
        assert_eq!([x, y].concat(), &joined[at..]);
        let whole = joined[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        assert_eq!(both.whole(at), whole, "at {at}");
        let nl = joined[at..].iter().filter(|&&c| c == b'\n').count() as u64;
        assert_eq!(both.newlines_from(at), nl, "at {at}");
    }
}

#[test]
fn lines_a_full_disk_refuses_are_counted_on_both_write_paths() {
    // /dev/full takes the open and fails every write with ENOSPC; max-size
    // 0 (never rotate: a rotation would rename it).
    let mut target = file::FileTarget::new(PathBuf::from("/dev/full"), 0, 0);
    let mut warns = Vec::new();
    // Small runs (queued, then one write) and a big one (written straight
    // from the run with what is queued, by writev).
    target.write_run(b"one\ntwo\n", &mut warns);
    target.write_line(b"three", &mut warns);
    let big = b"0123456789abcdef\n".repeat(2 * file::FLUSH_AT / 17);
    target.write_run(&big, &mut warns);
    target.flush(&mut warns);
    assert_eq!(target.dropped_total(), 3 + 2 * file::FLUSH_AT as u64 / 17);
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].contains("/dev/full"), "{warns:?}");
}

#[test]
fn a_run_to_stdout_prints_what_line_by_line_pushes_print() {
    let mut rng = Rng(5);
    let mut data = Vec::new();
    while data.len() < 20_000 {
        data.extend_from_slice(&random_text(&mut rng, 150));
        data.push(b'\n');
    }
    let (pa, pb) = (Pipe::new(), Pipe::new());
    let (mut a, mut b) = (Logs::new(pa.w), Logs::new(pb.w));
    a.configure("web", &[LogTarget::Inherit]);
    b.configure("web", &[LogTarget::Inherit]);
    a.ingest("web", Stream::Stdout, &data);
    for byte in &data {
        b.ingest("web", Stream::Stdout, std::slice::from_ref(byte));
    }
    let (out_a, out_b) = (pa.read_now(), pb.read_now());
    assert_eq!(out_a, out_b);
    let mut expect = Vec::new();
    for line in data.split_inclusive(|&c| c == b'\n') {
        expect.extend_from_slice(b"web | ");
        expect.extend_from_slice(line);
    }
    assert_eq!(out_a, expect);
}
