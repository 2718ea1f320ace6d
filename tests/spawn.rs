//! What a service's process gets (SPEC §2; issue 2 point 4): argv,
//! environment, env files, working dir, user/group, its own process group,
//! a clean signal mask.

mod common;
use common::*;

/// Runs `script` once (restart no) and returns its output lines without the
/// `NAME | ` prefix.
fn output_of(extra: &str, script: &str) -> Vec<String> {
    let t = Tend::builder()
        .file(
            "envfile",
            "FROM_FILE=file value\n# a comment\nOVERRIDDEN=from-file\n",
        )
        .svc(
            "probe",
            &format!("{}\nrestart = \"no\"\n{extra}\n", sh(script)),
        )
        .start();
    let mut e = t.follow();
    e.expect_ev("probe", "down", T);
    let out = t.wait_stdout_line("probe | END", T);
    out.lines()
        .filter_map(|l| l.strip_prefix("probe | "))
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn environment_and_env_files_reach_the_service() {
    let lines = output_of(
        "environment = { GREETING = \"hello there\", OVERRIDDEN = \"from-table\" }\nenv-file = [\"{dir}/envfile\"]",
        "echo \"G=$GREETING\"; echo \"F=$FROM_FILE\"; echo \"O=$OVERRIDDEN\"; echo \"P=${PATH:+set}\"; echo END",
    );
    assert!(lines.contains(&"G=hello there".to_string()), "{lines:?}");
    assert!(lines.contains(&"F=file value".to_string()), "{lines:?}");
    assert!(lines.contains(&"O=from-table".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"P=set".to_string()),
        "PATH is not set: {lines:?}"
    );
}

#[test]
fn working_dir_defaults_to_the_definitions_directory() {
    let lines = output_of("", "echo \"D=$(pwd)\"; echo END");
    let d = lines.iter().find_map(|l| l.strip_prefix("D=")).unwrap();
    assert!(d.ends_with("/svc"), "{lines:?}");
}

#[test]
fn working_dir_is_set() {
    let lines = output_of("working-dir = \"/tmp\"", "echo \"D=$(pwd)\"; echo END");
    assert!(lines.contains(&"D=/tmp".to_string()), "{lines:?}");
}

#[test]
fn user_and_group_are_dropped_to() {
    let lines = output_of(
        "user = \"nobody\"",
        "echo \"U=$(id -u) G=$(id -g) GS=$(id -G)\"; echo END",
    );
    assert!(
        lines.contains(&"U=65534 G=65534 GS=65534".to_string()),
        "user nobody: {lines:?}"
    );
    let lines = output_of(
        "user = \"nobody\"\ngroup = \"daemon\"",
        "echo \"U=$(id -u) G=$(id -gn)\"; echo END",
    );
    assert!(lines.contains(&"U=65534 G=daemon".to_string()), "{lines:?}");
}

/// A user with supplementary groups if this system has one, else nobody.
fn user_with_groups() -> String {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for line in groups.lines() {
        let members = line.split(':').nth(3).unwrap_or("");
        for m in members.split(',').filter(|m| !m.is_empty()) {
            let out = run_cmd(std::process::Command::new("id").args(["-u", m]), T);
            if out.code == 0 && out.stdout.trim() != "0" {
                return m.to_string();
            }
        }
    }
    "nobody".to_string()
}

#[test]
fn user_gets_its_supplementary_groups() {
    let user = user_with_groups();
    let expected = run_cmd(std::process::Command::new("id").args(["-G", &user]), T);
    let lines = output_of(
        &format!("user = \"{user}\""),
        "echo \"GS=$(id -G)\"; echo END",
    );
    let want = format!("GS={}", expected.stdout.trim());
    assert!(
        lines.contains(&want),
        "user {user}: want {want}, got {lines:?}"
    );
}

#[test]
fn the_service_has_its_own_process_group_and_a_clean_signal_state() {
    let lines = output_of(
        "",
        "read -r pid comm state ppid pgrp rest < /proc/$$/stat; echo \"PGRP=$([ $pid = $pgrp ] && echo own || echo shared)\"; \
         grep -E '^(SigBlk|SigIgn):' /proc/$$/status | tr -d '\\t' ; echo END",
    );
    assert!(lines.contains(&"PGRP=own".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"SigBlk:0000000000000000".to_string()),
        "signals blocked in the service: {lines:?}"
    );
    // tend ignores some signals itself (SIGPIPE, SIGTTIN, SIGTTOU): none of
    // that reaches the service, which sees what tend was given. The
    // baseline: what a plain child of this test inherits.
    let baseline = run_cmd(
        std::process::Command::new("sh")
            .args(["-c", "grep '^SigIgn:' /proc/$$/status | tr -d '\\t'"]),
        T,
    );
    let baseline = baseline.stdout.trim();
    assert!(
        lines.iter().any(|l| l == baseline),
        "the service's ignored signals differ from {baseline}: {lines:?}"
    );
}

#[test]
fn argv_is_passed_as_is() {
    let t = Tend::with(&[(
        "args",
        "exec = [\"sh\", \"-c\", \"for a in \\\"$@\\\"; do echo \\\"[$a]\\\"; done; echo END\", \"sh\", \"one two\", \"$HOME\", \"\"]\nrestart = \"no\"\n",
    )]);
    let out = t.wait_stdout_line("args | END", T);
    let got: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("args | "))
        .collect();
    assert_eq!(got, ["[one two]", "[$HOME]", "[]", "END"]);
}

#[test]
fn stdin_is_not_tends() {
    // A service reading stdin gets EOF at once (not a terminal, not tend's).
    let lines = output_of(
        "",
        "if read -r x; then echo \"GOT=$x\"; else echo EOF; fi; echo END",
    );
    assert!(lines.contains(&"EOF".to_string()), "{lines:?}");
}

/// The CPU slice of a process (EEVDF's `se.slice` in /proc/PID/sched), if
/// the kernel shows it.
fn slice_of(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/sched")).ok()?;
    s.lines()
        .find(|l| l.starts_with("se.slice"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[test]
fn tend_takes_a_short_cpu_slice_and_services_get_the_default() {
    let Some(default) = slice_of("self") else {
        skip("this kernel shows no se.slice (EEVDF custom slices, Linux 6.12)");
        return;
    };
    let t = Tend::with(&[("idle", "exec = [\"sleep\", \"1000\"]")]);
    let mut e = t.follow();
    e.expect_ev("idle", "ready", T);
    let tend = slice_of(&t.tend_pid().to_string()).expect("tend's slice");
    let service = t
        .others()
        .into_iter()
        .find(|p| p.comm == "sleep")
        .expect("the service's process");
    let service = slice_of(&service.pid.to_string()).expect("the service's slice");
    assert_eq!(service, default, "the service kept tend's slice");
    // Where the kernel takes custom slices (EEVDF, 6.12+), tend's is short.
    if tend != default {
        assert_eq!(tend, 100_000);
    }
}
