//! Pure parts of `detect-type`: the verdict table, the report, /proc parsing.
//! The watch itself is tested on real processes in `tests/detect_type.rs`.

use super::Tail;
use super::procs::{self, Stat};
use super::verdict::*;
use crate::event::ExitStatus;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn other(pid: i32, new_session: bool) -> Other {
    Other {
        pid,
        comm: "sleep".into(),
        new_session,
    }
}

fn base() -> Evidence {
    Evidence {
        argv: vec!["/usr/sbin/nginx".into(), "-g".into(), "daemon on;".into()],
        main_pid: 100,
        watched: ms(2000),
        exec: Exec::Ok(ms(1)),
        ..Evidence::default()
    }
}

#[test]
fn verdict_table() {
    type Case = (&'static str, fn(&mut Evidence), Recommendation);
    let cases: &[Case] = &[
        ("foreground, no signal", |_| {}, Recommendation::Simple),
        (
            "foreground with children",
            |e| e.others = vec![other(101, false)],
            Recommendation::Simple,
        ),
        (
            "READY=1",
            |e| e.ready = Some((ms(5), Some(100))),
            Recommendation::Notify,
        ),
        (
            "READY=1, then a failing exit",
            |e| {
                e.ready = Some((ms(5), Some(100)));
                e.exit = Some((ms(9), ExitStatus::Code(1)));
            },
            Recommendation::Failed(ExitStatus::Code(1)),
        ),
        (
            "READY=1 from the daemon after a clean exit (dbus-daemon --fork)",
            |e| {
                e.exit = Some((ms(15), ExitStatus::Code(0)));
                e.ready = Some((ms(40), Some(101)));
                e.others = vec![other(101, true)];
            },
            Recommendation::Forking,
        ),
        (
            "READY=1 and MAINPID= from the daemon after a clean exit",
            |e| {
                e.exit = Some((ms(15), ExitStatus::Code(0)));
                e.ready = Some((ms(40), Some(101)));
                e.notified_main_pid = Some(101);
                e.others = vec![other(101, true)];
            },
            Recommendation::Notify,
        ),
        (
            "READY=1, then a clean exit leaving nothing",
            |e| {
                e.ready = Some((ms(5), Some(100)));
                e.exit = Some((ms(9), ExitStatus::Code(0)));
            },
            Recommendation::Oneshot,
        ),
        (
            "a newline on fd 3 from a daemon after a clean exit",
            |e| {
                e.exit = Some((ms(15), ExitStatus::Code(0)));
                e.fd_newline = Some(ms(20));
                e.others = vec![other(101, false)];
            },
            Recommendation::Forking,
        ),
        (
            "newline on fd 3",
            |e| e.fd_newline = Some(ms(3)),
            Recommendation::NotifyFd { fd: 3 },
        ),
        (
            "bytes on fd 3 without newline are no signal",
            |e| e.fd_bytes = 4,
            Recommendation::Simple,
        ),
        (
            "READY=1 and fd 3: notify first",
            |e| {
                e.ready = Some((ms(5), None));
                e.fd_newline = Some(ms(3));
            },
            Recommendation::Notify,
        ),
        (
            "exit 0 leaving processes",
            |e| {
                e.exit = Some((ms(12), ExitStatus::Code(0)));
                e.left_at_exit = 2;
                e.others = vec![other(101, true), other(102, false)];
            },
            Recommendation::Forking,
        ),
        (
            "exit 0, what it left ended too",
            |e| {
                e.exit = Some((ms(12), ExitStatus::Code(0)));
                e.left_at_exit = 1;
            },
            Recommendation::Oneshot,
        ),
        (
            "exit 0, nothing left",
            |e| e.exit = Some((ms(3), ExitStatus::Code(0))),
            Recommendation::Oneshot,
        ),
        (
            "exit 2",
            |e| e.exit = Some((ms(3), ExitStatus::Code(2))),
            Recommendation::Failed(ExitStatus::Code(2)),
        ),
        (
            "non-zero exit leaving processes is still a failure",
            |e| {
                e.exit = Some((ms(3), ExitStatus::Code(1)));
                e.others = vec![other(101, false)];
            },
            Recommendation::Failed(ExitStatus::Code(1)),
        ),
        (
            "killed by a signal",
            |e| e.exit = Some((ms(3), ExitStatus::Signal(11))),
            Recommendation::Failed(ExitStatus::Signal(11)),
        ),
        (
            "exec failed",
            |e| e.exec = Exec::Failed("exec /x: No such file or directory".into()),
            Recommendation::CannotExec("exec /x: No such file or directory".into()),
        ),
        (
            "exec failed even with an exit seen",
            |e| {
                e.exec = Exec::Failed("exec /x: Permission denied".into());
                e.exit = Some((ms(1), ExitStatus::Code(126)));
            },
            Recommendation::CannotExec("exec /x: Permission denied".into()),
        ),
        (
            "interrupted while running",
            |e| e.interrupted = Some(2),
            Recommendation::Interrupted,
        ),
        (
            "interrupted after a clean daemonizing exit",
            |e| {
                e.interrupted = Some(2);
                e.exit = Some((ms(3), ExitStatus::Code(0)));
                e.others = vec![other(101, false)];
            },
            Recommendation::Forking,
        ),
    ];
    for (what, setup, want) in cases {
        let mut e = base();
        setup(&mut e);
        assert_eq!(&recommend(&e), want, "{what}");
    }
}

#[test]
fn certainty() {
    let mut e = base();
    assert!(!certain(&e, true), "simple waits for the timeout");
    e.exit = Some((ms(3), ExitStatus::Code(0)));
    e.others = vec![other(101, false)];
    assert!(!certain(&e, false), "forking waits to settle");
    assert!(certain(&e, true));
    e.others.clear();
    assert!(certain(&e, false), "oneshot is certain at once");
    let mut e = base();
    e.fd_newline = Some(ms(1));
    assert!(certain(&e, false));
    // READY=1 from another process while the main one runs: the main one
    // may be a daemon's parent about to exit, so wait for the settle period.
    let mut e = base();
    e.ready = Some((ms(5), Some(101)));
    assert_eq!(recommend(&e), Recommendation::Notify);
    assert!(!certain(&e, false));
    assert!(certain(&e, true));
    e.ready = Some((ms(5), Some(e.main_pid)));
    assert!(
        certain(&e, false),
        "READY=1 from the main process is certain"
    );
    // A daemon's READY=1 after a clean exit waits for the settle period.
    let mut e = base();
    e.exit = Some((ms(3), ExitStatus::Code(0)));
    e.others = vec![other(101, true)];
    e.ready = Some((ms(5), Some(101)));
    assert!(!certain(&e, false));
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(r.starts_with("recommended type: forking\n"), "{r}");
    assert!(r.contains("it also sent READY=1 after daemonizing"), "{r}");
}

#[test]
fn forking_report() {
    let mut e = base();
    e.exit = Some((ms(12), ExitStatus::Code(0)));
    e.left_at_exit = 2;
    e.others = vec![other(101, true), other(102, false)];
    e.output_tail = vec!["starting".into()];
    e.output_lines = 1;
    let cleanup = Cleanup {
        terminated: 2,
        killed: 1,
        survivors: vec![],
    };
    let r = render(&e, &recommend(&e), &cleanup);
    assert!(
        r.starts_with("recommended type: forking\nevidence:\n"),
        "{r}"
    );
    assert!(
        r.contains(
            "main process (pid 100) exited 0 after 12 ms, leaving 2 processes \
             (1 in a new session): 101 (sleep, new session), 102 (sleep)"
        ),
        "{r}"
    );
    assert!(r.contains("  | starting"), "{r}");
    assert!(
        r.contains("stopped afterwards: 2 processes (1 needed SIGKILL)"),
        "{r}"
    );
    assert!(
        r.ends_with(
            "# nginx.toml\nexec = [\"/usr/sbin/nginx\", \"-g\", \"daemon on;\"]\n\
             type = \"forking\"\n# pid-file = \"/run/nginx.pid\"   # if the daemon writes one\n"
        ),
        "{r}"
    );
}

#[test]
fn simple_report_suggests_a_tcp_ready_check() {
    let mut e = base();
    e.listening = vec!["0.0.0.0:8080".parse().expect("an address")];
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(r.starts_with("recommended type: simple\n"), "{r}");
    assert!(r.contains("still running after 2 s"), "{r}");
    assert!(r.contains("listening on TCP 0.0.0.0:8080"), "{r}");
    assert!(
        r.contains("ready-check = { tcp = \"127.0.0.1:8080\" }"),
        "{r}"
    );
    let e = base();
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(!r.contains("\nready-check = {"), "{r}");
    assert!(r.contains("`ready-check = { tcp = \"HOST:PORT\" }`"), "{r}");
}

#[test]
fn notify_fd_and_failed_reports() {
    let mut e = base();
    e.fd_newline = Some(ms(7));
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(r.contains("a newline on fd 3 (the readiness pipe offered) after 7 ms"));
    assert!(r.contains("type = \"notify-fd\"\nready-fd = 3\n"), "{r}");

    let mut e = base();
    e.exit = Some((ms(5), ExitStatus::Code(2)));
    e.output_tail = vec!["nginx: bad config".into()];
    e.output_lines = 9;
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(
        r.starts_with("recommended type: none: the command failed (exit 2)"),
        "{r}"
    );
    assert!(r.contains("last output (1 of 9 lines):\n    | nginx: bad config"));
    assert!(!r.contains("exec = ["), "no definition for a failure: {r}");

    let mut e = base();
    e.ready = Some((ms(15), Some(101)));
    e.notify_other = vec!["STATUS=\"up\"".into()];
    let r = render(&e, &recommend(&e), &Cleanup::default());
    assert!(
        r.contains("READY=1 on $NOTIFY_SOCKET after 15 ms (sent by pid 101, not the main process)")
    );
    assert!(r.contains("also sent: STATUS=\"up\""), "{r}");
    assert!(r.contains("notify-access"), "{r}");
}

#[test]
fn durations_names_and_strings() {
    assert_eq!(human(ms(12)), "12 ms");
    assert_eq!(human(Duration::from_micros(340)), "0.3 ms");
    assert_eq!(human(Duration::from_micros(20)), "0 ms");
    assert_eq!(human(ms(5)), "5 ms");
    assert_eq!(human(ms(1500)), "1.5 s");
    assert_eq!(human(ms(2000)), "2 s");
    assert_eq!(human(ms(1234)), "1.23 s");
    let name = |s: &str| service_name(&[s.to_string()]);
    assert_eq!(name("/usr/sbin/nginx"), "nginx");
    assert_eq!(name("./my prog"), "my-prog");
    assert_eq!(name(".hidden"), "hidden");
    assert_eq!(name("/"), "service");
    assert_eq!(toml_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

#[test]
fn stat_lines_parse_with_odd_names() {
    let s = procs::parse_stat("42 (a (b) c) S 1 42 40 0 -1 4194560").expect("valid stat line");
    assert_eq!(
        s,
        Stat {
            pid: 42,
            comm: "a (b) c".into(),
            state: 'S',
            ppid: 1,
            pgrp: 42,
            session: 40,
        }
    );
    assert_eq!(procs::parse_stat("garbage"), None);
    assert_eq!(procs::parse_stat("1 )x( S 1 1 1"), None);
}

fn st(pid: i32, ppid: i32, pgrp: i32, state: char) -> Stat {
    Stat {
        pid,
        comm: "x".into(),
        state,
        ppid,
        pgrp,
        session: 1,
    }
}

#[test]
fn ours_are_descendants_and_group_members() {
    let all = vec![
        st(1, 0, 1, 'S'),
        st(10, 1, 10, 'S'),  // tend
        st(11, 10, 11, 'S'), // main
        st(12, 11, 11, 'S'), // its child
        st(13, 12, 13, 'S'), // grandchild in its own group
        st(14, 10, 14, 'S'), // re-parented orphan
        st(15, 10, 15, 'Z'), // zombie: dead
        st(16, 1, 11, 'S'),  // in the group, not a descendant
        st(17, 1, 17, 'S'),  // unrelated
        st(18, 17, 17, 'S'), // unrelated
    ];
    let pids: Vec<i32> = procs::ours(&all, 10, 11).iter().map(|p| p.pid).collect();
    assert_eq!(pids, vec![11, 12, 13, 14, 16]);
    // A cycle in a torn read never loops.
    let cyc = vec![st(20, 21, 20, 'S'), st(21, 20, 21, 'S')];
    assert_eq!(procs::ours(&cyc, 20, 0).len(), 1);
}

#[test]
fn listening_sockets_are_read_from_net_tcp() {
    let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n\
   1: 0100007F:1F91 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0 100 0 0 10 0\n";
    let got = procs::parse_net_tcp(v4);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 4242);
    if cfg!(target_endian = "little") {
        assert_eq!(got[0].1.to_string(), "127.0.0.1:8080");
    }
    let v6 = "header\n   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1\n";
    let got = procs::parse_net_tcp(v6);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.to_string(), "[::]:80");
}

#[test]
fn the_output_tail_is_bounded() {
    let mut t = Tail::default();
    for i in 0..20 {
        t.push(format!("line {i}\r\n").as_bytes());
    }
    t.push(&[b'x'; 5000]);
    let (lines, count) = t.finish();
    assert_eq!(count, 21);
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0], "line 15");
    assert!(lines[5].starts_with("xxx") && lines[5].ends_with('…'));
    assert!(lines[5].chars().count() <= 201);
}
