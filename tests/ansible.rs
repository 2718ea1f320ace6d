//! Ansible's `ansible.builtin.systemd_service` module (ansible-core from
//! PyPI, against localhost) drives a unit through tend's `systemctl`
//! symlink: started, stopped, restarted, enabled, disabled, masked, with
//! CHANGED / OK as idempotence asks, and tend's state really changed
//! (issue 11, "how it is shown").
//!
//! `./test` installs ansible-core into `target/test-venv` when missing
//! (`TEND_TEST_VENV` overrides where); without it the test is skipped,
//! and fails under `CI=true`. Ansible runs outside tend's PID namespace,
//! as a configuration tool would, and reaches tend through `TEND_SOCKET`.

mod common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// An ansible run: a Python start-up and a module; generous on a loaded
/// machine.
const ANSIBLE_T: Duration = Duration::from_secs(120);

fn venv() -> Option<PathBuf> {
    let dir = std::env::var_os("TEND_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let ok = dir.join("bin/ansible").is_file() && dir.join("bin/python").exists();
    if !ok {
        skip(&format!(
            "ansible-core is not installed in {} (./test installs it from PyPI)",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

struct Ansible {
    venv: PathBuf,
    bin: PathBuf,
    home: PathBuf,
}

/// What the module answered for localhost.
struct Answer {
    failed: bool,
    changed: bool,
    result: Value,
    raw: String,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Ansible {
    fn new(t: &Tend) -> Ansible {
        let bin = t.scratch.join("bin");
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(TEND, bin.join("systemctl")).unwrap();
        let home = t.scratch.join("home");
        fs::create_dir_all(&home).unwrap();
        Ansible {
            venv: venv().unwrap(),
            bin,
            home,
        }
    }

    /// `ansible localhost -c local -m MODULE -a ARGS`, its JSON answer.
    fn run(&self, t: &Tend, module: &str, args: &str) -> Answer {
        // systemctl first; the shell tools ansible runs after.
        let system = std::env::var("PATH").unwrap_or_default();
        let path = format!("{}:{system}", self.bin.display());
        let python = self.venv.join("bin/python");
        let mut c = Command::new(self.venv.join("bin/ansible"));
        c.args(["localhost", "-c", "local", "-m", module, "-a", args])
            // Interpreter discovery fails on a pyenv machine, and the
            // venv's is the one with ansible anyway.
            .arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()))
            .env("PATH", path)
            .env("TEND_SOCKET", &t.socket)
            .env("HOME", &self.home)
            .env("ANSIBLE_HOME", self.home.join(".ansible"))
            .env("ANSIBLE_LOCAL_TEMP", self.home.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", self.home.join("tmp"))
            // `localhost | CHANGED => {JSON}` (ansible-core has no json
            // callback of its own).
            .env("ANSIBLE_STDOUT_CALLBACK", "minimal")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_LOCALHOST_WARNING", "0")
            .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let out = run_cmd(&mut c, ANSIBLE_T);
        assert!(out.code != -1, "ansible did not finish: {out}");
        let (word, json) = (out.stdout.strip_prefix("localhost | "))
            .and_then(|rest| rest.split_once(" => "))
            .unwrap_or_else(|| panic!("no result for localhost: {out}"));
        let result: Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("ansible's answer is not JSON: {e}: {out}"));
        Answer {
            failed: word != "SUCCESS" && word != "CHANGED",
            changed: result["changed"] == true,
            result,
            raw: format!("{module} {args}: {out}"),
        }
    }

    /// `systemd_service` with ARGS, which must succeed and say CHANGED or
    /// OK as `changed` says.
    fn expect(&self, t: &Tend, args: &str, changed: bool) -> Answer {
        let a = self.run(t, "ansible.builtin.systemd_service", args);
        assert!(!a.failed, "failed: {a}");
        assert_eq!(a.changed, changed, "changed: {a}");
        a
    }
}

const WEB: &str = "[Unit]\nDescription=web\n[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=multi-user.target\n";

#[test]
fn ansible_starts_stops_restarts_enables_and_reads_a_unit() {
    if venv().is_none() {
        return;
    }
    let t = Tend::builder().file("svc/web.service", WEB).start();
    t.wait_state("web", "ready");
    let a = Ansible::new(&t);

    // Reading: the module's status is `systemctl show`.
    let r = a.expect(&t, "name=web state=started", false);
    let status = &r.result["status"];
    assert_eq!(status["ActiveState"], "active", "{r}");
    assert_eq!(status["SubState"], "running", "{r}");
    assert_eq!(status["LoadState"], "loaded", "{r}");
    assert_eq!(status["UnitFileState"], "enabled", "{r}");
    assert_eq!(
        status["MainPID"],
        t.status_of("web")["pid"].to_string(),
        "{r}"
    );

    a.expect(&t, "name=web state=stopped", true);
    assert_eq!(t.state("web"), "down");
    let r = a.expect(&t, "name=web.service state=stopped", false);
    assert_eq!(r.result["status"]["ActiveState"], "inactive", "{r}");

    a.expect(&t, "name=web state=started", true);
    t.wait_state("web", "ready");
    a.expect(&t, "name=web state=started", false);

    let pid = t.status_of("web")["pid"].clone();
    a.expect(&t, "name=web state=restarted", true);
    t.wait_state("web", "ready");
    assert_ne!(t.status_of("web")["pid"], pid, "a new process");

    // enable/disable: autostart recorded in the definitions directory.
    let r = a.expect(&t, "name=web enabled=false", true);
    assert_eq!(r.result["enabled"], false, "{r}");
    assert_eq!(t.status_of("web")["autostart"], false);
    assert!(t.dir.join("svc/autostart.d/web").is_file());
    assert_eq!(t.state("web"), "ready", "disable stops nothing");
    a.expect(&t, "name=web enabled=false", false);
    a.expect(&t, "name=web enabled=true", true);
    assert_eq!(t.status_of("web")["autostart"], true);
    a.expect(&t, "name=web enabled=true", false);

    // daemon-reload, and a service that is not there.
    a.expect(&t, "daemon_reload=true", false);
    let r = a.run(
        &t,
        "ansible.builtin.systemd_service",
        "name=nosuch state=started",
    );
    assert!(r.failed, "{r}");
    assert!(
        r.result["msg"]
            .as_str()
            .is_some_and(|m| m.contains("Could not find the requested service nosuch")),
        "{r}"
    );
}

#[test]
fn ansible_masks_and_unmasks_a_unit() {
    if venv().is_none() {
        return;
    }
    let t = Tend::builder().file("svc/web.service", WEB).start();
    t.wait_state("web", "ready");
    let a = Ansible::new(&t);
    let link = t.dir.join("svc/spare.service");
    a.expect(&t, "name=spare masked=true", true);
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("/dev/null"));
    let r = a.expect(&t, "name=spare masked=true", false);
    assert_eq!(r.result["status"]["LoadState"], "masked", "{r}");
    // A masked unit cannot be started.
    let r = a.run(
        &t,
        "ansible.builtin.systemd_service",
        "name=spare state=started",
    );
    assert!(r.failed, "{r}");
    assert!(r.raw.contains("Unit spare.service is masked"), "{r}");
    a.expect(&t, "name=spare masked=false", true);
    assert!(fs::symlink_metadata(&link).is_err(), "the link is removed");
    a.expect(&t, "name=spare masked=false", false);
    assert_eq!(t.state("web"), "ready", "the others untouched");
}
