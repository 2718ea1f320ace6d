//! Process attributes and output of systemd units (systemd.exec(5)):
//! `Nice=`, `OOMScoreAdjust=`, `SupplementaryGroups=`, `PassEnvironment=`,
//! `UnsetEnvironment=`, `StandardOutput=`/`StandardError=`/`StandardInput=`
//! and `SyslogIdentifier=`, read back from /proc and from files.

mod common;
use common::*;
use std::fs;

/// The field `n` (1-based) of /proc/PID/stat, after the command name.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3).map(str::to_string)
}

fn sleeper(t: &Tend, cmd: &str) -> i32 {
    let mut pid = 0;
    wait_until(&format!("`{cmd}` runs"), T, || {
        pid = (t.others().iter())
            .find(|p| p.cmdline == cmd)
            .map_or(0, |p| p.pid);
        pid != 0
    });
    pid
}

#[test]
fn nice_oom_score_adjust_and_supplementary_groups_are_set_before_exec() {
    let t = Tend::builder()
        .file(
            "svc/attrs.service",
            "[Service]\nExecStart=/bin/sleep 1101\nNice=7\nOOMScoreAdjust=345\n\
             User=nobody\nSupplementaryGroups=daemon\nSupplementaryGroups=adm\n",
        )
        .start();
    let pid = sleeper(&t, "/bin/sleep 1101");
    // Field 19 of stat is the nice value.
    assert_eq!(stat_field(pid, 19).as_deref(), Some("7"));
    assert_eq!(
        fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim(),
        "345"
    );
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let groups: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap()
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    let gid = |name: &str| {
        fs::read_to_string("/etc/group")
            .unwrap()
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name)).then(|| f[2].parse::<u32>().unwrap())
            })
            .unwrap()
    };
    for g in ["daemon", "adm"] {
        assert!(groups.contains(&gid(g)), "{g} in {groups:?}");
    }
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.contains("65534"), "{uid_line}");
}

#[test]
fn pass_environment_and_unset_environment_shape_what_the_service_sees() {
    let t = Tend::builder()
        .env("KEEP_ME", "kept")
        .env("NOT_PASSED", "dropped")
        .env("TZ", "UTC")
        .file(
            "svc/env.service",
            "[Service]\nPassEnvironment=KEEP_ME TZ MISSING_ONE\nEnvironment=A=1 B=2 C=3\n\
             UnsetEnvironment=B C=4 TZ\nExecStart=/bin/sh -c 'env > {dir}/env; exec sleep 1102'\n",
        )
        .start();
    sleeper(&t, "sleep 1102");
    let env = fs::read_to_string(t.dir.join("env")).unwrap();
    let has = |kv: &str| env.lines().any(|l| l == kv);
    let named = |k: &str| env.lines().any(|l| l.starts_with(&format!("{k}=")));
    assert!(has("KEEP_ME=kept"), "{env}");
    assert!(!named("NOT_PASSED"), "{env}");
    assert!(!named("MISSING_ONE"), "{env}");
    assert!(has("A=1") && has("C=3"), "C=4 does not match C=3: {env}");
    assert!(!named("B") && !named("TZ"), "{env}");
    assert!(
        has("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"),
        "systemd's PATH: {env}"
    );
    assert!(named("TEND_SERVICE"), "{env}");
}

#[test]
fn standard_output_and_error_go_to_files_null_or_the_log_with_syslog_identifier() {
    let t = Tend::builder()
        .file("in.txt", "from stdin\n")
        .file("out.log", "old line one\n")
        .file(
            "svc/files.service",
            "[Service]\nStandardInput=file:{dir}/in.txt\nStandardOutput=append:{dir}/out.log\n\
             StandardError=truncate:{dir}/err.log\n\
             ExecStart=/bin/sh -c 'cat; echo to-stdout; echo to-stderr >&2; exec sleep 1103'\n",
        )
        .file(
            "svc/quiet.service",
            "[Service]\nStandardOutput=null\nStandardError=journal\nExecStart=/bin/sh -c 'echo hidden; echo shown-err >&2; exec sleep 1104'\n",
        )
        .file(
            "svc/named.service",
            "[Service]\nSyslogIdentifier=my-daemon\nStandardOutput=journal\nStandardError=inherit\n\
             ExecStart=/bin/sh -c 'echo hello from named; exec sleep 1105'\n",
        )
        .file(
            "svc/same.service",
            "[Service]\nStandardOutput=file:{dir}/same.log\n\
             ExecStart=/bin/sh -c 'echo one; echo two >&2; echo three; exec sleep 1106'\n",
        )
        .start();
    for s in ["sleep 1103", "sleep 1104", "sleep 1105", "sleep 1106"] {
        sleeper(&t, s);
    }
    assert_eq!(
        fs::read_to_string(t.dir.join("out.log")).unwrap(),
        "old line one\nfrom stdin\nto-stdout\n"
    );
    assert_eq!(
        fs::read_to_string(t.dir.join("err.log")).unwrap(),
        "to-stderr\n"
    );
    // StandardError= defaults to where stdout goes, through one file.
    assert_eq!(
        fs::read_to_string(t.dir.join("same.log")).unwrap(),
        "one\ntwo\nthree\n"
    );
    let out = t.wait_stdout_line("my-daemon | hello from named", T);
    assert!(!out.contains("named | hello"), "{out}");
    t.wait_stdout_line("quiet | shown-err", T);
    let out = t.stdout();
    assert!(!out.contains("quiet | hidden"), "{out}");
    assert!(
        !out.contains("files | ") && !out.contains("same | "),
        "{out}"
    );
}
