//! Tests of the directory form: tend.toml, duplicates, ignored files,
//! dependency checks, systemd units and service directories.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::tests::{TempDir, load_dir_files, shown};
use super::*;
use crate::model::{NotifyAccess, RestartPolicy, ServiceType};

fn exec_file(t: &TempDir, rel: &str, text: &str) {
    let p = t.write(rel, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn names(l: &Loaded) -> Vec<&str> {
    l.config.services.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn tend_toml_and_service_files_together() {
    let (t, r) = load_dir_files(&[
        ("web.toml", "exec = 'web'\nrequires = ['db']\n"),
        (
            "tend.toml",
            "[supervisor]\nevent-retention = 5\n[service.db]\nexec = 'db'\n",
        ),
        ("README", "not a definition"),
        ("web.toml.bak", "garbage ="),
        (".hidden.toml", "garbage ="),
        ("notes/x.txt", ""),
    ]);
    let l = r.expect("valid");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(names(&l), ["db", "web"]);
    assert_eq!(l.config.supervisor.event_retention, 5);
    assert_eq!(l.config.services[0].source, t.0.join("tend.toml"));
}

#[test]
fn a_name_defined_twice_names_both_places() {
    let (_t, r) = load_dir_files(&[
        ("web.toml", "exec = 'web'\n"),
        ("tend.toml", "\n[service.web]\nexec = 'other'\n"),
    ]);
    assert_eq!(
        r.unwrap_err(),
        ["tend.toml:2:10: error: service `web` is defined twice: first at web.toml, again here"]
    );
}

#[test]
fn errors_from_every_file_at_once() {
    let (_t, r) = load_dir_files(&[
        ("a.toml", "exec = 'a'\nrestart = 1\n"),
        ("b.toml", "exec = ['b'\n"),
        (
            "c.toml",
            "exec = 'c'\nafter = ['b', 'nope']\nwants = ['c']\n",
        ),
        ("-bad.toml", "exec = 'x'\n"),
    ]);
    assert_eq!(
        r.unwrap_err(),
        [
            "-bad.toml: error: invalid service name `-bad`: must not start with `.` or `-` (the service name comes from the file name)",
            "a.toml:2:11: error: service `a`: restart: expected a string, found an integer",
            "b.toml:2:1: error: invalid toml: invalid array; expected `]`",
            "c.toml:2:15: error: service `c`: after: unknown service `nope`",
            "c.toml:3:10: error: service `c`: wants: a service cannot depend on itself",
        ]
    );
}

#[test]
fn unknown_dependency_suggests_a_close_name() {
    let (_t, r) = load_dir_files(&[
        ("postgres.toml", "exec = 'pg'\n"),
        ("web.toml", "exec = 'w'\nrequires = ['postgre']\n"),
    ]);
    assert_eq!(
        r.unwrap_err(),
        [
            "web.toml:2:13: error: service `web`: requires: unknown service `postgre`, did you mean `postgres`?"
        ]
    );
}

#[test]
fn cycles_are_named_once_at_the_first_edge() {
    let (_t, r) = load_dir_files(&[
        ("a.toml", "exec = 'a'\nrequires = ['b']\n"),
        ("b.toml", "exec = 'b'\nwants = ['c']\n"),
        ("c.toml", "exec = 'c'\nafter = ['a']\n"),
        ("d.toml", "exec = 'd'\nafter = ['a']\n"),
    ]);
    assert_eq!(
        r.unwrap_err(),
        ["a.toml:2:13: error: dependency cycle: a -> b -> c -> a"]
    );
}

#[test]
fn empty_and_missing_paths() {
    let t = TempDir::new("empty");
    let l = load(&t.0).expect("an empty directory is valid");
    assert!(l.config.services.is_empty());
    assert_eq!(
        shown(&t.0, &l.warnings),
        [format!(
            "{}: warning: no service definitions found (NAME.toml, NAME.service, NAME/run, [service.NAME] tables, a Procfile or supervisord.conf)",
            t.0.display()
        )]
    );
    let missing = t.0.join("nope");
    let e = load(&missing).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].col), (0, 0));
    assert!(e[0].message.starts_with("cannot read: "), "{e:?}");
}

#[test]
fn systemd_unit() {
    let unit = "\
[Unit]
Description=app
After=network.target db.service
Requires=db.service
Before=z.service

[Service]
Type=notify
ExecStart=-/usr/bin/app --x \"a b\" \\
  --more
Restart=on-failure
RestartSec=5
TimeoutSec=0
TimeoutStopSec=1min 30s
KillSignal=SIGINT
Environment=A=1 \"B=two words\"
EnvironmentFile=-/nonexistent/env
EnvironmentFile=app.env
Foo=bar
MemoryMax=1G
NotifyAccess=main
SuccessExitStatus=3 SIGUSR1
User=app
WorkingDirectory=-/srv/app
StartLimitBurst=3
[Install]
WantedBy=multi-user.target
";
    let (t, r) = load_dir_files(&[("app.service", unit), ("db.toml", "exec='db'")]);
    let l = r.expect("valid");
    let s = &l.config.services[0];
    let abs = std::path::absolute(&t.0).unwrap();
    assert_eq!(s.name, "app");
    assert_eq!(s.exec, ["/usr/bin/app", "--x", "a b", "--more"]);
    assert_eq!(s.kind, ServiceType::Notify);
    assert_eq!(
        (s.requires.clone(), s.after.clone()),
        (vec!["db".to_string()], vec!["db".to_string()])
    );
    assert_eq!(s.restart, RestartPolicy::OnFailure);
    assert_eq!(s.restart_delay, Duration::from_secs(5));
    assert_eq!(s.start_timeout, None);
    assert_eq!(s.stop_timeout, Some(Duration::from_secs(90)));
    assert_eq!(s.stop_signal, libc::SIGINT);
    assert_eq!(
        s.environment.get("B").map(String::as_str),
        Some("two words")
    );
    assert_eq!(s.env_files, [abs.join("app.env")]);
    assert_eq!(s.memory_max, Some(1 << 30));
    assert_eq!(s.notify_access, NotifyAccess::Main);
    // `-` on ExecStart: any exit code counts as success.
    assert_eq!(s.success_exit_codes.len(), 256);
    assert_eq!(s.success_exit_signals.len(), 64);
    assert_eq!(s.user.as_deref(), Some("app"));
    assert_eq!(s.working_dir, PathBuf::from("/srv/app"));
    assert_eq!(s.start_limit_burst, 3);
    assert_eq!(
        shown(&t.0, &l.warnings),
        [
            "app.service:3:7: warning: service `app`: After=network.target: no such unit here, ignored (as systemd does)",
            "app.service:5:8: warning: service `app`: Before=z.service: no such unit here, ignored (as systemd does)",
            "app.service:17:17: warning: service `app`: EnvironmentFile: `/nonexistent/env` does not exist, ignored (optional files are checked when loading)",
            "app.service:19:1: warning: service `app`: unknown or unsupported systemd directive `Foo=` in [Service], ignored",
        ]
    );
}

#[test]
fn systemd_defaults_and_errors() {
    let (_t, r) = load_dir_files(&[("a.service", "[Service]\nExecStart=/bin/a\n")]);
    let l = r.expect("valid");
    let s = &l.config.services[0];
    assert_eq!(s.restart, RestartPolicy::No);
    assert_eq!(s.stop_timeout, Some(Duration::from_secs(90)));
    assert_eq!(s.working_dir, PathBuf::from("/"));
    assert_eq!(s.success_exit_codes, [0]);

    let unit = "Stray=1\n[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\nRestart=always\nRestartSec=soon\nKillSignal=NOPE\nExecStop='unterminated\ngarbage line\n[Broken\n[X-Custom]\nK=v\n";
    let (_t, r) = load_dir_files(&[
        ("a.service", unit),
        ("b.service", "[Unit]\nWants=a.service\n"),
    ]);
    assert_eq!(
        r.unwrap_err(),
        [
            "a.service:1:1: warning: service `a`: `Stray=` outside of any section, ignored",
            "a.service:6:9: error: service `a`: Restart: `always` is not allowed for Type=oneshot",
            "a.service:7:12: error: service `a`: RestartSec: invalid duration `soon`: expected a number and a unit (ms, s, m, h, d), e.g. \"10s\"",
            "a.service:8:12: error: service `a`: KillSignal: unknown signal `NOPE`",
            "a.service:9:10: error: service `a`: ExecStop: unterminated single quote",
            "a.service:10:1: error: service `a`: expected `Key=Value`, found `garbage line`",
            "a.service:11:1: error: service `a`: malformed section header `[Broken`",
            "a.service:12:1: warning: service `a`: section `[X-Custom]` is not supported, ignored",
            "b.service:1:1: error: service `b`: missing `ExecStart=` in [Service]",
        ]
    );
}

#[test]
fn service_directories() {
    let t = TempDir::new("sv");
    exec_file(&t, "svc/run", "#!/bin/sh\n");
    exec_file(&t, "svc/finish", "#!/bin/sh\n");
    t.write("svc/notification-fd", "4\n");
    t.write("svc/down", "");
    t.write("svc/down-signal", "SIGINT\n");
    t.write("svc/timeout-kill", "2500\n");
    t.write("svc/timeout-finish", "0\n");
    t.write("svc/max-death-tally", "100\n");
    exec_file(&t, "svc/log/run", "#!/bin/sh\n");
    exec_file(&t, "plain/run", "#!/bin/sh\n");
    exec_file(&t, "plain/check", "#!/bin/sh\n");
    exec_file(&t, "plain/control/t", "#!/bin/sh\n");
    exec_file(&t, "plain/control/h", "#!/bin/sh\n");
    exec_file(&t, "plain/control/d", "#!/bin/sh\n");
    t.write("norun/README", "");
    t.write("noexec/run", "");
    let l = load(&t.0).expect("valid");
    assert_eq!(names(&l), ["plain", "svc", "svc/log"]);
    let abs = std::path::absolute(&t.0).unwrap();
    let p = &l.config.services[0];
    assert_eq!(p.exec, ["./run"]);
    assert_eq!(p.working_dir, abs.join("plain"));
    assert_eq!(p.restart, RestartPolicy::Always);
    assert!(p.autostart);
    assert_eq!(p.kind, ServiceType::Simple);
    assert_eq!(p.pipe_to, None);
    let check = p.ready_check.as_deref().expect("check is the ready-check");
    assert_eq!(
        check.kind,
        crate::model::ProbeKind::Exec(vec!["./check".into()])
    );
    assert_eq!(p.stop_exec, Some(vec!["./control/t".to_string()]));
    assert_eq!(p.reload_exec, Some(vec!["./control/h".to_string()]));
    assert_eq!(p.on_exit_timeout, None);
    // A runit directory (no file only s6 reads): no s6 lock.
    assert_eq!(p.supervise_lock, None);
    let s = &l.config.services[1];
    assert_eq!(s.on_exit, Some(vec!["./finish".to_string()]));
    assert_eq!((s.kind, s.ready_fd), (ServiceType::NotifyFd, Some(4)));
    assert!(!s.autostart);
    assert_eq!(s.stop_signal, libc::SIGINT);
    assert_eq!(s.stop_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(s.on_exit_timeout, Some(None));
    assert_eq!(s.pipe_to.as_deref(), Some("svc/log"));
    assert_eq!(s.supervise_lock, Some(abs.join("svc/supervise/lock")));
    let g = &l.config.services[2];
    assert_eq!(g.exec, ["./run"]);
    assert_eq!(g.working_dir, abs.join("svc/log"));
    assert_eq!(g.restart, RestartPolicy::Always);
    // The service's `down` is its own: the logger starts.
    assert!(g.autostart);
    assert_eq!(
        shown(&t.0, &l.warnings),
        [
            "noexec/run: warning: `noexec/run` is not executable: directory ignored (chmod +x it to make `noexec` a service)",
            "plain/control/d: warning: service `plain`: control/d: the override of `sv down` (after the stop) is not supported, ignored (only control/t, as stop-exec, and control/h, as reload-exec, are)",
            "svc/max-death-tally:1:1: warning: service `svc`: max-death-tally: tend keeps no death tally (for s6-svdt), ignored: `tend events` has every death",
        ]
    );
}

#[test]
fn service_directory_file_errors() {
    let t = TempDir::new("sv");
    exec_file(&t, "a/run", "#!/bin/sh\n");
    t.write("a/timeout-finish", "soon\n");
    t.write("a/max-death-tally", "5000\n");
    t.write("a/log/run", "#!/bin/sh\n");
    assert_eq!(
        shown(&t.0, &load(&t.0).unwrap_err()),
        [
            "a/log/run: warning: service `a`: `log/run` is not executable: no logger (chmod +x it to run `a/log`)",
            "a/max-death-tally:1:1: error: service `a`: max-death-tally: expected a number from 0 to 4096, found `5000`",
            "a/timeout-finish:1:1: error: service `a`: timeout-finish: expected milliseconds, found `soon`",
        ]
    );
}

#[test]
fn a_logger_name_is_allowed_only_as_name_slash_log() {
    assert!(crate::load::check_name("web/log").is_ok());
    assert!(crate::load::check_name("web/x").is_err());
    assert!(crate::load::check_name("a/b/log").is_err());
    assert!(crate::load::check_name("/log").is_err());
    assert!(crate::load::check_name(".x/log").is_err());
}

#[test]
fn service_directory_errors() {
    let t = TempDir::new("sv-bad");
    exec_file(&t, "svc/run", "#!/bin/sh\n");
    t.write("svc/notification-fd", "1\n");
    t.write("svc/down-signal", "NOPE");
    exec_file(&t, "web/run", "#!/bin/sh\n");
    t.write("web.toml", "exec = 'x'\n");
    let e = shown(&t.0, &load(&t.0).unwrap_err());
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!(
        e[0],
        "svc/down-signal:1:1: error: service `svc`: down-signal: unknown signal `NOPE`"
    );
    assert_eq!(
        e[1],
        "svc/notification-fd:1:1: error: service `svc`: notification-fd: 1 is not allowed: use 3 or more (0, 1 and 2 are stdin, stdout and stderr)"
    );
    assert_eq!(
        e[2],
        "web.toml: error: service `web` is defined twice: first at web, again here"
    );
}

#[test]
fn systemd_kill_mainpid_becomes_a_signal() {
    let unit = "[Service]\nExecStart=/bin/d\nExecReload=/bin/kill -HUP $MAINPID\nExecStop=kill -s QUIT ${MAINPID}\nBusName=org.x\n";
    let (_t, r) = load_dir_files(&[("d.service", unit)]);
    let l = r.expect("valid");
    let s = &l.config.services[0];
    assert_eq!(
        (s.reload_signal, s.reload_exec.clone()),
        (libc::SIGHUP, None)
    );
    assert_eq!((s.stop_signal, s.stop_exec.clone()), (libc::SIGQUIT, None));
    // BusName= without Type=: systemd's default is dbus.
    assert_eq!(s.kind, ServiceType::Dbus);
    assert!(
        l.warnings.iter().all(|w| !w.message.contains('$')),
        "{:?}",
        l.warnings
    );

    let unit = "[Service]\nExecStart=/bin/d $X\nExecReload=/bin/reload --now\n";
    let (t, r) = load_dir_files(&[("d.service", unit)]);
    let l = r.expect("valid");
    assert_eq!(
        l.config.services[0].reload_exec,
        Some(vec!["/bin/reload".into(), "--now".into()])
    );
    // `$X` is expanded at exec time (systemd's rules): no warning.
    assert!(shown(&t.0, &l.warnings).is_empty(), "{:?}", l.warnings);
    assert!(l.config.services[0].expand_env);
    assert_eq!(l.config.services[0].exec, ["/bin/d", "$X"]);
}

#[test]
fn fuzzer_findings_in_service_directories_and_units() {
    // notification-fd past what a ready-fd may be; timeout-kill past the
    // clamp of every duration.
    let t = TempDir::new("sv-fuzz");
    exec_file(&t, "a/run", "#!/bin/sh\n");
    t.write("a/notification-fd", "5000\n");
    let e = shown(&t.0, &load(&t.0).unwrap_err());
    assert_eq!(
        e,
        [
            "a/notification-fd:1:1: error: service `a`: notification-fd: 5000 is too large (at most 1023)"
        ]
    );
    let t = TempDir::new("sv-fuzz2");
    exec_file(&t, "a/run", "#!/bin/sh\n");
    t.write("a/timeout-kill", "4000000000000\n");
    let l = load(&t.0).expect("valid");
    assert_eq!(
        l.config.services[0].stop_timeout,
        Some(crate::model::MAX_DURATION)
    );
    // RestartSec= is systemd's fixed delay: no backoff that would shrink it
    // to restart-delay-max's 30 s default.
    let (_t, r) = load_dir_files(&[(
        "a.service",
        "[Service]\nExecStart=/bin/a\nRestartSec=1min\n",
    )]);
    let s = &r.expect("valid").config.services[0];
    assert_eq!(s.restart_delay, Duration::from_secs(60));
    assert_eq!(s.restart_delay_max, Duration::from_secs(60));
}
