//! Tests of native definitions (single-file and directory forms).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use super::*;
use crate::model::{LogTarget, ProbeKind, ServiceType};

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("tend-load-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Diagnostics as printed, with the temp dir prefix removed.
pub fn shown(dir: &Path, diags: &[Diagnostic]) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    diags
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

/// Loads a directory made of `files`; Ok(warnings) or Err(all diags), shown.
pub fn load_dir_files(files: &[(&str, &str)]) -> (TempDir, Result<Loaded, Vec<String>>) {
    let t = TempDir::new("dir");
    for (name, text) in files {
        t.write(name, text);
    }
    let r = load(&t.0).map_err(|d| shown(&t.0, &d));
    (t, r)
}

/// Loads one service `web.toml` with `text`: Err(all diags) or its spec and warnings.
pub fn one(text: &str) -> Result<(ServiceSpec, Vec<String>), Vec<String>> {
    let (t, r) = load_dir_files(&[("web.toml", text)]);
    r.map(|l| {
        let w = shown(&t.0, &l.warnings);
        (
            l.config.services.into_iter().next().expect("one service"),
            w,
        )
    })
}

pub fn one_err(text: &str) -> Vec<String> {
    match one(text) {
        Ok((s, w)) => panic!("expected errors, got {s:?} {w:?}"),
        Err(e) => e,
    }
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|l| l.contains(needle))
}

#[test]
fn minimal_service_gets_every_default() {
    let (t, r) = load_dir_files(&[("web.toml", "exec = \"/bin/server --port 80\"\n")]);
    let loaded = r.expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let abs = std::path::absolute(&t.0).unwrap();
    let mut want = ServiceSpec::with_defaults("web", t.0.join("web.toml"), abs);
    want.exec = vec!["/bin/server".into(), "--port".into(), "80".into()];
    assert_eq!(loaded.config.services, vec![want]);
    assert_eq!(loaded.config.supervisor, SupervisorSpec::default());
}

#[test]
fn every_key_is_read() {
    let text = r#"
exec = ["/bin/db", "--flag"]
type = "oneshot"
requires = ["a"]
wants = "b"
after = ["a", "b", "a"]
restart = "on-abnormal"
restart-delay = "1s"
restart-delay-max = "1m"
start-limit-burst = 7
start-limit-interval = "20s"
start-limit-action = "give-up"
start-timeout = "infinity"
stop-signal = "INT"
stop-timeout = "2.5s"
stop-exec = "/bin/db stop"
reload-signal = 10
reload-exec = ["/bin/db", "reload"]
success-exit-codes = [0, 3]
user = "nobody"
group = 100
working-dir = "sub"
environment = { A = "1", B = "two words" }
env-file = ["env", "/etc/x.env"]
critical = true
autostart = false
log = ["inherit", { file = "logs/db.log", max-size = "1MiB", keep = 2 }]
"#;
    let (t, r) = load_dir_files(&[
        ("db.toml", text),
        ("a.toml", "exec = 'a'"),
        ("b.toml", "exec = 'b'"),
    ]);
    let loaded = r.expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let names: Vec<&str> = loaded
        .config
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "db"]);
    let s = &loaded.config.services[2];
    let abs = std::path::absolute(&t.0).unwrap();
    assert_eq!(s.exec, ["/bin/db", "--flag"]);
    assert_eq!(s.kind, ServiceType::Oneshot);
    assert_eq!(s.requires, ["a"]);
    assert_eq!(s.wants, ["b"]);
    assert_eq!(s.after, ["a", "b"]);
    assert_eq!(s.restart, crate::model::RestartPolicy::OnAbnormal);
    assert_eq!(s.restart_delay, Duration::from_secs(1));
    assert_eq!(s.restart_delay_max, Duration::from_secs(60));
    assert_eq!(s.start_limit_burst, 7);
    assert_eq!(s.start_limit_interval, Duration::from_secs(20));
    assert_eq!(s.start_limit_action, crate::model::StartLimitAction::GiveUp);
    assert_eq!(s.start_timeout, None);
    assert_eq!(s.stop_signal, libc::SIGINT);
    assert_eq!(s.stop_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(s.stop_exec, Some(vec!["/bin/db".into(), "stop".into()]));
    assert_eq!(s.reload_signal, 10);
    assert_eq!(s.reload_exec, Some(vec!["/bin/db".into(), "reload".into()]));
    assert_eq!(s.success_exit_codes, [0, 3]);
    assert_eq!(s.user.as_deref(), Some("nobody"));
    assert_eq!(s.group.as_deref(), Some("100"));
    assert_eq!(s.working_dir, abs.join("sub"));
    assert_eq!(
        s.environment.get("B").map(String::as_str),
        Some("two words")
    );
    assert_eq!(s.env_files, [abs.join("env"), PathBuf::from("/etc/x.env")]);
    assert!(s.critical);
    assert!(!s.autostart);
    assert_eq!(
        s.log,
        [
            LogTarget::Inherit,
            LogTarget::File {
                path: abs.join("logs/db.log"),
                max_size: 1 << 20,
                keep: 2
            }
        ]
    );
}

#[test]
fn three_mistakes_three_errors_with_positions() {
    let e = one_err("exec = 'x'\nrestart_delay = '1s'\ntype = 'nope'\nstop-signal = 'BOGUS'\n");
    assert_eq!(
        e,
        [
            "web.toml:2:1: error: service `web`: unknown key `restart_delay`, did you mean `restart-delay`?",
            "web.toml:3:8: error: service `web`: type: invalid value `nope`, expected one of: simple, exec, forking, oneshot, notify, notify-fd, dbus, idle",
            "web.toml:4:15: error: service `web`: stop-signal: unknown signal `BOGUS` (use a name such as \"TERM\", \"INT\", \"HUP\", \"USR1\", or a number 1-64)",
        ]
    );
}

#[test]
fn unknown_key_without_a_close_match_lists_the_keys() {
    let e = one_err("exec = 'x'\n  command = 'y'\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "web.toml:2:3: error: service `web`: unknown key `command` (valid keys: exec, pre-exec, listen, directories, type,"
        ),
        "{e:?}"
    );
}

#[test]
fn missing_exec() {
    assert_eq!(
        one_err("restart = 'no'\n"),
        ["web.toml:1:1: error: service `web`: missing required key `exec`"]
    );
}

#[test]
fn exec_forms_and_errors() {
    let (s, _) = one("exec = \"sh -c 'echo \\\"hi\\\" $HOME'\"").unwrap();
    assert_eq!(s.exec, ["sh", "-c", "echo \"hi\" $HOME"]);
    assert_eq!(
        one_err("exec = []"),
        ["web.toml:1:8: error: service `web`: exec: the command is empty"]
    );
    assert_eq!(
        one_err("exec = '   '"),
        ["web.toml:1:8: error: service `web`: exec: the command is empty"]
    );
    assert_eq!(
        one_err("exec = ['']"),
        ["web.toml:1:8: error: service `web`: exec: the program name is empty"]
    );
    assert_eq!(
        one_err("exec = 'a \"b'"),
        ["web.toml:1:8: error: service `web`: exec: unterminated double quote"]
    );
    assert_eq!(
        one_err("exec = [1, 'a', true]"),
        [
            "web.toml:1:9: error: service `web`: exec: expected a string for each argument, found an integer",
            "web.toml:1:17: error: service `web`: exec: expected a string for each argument, found a boolean",
        ]
    );
    assert_eq!(
        one_err("exec = 5"),
        [
            "web.toml:1:8: error: service `web`: exec: expected an array of strings or a command string, found an integer"
        ]
    );
}

#[test]
fn wrong_types() {
    let e = one_err(
        "exec = 'x'\ncritical = 'true'\nautostart = 1\nstart-limit-burst = '5'\nuser = []\nrequires = 'a'\nwants = [1]\n[environment]\nA = 1\n",
    );
    assert_eq!(
        e,
        [
            "web.toml:2:12: error: service `web`: critical: expected a boolean, found a string: write true without quotes",
            "web.toml:3:13: error: service `web`: autostart: expected a boolean (true or false), found an integer",
            "web.toml:4:21: error: service `web`: start-limit-burst: expected an integer, found a string",
            "web.toml:5:8: error: service `web`: user: expected a name or a numeric id, found an array",
            "web.toml:6:12: error: service `web`: requires: unknown service `a`",
            "web.toml:7:10: error: service `web`: wants: expected a string, found an integer",
            "web.toml:9:5: error: service `web`: environment.A: expected a string, found an integer: put the value in quotes",
        ]
    );
}

#[test]
fn durations_in_definitions() {
    let e = one_err(
        "exec = 'x'\nrestart-delay = 5\nstop-timeout = '10'\nstart-timeout = '0s'\nrestart-delay-max = 'infinity'\nwatchdog = '0s'\nstart-limit-interval = '3 weeks'\n",
    );
    assert_eq!(
        e,
        [
            "web.toml:2:17: error: service `web`: restart-delay: expected a duration string such as \"5s\", found an integer: durations need a unit",
            "web.toml:3:16: error: service `web`: stop-timeout: duration `10` has no unit: add one, e.g. \"10s\" or \"10ms\"",
            "web.toml:4:17: error: service `web`: start-timeout: must be longer than zero (use \"infinity\" for no limit)",
            "web.toml:5:21: error: service `web`: restart-delay-max: \"infinity\" is not allowed here",
            "web.toml:6:12: error: service `web`: watchdog: must be longer than zero",
            "web.toml:7:24: error: service `web`: start-limit-interval: invalid duration `3 weeks`: unknown unit `weeks` (use ms, s, m, h or d)",
        ]
    );
    let (s, _) = one("exec = 'x'\nstop-timeout = 'infinity'\nrestart-delay = '250ms'").unwrap();
    assert_eq!(s.stop_timeout, None);
    assert_eq!(s.restart_delay, Duration::from_millis(250));
}

#[test]
fn restart_delay_max_below_delay() {
    assert_eq!(
        one_err("exec = 'x'\nrestart-delay = '10s'\nrestart-delay-max = '1s'"),
        [
            "web.toml:3:21: error: service `web`: restart-delay-max (1s) is shorter than restart-delay (10s)"
        ]
    );
    // Only the delay given: the default maximum follows it up.
    let (s, _) = one("exec = 'x'\nrestart-delay = '1m'").unwrap();
    assert_eq!(s.restart_delay_max, Duration::from_secs(60));
}

#[test]
fn signals() {
    let (s, _) = one("exec = 'x'\nstop-signal = 'SIGQUIT'\nreload-signal = 12").unwrap();
    assert_eq!(s.stop_signal, libc::SIGQUIT);
    assert_eq!(s.reload_signal, 12);
    assert_eq!(
        one_err("exec = 'x'\nreload-signal = 99"),
        [
            "web.toml:2:17: error: service `web`: reload-signal: unknown signal `99` (use a name such as \"TERM\", \"INT\", \"HUP\", \"USR1\", or a number 1-64)"
        ]
    );
}

#[test]
fn enum_values_list_the_valid_ones() {
    let e = one_err(
        "exec = 'x'\nrestart = 'sometimes'\nstart-limit-action = 'panic'\nnotify-access = 'none'\n",
    );
    assert_eq!(
        e,
        [
            "web.toml:2:11: error: service `web`: restart: invalid value `sometimes`, expected one of: no, on-success, on-failure, on-abnormal, on-abort, on-watchdog, always",
            "web.toml:3:22: error: service `web`: start-limit-action: invalid value `panic`, expected one of: alert, give-up",
            "web.toml:4:17: error: service `web`: notify-access: invalid value `none`, expected one of: main, all",
        ]
    );
}

#[test]
fn readiness_keys() {
    assert_eq!(
        one_err("exec = 'x'\ntype = 'notify-fd'\nready-fd = 2\n"),
        [
            "web.toml:3:12: error: service `web`: ready-fd: 2 is not allowed: fds 0, 1 and 2 are stdin, stdout and stderr (use 3 or more)",
        ]
    );
    assert_eq!(
        one_err("exec = 'x'\ntype = 'notify-fd'\n"),
        ["web.toml:2:8: error: service `web`: type `notify-fd` needs `ready-fd`",]
    );
    assert_eq!(
        one_err("exec = 'x'\ntype = 'dbus'\n"),
        ["web.toml:2:8: error: service `web`: type `dbus` needs `bus-name`",]
    );
    let (s, w) = one("exec = 'x'\ntype = 'notify-fd'\nready-fd = 3\n").unwrap();
    assert_eq!((s.kind, s.ready_fd), (ServiceType::NotifyFd, Some(3)));
    assert!(w.is_empty(), "{w:?}");
    let (s, w) = one("exec = 'x'\npid-file = 'run/x.pid'\nworking-dir = '/srv'\n").unwrap();
    assert_eq!(s.pid_file, Some(PathBuf::from("/srv/run/x.pid")));
    assert_eq!(
        w,
        ["web.toml:2:1: warning: service `web`: pid-file: only used with type `forking`",]
    );
    assert_eq!(
        one_err("exec = 'x'\ntype = 'oneshot'\nrestart = 'always'\n"),
        [
            "web.toml:3:11: error: service `web`: restart: `always` is not allowed for a oneshot service (use `on-failure`)"
        ]
    );
}

#[test]
fn probes() {
    let (s, w) = one(
        "exec = 'x'\nready-check = { exec = 'pg_isready -q' }\nhealth-check = { http = 'http://127.0.0.1:8080/health', interval = '1s', timeout = '2s', retries = 5 }\n",
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    let r = s.ready_check.unwrap();
    assert_eq!(
        r.kind,
        ProbeKind::Exec(vec!["pg_isready".into(), "-q".into()])
    );
    assert_eq!(r.interval, Duration::from_millis(100));
    let h = s.health_check.unwrap();
    assert_eq!(
        h.kind,
        ProbeKind::Http("http://127.0.0.1:8080/health".into())
    );
    assert_eq!(
        (h.interval, h.timeout, h.retries),
        (Duration::from_secs(1), Duration::from_secs(2), 5)
    );
    let (s, _) = one("exec = 'x'\nhealth-check = { tcp = '[::1]:5432' }\n").unwrap();
    let h = s.health_check.unwrap();
    assert_eq!(h.kind, ProbeKind::Tcp("[::1]:5432".into()));
    assert_eq!(
        (h.interval, h.timeout, h.retries),
        (Duration::from_secs(10), Duration::from_secs(5), 3)
    );

    let e = one_err(
        "exec = 'x'\nready-check = { tcp = '127.0.0.1:1', http = 'http://h/' }\nhealth-check = { interval = '1s' }\n[ready-check]\n",
    );
    assert!(e[0].starts_with("web.toml:4:"), "{e:?}");
    let e = one_err(
        "exec = 'x'\nready-check = { tcp = '127.0.0.1:1', http = 'https://h/' }\nhealth-check = { intervall = '1s', exec = [] }\n",
    );
    assert_eq!(
        e,
        [
            "web.toml:2:38: error: service `web`: ready-check: `tcp` and `http` both given: a probe is one of exec, tcp or http",
            "web.toml:2:45: error: service `web`: ready-check.http: `https://h/`: https is not supported, use an http:// url",
            "web.toml:3:18: error: service `web`: unknown key `health-check.intervall`, did you mean `interval`?",
            "web.toml:3:43: error: service `web`: health-check.exec: the command is empty",
        ]
    );
    assert_eq!(
        one_err("exec = 'x'\nready-check = { interval = '1s' }\n"),
        ["web.toml:2:15: error: service `web`: ready-check: needs one of `exec`, `tcp` or `http`",]
    );
}

#[test]
fn log_forms() {
    let (t, r) = load_dir_files(&[("web.toml", "exec = 'x'\nlog = { file = 'web.log' }\n")]);
    let s = &r.expect("valid").config.services[0];
    assert_eq!(
        s.log,
        [LogTarget::File {
            path: std::path::absolute(&t.0).unwrap().join("web.log"),
            max_size: 10 << 20,
            keep: 5
        }]
    );
    let (s, _) = one("exec = 'x'\nlog = []\n").unwrap();
    assert!(s.log.is_empty());
    let e = one_err(
        "exec = 'x'\nlog = ['inherit', 'stdout', { max-size = '0', keep = 1.5 }, { file = '/l', size = 1 }, 3]\n",
    );
    assert_eq!(
        e,
        [
            "web.toml:2:19: error: service `web`: log: invalid value `stdout`, expected \"inherit\" or a table such as { file = \"stdout\" }",
            "web.toml:2:42: error: service `web`: log.max-size: must be more than 0",
            "web.toml:2:54: error: service `web`: log.keep: expected an integer, found a float",
            "web.toml:2:76: error: service `web`: unknown key `log.size` (valid keys: file, max-size, keep)",
            "web.toml:2:88: error: service `web`: log: expected \"inherit\", a table { file = ... } or an array of these, found an integer",
        ]
    );
    assert_eq!(
        one_err("exec = 'x'\nlog = { keep = 1 }\n"),
        ["web.toml:2:7: error: service `web`: log: the table needs `file`"]
    );
}

#[test]
fn cgroup_limits() {
    let (s, w) =
        one("exec = 'x'\nmemory-max = '512MiB'\ntasks-max = 64\ncpu-max = '150%'\n").unwrap();
    assert_eq!(s.memory_max, Some(512 << 20));
    assert_eq!(s.tasks_max, Some(64));
    assert_eq!(s.cpu_max, Some((150_000, 100_000)));
    assert!(w.is_empty(), "{w:?}");
    let (s, _) = one("exec = 'x'\nmemory-max = 4096\ntasks-max = 'infinity'\n").unwrap();
    assert_eq!((s.memory_max, s.tasks_max), (Some(4096), None));
    let e = one_err("exec = 'x'\nmemory-max = '1 parsec'\ntasks-max = 0\ncpu-max = 50\n");
    let errors: Vec<&String> = e.iter().filter(|l| l.contains("error")).collect();
    assert_eq!(
        errors,
        [
            "web.toml:2:14: error: service `web`: memory-max: invalid size `1 parsec`: expected a number of bytes with an optional unit (K, M, G, T, KiB, MiB…), e.g. \"10MiB\"",
            "web.toml:3:13: error: service `web`: tasks-max: 0 is out of range (1 to 9223372036854775807)",
            "web.toml:4:11: error: service `web`: cpu-max: expected a string, found an integer",
        ]
    );
}

#[test]
fn environment_and_files() {
    let e = one_err("exec = 'x'\nenv-file = ['', 3]\n[environment]\n'A=B' = 'x'\n");
    assert_eq!(
        e,
        [
            "web.toml:2:13: error: service `web`: env-file: invalid path ``",
            "web.toml:2:17: error: service `web`: env-file: expected a string, found an integer",
            "web.toml:4:1: error: service `web`: environment: invalid variable name `A=B`",
        ]
    );
}

#[test]
fn every_not_supported_service_key_warns() {
    let values = [
        ("bus-name", "'org.x'"),
        ("ready-check", "{ tcp = 'h:1' }"),
        ("health-check", "{ tcp = 'h:1' }"),
        ("watchdog", "'5s'"),
        ("notify-access", "'main'"),
        ("pid-file", "'/run/x.pid'"),
        ("on-exit", "'./finish'"),
        ("memory-max", "'1G'"),
        ("tasks-max", "10"),
        ("cpu-max", "'50%'"),
        ("ready-fd", "3"),
    ];
    for &(section, key) in NOT_SUPPORTED {
        if section != "service" {
            continue;
        }
        let value = values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let value = value.unwrap_or_else(|| panic!("add a test value for {key}"));
        let (_, w) = one(&format!("exec = 'x'\n{key} = {value}\n")).unwrap();
        let want =
            format!("web.toml:2:1: warning: service `web`: {key}: not supported yet, ignored");
        assert!(w.contains(&want), "{key}: {w:?}");
    }
    for &(section, ty) in NOT_SUPPORTED {
        if section != "type" {
            continue;
        }
        let extra = match ty {
            "notify-fd" => "ready-fd = 3\n",
            "dbus" => "bus-name = 'x'\n",
            _ => "",
        };
        let (s, w) = one(&format!("exec = 'x'\ntype = '{ty}'\n{extra}")).unwrap();
        assert_eq!(s.kind.name(), ty);
        assert!(
            has(
                &w,
                &format!("type `{ty}`: readiness for this type is not supported yet")
            ),
            "{w:?}"
        );
    }
}

#[test]
fn native_confinement_keys_are_read_and_checked() {
    use crate::model::{ProtectHome, ProtectSystem};
    let t = TempDir::new("native-confine");
    t.write(
        "a.toml",
        "exec = \"x\"\nno-new-privileges = true\ncapabilities = [\"CAP_NET_RAW\", \"chown\"]\n\
         protect-system = \"strict\"\nprotect-home = \"tmpfs\"\nrlimits = { nofile = 65536, core = \"0:infinity\" }\n\
         umask = \"077\"\nread-write-paths = [\"-/var/lib/a\"]\n",
    );
    let l = load(&t.0).map_err(|d| shown(&t.0, &d)).expect("valid");
    let c = &l.config.services[0].confine;
    assert!(c.no_new_privileges);
    assert_eq!(c.capabilities, Some((1 << 13) | 1));
    assert_eq!(c.protect_system, ProtectSystem::Strict);
    assert_eq!(c.protect_home, ProtectHome::Tmpfs);
    assert_eq!(c.rlimits.len(), 2);
    assert_eq!(c.umask, Some(0o077));
    assert!(c.read_write_paths[0].optional);
    let t = TempDir::new("native-confine-bad");
    t.write(
        "a.toml",
        "exec = \"x\"\ncapabilities = [\"CAP_FLY\"]\nprotect-system = \"yes\"\nrlimits = { files = 1, nofile = \"2:1\" }\numask = 18\nread-only-paths = [\"rel\"]\n",
    );
    let e = shown(&t.0, &load(&t.0).unwrap_err()).join("\n");
    for want in [
        "a.toml:2:17: error: service `a`: capabilities: unknown capability `CAP_FLY`",
        "a.toml:3:18: error: service `a`: protect-system: expected true, false, \"full\" or \"strict\"",
        "a.toml:4:13: error: service `a`: unknown key `files`",
        "a.toml:4:33: error: service `a`: rlimits.nofile: the soft limit is above the hard one",
        "a.toml:5:9: error: service `a`: umask: an octal string such as \"0027\", not a number",
        "a.toml:6:20: error: service `a`: read-only-paths: `rel`: the path must be absolute",
    ] {
        assert!(e.contains(want), "{want}\nnot in:\n{e}");
    }
}

#[test]
fn privileged_commands_and_their_errors() {
    use crate::model::Privilege;
    let (s, _) = one("exec = { exec = 'main', privileged = 'full' }\n\
         pre-exec = [{ exec = ['a'], privileged = 'credentials', ignore-failure = true }, '-b']\n")
    .unwrap();
    assert_eq!(
        (s.exec.clone(), s.exec_privilege),
        (vec!["main".to_string()], Privilege::Full)
    );
    let p: Vec<_> = (s.pre_exec.iter())
        .map(|c| (c.argv[0].as_str(), c.ignore_failure, c.privilege))
        .collect();
    assert_eq!(
        p,
        [
            ("a", true, Privilege::Credentials),
            ("b", true, Privilege::Service)
        ]
    );
    assert_eq!(
        one_err("exec = { exec = 'a', privileged = 'root' }"),
        [
            "web.toml:1:35: error: service `web`: exec.privileged: invalid value `root`, expected one of: full, credentials, no"
        ]
    );
    assert_eq!(
        one_err("exec = { privileged = 'full' }"),
        ["web.toml:1:8: error: service `web`: exec: the table needs `exec`"]
    );
    let e = one_err("exec = { exec = 'a', user = 'x' }");
    assert!(
        e[0].starts_with("web.toml:1:22: error: service `web`: unknown key `exec.user`"),
        "{e:?}"
    );
    assert_eq!(
        one_err("exec = 'a'\nstop-exec = [{ exec = 'a', privileged = 'full' }, ['b']]"),
        [
            "web.toml:2:13: error: service `web`: stop-exec: its commands run as one process: they must all have the same `privileged`"
        ]
    );
}
