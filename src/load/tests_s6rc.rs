//! Tests of s6-rc source directories and s6-overlay trees: detection,
//! lowering, bundles, what starts, the legacy stages, `S6_*` variables.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::tests::{TempDir, shown};
use super::*;
use crate::model::{RestartPolicy, ServiceType};

/// A tree of `files` (`run`, `finish` and legacy scripts made
/// executable), loaded with the `S6_*` variables of `env` only.
fn tree(files: &[(&str, &str)], env: &[(&str, &str)]) -> (TempDir, Result<Loaded, Vec<String>>) {
    let t = TempDir::new("s6rc");
    for (name, text) in files {
        let p = t.write(name, text);
        let base = p.file_name().unwrap().to_string_lossy().into_owned();
        let parent = p
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if ["run", "finish"].contains(&base.as_str())
            || ["cont-init.d", "cont-finish.d"].contains(&parent.as_str())
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut c = Collector::default();
    // PATH is `rc/` itself when the tree is written there.
    let path = Some(t.0.join("rc"))
        .filter(|p| p.is_dir())
        .unwrap_or(t.0.clone());
    let layout = s6overlay::detect(&path).expect("an s6 tree");
    s6overlay::load(&mut c, &path, &layout, &|k| env.get(k).cloned());
    let r = c.finish().map_err(|d| shown(&t.0, &d));
    (t, r)
}

fn svc<'a>(l: &'a Loaded, name: &str) -> &'a ServiceSpec {
    (l.config.services.iter().find(|s| s.name == name))
        .unwrap_or_else(|| panic!("no service {name} in {:?}", names(l)))
}

fn names(l: &Loaded) -> Vec<&str> {
    l.config.services.iter().map(|s| s.name.as_str()).collect()
}

fn warnings(t: &TempDir, l: &Loaded) -> Vec<String> {
    shown(&t.0, &l.warnings)
}

/// The tree of the bug report (issue 12).
const BUG_TREE: &[(&str, &str)] = &[
    ("s6-rc.d/init/type", "oneshot\n"),
    ("s6-rc.d/init/up", "touch /tmp/x\n"),
    ("s6-rc.d/init/dependencies.d/base", ""),
    ("s6-rc.d/app/type", "longrun\n"),
    ("s6-rc.d/app/run", "#!/bin/sh\nexec sleep 100\n"),
    ("s6-rc.d/app/dependencies.d/init", ""),
    ("s6-rc.d/app/dependencies.d/base", ""),
    ("s6-rc.d/user/type", "bundle\n"),
    ("s6-rc.d/user/contents.d/app", ""),
];

#[test]
fn the_bug_report_tree_lowers_to_a_oneshot_and_a_longrun_after_it() {
    let (t, r) = tree(BUG_TREE, &[]);
    let l = r.expect("valid");
    assert_eq!(warnings(&t, &l), Vec::<String>::new());
    assert_eq!(names(&l), ["app", "init"], "a bundle is not a service");
    let init = svc(&l, "init");
    assert_eq!(init.kind, ServiceType::Oneshot);
    let up = std::path::absolute(t.0.join("s6-rc.d/init/up")).unwrap();
    assert_eq!(init.exec, ["execlineb", "-P", up.to_str().unwrap()]);
    assert_eq!(init.restart, RestartPolicy::No, "a oneshot is never re-run");
    assert_eq!(init.start_timeout, None, "s6-rc waits without timeout-up");
    assert!(init.autostart, "needed by `app`, which is in `user`");
    let app = svc(&l, "app");
    assert_eq!(app.exec, ["./run"]);
    assert_eq!(app.restart, RestartPolicy::Always);
    assert_eq!(app.requires, ["init"], "`base` is s6-overlay's, satisfied");
    assert!(app.autostart);
}

#[test]
fn a_down_script_is_the_oneshots_own_stop_exec() {
    let mut files = BUG_TREE.to_vec();
    files.push(("s6-rc.d/init/down", "rm -f /tmp/x\n"));
    files.push(("s6-rc.d/init/timeout-down", "2500\n"));
    let (t, r) = tree(&files, &[]);
    let l = r.expect("valid");
    assert_eq!(names(&l), ["app", "init"], "no companion");
    let init = svc(&l, "init");
    let script = std::path::absolute(t.0.join("s6-rc.d/init/down")).unwrap();
    assert_eq!(
        init.stop_exec.as_deref().unwrap(),
        ["execlineb", "-P", script.to_str().unwrap()]
    );
    assert_eq!(init.stop_timeout, Some(Duration::from_millis(2500)));
    assert_eq!(svc(&l, "app").requires, ["init"]);
}

#[test]
fn bundles_expand_recursively_from_contents_d_and_contents_files() {
    let (t, r) = tree(
        &[
            ("rc/a/type", "oneshot\n"),
            ("rc/a/up", "true\n"),
            ("rc/b/type", "oneshot\n"),
            ("rc/b/up", "true\n"),
            ("rc/c/type", "oneshot\n"),
            ("rc/c/up", "true\n"),
            ("rc/inner/type", "bundle\n"),
            ("rc/inner/contents", "# members\n  a\nb\n"),
            ("rc/outer/type", "bundle\n"),
            ("rc/outer/contents.d/inner", ""),
            ("rc/outer/contents.d/c", ""),
            ("rc/app/type", "oneshot\n"),
            ("rc/app/up", "true\n"),
            ("rc/app/dependencies", "outer\n"),
        ],
        &[],
    );
    let l = r.expect("valid");
    assert_eq!(warnings(&t, &l), Vec::<String>::new());
    let mut req = svc(&l, "app").requires.clone();
    req.sort();
    assert_eq!(req, ["a", "b", "c"]);
    // No user nor default bundle: everything starts.
    assert!(l.config.services.iter().all(|s| s.autostart));
}

#[test]
fn a_bundle_cycle_is_an_error_naming_it() {
    let (_t, r) = tree(
        &[
            ("rc/a/type", "oneshot\n"),
            ("rc/a/up", "true\n"),
            ("rc/a/dependencies.d/x", ""),
            ("rc/x/type", "bundle\n"),
            ("rc/x/contents.d/y", ""),
            ("rc/y/type", "bundle\n"),
            ("rc/y/contents.d/x", ""),
        ],
        &[],
    );
    let e = r.unwrap_err();
    assert!(
        e.contains(&"rc/y/contents.d/x: error: bundle cycle: x -> y -> x".to_string()),
        "{e:?}"
    );
}

#[test]
fn a_dependency_cycle_through_a_bundle_is_reported() {
    let (_t, r) = tree(
        &[
            ("rc/a/type", "oneshot\n"),
            ("rc/a/up", "true\n"),
            ("rc/a/dependencies.d/group", ""),
            ("rc/group/type", "bundle\n"),
            ("rc/group/contents.d/b", ""),
            ("rc/b/type", "oneshot\n"),
            ("rc/b/up", "true\n"),
            ("rc/b/dependencies.d/a", ""),
        ],
        &[],
    );
    let e = r.unwrap_err();
    assert!(
        e.iter()
            .any(|m| m.contains("error: dependency cycle:") && m.contains('a') && m.contains('b')),
        "{e:?}"
    );
}

#[test]
fn bad_definitions_are_errors_at_their_file() {
    let (_t, r) = tree(
        &[
            ("rc/web/type", "longrn\n"),
            ("rc/api/type", "longrun\n"),
            ("rc/api/run", "#!/bin/sh\n"),
            ("rc/api/dependencies.d/postgress", ""),
            ("rc/postgres/type", "longrun\n"),
            ("rc/postgres/run", "#!/bin/sh\n"),
            ("rc/postgres/timeout-up", "soon\n"),
            ("rc/job/type", "oneshot\n"),
            ("rc/job/down", "true\n"),
            ("rc/after-job/type", "oneshot\n"),
            ("rc/after-job/up", "true\n"),
            ("rc/after-job/dependencies.d/job", ""),
            ("rc/notes/README", "not a service\n"),
        ],
        &[],
    );
    assert_eq!(
        r.unwrap_err(),
        [
            "rc/api/dependencies.d/postgress: error: service `api`: unknown service or bundle `postgress`, did you mean `postgres`?",
            "rc/job: error: service `job`: a oneshot needs an `up` file",
            "rc/notes: warning: `notes` has no `type` file: not an s6-rc service definition, ignored (s6-rc-compile refuses it)",
            "rc/postgres/timeout-up:1:1: error: service `postgres`: timeout-up: expected milliseconds, found `soon`",
            "rc/web/type:1:1: error: service `web`: type: expected `longrun`, `oneshot` or `bundle`, found `longrn`",
        ]
    );
}

#[test]
fn files_s6_rc_does_not_read_are_warned_unless_a_script_uses_them() {
    let (t, r) = tree(
        &[
            // linuxserver.io's shape: `up` runs a script kept beside it.
            ("rc/init-adduser/type", "oneshot\n"),
            (
                "rc/init-adduser/up",
                "/etc/s6-overlay/s6-rc.d/init-adduser/run\n",
            ),
            ("rc/init-adduser/run", "#!/bin/sh\ncat branding\n"),
            ("rc/init-adduser/branding", "hello\n"),
            ("rc/svc/type", "longrun\n"),
            ("rc/svc/run", "#!/bin/sh\n"),
            ("rc/svc/notes.txt", ""),
            ("rc/svc/down", ""),
            ("rc/svc/data/conf", ""),
        ],
        &[],
    );
    let l = r.expect("valid");
    assert_eq!(
        warnings(&t, &l),
        [
            "rc/init-adduser: warning: service `init-adduser`: s6-rc does not read `branding`: ignored",
            "rc/svc: warning: service `svc`: s6-rc does not read `notes.txt`: ignored",
            "rc/svc/down: warning: service `svc`: `down` is ignored in an s6-rc definition (as s6-rc-compile ignores it)",
        ]
    );
    assert!(svc(&l, "svc").autostart, "s6-rc ignores `down`");
}

#[test]
fn the_user_bundle_decides_what_starts_and_the_rest_is_said() {
    let (t, r) = tree(
        &[
            ("s6-rc.d/app/type", "longrun\n"),
            ("s6-rc.d/app/run", "#!/bin/sh\n"),
            ("s6-rc.d/app/dependencies.d/db", ""),
            ("s6-rc.d/db/type", "longrun\n"),
            ("s6-rc.d/db/run", "#!/bin/sh\n"),
            ("s6-rc.d/spare/type", "longrun\n"),
            ("s6-rc.d/spare/run", "#!/bin/sh\n"),
            ("s6-rc.d/user/type", "bundle\n"),
            ("s6-rc.d/user/contents.d/app", ""),
        ],
        &[],
    );
    let l = r.expect("valid");
    assert!(svc(&l, "app").autostart && svc(&l, "db").autostart);
    assert!(!svc(&l, "spare").autostart);
    assert_eq!(
        warnings(&t, &l),
        [
            "s6-rc.d/spare: warning: service `spare` is not in the `user` bundle nor needed by it: defined, not started at boot (as under s6-rc); add it to `user/contents.d/` to start it"
        ]
    );
}

#[test]
fn without_user_the_default_bundle_starts() {
    let (_t, r) = tree(
        &[
            ("rc/a/type", "longrun\n"),
            ("rc/a/run", "#!/bin/sh\n"),
            ("rc/b/type", "longrun\n"),
            ("rc/b/run", "#!/bin/sh\n"),
            ("rc/default/type", "bundle\n"),
            ("rc/default/contents.d/a", ""),
        ],
        &[],
    );
    let l = r.expect("valid");
    assert!(svc(&l, "a").autostart);
    assert!(!svc(&l, "b").autostart);
}

#[test]
fn longrun_files_map_to_readiness_and_timeouts() {
    let (_t, r) = tree(
        &[
            ("rc/db/type", "longrun\n"),
            ("rc/db/run", "#!/bin/sh\n"),
            ("rc/db/finish", "#!/bin/sh\n"),
            ("rc/db/notification-fd", "3\n"),
            ("rc/db/timeout-up", "5000\n"),
            ("rc/db/timeout-down", "0\n"),
            ("rc/db/down-signal", "SIGINT\n"),
            ("rc/db/flag-essential", ""),
            ("rc/db/max-death-tally", "10\n"),
            ("rc/web/type", "longrun\n"),
            ("rc/web/run", "#!/bin/sh\n"),
            ("rc/web/timeout-down", "100\n"),
            ("rc/web/timeout-kill", "700\n"),
        ],
        &[],
    );
    let l = r.expect("valid");
    let db = svc(&l, "db");
    assert_eq!(db.kind, ServiceType::NotifyFd);
    assert_eq!(db.ready_fd, Some(3));
    assert_eq!(db.start_timeout, Some(Duration::from_secs(5)));
    assert_eq!(db.stop_timeout, None, "0 is no limit");
    assert_eq!(db.stop_signal, libc::SIGINT);
    assert_eq!(db.on_exit.as_deref(), Some(&["./finish".to_string()][..]));
    assert_eq!(
        svc(&l, "web").stop_timeout,
        Some(Duration::from_millis(700)),
        "timeout-kill is when SIGKILL comes"
    );
}

#[test]
fn pipelines_lower_into_pipe_to_and_bring_their_consumer_up() {
    let (t, r) = tree(
        &[
            ("s6-rc.d/app/type", "longrun\n"),
            ("s6-rc.d/app/run", "#!/bin/sh\n"),
            ("s6-rc.d/app/producer-for", "app-log\n"),
            ("s6-rc.d/side/type", "longrun\n"),
            ("s6-rc.d/side/run", "#!/bin/sh\n"),
            ("s6-rc.d/side/producer-for", "app-log\n"),
            ("s6-rc.d/app-log/type", "longrun\n"),
            ("s6-rc.d/app-log/run", "#!/bin/sh\n"),
            ("s6-rc.d/app-log/consumer-for", "app\nside\n"),
            ("s6-rc.d/app-log/pipeline-name", "app-pipeline\n"),
            ("s6-rc.d/other/type", "longrun\n"),
            ("s6-rc.d/other/run", "#!/bin/sh\n"),
            ("s6-rc.d/other/dependencies.d/app-log", ""),
            ("s6-rc.d/user/type", "bundle\n"),
            ("s6-rc.d/user/contents.d/app-pipeline", ""),
            ("s6-rc.d/user/contents.d/other", ""),
        ],
        &[],
    );
    let l = r.expect("valid: the pipeline's name is a bundle");
    assert_eq!(svc(&l, "app").pipe_to.as_deref(), Some("app-log"));
    // A funnel: two producers, one consumer.
    assert_eq!(svc(&l, "side").pipe_to.as_deref(), Some("app-log"));
    assert!(svc(&l, "app").autostart && svc(&l, "side").autostart);
    assert!(svc(&l, "app-log").autostart);
    assert_eq!(svc(&l, "app-log").pipe_to, None);
    // A dependency on a consumer is an ordinary one.
    assert_eq!(svc(&l, "other").requires, ["app-log"]);
    assert_eq!(warnings(&t, &l), Vec::<String>::new());
}

#[test]
fn a_one_sided_pipeline_is_an_error() {
    let (t, r) = tree(
        &[
            ("s6-rc.d/app/type", "longrun\n"),
            ("s6-rc.d/app/run", "#!/bin/sh\n"),
            ("s6-rc.d/app/producer-for", "log\n"),
            ("s6-rc.d/log/type", "longrun\n"),
            ("s6-rc.d/log/run", "#!/bin/sh\n"),
            ("s6-rc.d/log/consumer-for", "nobody\n"),
            ("s6-rc.d/user/type", "bundle\n"),
            ("s6-rc.d/user/contents.d/app", ""),
        ],
        &[],
    );
    let _ = &t;
    let errors: Vec<String> = (r.unwrap_err().into_iter())
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(
        errors,
        [
            "s6-rc.d/app/producer-for:1:1: error: service `app`: producer-for: `log` does not list `app` in its consumer-for",
            "s6-rc.d/log/consumer-for:1:1: error: service `log`: consumer-for: `nobody` is not a longrun whose producer-for is `log`",
        ]
    );
}

/// An s6-overlay root (PATH = /etc of an image).
const OVERLAY: &[(&str, &str)] = &[
    ("cont-init.d/10-first", "#!/bin/sh\n"),
    ("cont-init.d/20-second", "#!/bin/sh\n"),
    ("cont-finish.d/99-bye", "#!/bin/sh\n"),
    ("services.d/legacy/run", "#!/bin/sh\n"),
    ("s6-overlay/s6-rc.d/app/type", "longrun\n"),
    ("s6-overlay/s6-rc.d/app/run", "#!/bin/sh\n"),
    ("s6-overlay/s6-rc.d/app/dependencies.d/base", ""),
    ("s6-overlay/s6-rc.d/late/type", "longrun\n"),
    ("s6-overlay/s6-rc.d/late/run", "#!/bin/sh\n"),
    ("s6-overlay/s6-rc.d/late/dependencies.d/legacy-services", ""),
    ("s6-overlay/s6-rc.d/user/type", "bundle\n"),
    ("s6-overlay/s6-rc.d/user/contents.d/app", ""),
    ("s6-overlay/user-bundles.d/user2/contents.d/late", ""),
];

#[test]
fn an_overlay_root_orders_the_legacy_stages_around_the_user_bundle() {
    let (t, r) = tree(OVERLAY, &[]);
    let l = r.expect("valid");
    assert_eq!(warnings(&t, &l), Vec::<String>::new());
    assert_eq!(
        names(&l),
        [
            "app",
            "cont-finish",
            "cont-init.10-first",
            "cont-init.20-second",
            "late",
            "legacy"
        ]
    );
    let second = svc(&l, "cont-init.20-second");
    assert_eq!(second.kind, ServiceType::Oneshot);
    assert_eq!(
        second.wants,
        ["cont-init.10-first"],
        "in order; a failure does not stop the next"
    );
    assert!(!second.critical);
    assert_eq!(
        svc(&l, "app").requires,
        ["cont-init.20-second"],
        "`base` is cont-init.d"
    );
    let legacy = svc(&l, "legacy");
    assert!(
        legacy.wants.contains(&"app".to_string()),
        "services.d after `user`"
    );
    assert_eq!(
        legacy.stop_timeout,
        Some(Duration::from_secs(3)),
        "S6_SERVICES_GRACETIME"
    );
    assert_eq!(
        svc(&l, "late").requires,
        ["legacy"],
        "user2 after services.d"
    );
    assert!(svc(&l, "late").autostart);
    let finish = svc(&l, "cont-finish");
    let bye = std::path::absolute(t.0.join("cont-finish.d/99-bye")).unwrap();
    assert_eq!(
        finish.stop_exec.as_ref().unwrap().last().unwrap(),
        bye.to_str().unwrap()
    );
    for s in &l.config.services {
        if s.name != "cont-finish" {
            assert!(
                s.after.contains(&"cont-finish".to_string()),
                "{} stops before cont-finish",
                s.name
            );
        }
    }
}

#[test]
fn s6_variables_map_or_are_said() {
    let (t, r) = tree(
        OVERLAY,
        &[
            ("S6_BEHAVIOUR_IF_STAGE2_FAILS", "2"),
            ("S6_KILL_GRACETIME", "500"),
            ("S6_SERVICES_GRACETIME", "0"),
            ("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", "8000"),
            ("S6_STAGE2_HOOK", "/hook"),
            ("S6_KEEP_ENV", "0"),
        ],
    );
    let l = r.expect("valid");
    let second = svc(&l, "cont-init.20-second");
    assert!(second.critical, "a failing script stops the container");
    assert_eq!(second.requires, ["cont-init.10-first"]);
    assert_eq!(second.start_timeout, Some(Duration::from_secs(8)));
    assert_eq!(
        svc(&l, "app").stop_timeout,
        Some(Duration::from_millis(500))
    );
    assert_eq!(svc(&l, "legacy").stop_timeout, None);
    assert_eq!(
        warnings(&t, &l),
        [
            ": warning: S6_KEEP_ENV=0: not acted on: services get tend's environment, as with S6_KEEP_ENV=1",
        ]
        .map(|w| format!("{}{w}", t.0.display()))
    );
}

#[test]
fn s6_variables_tend_does_not_act_on_are_warned_by_name_and_why() {
    // Their defaults (0) are what tend does: said nothing of.
    let quiet = [
        ("S6_LOGGING", "0"),
        ("S6_CMD_RECEIVE_SIGNALS", "0"),
        ("S6_VERBOSITY", "0"),
        ("S6_READ_ONLY_ROOT", "1"),
        ("S6_SYNC_DISKS", "1"),
        ("S6_CMD_ARG0", "/entry"),
    ];
    let (t, r) = tree(OVERLAY, &quiet);
    let l = r.expect("valid");
    assert_eq!(warnings(&t, &l), Vec::<String>::new());
    let (t, r) = tree(
        OVERLAY,
        &[
            ("S6_LOGGING", "1"),
            ("S6_CATCHALL_USER", "nobody"),
            ("S6_FIX_ATTRS_HIDDEN", "1"),
            ("S6_VERBOSITY", "loud"),
            ("S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES", "1"),
        ],
    );
    let l = r.expect("valid");
    let w = warnings(&t, &l).join("\n");
    for said in [
        "S6_LOGGING=`1`: recognised, not acted on: no catch-all logger",
        "S6_CATCHALL_USER=`nobody`: recognised, not acted on: there is no catch-all logger",
        "S6_FIX_ATTRS_HIDDEN=`1`: recognised, not acted on: fix-attrs.d",
        "S6_VERBOSITY=`loud`: expected 0 to 5, using 2",
        "S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES=`1`: recognised, not acted on",
    ] {
        assert!(w.contains(said), "{said:?} not in\n{w}");
    }
}

#[test]
fn a_read_only_root_puts_the_supervise_directories_in_run_service() {
    let (_t, r) = tree(OVERLAY, &[]);
    let l = r.expect("valid");
    let lock = svc(&l, "app").supervise_lock.clone().expect("a longrun");
    assert!(lock.ends_with("s6-rc.d/app/supervise/lock"), "{lock:?}");
    let (_t, r) = tree(OVERLAY, &[("S6_READ_ONLY_ROOT", "1")]);
    let l = r.expect("valid");
    assert_eq!(
        svc(&l, "app").supervise_lock.as_deref(),
        Some(Path::new("/run/service/app/supervise/lock"))
    );
    assert_eq!(svc(&l, "cont-init.10-first").supervise_lock, None);
}

#[test]
fn detection_needs_a_type_file_or_an_s6_layout() {
    let t = TempDir::new("detect");
    t.write("web/run", "#!/bin/sh\n");
    assert_eq!(s6overlay::detect(&t.0), None, "a plain service directory");
    t.write("s6-rc.d/x/type", "oneshot\n");
    let l = s6overlay::detect(&t.0).unwrap();
    assert_eq!(l.rc, Some(t.0.join("s6-rc.d")));
    assert_eq!(l.etc, None);
    let e = TempDir::new("detect-etc");
    e.write("cont-init.d/01", "");
    e.write("s6-overlay/s6-rc.d/x/type", "oneshot\n");
    e.write("s6-overlay/user-bundles.d/user/contents.d/x", "");
    let from_etc = s6overlay::detect(&e.0).unwrap();
    assert_eq!(from_etc.etc, Some(e.0.clone()));
    // PATH = /etc/s6-overlay/s6-rc.d finds /etc/cont-init.d too.
    let deep = s6overlay::detect(&e.0.join("s6-overlay/s6-rc.d")).unwrap();
    assert_eq!(deep.etc, Some(e.0.clone()));
    assert!(deep.bundles.is_some());
}

#[test]
fn s6_overlay_trees_as_images_ship_them_load() {
    // linuxserver.io's shape: `user/contents.d/` without `type` (s6-overlay
    // ships it), and s6-overlay's own `run` files without the x bit.
    let t = TempDir::new("lsio");
    t.write("s6-rc.d/svc-cron/type", "longrun\n");
    t.write(
        "s6-rc.d/svc-cron/run",
        "#!/command/execlineb -P\ncrond -f\n",
    );
    t.write("s6-rc.d/svc-cron/finish", "#!/bin/sh -e\ntrue\n");
    t.write("s6-rc.d/plain/type", "longrun\n");
    t.write("s6-rc.d/plain/run", "exec true\n");
    t.write("s6-rc.d/user/contents.d/svc-cron", "");
    let r = load(&t.0).map_err(|d| shown(&t.0, &d));
    assert_eq!(
        r.unwrap_err(),
        ["s6-rc.d/plain/run: error: service `plain`: `run` is not executable and has no `#!` line"]
    );
    std::fs::remove_dir_all(t.0.join("s6-rc.d/plain")).unwrap();
    let l = load(&t.0).expect("valid");
    assert_eq!(shown(&t.0, &l.warnings), Vec::<String>::new());
    let cron = svc(&l, "svc-cron");
    assert_eq!(cron.exec, ["/command/execlineb", "-P", "./run"]);
    assert_eq!(
        cron.on_exit.as_deref(),
        Some(&["/bin/sh".to_string(), "-e".into(), "./finish".into()][..])
    );
    assert!(cron.autostart, "in `user`");
}

#[test]
fn a_directory_without_an_s6_tree_is_read_as_before() {
    let (_t, r) = super::tests::load_dir_files(&[
        ("web.toml", "exec = 'web'\n"),
        (
            "notes/type",
            "not an s6-rc definition: not a subdirectory's `type`",
        ),
    ]);
    // A native definition beside it: a tend directory, not an s6-rc tree.
    assert_eq!(names(&r.expect("native")), ["web"]);
    // Alone, it is one: its `type` is then read, and wrong.
    let (_t, r) = super::tests::load_dir_files(&[("notes/type", "text\n")]);
    assert_eq!(
        r.unwrap_err(),
        [
            "notes/type:1:1: error: service `notes`: type: expected `longrun`, `oneshot` or `bundle`, found `text`"
        ]
    );
}
