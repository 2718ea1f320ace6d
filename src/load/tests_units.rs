//! systemd units as vendors ship them: drop-ins, aliases, templates and
//! their instances, specifiers, Exec prefixes, exit statuses.

use std::os::unix::fs::symlink;

use super::tests::{TempDir, shown};
use super::*;
use crate::model::RestartPolicy;

const GETTY: &str = "[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=/sbin/agetty -o '-p -- %%u' --noclear %I $TERM\nType=idle\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n";

fn load_t(t: &TempDir) -> Result<Loaded, Vec<String>> {
    load(&t.0).map_err(|d| shown(&t.0, &d))
}

fn service<'l>(l: &'l Loaded, name: &str) -> &'l ServiceSpec {
    (l.config.services.iter())
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no service {name} in {:?}", names(l)))
}

fn names(l: &Loaded) -> Vec<&str> {
    l.config.services.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn drop_ins_apply_in_name_order_and_an_empty_assignment_resets() {
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nExecStart=/bin/old\nEnvironment=A=1 B=1\nRestart=no\n",
    );
    t.write(
        "app.service.d/20-later.conf",
        "[Service]\nEnvironment=B=20\nRestart=always\n",
    );
    t.write(
        "app.service.d/10-override.conf",
        "[Service]\nExecStart=\nExecStart=/bin/new --flag\nRestart=on-failure\nEnvironment=B=10 C=10\n",
    );
    t.write(
        "app.service.d/notes.txt",
        "[Service]\nExecStart=/bin/ignored\n",
    );
    t.write("service.d/00-all.conf", "[Service]\nEnvironment=ALL=yes\n");
    let l = load_t(&t).expect("valid");
    let s = service(&l, "app");
    assert_eq!(s.exec, ["/bin/new", "--flag"]);
    assert_eq!(s.restart, RestartPolicy::Always);
    let env: Vec<(&str, &str)> = (s.environment.iter())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("A", "1"), ("ALL", "yes"), ("B", "20"), ("C", "10")]);
}

#[test]
fn a_drop_in_error_points_into_the_drop_in() {
    let t = TempDir::new("units");
    t.write("app.service", "[Service]\nExecStart=/bin/app\n");
    t.write(
        "app.service.d/override.conf",
        "[Service]\n\nRestart=sometimes\nFrobnicate=1\n",
    );
    t.write(
        "ghost.service.d/override.conf",
        "[Service]\nRestart=always\n",
    );
    let err = load_t(&t).unwrap_err();
    assert_eq!(
        err,
        [
            "app.service.d/override.conf:3:9: error: service `app`: Restart: invalid value `sometimes`, expected one of: no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always",
            "app.service.d/override.conf:4:1: warning: service `app`: unknown or unsupported systemd directive `Frobnicate=` in [Service], ignored",
            "ghost.service.d: warning: drop-in directory for `ghost.service`, which is not here: ignored",
        ]
    );
}

#[test]
fn aliases_are_one_service_and_dependencies_on_them_resolve_to_it() {
    let t = TempDir::new("units");
    t.write(
        "db.service",
        "[Service]\nExecStart=/bin/db\n[Install]\nAlias=database.service sql.service\n",
    );
    symlink("db.service", t.0.join("postgres.service")).unwrap();
    t.write(
        "app.service",
        "[Unit]\nRequires=database.service\nAfter=postgres.service sql.service\n[Service]\nExecStart=/bin/app\n",
    );
    t.write("postgres.service.d/limits.conf", "[Service]\nTasksMax=7\n");
    let l = load_t(&t).expect("valid");
    assert_eq!(names(&l), ["app", "db"]);
    let app = service(&l, "app");
    assert_eq!(app.requires, ["db"]);
    assert_eq!(app.after, ["db"]);
    let db = service(&l, "db");
    assert_eq!(db.aliases, ["database", "postgres", "sql"]);
    // The alias's drop-ins are the unit's.
    assert_eq!(db.tasks_max, Some(7));
}

#[test]
fn an_alias_taken_by_a_unit_is_refused_with_a_warning() {
    let t = TempDir::new("units");
    t.write(
        "a.service",
        "[Service]\nExecStart=/bin/a\n[Install]\nAlias=b.service\n",
    );
    t.write("b.service", "[Service]\nExecStart=/bin/b\n");
    let l = load_t(&t).expect("valid");
    assert_eq!(names(&l), ["a", "b"]);
    assert!(service(&l, "a").aliases.is_empty());
    assert_eq!(
        shown(&t.0, &l.warnings),
        [
            "a.service:4:7: warning: service `a`: Alias=b.service: `b.service` is a unit here itself; ignored"
        ]
    );
}

#[test]
fn instances_come_from_links_wants_directories_and_dependencies() {
    let t = TempDir::new("units");
    t.write("getty@.service", GETTY);
    symlink("getty@.service", t.0.join("getty@tty1.service")).unwrap();
    std::fs::create_dir(t.0.join("getty.target.wants")).unwrap();
    symlink(
        "../getty@.service",
        t.0.join("getty.target.wants/getty@tty2.service"),
    )
    .unwrap();
    // A template alias, as Debian ships autovt@.service.
    symlink("getty@.service", t.0.join("autovt@.service")).unwrap();
    t.write(
        "login.service",
        "[Unit]\nWants=getty@tty3.service autovt@tty4.service\n[Service]\nExecStart=/bin/login\n",
    );
    t.write(
        "getty@.service.d/10-all.conf",
        "[Service]\nEnvironment=TERM=linux\n",
    );
    t.write(
        "getty@tty2.service.d/10-all.conf",
        "[Service]\nEnvironment=TERM=vt220\n",
    );
    let l = load_t(&t).expect("valid");
    assert_eq!(
        names(&l),
        [
            "getty@tty1",
            "getty@tty2",
            "getty@tty3",
            "getty@tty4",
            "login"
        ]
    );
    let tty1 = service(&l, "getty@tty1");
    assert_eq!(
        tty1.exec,
        [
            "/sbin/agetty",
            "-o",
            "-p -- %u",
            "--noclear",
            "tty1",
            "$TERM"
        ]
    );
    assert_eq!(tty1.aliases, ["autovt@tty1"]);
    assert_eq!(tty1.environment["TERM"], "linux");
    // The instance's own drop-in replaces the template's of the same name.
    assert_eq!(service(&l, "getty@tty2").environment["TERM"], "vt220");
    assert_eq!(service(&l, "login").wants, ["getty@tty3", "getty@tty4"]);
}

#[test]
fn a_template_alone_is_not_a_service() {
    let t = TempDir::new("units");
    t.write("getty@.service", GETTY);
    let l = load_t(&t).expect("valid");
    assert!(l.config.services.is_empty());
    assert!(
        shown(&t.0, &l.warnings).contains(&"getty@.service: warning: `getty@.service` is a template: not a service itself, and no instance of it is here (make one with a link `getty@INSTANCE.service -> getty@.service`, or name it in Requires=/Wants=)".to_string()),
        "{:?}",
        l.warnings
    );
}

#[test]
fn specifiers_resolve_in_exec_paths_and_dependencies() {
    let t = TempDir::new("units");
    t.write(
        "openvpn@.service",
        "[Unit]\nDescription=OpenVPN connection to %i\nAfter=helper@%i.service\nWants=helper@%i.service\n[Service]\nPIDFile=%t/openvpn/%i.pid\nWorkingDirectory=/etc/openvpn/%I\nExecStart=/usr/sbin/openvpn --config %f.conf --name %n/%N/%p/%j --pct 100%% --root %E:%S:%C:%L\nEnvironment=UNIT=%n\n",
    );
    t.write("helper@.service", "[Service]\nExecStart=/bin/helper %i\n");
    symlink("openvpn@.service", t.0.join(r"openvpn@srv-a\x2db.service")).unwrap();
    let l = load_t(&t).expect("valid");
    let s = service(&l, r"openvpn@srv-a\x2db");
    let root = nix::unistd::geteuid().is_root();
    if root {
        assert_eq!(
            s.exec,
            [
                "/usr/sbin/openvpn",
                "--config",
                "/srv/a-b.conf",
                "--name",
                r"openvpn@srv-a\x2db.service/openvpn@srv-a\x2db/openvpn/openvpn",
                "--pct",
                "100%",
                "--root",
                "/etc:/var/lib:/var/cache:/var/log",
            ]
        );
        assert_eq!(
            s.pid_file.as_deref(),
            Some(std::path::Path::new(r"/run/openvpn/srv-a\x2db.pid"))
        );
    }
    assert_eq!(s.working_dir, std::path::Path::new("/etc/openvpn/srv/a-b"));
    assert_eq!(s.environment["UNIT"], r"openvpn@srv-a\x2db.service");
    assert_eq!(s.wants, [r"helper@srv-a\x2db"]);
    assert_eq!(
        service(&l, r"helper@srv-a\x2db").exec,
        ["/bin/helper", r"srv-a\x2db"]
    );
}

#[test]
fn an_unknown_specifier_is_an_error_at_its_place() {
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Unit]\nDescription=%Z\n[Service]\nExecStart=/bin/app --x=%Q\nCPUQuota=50%\n",
    );
    assert_eq!(
        load_t(&t).unwrap_err(),
        [
            "app.service:2:13: warning: service `app`: Description: failed to resolve specifiers: unknown specifier `%Z` (write `%%` for a percent sign); ignored",
            "app.service:4:24: error: service `app`: ExecStart: failed to resolve specifiers: unknown specifier `%Q` (write `%%` for a percent sign)",
        ]
    );
}

#[test]
fn exec_prefixes_in_any_order() {
    fn p(v: &str) -> (bool, bool, bool, Option<&'static str>, &str) {
        let x = super::systemd::prefixes_for_tests(v);
        (x.0, x.1, x.2, x.3, &v[x.4..])
    }
    // (ignore failure, argv0, no env expansion, privilege, rest)
    assert_eq!(p("/bin/x"), (false, false, false, None, "/bin/x"));
    assert_eq!(p("-@/bin/x"), (true, true, false, None, "/bin/x"));
    assert_eq!(p("@-:/bin/x"), (true, true, true, None, "/bin/x"));
    assert_eq!(p("+-/bin/x"), (true, false, false, Some("+"), "/bin/x"));
    assert_eq!(p("!!-/bin/x"), (true, false, false, Some("!!"), "/bin/x"));
    assert_eq!(p("-!/bin/x"), (true, false, false, Some("!"), "/bin/x"));
    // A prefix twice, or two privilege prefixes: the prefixes end there.
    assert_eq!(p("--/bin/x"), (true, false, false, None, "-/bin/x"));
    assert_eq!(p("+!/bin/x"), (false, false, false, Some("+"), "!/bin/x"));
}

#[test]
fn remain_after_exit_is_read_and_its_differences_are_warned() {
    let t = TempDir::new("units");
    let unit = |remain: &str, kind: &str| {
        format!("[Service]\nType={kind}\n{remain}ExecStart=/bin/true\nExecStop=/bin/true\n")
    };
    t.write("kept.service", &unit("RemainAfterExit=yes\n", "oneshot"));
    t.write("default.service", &unit("", "oneshot"));
    t.write("no.service", &unit("RemainAfterExit=no\n", "oneshot"));
    t.write("simple.service", &unit("RemainAfterExit=true\n", "simple"));
    t.write("bad.service", &unit("RemainAfterExit=perhaps\n", "oneshot"));
    let err = load_t(&t).expect_err("a bad boolean is an error");
    assert!(
        err.iter().any(|e| e.starts_with("bad.service:3:17: error")
            && e.contains("RemainAfterExit: invalid boolean `perhaps`")),
        "{err:?}"
    );
    std::fs::remove_file(t.0.join("bad.service")).unwrap();
    let l = load_t(&t).expect("valid");
    let mut warned = shown(&t.0, &l.warnings);
    warned.sort();
    assert_eq!(
        warned,
        [
            "default.service:1:1: warning: service `default`: RemainAfterExit=no: partly supported: the oneshot stays `completed` and its ExecStop= runs when it is stopped, not right after it completes",
            "no.service:3:17: warning: service `no`: RemainAfterExit=no: partly supported: the oneshot stays `completed` and its ExecStop= runs when it is stopped, not right after it completes",
            "simple.service:3:17: warning: service `simple`: RemainAfterExit=yes is supported for Type=oneshot only: this service is down once its processes exit",
        ]
    );
}

#[test]
fn exec_prefixes_map_onto_the_model_or_are_warned() {
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=-:/bin/echo $HOME ${HOME}\nExecReload=-/bin/reload\nExecStop=+/bin/stop\nUser=nobody\n",
    );
    t.write(
        "named.service",
        "[Service]\nExecStart=@/bin/sh my-name -c 'echo $0'\nExecStop=!!/bin/stop\nUser=nobody\n",
    );
    let l = load_t(&t).expect("valid");
    let app = service(&l, "app");
    // `:`: the words stay as written through the exec-time expansion.
    assert_eq!(app.exec, ["/bin/echo", "$$HOME", "$${HOME}"]);
    assert_eq!(
        expand_env(&app.exec, &|_| Some("/root".into())),
        ["/bin/echo", "$HOME", "${HOME}"]
    );
    assert_eq!(app.success_exit_codes.len(), 256);
    assert_eq!(
        app.reload_exec.as_deref(),
        Some(
            &[
                "/bin/sh".to_string(),
                "-c".into(),
                "\"$0\" \"$@\" || :".into(),
                "/bin/reload".into()
            ][..]
        )
    );
    let named = service(&l, "named");
    assert_eq!(
        &named.exec[1..],
        [
            crate::exec_argv0::ARG,
            "/bin/sh",
            "my-name",
            "-c",
            "echo $0"
        ]
    );
    use crate::model::Privilege;
    // `+` runs that command with full privileges; `!!` is the service's
    // own where ambient capabilities exist.
    assert_eq!(app.stop_exec_privilege, Privilege::Full);
    assert_eq!(named.stop_exec_privilege, Privilege::Service);
    assert_eq!(shown(&t.0, &l.warnings), Vec::<String>::new());
}

#[test]
fn privilege_prefixes_and_permissions_start_only() {
    use crate::model::Privilege::{Credentials, Full, Service};
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nUser=nobody\nExecStartPre=+/bin/a\nExecStartPre=!/bin/b\nExecStartPre=/bin/c\n\
         ExecStart=/bin/main\nExecStartPost=!!/bin/d\nExecCondition=!/bin/e\nExecStopPost=+/bin/f\n",
    );
    // PermissionsStartOnly=: `+` on every line but ExecStart=, wherever
    // it is written (tor's unit).
    t.write(
        "tor.service",
        "[Service]\nExecStartPre=/bin/install -d /run/tor\nExecStart=/bin/tor\nExecReload=/bin/reload\n\
         ExecStop=/bin/stop\nExecStopPost=/bin/post\nPermissionsStartOnly=yes\nUser=debian-tor\n",
    );
    // Several lines that run as one process: the fewest privileges, said.
    t.write(
        "mixed.service",
        "[Service]\nExecStart=/bin/main\nExecStop=+/bin/a\nExecStop=/bin/b\n",
    );
    // man-db's: a oneshot's ExecStart= lines of different privileges.
    t.write(
        "mandb.service",
        "[Service]\nType=oneshot\nUser=man\nExecStartPre=/bin/pre\nExecStart=+/bin/install -d /var/cache/man\n\
         ExecStart=-/bin/find /var/cache/man\nExecStart=/bin/mandb\n",
    );
    t.write(
        "plus.service",
        "[Service]\nExecStartPre=/bin/check\nExecStart=+/bin/main\nUser=nobody\n",
    );
    let l = load_t(&t).expect("valid");
    let privs = |v: &[crate::model::PreCommand]| v.iter().map(|c| c.privilege).collect::<Vec<_>>();
    let app = service(&l, "app");
    assert_eq!(privs(&app.pre_exec), [Full, Credentials, Service]);
    assert_eq!(privs(&app.post_start), [Service]);
    assert_eq!(privs(&app.exec_condition), [Credentials]);
    assert_eq!(app.on_exit_privilege, Full);
    assert_eq!(app.exec_privilege, Service);
    // The first two run before the main process, the last in it.
    let (first, in_main) = app.pre_exec_split();
    assert_eq!((first.len(), in_main.len()), (2, 1));
    let tor = service(&l, "tor");
    assert_eq!(privs(&tor.pre_exec), [Full]);
    assert_eq!(tor.exec_privilege, Service);
    assert_eq!(
        (
            tor.stop_exec_privilege,
            tor.reload_exec_privilege,
            tor.on_exit_privilege
        ),
        (Full, Full, Full)
    );
    assert_eq!(service(&l, "mixed").stop_exec_privilege, Service);
    let mandb = service(&l, "mandb");
    let pre: Vec<_> = (mandb.pre_exec.iter())
        .map(|c| (c.argv[0].as_str(), c.ignore_failure, c.privilege))
        .collect();
    assert_eq!(
        pre,
        [
            ("/bin/pre", false, Service),
            ("/bin/install", false, Full),
            ("/bin/find", true, Service)
        ]
    );
    assert_eq!(
        (mandb.exec.clone(), mandb.exec_privilege),
        (vec!["/bin/mandb".to_string()], Service)
    );
    assert_eq!(mandb.success_exit_codes, [0]);
    // The main process with full privileges: its pre-exec (the service's
    // own) runs first, apart.
    let plus = service(&l, "plus");
    assert_eq!(plus.exec_privilege, Full);
    assert_eq!(plus.pre_exec_split().0.len(), 1);
    assert_eq!(
        shown(&t.0, &l.warnings),
        [
            "mixed.service:3:10: warning: service `mixed`: ExecStop: a `+` or `!` prefix on one of several ExecStop= lines is not supported: they run as one process, with the privileges of the line that has the fewest"
        ]
    );
}

#[test]
fn symbolic_exit_statuses_and_signals() {
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nExecStart=/bin/app\nSuccessExitStatus=NOTRUNNING EX_CONFIG 42 SIGUSR1 USR2\nRestartPreventExitStatus=INVALIDARGUMENT SIGKILL\nRestart=always\n",
    );
    t.write(
        "bad.service",
        "[Service]\nExecStart=/bin/bad\nSuccessExitStatus=1 NOSUCH\n",
    );
    let err = load_t(&t).unwrap_err();
    assert_eq!(
        err,
        ["bad.service:3:21: error: service `bad`: SuccessExitStatus: invalid exit status `NOSUCH`"]
    );
    std::fs::remove_file(t.0.join("bad.service")).unwrap();
    let l = load_t(&t).expect("valid");
    let s = service(&l, "app");
    assert_eq!(s.success_exit_codes, [0, 7, 78, 42]);
    assert_eq!(s.success_exit_signals, [libc::SIGUSR1, libc::SIGUSR2]);
    assert_eq!(s.restart_prevent_exit_codes, [2]);
    assert_eq!(s.restart_prevent_exit_signals, [libc::SIGKILL]);
}

#[test]
fn the_vendor_corpus_loads_as_systemd_would() {
    // tests/fixtures/units: real units (README names each source).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/units");
    let l = load(&dir).unwrap_or_else(|d| panic!("{}", shown(&dir, &d).join("\n")));
    // Templates are not services; aliases are not copies; the mask hides.
    assert_eq!(
        names(&l),
        [
            "docker",
            "getty@tty1",
            "openvpn-server@server",
            "postgresql@15-main",
            "rc-local",
            "systemd-hostnamed",
            "systemd-localed",
            "systemd-modules-load",
            "systemd-sysctl",
            "wg-quick@wg0",
        ]
    );
    // Docker's documented override: ExecStart= reset, then the new one.
    assert_eq!(
        service(&l, "docker").exec,
        [
            "/usr/bin/dockerd",
            "-H",
            "fd://",
            "-H",
            "tcp://127.0.0.1:2375"
        ]
    );
    let wg = service(&l, "wg-quick@wg0");
    assert_eq!(wg.exec, ["/usr/bin/wg-quick", "up", "wg0"]);
    assert_eq!(
        wg.stop_exec.as_deref(),
        Some(&["/usr/bin/wg-quick".to_string(), "down".into(), "wg0".into()][..])
    );
    let pg = service(&l, "postgresql@15-main");
    assert_eq!(
        pg.pid_file.as_deref(),
        Some(std::path::Path::new("/run/postgresql/15-main.pid"))
    );
    assert_eq!(
        pg.exec,
        [
            "/usr/bin/pg_ctlcluster",
            "--skip-systemctl-redirect",
            "15-main",
            "start"
        ]
    );
    let getty = service(&l, "getty@tty1");
    assert_eq!(getty.aliases, ["autovt@tty1"]);
    // systemd's quoting: `'-p -- \\u'` gives agetty `-p -- \u`.
    assert_eq!(
        getty.exec,
        ["/sbin/agetty", "-o", "-p -- \\u", "--noclear", "-", "$TERM"]
    );
    assert_eq!(service(&l, "systemd-modules-load").aliases, ["kmod"]);
    // procps.service is an alias: what names it names systemd-sysctl.
    assert_eq!(service(&l, "systemd-sysctl").aliases, ["procps"]);
    // Debian's drop-in of rc-local.service is read (what it sets is
    // warned at its own lines).
    let warned = shown(&dir, &l.warnings).join("\n");
    assert!(
        warned.contains("rc-local.service.d/debian.conf:"),
        "{warned}"
    );
    // The ansible drop-in's `ExecStartPre=` resets the list.
    assert!(service(&l, "docker").pre_exec.is_empty());
}

#[test]
fn names_tend_cannot_hold_and_aliases_of_other_types_are_said() {
    let t = TempDir::new("units");
    t.write(
        "a.service",
        "[Service]\nExecStart=/bin/a\n[Install]\nAlias=a.target\n",
    );
    let l = load_t(&t).expect("valid");
    assert_eq!(
        shown(&t.0, &l.warnings),
        ["a.service:4:7: warning: service `a`: Alias: `a.target` is not a service name, ignored"]
    );
    t.write("backlight@.service", "[Service]\nExecStart=/bin/b %I\n");
    symlink(
        "backlight@.service",
        t.0.join("backlight@acpi:video0.service"),
    )
    .unwrap();
    assert_eq!(
        load_t(&t).unwrap_err()[2..],
        [
            "backlight@acpi:video0.service: error: unit name `backlight@acpi:video0.service`: a `:` cannot be in a tend service name (escape it as `\\x3a`)"
        ]
    );
}

#[test]
fn an_instance_link_reports_at_the_template_file() {
    let t = TempDir::new("units");
    t.write(
        "getty@.service",
        "[Service]\nExecStart=/bin/getty %i\nRestart=sometimes\n",
    );
    symlink("getty@.service", t.0.join("getty@tty1.service")).unwrap();
    assert_eq!(
        load_t(&t).unwrap_err(),
        [
            "getty@.service:3:9: error: service `getty@tty1`: Restart: invalid value `sometimes`, expected one of: no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always"
        ]
    );
}

#[test]
fn confinement_directives_map_onto_the_native_keys() {
    use crate::model::{ProtectHome, ProtectSystem, Rlimit};
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nExecStart=/bin/app\nUser=nobody\nNoNewPrivileges=yes\n\
         CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_CHOWN CAP_KILL\n\
         CapabilityBoundingSet=~CAP_KILL\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n\
         PrivateTmp=true\nProtectSystem=full\nProtectHome=read-only\n\
         ReadOnlyPaths=/srv -/opt/maybe\nReadWritePaths=/var/lib/app\nReadWriteDirectories=/var/log/app\n\
         InaccessiblePaths=-/etc/secret\nPrivateDevices=on\nPrivateNetwork=1\n\
         LimitNOFILE=1024:4096\nLimitCORE=infinity\nLimitCPU=2min\nLimitRTTIME=1s\nLimitNICE=-5\n\
         LimitMEMLOCK=64K\nUMask=0027\nProtectKernelTunables=yes\n",
    );
    t.write(
        "root.service",
        "[Service]\nExecStart=/bin/app\nCapabilityBoundingSet=~CAP_SYS_ADMIN CAP_SYS_PTRACE\n\
         ProtectSystem=strict\nProtectHome=yes\nLimitNOFILE=10\nLimitNOFILE=\n",
    );
    let l = load_t(&t).expect("valid");
    let c = &service(&l, "app").confine;
    assert!(c.no_new_privileges && c.private_tmp && c.private_devices && c.private_network);
    assert_eq!(c.capabilities, Some((1 << 10) | 1));
    assert_eq!(c.ambient_capabilities, 1 << 10);
    assert_eq!(c.protect_system, ProtectSystem::Full);
    assert_eq!(c.protect_home, ProtectHome::ReadOnly);
    let paths = |l: &[crate::model::ConfinePath]| -> Vec<(String, bool)> {
        l.iter()
            .map(|p| (p.path.display().to_string(), p.optional))
            .collect()
    };
    assert_eq!(
        paths(&c.read_only_paths),
        [("/srv".into(), false), ("/opt/maybe".into(), true)]
    );
    assert_eq!(
        paths(&c.read_write_paths),
        [
            ("/var/lib/app".into(), false),
            ("/var/log/app".into(), false)
        ]
    );
    assert_eq!(paths(&c.inaccessible_paths), [("/etc/secret".into(), true)]);
    let lim = |resource, soft, hard| Rlimit {
        resource,
        soft,
        hard,
    };
    assert_eq!(
        c.rlimits,
        [
            lim(libc::RLIMIT_NOFILE, 1024, 4096),
            lim(libc::RLIMIT_CORE, u64::MAX, u64::MAX),
            lim(libc::RLIMIT_CPU, 120, 120),
            lim(libc::RLIMIT_RTTIME, 1_000_000, 1_000_000),
            lim(libc::RLIMIT_NICE, 25, 25),
            lim(libc::RLIMIT_MEMLOCK, 65536, 65536),
        ]
    );
    assert_eq!(c.umask, Some(0o027));
    let r = &service(&l, "root").confine;
    let all = crate::load::confine::ALL_CAPS;
    assert_eq!(r.capabilities, Some(all & !((1 << 21) | (1 << 19))));
    assert_eq!(r.protect_system, ProtectSystem::Strict);
    assert_eq!(r.protect_home, ProtectHome::Yes);
    assert!(r.rlimits.is_empty(), "an empty LimitNOFILE= resets");
    // What tend does not do is still said, by name.
    let warned = shown(&t.0, &l.warnings).join("\n");
    assert!(warned.contains("`ProtectKernelTunables=`"), "{warned}");
    for done in [
        "PrivateTmp",
        "LimitNOFILE",
        "UMask",
        "CapabilityBoundingSet",
    ] {
        assert!(!warned.contains(&format!("`{done}=`")), "{warned}");
    }
}

#[test]
fn bad_confinement_values_are_errors_at_their_place() {
    let t = TempDir::new("units");
    t.write(
        "app.service",
        "[Service]\nExecStart=/bin/app\nPrivateTmp=maybe\nCapabilityBoundingSet=CAP_FLY\n\
         ReadOnlyPaths=relative\nLimitNOFILE=4096:1024\nUMask=0999\nProtectSystem=yes-please\n",
    );
    let e = load_t(&t).unwrap_err().join("\n");
    for want in [
        "app.service:3:12: error: service `app`: PrivateTmp: expected a boolean, found `maybe`",
        "app.service:4:23: error: service `app`: CapabilityBoundingSet: unknown capability `CAP_FLY`",
        "app.service:5:15: error: service `app`: ReadOnlyPaths: `relative`: the path must be absolute",
        "app.service:6:13: error: service `app`: LimitNOFILE: the soft limit is above the hard one",
        "app.service:7:7: error: service `app`: UMask: invalid umask `0999`",
        "app.service:8:15: error: service `app`: ProtectSystem: expected a boolean, `full` or `strict`",
    ] {
        assert!(e.contains(want), "{want}\nnot in:\n{e}");
    }
}

#[test]
fn exec_lines_and_conditions_lower_onto_the_native_keys() {
    let t = TempDir::new("units");
    t.write(
        "ssh@.service",
        "[Unit]\nConditionPathExists=!/etc/ssh/sshd_not_to_be_run\nConditionHost=|%i\n\
         ConditionVirtualization=|container\nAssertPathIsDirectory=/run\n\
         [Service]\nExecCondition=/bin/check %i\nExecStartPre=/usr/sbin/sshd -t\n\
         ExecStart=/usr/sbin/sshd -D $SSHD_OPTS\nExecStartPost=-/bin/post\n\
         ExecReload=/usr/sbin/sshd -t\nExecReload=/bin/kill -HUP $MAINPID\n\
         ExecStop=/bin/kill -s QUIT $MAINPID\n",
    );
    std::os::unix::fs::symlink(t.0.join("ssh@.service"), t.0.join("ssh@web.service")).unwrap();
    t.write(
        "plain.service",
        "[Unit]\nConditionPathExists=/a\nAssertPathExists=/b\n[Service]\nExecStart=/bin/x\n",
    );
    t.write("plain.service.d/x.conf", "[Unit]\nConditionFileNotEmpty=\n");
    let l = load_t(&t).expect("valid");
    let s = service(&l, "ssh@web");
    let written: Vec<String> = s.conditions.iter().map(|c| c.describe()).collect();
    assert_eq!(
        written,
        [
            "ConditionPathExists=!/etc/ssh/sshd_not_to_be_run",
            "ConditionHost=|web",
            "ConditionVirtualization=|container",
            "AssertPathIsDirectory=/run",
        ]
    );
    assert_eq!(s.exec_condition[0].argv, ["/bin/check", "web"]);
    assert_eq!(
        (s.post_start[0].argv.clone(), s.post_start[0].ignore_failure),
        (vec!["/bin/post".to_string()], true)
    );
    // Several ExecReload= lines: one chain, in order; one kill line alone
    // is the stop signal.
    let reload = s.reload_exec.clone().unwrap_or_default();
    assert_eq!(
        reload,
        [
            "/proc/self/exe",
            "__exec-chain",
            "--expand",
            "--step",
            "2",
            "/usr/sbin/sshd",
            "-t",
            "--step",
            "3",
            "/bin/kill",
            "-HUP",
            "$$MAINPID",
            "--",
        ]
    );
    assert_eq!((s.stop_exec.clone(), s.stop_signal), (None, libc::SIGQUIT));
    // An empty assignment resets the conditions, not the asserts.
    let p = service(&l, "plain");
    let written: Vec<String> = p.conditions.iter().map(|c| c.describe()).collect();
    assert_eq!(written, ["AssertPathExists=/b"]);
}

#[test]
fn kill_restart_process_and_output_directives_lower_onto_native_keys() {
    use crate::model::{KillMode, Stdio};
    let t = TempDir::new("units");
    t.write(
        "ssh.service",
        "[Service]\nExecStart=/usr/sbin/sshd -D\nKillMode=process\nRestart=on-abort\n\
         SendSIGHUP=yes\nSendSIGKILL=no\nFinalKillSignal=SIGQUIT\nRestartKillSignal=INT\n\
         RestartForceExitStatus=3 SIGUSR2\nNice=5\nOOMScoreAdjust=-500\n\
         SupplementaryGroups=adm\nSupplementaryGroups=daemon\nPassEnvironment=LANG TZ\n\
         UnsetEnvironment=FOO BAR=1\nStandardOutput=append:/var/log/x.log\n\
         StandardInput=null\nSyslogIdentifier=sshd\n",
    );
    t.write(
        "w.service",
        "[Service]\nExecStart=/bin/w\nKillMode=mixed\nRestart=on-watchdog\n\
         StandardOutput=null\nStandardError=journal+console\n",
    );
    t.write(
        "o.service",
        "[Service]\nExecStart=/bin/o\nRestart=on-success\nStandardOutput=tty\nStandardError=inherit\n",
    );
    let l = load_t(&t).unwrap();
    let s = service(&l, "ssh");
    assert_eq!(s.kill_mode, KillMode::Process);
    assert_eq!(s.restart, RestartPolicy::OnAbort);
    assert!(s.send_sighup && !s.send_sigkill);
    assert_eq!(s.final_kill_signal, libc::SIGQUIT);
    assert_eq!(s.restart_kill_signal, Some(libc::SIGINT));
    assert_eq!(s.restart_force_exit_codes, [3]);
    assert_eq!(s.restart_force_exit_signals, [libc::SIGUSR2]);
    assert_eq!(s.confine.nice, Some(5));
    assert_eq!(s.confine.oom_score_adjust, Some(-500));
    assert_eq!(s.confine.supplementary_groups, ["adm", "daemon"]);
    assert_eq!(
        s.pass_environment.as_deref(),
        Some(&["LANG".to_string(), "TZ".into()][..])
    );
    assert_eq!(s.unset_environment, ["FOO", "BAR=1"]);
    let log = Stdio::Append("/var/log/x.log".into());
    assert_eq!(
        (&s.stdout, &s.stderr),
        (&log, &log),
        "stderr inherits stdout"
    );
    assert_eq!(s.stdin, Stdio::Null);
    assert_eq!(s.log_prefix.as_deref(), Some("sshd"));
    let w = service(&l, "w");
    assert_eq!(
        (w.kill_mode, w.restart),
        (KillMode::Mixed, RestartPolicy::OnWatchdog)
    );
    assert_eq!((&w.stdout, &w.stderr), (&Stdio::Null, &Stdio::Log));
    let o = service(&l, "o");
    assert_eq!(o.restart, RestartPolicy::OnSuccess);
    assert_eq!((&o.stdout, &o.stderr), (&Stdio::Log, &Stdio::Log));
    let warned = shown(&t.0, &l.warnings);
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("o.service:4:16: warning: service `o`: StandardOutput: `tty`")),
        "{warned:?}"
    );
    assert!(
        !warned.iter().any(|w| w.contains("ssh.service")),
        "{warned:?}"
    );
}

#[test]
fn bad_kill_and_process_values_are_errors_at_their_place() {
    let t = TempDir::new("units");
    t.write(
        "a.service",
        "[Service]\nExecStart=/bin/a\nKillMode=group\nNice=40\nSendSIGKILL=maybe\nStandardOutput=file:\n",
    );
    let errs = load_t(&t).unwrap_err();
    assert_eq!(
        errs,
        [
            "a.service:3:10: error: service `a`: KillMode: invalid value `group`, expected one of: control-group, mixed, process, none",
            "a.service:4:6: error: service `a`: Nice: `40` is not an integer from -20 to 19",
            "a.service:5:13: error: service `a`: SendSIGKILL: invalid boolean `maybe`",
            "a.service:6:16: error: service `a`: StandardOutput: `file:`: a path must follow the `:`",
        ]
    );
}
