//! Per-command privileges (issue 11): systemd's `+` and `!` prefixes,
//! `PermissionsStartOnly=yes`, and the native `privileged` of a command.
//! Each command reads back from `/proc/self` who it runs as and how it is
//! confined: its uid, its capability bounding set, no-new-privileges, and
//! whether it sees the host's `/tmp` (`PrivateTmp=`).

mod common;
use common::*;
use std::path::PathBuf;

/// A file in the host's /tmp, removed at the end of the test: a command
/// that sees it is outside PrivateTmp=.
struct Mark(PathBuf);

impl Mark {
    fn new(tag: &str) -> Mark {
        let p = PathBuf::from(format!("/tmp/tend-priv-{tag}-{}", std::process::id()));
        std::fs::write(&p, "host\n").unwrap();
        Mark(p)
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A command line (for a unit or as a shell script) that prints, each
/// line prefixed `TAG:`, its uid, its CapBnd and NoNewPrivs, and
/// `host-tmp` if it sees `mark`. No `$` in it (systemd's expansion).
fn report(tag: &str, mark: &Mark) -> String {
    format!(
        "/bin/sh -c '{{ id -u; grep -E \"^(CapBnd|NoNewPrivs):\" /proc/self/status; \
         test -e {} && echo host-tmp; }} | sed \"s/^/{tag}: /\"'",
        mark.0.display()
    )
}

/// What `tag` printed: (uid, CapBnd, NoNewPrivs, sees the host's /tmp).
fn seen(out: &str, svc: &str, tag: &str) -> (String, String, String, bool) {
    let prefix = format!("{svc} | {tag}: ");
    let lines: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    let field = |name: &str| {
        (lines.iter())
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} from {tag} in:\n{out}"))
    };
    let uid = (lines.first().map(|l| l.trim().to_string()))
        .unwrap_or_else(|| panic!("nothing from {tag} in:\n{out}"));
    (
        uid,
        field("CapBnd:"),
        field("NoNewPrivs:"),
        lines.contains(&"host-tmp"),
    )
}

/// The bounding set tend (and so a fully privileged command) has: the
/// test's own.
fn full_bounding_set() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    (status.lines())
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| v.trim().to_string())
        .unwrap()
}

/// CAP_NET_BIND_SERVICE alone.
const BIND_ONLY: &str = "0000000000000400";

#[test]
fn plus_runs_with_full_privileges_bang_as_root_in_the_sandbox() {
    let mark = Mark::new("prefixes");
    let unit = format!(
        "[Service]\nType=oneshot\nUser=nobody\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
         NoNewPrivileges=yes\nPrivateTmp=yes\n\
         ExecStartPre=+{}\nExecStartPre=!{}\nExecStartPre={}\nExecStart={}\n\
         ExecStartPost=+{}\nExecStartPost=/bin/echo END\n",
        report("plus", &mark),
        report("bang", &mark),
        report("pre", &mark),
        report("main", &mark),
        report("post", &mark),
    );
    let t = Tend::builder().file("svc/app.service", &unit).start();
    let out = t.wait_stdout_line("app | END", T);
    let full = full_bounding_set();
    assert_ne!(full, BIND_ONLY);
    let root_full = ("0".to_string(), full, "0".to_string(), true);
    assert_eq!(seen(&out, "app", "plus"), root_full, "{out}");
    assert_eq!(seen(&out, "app", "post"), root_full, "{out}");
    let sandbox = |uid: &str| {
        (
            uid.to_string(),
            BIND_ONLY.to_string(),
            "1".to_string(),
            false,
        )
    };
    assert_eq!(seen(&out, "app", "bang"), sandbox("0"), "{out}");
    assert_eq!(seen(&out, "app", "pre"), sandbox("65534"), "{out}");
    assert_eq!(seen(&out, "app", "main"), sandbox("65534"), "{out}");
    t.wait_state("app", "completed");
    // The loader said nothing about the prefixes.
    let warned = (t.events(None).iter())
        .filter(|e| e["event"] == "warning")
        .map(|e| e["message"].to_string())
        .collect::<Vec<_>>();
    assert!(warned.is_empty(), "{warned:?}");
}

#[test]
fn a_failing_privileged_pre_exec_fails_the_start_and_runs_nothing_else() {
    let t = Tend::builder()
        .file(
            "svc/app.service",
            "[Service]\nUser=nobody\nExecStartPre=+/bin/sh -c 'echo first; exit 3'\n\
             ExecStartPre=/bin/echo never\nExecStart=/bin/echo main\nRestart=no\n",
        )
        .start();
    let mut e = t.follow();
    let w = e.expect(ev("app", "warning"), T);
    assert_eq!(w["message"], "pre-exec failed: exit 3", "{w}");
    e.expect_ev("app", "failed", T);
    let out = t.wait_stdout_line("app | first", T);
    assert!(
        !out.contains("never") && !out.contains("app | main"),
        "{out}"
    );
    let spawned = (t.events(None).iter()).any(|e| e["service"] == "app" && e["event"] == "spawned");
    assert!(!spawned, "no main process was started");
}

#[test]
fn permissions_start_only_gives_every_command_but_exec_start_full_privileges() {
    let mark = Mark::new("pso");
    let unit = format!(
        "[Service]\nUser=nobody\nNoNewPrivileges=yes\nPrivateTmp=yes\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nPermissionsStartOnly=yes\n\
         ExecStartPre={}\n\
         ExecStart=/bin/sh -c '{{ id -u; grep -E \"^(CapBnd|NoNewPrivs):\" /proc/self/status; \
         test -e {} && echo host-tmp; }} | sed \"s/^/main: /\"; echo main-up; exec sleep 100000'\n\
         ExecReload={}\nExecStop={}\nExecStopPost={}\nExecStopPost=/bin/echo END\n",
        report("pre", &mark),
        mark.0.display(),
        report("reload", &mark),
        report("stop", &mark),
        report("stoppost", &mark),
    );
    let t = Tend::builder().file("svc/app.service", &unit).start();
    t.wait_stdout_line("app | main-up", T);
    t.wait_state("app", "ready");
    t.ctl_ok(&["reload", "app"]);
    t.wait_stdout_line("app | reload: NoNewPrivs:\t0", T);
    t.ctl_ok(&["stop", "app"]);
    let out = t.wait_stdout_line("app | END", T);
    let root_full = ("0".to_string(), full_bounding_set(), "0".to_string(), true);
    for tag in ["pre", "reload", "stop", "stoppost"] {
        assert_eq!(seen(&out, "app", tag), root_full, "{tag}: {out}");
    }
    let confined = (
        "65534".to_string(),
        BIND_ONLY.to_string(),
        "1".to_string(),
        false,
    );
    assert_eq!(seen(&out, "app", "main"), confined, "{out}");
}

#[test]
fn the_native_privileged_key_does_the_same() {
    let mark = Mark::new("native");
    let q = |s: String| format!("{s:?}");
    let body = format!(
        "exec = {{ exec = [\"/bin/sh\", \"-c\", {main}], privileged = \"credentials\" }}\n\
         pre-exec = [{{ exec = [\"/bin/sh\", \"-c\", {pre}], privileged = \"full\" }}, \
         \"-/bin/false\"]\n\
         user = \"nobody\"\nworking-dir = \"/\"\nno-new-privileges = true\nprivate-tmp = true\n\
         capabilities = [\"CAP_NET_BIND_SERVICE\"]\nrestart = \"no\"\ntype = \"oneshot\"\n\
         post-start = [\"/bin/echo END\"]\n",
        main = q(script("main", &mark)),
        pre = q(script("pre", &mark)),
    );
    let t = Tend::builder().svc("app", &body).start();
    let out = t.wait_stdout_line("app | END", T);
    let root_full = ("0".to_string(), full_bounding_set(), "0".to_string(), true);
    assert_eq!(seen(&out, "app", "pre"), root_full, "{out}");
    let root_sandboxed = (
        "0".to_string(),
        BIND_ONLY.to_string(),
        "1".to_string(),
        false,
    );
    assert_eq!(seen(&out, "app", "main"), root_sandboxed, "{out}");
}

/// [`report`]'s script alone (for `sh -c`).
fn script(tag: &str, mark: &Mark) -> String {
    format!(
        "{{ id -u; grep -E \"^(CapBnd|NoNewPrivs):\" /proc/self/status; \
         test -e {} && echo host-tmp; }} | sed \"s/^/{tag}: /\"",
        mark.0.display()
    )
}

/// man-db.service's shape: a oneshot's several `ExecStart=` lines of
/// different privileges run one by one, each with its own.
#[test]
fn a_oneshots_exec_start_lines_keep_their_own_privileges() {
    let mark = Mark::new("starts");
    let unit = format!(
        "[Service]\nType=oneshot\nUser=nobody\nNoNewPrivileges=yes\nPrivateTmp=yes\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n\
         ExecStart=+{}\nExecStart=!{}\nExecStart={}\nExecStartPost=/bin/echo END\n",
        report("first", &mark),
        report("second", &mark),
        report("last", &mark),
    );
    let t = Tend::builder().file("svc/app.service", &unit).start();
    let out = t.wait_stdout_line("app | END", T);
    let root_full = ("0".to_string(), full_bounding_set(), "0".to_string(), true);
    assert_eq!(seen(&out, "app", "first"), root_full, "{out}");
    let sandbox = |uid: &str| {
        (
            uid.to_string(),
            BIND_ONLY.to_string(),
            "1".to_string(),
            false,
        )
    };
    assert_eq!(seen(&out, "app", "second"), sandbox("0"), "{out}");
    assert_eq!(seen(&out, "app", "last"), sandbox("65534"), "{out}");
    t.wait_state("app", "completed");
}
