//! `tend convert PATH` (SPEC §9): the native TOML it prints loads into the
//! same services as PATH, for every format and every corpus at hand.

mod common;
use common::*;
use std::path::Path;

/// Loads `path`, converts it, loads the conversion: the same services
/// (their `source` apart), or what differs.
fn round_trip(path: &Path) -> Result<usize, String> {
    let original = tend::load::load(path).map_err(|d| format!("{path:?} does not load: {d:?}"))?;
    let out = tend_cmd(&["convert", path.to_str().unwrap()]);
    if out.code != 0 {
        return Err(format!("convert failed: {out}"));
    }
    let scratch = Scratch::new();
    let file = scratch.write("converted.toml", &out.stdout);
    let again = tend::load::load(&file)
        .map_err(|d| format!("the conversion does not load: {d:?}\n{}", out.stdout))?;
    let strip = |c: &tend::model::Config| {
        let mut c = c.clone();
        for s in &mut c.services {
            s.source = Default::default();
        }
        c
    };
    let (a, b) = (strip(&original.config), strip(&again.config));
    for (x, y) in a.services.iter().zip(&b.services) {
        if x != y {
            return Err(format!(
                "{} differs:\n{x:#?}\n{y:#?}\n{}",
                x.name, out.stdout
            ));
        }
    }
    if a != b {
        return Err(format!("the configurations differ:\n{a:#?}\n{b:#?}"));
    }
    Ok(a.services.len())
}

#[test]
fn the_bundled_example_converts_to_itself() {
    let n = round_trip(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")).unwrap();
    assert!(n >= 3, "{n} services");
}

#[test]
fn every_native_key_survives_conversion() {
    let scratch = Scratch::new();
    scratch.write("defs/base.toml", "exec = \"sleep 1000\"\n");
    scratch.write(
        "defs/more.toml",
        "exec = \"sleep 1000\"\nprotect-system = true\nprotect-home = true\ncapabilities = []\n",
    );
    scratch.write(
        "defs/most.toml",
        "exec = \"sleep 1000\"\nprotect-system = \"full\"\nprotect-home = \"tmpfs\"\n",
    );
    scratch.write("defs/env", "FROM_FILE=1\n");
    // Per-command privileges (systemd's `+` and `!`).
    scratch.write(
        "defs/privileged.toml",
        r#"exec = { exec = "sleep 1000", privileged = "credentials" }
pre-exec = [{ exec = ["install", "-d", "/run/x"], privileged = "full" }, { exec = "-true", privileged = "credentials" }, "-false"]
post-start = [{ exec = ["true"], privileged = "full", ignore-failure = true }]
exec-condition = [{ exec = "true", privileged = "credentials" }]
stop-exec = [{ exec = "kill -USR1 $MAINPID", privileged = "full" }, { exec = ["true"], privileged = "full" }]
reload-exec = { exec = "true", privileged = "credentials" }
on-exit = { exec = ["true"], privileged = "full" }
user = "nobody"
"#,
    );
    scratch.write(
        "defs/all.toml",
        r#"exec = ["sh", "-c", "echo \"$X\" 'it''s' \\ \t"]
type = "notify"
pre-exec = ["mkdir -p /tmp/x", ["-rm", "/tmp/x/stale"]]
listen = ["tcp:127.0.0.1:8080", { address = "unix:/run/x.sock", name = "ctl" }, "udp:[::1]:53"]
requires = ["base"]
wants = ["base"]
after = ["base"]
restart = "always"
restart-delay = "1500ms"
restart-delay-max = "2m"
start-limit-burst = 9
start-limit-interval = "90s"
start-limit-action = "give-up"
start-timeout = "infinity"
stop-signal = "INT"
stop-timeout = "3s"
stop-exec = ["kill", "-USR1", "$MAINPID"]
reload-signal = "USR2"
reload-exec = "/bin/true reload"
watchdog = "20s"
notify-access = "main"
success-exit-codes = [0, 3, 75]
success-exit-signals = ["USR1", "37"]
restart-prevent-exit-codes = [4]
restart-prevent-exit-signals = ["KILL"]
aliases = ["every"]
on-exit-args = "s6"
on-exit-timeout = "4s"
pipe-to = "base"
user = "nobody"
group = "nogroup"
working-dir = "/tmp"
env-file = "env"
on-exit = ["/bin/true"]
critical = true
autostart = false
log = ["inherit", { file = "/tmp/x.log", max-size = "1MiB", keep = 2 }]
memory-max = "64MiB"
tasks-max = 20
cpu-max = "12.5%"
expand-env = true
ready-check = { tcp = "127.0.0.1:1", interval = "250ms" }
health-check = { http = "http://127.0.0.1:1/h", interval = "1s", timeout = "2s", retries = 4 }
no-new-privileges = true
capabilities = ["CAP_NET_BIND_SERVICE", "chown"]
ambient-capabilities = ["CAP_NET_BIND_SERVICE"]
private-tmp = true
protect-system = "strict"
protect-home = "read-only"
read-only-paths = ["/srv", "-/opt/maybe"]
read-write-paths = ["/var/lib/all"]
inaccessible-paths = ["-/etc/secret"]
private-devices = true
private-network = true
rlimits = { nofile = "1024:4096", core = "infinity", cpu = "2min", nice = "-5", as = "0:infinity", memlock = "64K" }
umask = "0027"
environment = { X = "a \"quoted\" value", "WEIRD.KEY" = "ü\n" }
"#,
    );
    scratch.write(
        "defs/tend.toml",
        "[supervisor]\nsocket-read-group = \"adm\"\nshutdown-timeout = \"7s\"\nevent-retention = 50\nevent-journal = { file = \"ev.jsonl\", max-size = \"1MiB\", keep = 3 }\nhttp = \"127.0.0.1:9\"\n",
    );
    assert_eq!(round_trip(&scratch.join("defs")).unwrap(), 5);
}

#[test]
fn a_service_directory_with_its_logger_and_runit_files_converts() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    for (f, text) in [
        ("sv/web/run", "#!/bin/sh\nexec sleep 1000\n"),
        ("sv/web/check", "#!/bin/sh\nexit 0\n"),
        ("sv/web/control/t", "#!/bin/sh\nexit 0\n"),
        ("sv/web/control/h", "#!/bin/sh\nexit 0\n"),
        ("sv/web/finish", "#!/bin/sh\nexit 0\n"),
        ("sv/web/log/run", "#!/bin/sh\nexec svlogd -tt ./main\n"),
    ] {
        let p = scratch.write(f, text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    scratch.write("sv/web/timeout-finish", "300\n");
    scratch.write("sv/web/down-signal", "HUP\n");
    assert_eq!(round_trip(&scratch.join("sv")).unwrap(), 2);
    let out = tend_cmd(&["convert", scratch.join("sv").to_str().unwrap()]);
    for line in [
        "[service.\"web/log\"]",
        "pipe-to = \"web/log\"",
        "on-exit-timeout = \"300ms\"",
        "stop-exec = [\"./control/t\"]",
    ] {
        assert!(out.stdout.contains(line), "{line} missing:\n{out}");
    }
}

#[test]
fn vendor_units_convert_to_the_same_services() {
    let dir = Path::new("/lib/systemd/system");
    if !dir.is_dir() {
        skip("no /lib/systemd/system on this machine");
        return;
    }
    let n = round_trip(dir).unwrap();
    assert!(n > 0);
}

#[test]
fn convert_reports_errors_like_check() {
    let scratch = Scratch::new();
    scratch.write("bad/x.toml", "exec = 3\n");
    let out = tend_cmd(&["convert", scratch.join("bad").to_str().unwrap()]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("x.toml:1:8: error"), "{out}");
    assert_eq!(out.stdout, "");
}

#[test]
fn every_corpus_converts_to_the_same_services() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths = vec![fixtures.join("units")];
    for dir in ["s6rc", "supervisord"] {
        let mut entries: Vec<_> = std::fs::read_dir(fixtures.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_none_or(|x| x != "md"))
            // (The s6 trees are images' roots: PATH is their /etc.)
            .map(|p| {
                if p.join("etc").is_dir() {
                    p.join("etc")
                } else {
                    p
                }
            })
            .collect();
        entries.sort();
        paths.extend(entries);
    }
    let mut total = 0;
    for p in &paths {
        // (A corpus entry that does not load on its own is not one to
        // convert; the loaders' tests say which and why.)
        if tend::load::load(p).is_err() {
            continue;
        }
        match round_trip(p) {
            Ok(n) => total += n,
            // The one documented exception (docs/BEHAVIOUR.md, convert): a
            // unit's Requires= on a unit that is not there.
            Err(e)
                if e.contains("the conversion does not load")
                    && e.lines().next().is_some_and(|l| {
                        l.matches("severity: Error").count()
                            == l.matches("requires: unknown service").count()
                    }) => {}
            Err(e) => panic!("{}: {e}", p.display()),
        }
    }
    assert!(total > 50, "{total} services converted");
}
