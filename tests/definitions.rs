//! Service definitions (SPEC §2, §7; issue 2 point 2): bad input gets
//! `file:line:col` errors, all at once, and `tend run` refuses to start.

mod common;
use common::*;

/// Does `text` contain `FILE:LINE:COL:` for this file and line (any column)?
fn has_location(text: &str, file: &str, line: u32) -> bool {
    let needle = format!("{file}:{line}:");
    text.match_indices(&needle).any(|(i, _)| {
        let rest = &text[i + needle.len()..];
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && rest[digits..].starts_with(':')
    })
}

#[test]
fn check_lists_every_error_with_file_line_col_and_exits_2() {
    let s = Scratch::new();
    s.write("d/good.toml", "exec = [\"sleep\", \"1\"]\n");
    s.write(
        "d/typo.toml",
        "exec = [\"sleep\", \"1\"]\nrestrat = \"always\"\n",
    );
    s.write(
        "d/duration.toml",
        "exec = [\"sleep\", \"1\"]\n\nrestart-delay = \"fast\"\n",
    );
    s.write(
        "d/kind.toml",
        "exec = [\"sleep\", \"1\"]\ntype = \"bogus\"\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    let text = out.all();
    assert!(
        has_location(&text, "typo.toml", 2),
        "typo.toml:2:COL missing:\n{out}"
    );
    assert!(
        text.contains("restrat"),
        "the unknown key is not named:\n{out}"
    );
    assert!(
        has_location(&text, "duration.toml", 3),
        "duration.toml:3:COL missing:\n{out}"
    );
    assert!(
        has_location(&text, "kind.toml", 2),
        "kind.toml:2:COL missing:\n{out}"
    );
    assert!(text.contains("bogus"), "the bad type is not named:\n{out}");
    assert!(
        !text.contains("good.toml:"),
        "an error is reported for the valid file:\n{out}"
    );
}

#[test]
fn check_lists_several_errors_of_one_file() {
    let s = Scratch::new();
    s.write(
        "d/many.toml",
        "exec = [\"sleep\", \"1\"]\nrestart = \"sometimes\"\nstop-timeout = \"soon\"\nfrobnicate = 1\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    let text = out.all();
    for line in [2, 3, 4] {
        assert!(
            has_location(&text, "many.toml", line),
            "many.toml:{line}:COL missing:\n{out}"
        );
    }
    assert!(text.contains("frobnicate"), "{out}");
}

#[test]
fn unknown_key_error_names_the_key_and_its_position() {
    let s = Scratch::new();
    s.write(
        "d/web.toml",
        "# a web server\nexec = [\"sleep\", \"1\"]\nrestart-dealy = \"1s\"\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    assert!(out.all().contains("restart-dealy"), "{out}");
    assert!(
        out.all().contains("web.toml:3:1:"),
        "expected web.toml:3:1: (the key's position):\n{out}"
    );
}

#[test]
fn missing_exec_is_an_error() {
    let s = Scratch::new();
    s.write("d/empty.toml", "restart = \"always\"\n");
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    assert!(out.all().contains("empty.toml"), "{out}");
    assert!(
        out.all().contains("exec"),
        "the missing key is not named:\n{out}"
    );
}

#[test]
fn check_of_a_valid_directory_exits_0() {
    let s = Scratch::new();
    s.write("d/a.toml", "exec = [\"sleep\", \"1\"]\n");
    s.write("d/b.toml", "exec = \"sleep 1\"\nrequires = [\"a\"]\n");
    s.write(
        "d/tend.toml",
        "[supervisor]\nshutdown-timeout = \"5s\"\n[service.c]\nexec = [\"true\"]\ntype = \"oneshot\"\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.ok();
}

#[test]
fn check_accepts_every_native_key() {
    let s = Scratch::new();
    s.write(
        "d/full.toml",
        r#"
exec = ["sleep", "100"]
type = "simple"
requires = ["dep"]
wants = ["fork"]
after = ["nfd"]
restart = "on-abnormal"
restart-delay = "250ms"
restart-delay-max = "5m"
start-limit-burst = 4
start-limit-interval = "10s"
start-limit-action = "give-up"
start-timeout = "infinity"
stop-signal = "INT"
stop-timeout = "3s"
stop-exec = ["true"]
reload-signal = "USR1"
reload-exec = ["true"]
notify-access = "main"
success-exit-codes = [0, 42]
user = "nobody"
group = "nogroup"
working-dir = "/tmp"
environment = { FOO = "bar", N = "1" }
env-file = ["{dir}/env"]
on-exit = ["true"]
critical = false
autostart = false
log = ["inherit", { file = "{dir}/full.log", max-size = "10MiB", keep = 5 }]
memory-max = "64MiB"
tasks-max = 100
cpu-max = "50%"
ready-check = { exec = ["true"], interval = "200ms" }
health-check = { tcp = "127.0.0.1:5432", interval = "10s", timeout = "5s", retries = 3 }
"#,
    );
    s.write("env", "A=1\n");
    s.write(
        "d/dep.toml",
        "exec = [\"sleep\", \"100\"]\ntype = \"notify\"\nwatchdog = \"30s\"\n",
    );
    s.write(
        "d/fork.toml",
        "exec = [\"sleep\", \"100\"]\ntype = \"forking\"\npid-file = \"/tmp/x.pid\"\n",
    );
    s.write(
        "d/nfd.toml",
        "exec = [\"sleep\", \"100\"]\ntype = \"notify-fd\"\nready-fd = 3\nready-check = { http = \"http://127.0.0.1:8080/health\" }\n",
    );
    s.write(
        "d/bus.toml",
        "exec = [\"sleep\", \"100\"]\ntype = \"dbus\"\nbus-name = \"org.example.Thing\"\n",
    );
    s.write("d/one.toml", "exec = [\"true\"]\ntype = \"oneshot\"\n");
    s.write("d/ex.toml", "exec = [\"true\"]\ntype = \"exec\"\n");
    s.write("d/idl.toml", "exec = [\"true\"]\ntype = \"idle\"\n");
    s.write(
        "d/tend.toml",
        r#"
[supervisor]
socket = "/tmp/unused.sock"
socket-group = "root"
on-exit = ["true"]
shutdown-timeout = "30s"
event-retention = 100
event-journal = "{dir}/journal"
http = "127.0.0.1:9100"
"#,
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.ok();
}

#[test]
fn run_refuses_a_bad_directory_and_starts_nothing() {
    let mut t = Tend::builder()
        .svc("good", &sh("touch {dir}/good-started; sleep 100"))
        .svc("bad", "exec = [\"sleep\", \"1\"]\nrestart = \"often\"\n")
        .no_wait()
        .start();
    let code = t.expect_exit(T);
    assert_eq!(code, 2, "{}", t.output());
    assert!(
        has_location(&t.stderr(), "bad.toml", 2) || has_location(&t.stdout(), "bad.toml", 2),
        "no bad.toml:2:COL in tend's output:\n{}",
        t.output()
    );
    assert!(
        !t.dir.join("good-started").exists(),
        "a service was started despite the configuration error"
    );
}

#[test]
fn dependency_cycle_is_an_error_that_names_its_members() {
    let s = Scratch::new();
    s.write(
        "d/alpha.toml",
        "exec = [\"sleep\", \"1\"]\nrequires = [\"gamma\"]\n",
    );
    s.write(
        "d/beta.toml",
        "exec = [\"sleep\", \"1\"]\nrequires = [\"alpha\"]\n",
    );
    s.write(
        "d/gamma.toml",
        "exec = [\"sleep\", \"1\"]\nafter = [\"beta\"]\n",
    );
    s.write(
        "d/delta.toml",
        "exec = [\"sleep\", \"1\"]\nrequires = [\"alpha\"]\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    let text = out.all();
    assert!(text.to_lowercase().contains("cycle"), "{out}");
    for name in ["alpha", "beta", "gamma"] {
        assert!(text.contains(name), "cycle member {name} not named:\n{out}");
    }

    let mut t = Tend::builder()
        .file(
            "svc/alpha.toml",
            "exec = [\"sleep\", \"1\"]\nrequires = [\"beta\"]\n",
        )
        .file(
            "svc/beta.toml",
            "exec = [\"sleep\", \"1\"]\nrequires = [\"alpha\"]\n",
        )
        .no_wait()
        .start();
    assert_eq!(t.expect_exit(T), 2, "{}", t.output());
}

#[test]
fn unknown_dependency_is_an_error_naming_it() {
    let s = Scratch::new();
    s.write(
        "d/a.toml",
        "exec = [\"sleep\", \"1\"]\nrequires = [\"nosuch\"]\n",
    );
    let out = tend_cmd(&["check", s.join("d").to_str().unwrap()]);
    out.expect_code(2);
    assert!(out.all().contains("nosuch"), "{out}");
    assert!(out.all().contains("a.toml"), "{out}");
}

#[test]
fn single_file_form_runs_every_service() {
    let t = Tend::with_file(
        r#"
[supervisor]
shutdown-timeout = "10s"

[service.one]
exec = ["sleep", "1000"]

[service.two]
exec = ["sleep", "1000"]
requires = ["one"]
"#,
    );
    let mut e = t.follow();
    e.wait_ev("one", "ready", T);
    e.wait_ev("two", "ready", T);
    let names: Vec<String> = t
        .status()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["one", "two"]);
}

#[test]
fn single_file_errors_have_line_and_column() {
    let s = Scratch::new();
    s.write(
        "all.toml",
        "[supervisor]\n\n[service.one]\nexec = [\"sleep\", \"1\"]\nstop-signal = \"NOPE\"\n",
    );
    let out = tend_cmd(&["check", s.join("all.toml").to_str().unwrap()]);
    out.expect_code(2);
    assert!(has_location(&out.all(), "all.toml", 5), "{out}");
}

#[test]
fn directory_may_mix_name_toml_files_and_tend_toml_tables() {
    let t = Tend::builder()
        .svc("file", FOREVER)
        .supervisor("[supervisor]\nevent-retention = 1000\n\n[service.table]\nexec = [\"sleep\", \"1000\"]\n")
        .start();
    let mut e = t.follow();
    e.wait_ev("file", "ready", T);
    e.wait_ev("table", "ready", T);
}

#[test]
fn string_exec_is_split_like_words_without_a_shell() {
    let t = Tend::with(&[(
        "words",
        "exec = \"echo 'hello   world' $HOME a\\\\ b\"\nrestart = \"no\"\n",
    )]);
    let mut e = t.follow();
    e.wait_ev("words", "down", T);
    t.wait_stdout_line("words | hello   world $HOME a b", T);
}
