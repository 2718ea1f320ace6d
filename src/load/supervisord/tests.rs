//! Table tests of the supervisord reader and its lowering. The expected
//! values of the lowering were checked against supervisord 4.2.5's own
//! parser (`ServerOptions.read_config`) on the same text.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::ini::{self, Ini};
use super::pyfmt::{self, PyVal};
use super::*;
use crate::load::tests::{TempDir, shown};
use crate::model::{LogTarget, RestartPolicy, ServiceSpec};

fn read(text: &str) -> (Ini, Vec<String>) {
    let mut ini = Ini::default();
    let mut out = Vec::new();
    ini::parse(
        &mut ini,
        Path::new("s.conf"),
        Path::new("/here"),
        text,
        false,
        &mut out,
    );
    (ini, out.iter().map(|d| d.to_string()).collect())
}

fn value<'a>(ini: &'a Ini, section: &str, key: &str) -> Option<&'a str> {
    let s = ini.section(section)?;
    ini.get(s, key).map(|e| e.value.as_str())
}

#[test]
fn ini_lines_read_as_raw_config_parser_reads_them() {
    let (ini, diags) = read(
        "; a comment\n# another\n[program:a]\nCommand = /bin/x a=b ; inline\nkey: v:w\nsemi=a;b\nhash = x #c\n\
         multi = one\n  two\n\n    three\n  ; not a line of it\nnext=1\n[program:a] trailing\nnext = 2\n\
         [DEFAULT]\nautostart = false\n[b]\ne =\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    let cases = [
        ("program:a", "command", Some("/bin/x a=b")),
        ("program:a", "key", Some("v:w")),
        ("program:a", "semi", Some("a;b")),
        ("program:a", "hash", Some("x")),
        ("program:a", "multi", Some("one\ntwo\n\nthree")),
        // Sections given twice merge; the later value wins.
        ("program:a", "next", Some("2")),
        // [DEFAULT] keys are every section's defaults.
        ("program:a", "autostart", Some("false")),
        ("b", "autostart", Some("false")),
        ("b", "e", Some("")),
        ("b", "missing", None),
    ];
    for (sec, key, want) in cases {
        assert_eq!(value(&ini, sec, key), want, "[{sec}] {key}");
    }
    let names: Vec<&str> = ini.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["program:a", "b"]);
}

#[test]
fn ini_errors_and_warnings_have_their_place() {
    let (_, diags) = read("orphan = 1\n[a]\nno delimiter here\n  = x\nk = 1\nk = 2\n[include]\n");
    assert_eq!(
        diags,
        [
            "s.conf:1:1: error: `orphan = 1` comes before any [section] header",
            "s.conf:3:1: error: expected `key = value`, found `no delimiter here`",
            "s.conf:4:3: error: a key is missing before `=`",
            "s.conf:6:1: warning: `k` is set again in this section: the later value wins, as in supervisord",
        ]
    );
}

#[test]
fn percent_expansion_is_pythons() {
    let lookup = |n: &str| match n {
        "program_name" => Some(PyVal::Str("web".into())),
        "process_num" => Some(PyVal::Int(7)),
        "neg" => Some(PyVal::Int(-3)),
        _ => None,
    };
    let ok = [
        ("plain", "plain"),
        ("%(program_name)s", "web"),
        ("%(process_num)d", "7"),
        ("%(process_num)02d", "07"),
        ("%(process_num)03d-%(program_name)s", "007-web"),
        ("%(process_num)s", "7"),
        ("%(process_num)3d|", "  7|"),
        ("%(process_num)-3d|", "7  |"),
        ("%(neg)03d", "-03"),
        ("%(process_num)x", "7"),
        ("100%%", "100%"),
        ("%(program_name).2s", "we"),
    ];
    for (input, want) in ok {
        assert_eq!(
            pyfmt::expand(input, &lookup).as_deref(),
            Ok(want),
            "{input}"
        );
    }
    let bad = [
        ("%(nope)s", "no value called `nope`"),
        ("%(ENV_NOPE)s", "NOPE is not set in the environment"),
        ("%(program_name)d", "needs a number"),
        ("50%", "must start `%(name)s`"),
        ("%(program_name", "unfinished"),
        ("%(program_name)", "has no conversion"),
        ("%(program_name)q", "not supported"),
    ];
    for (input, want) in bad {
        let e = pyfmt::expand(input, &lookup).unwrap_err();
        assert!(e.contains(want), "{input}: {e}");
    }
}

#[test]
fn commands_split_like_shlex_split() {
    let w = |s: &str| pyfmt::shlex_split(s);
    let cases: &[(&str, &[&str])] = &[
        ("/bin/x  a\tb\nc", &["/bin/x", "a", "b", "c"]),
        ("echo 'a b' \"c d\"", &["echo", "a b", "c d"]),
        ("a\\ b c", &["a b", "c"]),
        ("x '' \"\"", &["x", "", ""]),
        ("\"a\\\"b\" \"a\\$b\" 'a\\b'", &["a\"b", "a\\$b", "a\\b"]),
        ("a'b'\"c\"d", &["abcd"]),
        ("# not a comment", &["#", "not", "a", "comment"]),
        ("", &[]),
    ];
    for (input, want) in cases {
        assert_eq!(w(input).unwrap(), *want, "{input}");
    }
    assert_eq!(w("a 'b").unwrap_err(), "no closing quotation");
    assert!(w("a \\").unwrap_err().contains("no escaped character"));
}

#[test]
fn environment_pairs_as_supervisord_reads_them() {
    let p = |s: &str| pyfmt::env_pairs(s);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let (got, odd) = p("A=1,B=\"two, three\",C='x',PATH=/usr/bin:/bin").unwrap();
    assert_eq!(
        got,
        pairs(&[
            ("A", "1"),
            ("B", "two, three"),
            ("C", "x"),
            ("PATH", "/usr/bin:/bin")
        ])
    );
    assert!(odd.is_empty());
    // A character outside shlex's word characters ends the value there;
    // supervisord reads `U=http://h` and then `q=1`: said as a warning.
    let (got, odd) = p("U=http://h?q=1").unwrap();
    assert_eq!(got, pairs(&[("U", "http://h"), ("q", "1")]));
    assert_eq!(odd, pairs(&[("U", "?")]));
    let (got, _) = p("").unwrap();
    assert!(got.is_empty());
    // supervisord skips whatever one token follows a pair: `B` here.
    assert_eq!(
        p("A=1 B").unwrap(),
        (pairs(&[("A", "1")]), pairs(&[("A", "B")]))
    );
    assert!(p("A=1,B").unwrap_err().contains("end unexpectedly at `B`"));
    assert!(p("A").is_err());
    assert!(p("A=\"open").unwrap_err().contains("no closing quotation"));
}

#[test]
fn numbers_booleans_sizes() {
    assert_eq!(pyfmt::int(" 12 "), Ok(12));
    assert_eq!(pyfmt::int("-4"), Ok(-4));
    assert_eq!(pyfmt::int("1_000"), Ok(1000));
    for bad in [
        "",
        "1.5",
        "two",
        "1__0",
        "_1",
        "0x10",
        "99999999999999999999",
    ] {
        assert!(pyfmt::int(bad).is_err(), "{bad}");
    }
    for (s, b) in [
        ("true", true),
        ("YES", true),
        ("On", true),
        ("1", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
        ("0", false),
    ] {
        assert_eq!(pyfmt::boolean(s), Ok(b), "{s}");
    }
    assert!(pyfmt::boolean("maybe").is_err());
    assert_eq!(pyfmt::byte_size("50MB"), Ok(50 << 20));
    assert_eq!(pyfmt::byte_size("1kb"), Ok(1024));
    assert_eq!(pyfmt::byte_size("2GB"), Ok(2 << 30));
    assert_eq!(pyfmt::byte_size("0"), Ok(0));
    assert!(pyfmt::byte_size("10M").is_err());
    assert_eq!(pyfmt::octal("022"), Ok(0o22));
    assert!(pyfmt::octal("9").is_err());
}

#[test]
fn globs_match_like_fnmatch() {
    let cases = [
        ("*.conf", "a.conf", true),
        ("*.conf", "a.ini", false),
        ("?.conf", "ab.conf", false),
        ("[ab].conf", "b.conf", true),
        ("[!ab].conf", "b.conf", false),
        ("[a-c]*", "cat", true),
        ("[", "[", true),
        ("*", "", true),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
    ];
    for (pat, name, want) in cases {
        assert_eq!(pyfmt::fnmatch(pat, name), want, "{pat} {name}");
    }
}

/// Loads `files` (the first is the main one) with a fixed environment,
/// host name and working directory.
fn lower(files: &[(&str, &str)]) -> (TempDir, Vec<ServiceSpec>, Vec<String>) {
    let t = TempDir::new("supervisord");
    for (name, text) in files {
        t.write(name, text);
    }
    let env: BTreeMap<String, String> = [("HOME", "/home/u"), ("PORT", "8080")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut out = Vec::new();
    let made = services_with(
        &t.0.join(files[0].0),
        env,
        "box".into(),
        PathBuf::from("/cwd"),
        &mut out,
    );
    let specs = made.into_iter().map(|(_, p)| p.spec).collect();
    out.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    let diags = shown(&t.0, &out);
    (t, specs, diags)
}

const EXAMPLE: &str = "[supervisord]\nnodaemon=true\nenvironment = GLOBAL=\"g v\",SHARED=fromglobal\n\n\
[program:web]\nCommand = /bin/echo \"a b\" 'c d' e\\ f %(program_name)s %(ENV_HOME)s ;comment\n\
numprocs = 2\nnumprocs_start = 3\nprocess_name = %(program_name)s_%(process_num)02d\n\
environment = A=\"1,2\",B=\"x;y\",C='q',SHARED=prog,N=%(process_num)d\ndirectory = /tmp/%(process_num)s\n\
autorestart = unexpected\nexitcodes = 0, 3\nstartsecs=0\nstopsignal = int\nstopwaitsecs = 7\npriority = 5\n\
stdout_logfile = /tmp/%(program_name)s-%(process_num)d.log\nstdout_logfile_maxbytes = 1KB\n\
stdout_logfile_backups = 2\nredirect_stderr = yes\n\n\
[program:multi]\ncommand = /bin/sh -c\n    \"echo one;\n     echo two\"\nautorestart: true\n\n\
[group:g]\nprograms = multi\npriority = 1\n\n[include]\nfiles = conf.d/*.conf\n";

#[test]
fn programs_lower_with_supervisords_meaning() {
    let (t, specs, diags) = lower(&[
        ("supervisord.conf", EXAMPLE),
        (
            "conf.d/b.conf",
            "[program:inc]\ncommand=/bin/true %(here)s %(host_node_name)s\n",
        ),
        (
            "conf.d/a.conf",
            "[program:inc2]\ncommand=relative arg\nstdout_logfile=NONE\nstderr_logfile=off\n",
        ),
    ]);
    assert!(diags.is_empty(), "{diags:?}");
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web@3", "web@4", "multi", "inc2", "inc"]);
    let web = &specs[0];
    assert_eq!(
        web.exec,
        ["/bin/echo", "a b", "c d", "e f", "web", "/home/u"]
    );
    assert_eq!(web.working_dir, PathBuf::from("/tmp/3"));
    let env: Vec<(&str, &str)> = web
        .environment
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("A", "1,2"),
            ("B", "x;y"),
            ("C", "q"),
            ("GLOBAL", "g v"),
            ("N", "3"),
            ("SHARED", "prog"),
            ("SUPERVISOR_ENABLED", "1"),
            ("SUPERVISOR_GROUP_NAME", "web"),
            ("SUPERVISOR_PROCESS_NAME", "web_03"),
        ]
    );
    assert_eq!(specs[1].environment["SUPERVISOR_PROCESS_NAME"], "web_04");
    assert_eq!(specs[1].environment["N"], "4");
    assert_eq!(web.restart, RestartPolicy::OnFailure);
    assert_eq!(web.success_exit_codes, [0, 3]);
    // startsecs=0: RUNNING at once; startretries (3) still retries spawn errors.
    assert_eq!(web.ready_after, None);
    assert_eq!(web.start_retries, Some(3));
    assert_eq!(web.supervisor_name.as_deref(), Some("web:web_03"));
    assert_eq!(specs[1].supervisor_name.as_deref(), Some("web:web_04"));
    assert_eq!(web.stop_signal, libc::SIGINT);
    assert_eq!(web.stop_timeout, Some(Duration::from_secs(7)));
    assert_eq!(
        web.log,
        [LogTarget::File {
            path: "/tmp/web-3.log".into(),
            max_size: 1024,
            keep: 2
        }]
    );
    let multi = &specs[2];
    assert_eq!(multi.exec, ["/bin/sh", "-c", "echo one;\necho two"]);
    assert_eq!(multi.restart, RestartPolicy::Always);
    assert_eq!(multi.environment["SUPERVISOR_GROUP_NAME"], "g");
    assert_eq!(multi.supervisor_name.as_deref(), Some("g:multi"));
    assert_eq!(multi.ready_after, Some(Duration::from_secs(1)));
    assert_eq!(specs[3].supervisor_name, None);
    assert_eq!(multi.working_dir, PathBuf::from("/cwd"));
    assert_eq!(multi.log, [LogTarget::Inherit]);
    assert_eq!(multi.stop_timeout, Some(Duration::from_secs(10)));
    let inc = &specs[4];
    let here = std::path::absolute(t.0.join("conf.d")).unwrap();
    assert_eq!(inc.exec, ["/bin/true", here.to_str().unwrap(), "box"]);
    assert_eq!(specs[3].exec, ["relative", "arg"]);
    assert!(specs[3].log.is_empty());
    // Priority: group g (1) first, then web (5), then the rest (999).
    assert!(multi.after.is_empty());
    assert_eq!(web.after, ["multi"]);
    assert_eq!(inc.after, ["web@3", "web@4"]);
}

#[test]
fn bad_values_are_errors_at_their_place() {
    let (_, _, diags) = lower(&[(
        "supervisord.conf",
        "[program:a]\ncommand=/bin/a\nnumprocs=two\nautostart=maybe\nstopsignal=NOPE\nexitcodes=0,256\n\
         [program:b]\nnumprocs=2\ncommand=x\n[program:c]\ncommand='open\n[program:bad name]\ncommand=x\n\
         [group:g]\nprograms=a,zz\n[program:e]\ncommand=%(ENV_NOT_SET)s\nstopasgroup=true\nkillasgroup=false\n",
    )]);
    assert_eq!(
        diags,
        [
            "supervisord.conf:3:10: error: program `a`: numprocs: expected an integer, found `two`",
            "supervisord.conf:4:11: error: program `a`: autostart: expected a boolean (true/false, yes/no, on/off, 1/0), found `maybe`",
            "supervisord.conf:5:12: error: program `a`: stopsignal: unknown signal `NOPE`",
            "supervisord.conf:6:11: error: program `a`: exitcodes: expected exit codes 0-255 separated by commas, found `0,256`",
            "supervisord.conf:7:1: error: program `b`: numprocs = 2 needs `%(process_num)` in process_name (supervisord refuses this), e.g. process_name=%(program_name)s_%(process_num)02d",
            "supervisord.conf:11:9: error: program `c`: command: no closing quotation",
            "supervisord.conf:12:1: error: program `bad name`: invalid program name: ` ` is not allowed",
            "supervisord.conf:15:10: error: [group:g]: programs: no [program:zz] is defined",
            "supervisord.conf:17:9: error: program `e`: command: `%(ENV_NOT_SET)s`: NOT_SET is not set in the environment",
            "supervisord.conf:19:13: error: program `e`: stopasgroup = true needs killasgroup = true (supervisord refuses this)",
        ]
    );
}

#[test]
fn what_tend_does_not_do_is_a_warning_naming_it() {
    let (_, specs, diags) = lower(&[(
        "supervisord.conf",
        "[supervisord]\nminfds=65535\nbogus=1\n[program:a]\ncommand=/bin/a\numask=022\nautorestrat=true\n\
         serverurl=http://127.0.0.1:9001\nstdout_logfile=/tmp/a.out\nstderr_logfile=/tmp/a.err\n\
         [eventlistener:x]\ncommand=y\nevents=PROCESS_STATE\n[fcgi-program:f]\ncommand=z\n[programs:typo]\n",
    )]);
    assert_eq!(
        diags,
        [
            "supervisord.conf:2:1: warning: [supervisord]: minfds = 65535: not supported, ignored: tend does not raise the open-file limit of services (raise it before starting tend, e.g. `ulimit`)",
            "supervisord.conf:3:1: warning: [supervisord]: unknown key `bogus` (ignored, as supervisord ignores it)",
            "supervisord.conf:7:1: warning: program `a`: unknown key `autorestrat`, did you mean `autorestart`? (ignored, as supervisord ignores it)",
            "supervisord.conf:8:1: warning: program `a`: serverurl: tend has no XML-RPC interface: ignored (SUPERVISOR_SERVER_URL is not set)",
            "supervisord.conf:10:1: warning: program `a`: stdout and stderr have different destinations; tend does not keep the two streams apart: both go to /tmp/a.out and /tmp/a.err",
            "supervisord.conf:11:1: warning: [eventlistener:x]: event listeners are not supported, ignored",
            "supervisord.conf:14:1: warning: [fcgi-program:f]: FastCGI programs are not supported, ignored",
            "supervisord.conf:16:1: warning: unknown section `[programs:typo]`, ignored, did you mean `[program:typo]`?",
        ]
    );
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].confine.umask, Some(0o22));
}

#[test]
fn a_program_gets_its_umask_or_supervisords() {
    let (_, specs, diags) = lower(&[(
        "supervisord.conf",
        "[supervisord]\numask=027\n[program:a]\ncommand=/bin/a\n[program:b]\ncommand=/bin/b\numask=002\n",
    )]);
    assert_eq!(diags, Vec::<String>::new());
    let umask = |n: &str| {
        specs
            .iter()
            .find(|s| s.name == n)
            .and_then(|s| s.confine.umask)
    };
    assert_eq!((umask("a"), umask("b")), (Some(0o27), Some(0o2)));
}

#[test]
fn supervisord_files_are_recognised() {
    let t = TempDir::new("sdetect");
    let cases = [
        ("supervisord.conf", "anything", true),
        ("app.conf", "; c\n\n[program:x]\ncommand=y\n", true),
        ("app.ini", "[supervisord]\n", true),
        ("x.conf", "[include]\nfiles=a\n", true),
        ("tend.toml", "[supervisor]\n[service.a]\nexec='x'\n", false),
        ("unit.conf", "[Service]\nExecStart=/bin/x\n", false),
    ];
    for (name, text, want) in cases {
        let p = t.write(name, text);
        assert_eq!(is_supervisord_file(&p), want, "{name}");
    }
}

#[test]
fn supervisord_section_reaches_programs() {
    let conf = |nodaemon: &str| {
        format!(
            "[supervisord]\nnodaemon={nodaemon}\nuser=nobody\ndirectory=/srv\n\
             [program:a]\ncommand=a\n[program:b]\ncommand=b\nuser=root\nstdout_logfile=rel.log\nredirect_stderr=true\n"
        )
    };
    let (_, specs, diags) = lower(&[("supervisord.conf", &conf("false"))]);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(specs[0].user.as_deref(), Some("nobody"));
    assert_eq!(specs[1].user.as_deref(), Some("root"));
    // A daemonizing supervisord works in `directory`, relative paths too.
    assert_eq!(specs[0].working_dir, PathBuf::from("/srv"));
    assert!(
        matches!(&specs[1].log[..], [LogTarget::File { path, .. }] if path == Path::new("/srv/rel.log"))
    );
    let (_, specs, _) = lower(&[("supervisord.conf", &conf("true"))]);
    assert_eq!(specs[0].working_dir, PathBuf::from("/cwd"));
}

#[test]
fn too_many_priority_orderings_are_dropped_with_a_warning() {
    let prog = |name: &str, prio: u32| {
        format!(
            "[program:{name}]\ncommand=x\nnumprocs=400\nprocess_name=%(process_num)d\npriority={prio}\n"
        )
    };
    let text = format!("{}{}", prog("low", 1), prog("high", 2));
    let (_, specs, diags) = lower(&[("supervisord.conf", &text)]);
    assert_eq!(specs.len(), 800);
    assert!(specs.iter().all(|s| s.after.is_empty()));
    assert_eq!(
        diags,
        [
            "supervisord.conf:1:1: warning: priority: ordering these 800 processes by priority takes 160000 orderings, more than tend takes (10000): priorities are ignored"
        ]
    );
}

#[test]
fn log_files_map_to_tends_destinations() {
    let file = |p: &str, max_size: u64, keep: u32| LogTarget::File {
        path: p.into(),
        max_size,
        keep,
    };
    let cases: Vec<(&str, Vec<LogTarget>)> = vec![
        ("", vec![LogTarget::Inherit]),
        ("stdout_logfile=AUTO\n", vec![LogTarget::Inherit]),
        ("stdout_logfile=/dev/stdout\n", vec![LogTarget::Inherit]),
        ("stdout_logfile=/dev/fd/1\n", vec![LogTarget::Inherit]),
        ("stdout_logfile=/proc/1/fd/1\n", vec![LogTarget::Inherit]),
        ("stdout_logfile=NONE\n", vec![]),
        ("stdout_logfile=off\n", vec![]),
        ("stdout_logfile=/dev/null\n", vec![]),
        (
            "stdout_logfile=/tmp/x.log\n",
            vec![file("/tmp/x.log", 50 << 20, 10)],
        ),
        (
            "stdout_logfile=/tmp/x.log\nstdout_logfile_maxbytes=0\nstdout_logfile_backups=0\n",
            vec![file("/tmp/x.log", 0, 0)],
        ),
    ];
    for (keys, want) in cases {
        let text = format!("[program:a]\ncommand=a\nredirect_stderr=true\n{keys}");
        let (_, specs, diags) = lower(&[("supervisord.conf", &text)]);
        assert!(diags.is_empty(), "{keys}: {diags:?}");
        assert_eq!(specs[0].log, want, "{keys}");
    }
}
