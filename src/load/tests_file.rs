//! Tests of the single-file form, the supervisor table, and robustness
//! against arbitrary input.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tests::{TempDir, load_dir_files, one_err, shown};
use super::*;

fn single(text: &str) -> (TempDir, Result<Loaded, Vec<String>>) {
    let t = TempDir::new("file");
    let p = t.write("all.toml", text);
    let r = load(&p).map_err(|d| shown(&t.0, &d));
    (t, r)
}

#[test]
fn single_file_form() {
    let (t, r) = single(
        "[supervisor]\nsocket = 'tend.sock'\nshutdown-timeout = '1m'\nevent-retention = 50\nevent-journal = '/var/log/ev.jsonl'\nsocket-group = 'wheel'\n\n[service.zeta]\nexec = 'z'\n\n[service.alpha]\nexec = 'a'\nrequires = ['zeta']\n",
    );
    let l = r.expect("valid");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let abs = std::path::absolute(&t.0).unwrap();
    let sup = &l.config.supervisor;
    assert_eq!(sup.socket, Some(abs.join("tend.sock")));
    assert_eq!(sup.shutdown_timeout, Some(Duration::from_secs(60)));
    assert_eq!(sup.event_retention, 50);
    assert_eq!(
        sup.event_journal
            .as_ref()
            .map(|j| (j.path.as_path(), j.max_size, j.keep)),
        Some((Path::new("/var/log/ev.jsonl"), 10 << 20, 5))
    );
    assert_eq!(sup.socket_group.as_deref(), Some("wheel"));
    let names: Vec<&str> = l.config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(l.config.services[0].working_dir, abs);
    assert_eq!(l.config.services[0].source, t.0.join("all.toml"));
}

#[test]
fn single_file_errors() {
    let (_t, r) = single(
        "exec = 'x'\nservices = 1\n[supervisor]\nsocket = ''\nhttp = 'localhost'\ncgroup-root = '/sys/fs/cgroup/tend'\nshutdown_timeout = '1s'\nevent-retention = 0\n[service.'bad name']\nexec = 'x'\n[service.ok]\nexec = 'x'\nrestart = 'never'\n[service.s2]\n",
    );
    assert_eq!(
        r.unwrap_err(),
        [
            "all.toml:1:1: error: all.toml: unknown key `exec`: this file holds `[supervisor]` and `[service.NAME]` tables; put service keys under `[service.NAME]`, or define the service as NAME.toml in a directory",
            "all.toml:2:1: error: all.toml: unknown key `services`, did you mean `service`?",
            "all.toml:4:10: error: supervisor: socket: must not be empty",
            "all.toml:5:8: error: supervisor: http: `localhost` has no port: expected host:port, e.g. \"127.0.0.1:8080\"",
            "all.toml:7:1: error: supervisor: unknown key `shutdown_timeout`, did you mean `shutdown-timeout`?",
            "all.toml:8:19: error: supervisor: event-retention: 0 is out of range (1 to 100000000)",
            "all.toml:9:10: error: invalid service name `bad name`: ` ` is not allowed (use letters, digits, _ . @ -)",
            "all.toml:13:11: error: service `ok`: restart: invalid value `never`, expected one of: no, on-success, on-failure, on-abnormal, on-abort, on-watchdog, always",
            "all.toml:14:1: error: service `s2`: missing required key `exec`",
        ]
    );
}

#[test]
fn supervisor_keys_are_stored_without_warnings() {
    let (_t, r) = single(
        "[supervisor]\nhttp = '127.0.0.1:9100'\non-exit = './hook'\ncgroup-root = 'tend'\n[service.a]\nexec = 'a'\n",
    );
    let l = r.expect("valid");
    assert_eq!(l.config.supervisor.http.as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(l.config.supervisor.on_exit, Some(vec!["./hook".into()]));
    assert_eq!(l.config.supervisor.cgroup_root, Some(PathBuf::from("tend")));
    let w = shown(Path::new("/nonexistent"), &l.warnings);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn toml_syntax_error_is_located() {
    let (_t, r) = single("[service.a]\nexec = 'x\n");
    assert_eq!(
        r.unwrap_err(),
        ["all.toml:2:10: error: invalid toml: invalid literal string"]
    );
    let (_t, r) = single("[service.a]\nexec = 'x'\nexec = 'y'\n");
    let e = r.unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("all.toml:3:1: error: invalid toml: duplicate key"),
        "{e:?}"
    );
}

#[test]
fn datetime_values_are_a_type_error() {
    assert_eq!(
        one_err("exec = 1979-05-27T07:32:00Z\n"),
        [
            "web.toml:1:8: error: service `web`: exec: expected an array of strings or a command string, found a datetime"
        ]
    );
}

#[test]
fn diagnostic_display() {
    let d = Diagnostic {
        file: PathBuf::from("a/b.toml"),
        line: 3,
        col: 7,
        severity: Severity::Warning,
        message: "m".into(),
    };
    assert_eq!(d.to_string(), "a/b.toml:3:7: warning: m");
    let d = Diagnostic {
        line: 0,
        col: 0,
        severity: Severity::Error,
        ..d
    };
    assert_eq!(d.to_string(), "a/b.toml: error: m");
}

/// Every prefix of a definition (cut anywhere) loads without panicking,
/// and every error has a position inside the file.
#[test]
fn truncated_input_never_panics() {
    let native = "exec = \"sh -c 'echo \\\"hi\\\"'\"\ntype = 'notify-fd'\nready-fd = 3\nrequires = ['b']\nlog = [{ file = 'x', max-size = '1M' }, 'inherit']\nready-check = { tcp = 'h:1' }\n[environment]\né = 'ü'\n";
    let unit = "[Unit]\nAfter=b.service x.target\n[Service]\nExecStart=-/bin/a 'b c' \\\n d\nEnvironment=\"A=1\"\nRestartSec=1min 5s\n";
    for cut in (0..=native.len()).filter(|&i| native.is_char_boundary(i)) {
        let (_t, r) = load_dir_files(&[("a.toml", &native[..cut]), ("b.toml", "exec = 'b'")]);
        let _ = r;
    }
    for cut in (0..=unit.len()).filter(|&i| unit.is_char_boundary(i)) {
        let (_t, r) = load_dir_files(&[("a.service", &unit[..cut]), ("b.toml", "exec = 'b'")]);
        if let Err(e) = r {
            assert!(!e.is_empty());
        }
    }
}
