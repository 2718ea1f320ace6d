//! s6-overlay v3 trees and plain s6-rc source directories as PATH: where
//! the parts are ([`detect`]), the legacy stages (`cont-init.d`,
//! `services.d`, `cont-finish.d`) and the `S6_*` variables, around
//! [`super::s6rc`].
//!
//! The order s6-overlay keeps, and how it is kept here:
//! - `cont-init.d/*` run one at a time in name order, before everything
//!   (they are in its `base` bundle): one oneshot `cont-init.NAME` each,
//!   each wanting the one before (a failing script does not stop the next,
//!   as in s6-overlay), and `base` stands for the last;
//! - the `user` (and `user2`) bundles start what they need;
//! - `services.d/*` start after `base` and the `user` bundle
//!   (`legacy-services` stands for them);
//! - `cont-finish.d/*` run in name order once everything else has stopped
//!   (s6-overlay's stage 3): they are the stop-exec of a oneshot
//!   `cont-finish` that does nothing at start and that every other service
//!   is ordered after (it completes first, so it is stopped last; tend runs
//!   a completed oneshot's stop-exec when it is stopped, as systemd does a
//!   `RemainAfterExit=` oneshot's `ExecStop=`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ctx::Loc;
use super::native::Parsed;
use super::s6rc::{self, Lowering};
use super::svdir;
use super::{Collector, DepRef, Severity, absolute, check_name};
use crate::graph::DepKind;
use crate::model::{RestartPolicy, ServiceSpec, ServiceType, Timeout};

/// Where the parts of a tree are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The s6-rc source directory.
    pub rc: Option<PathBuf>,
    /// s6-overlay's `user-bundles.d` (extra members of `user`, `user2`).
    pub bundles: Option<PathBuf>,
    /// The directory holding `cont-init.d`, `services.d`, `cont-finish.d`.
    pub etc: Option<PathBuf>,
}

const LEGACY: [&str; 3] = ["cont-init.d", "services.d", "cont-finish.d"];

/// PATH as an s6 tree, if it is one: PATH itself an s6-rc source
/// directory (a subdirectory with a `type` file), or holding `s6-rc.d/`
/// (a project dir, `/etc/s6-overlay`), or `s6-overlay/s6-rc.d/` or any of
/// the legacy directories (`/etc` of a root file system). A directory
/// named `s6-overlay` (or an `s6-rc.d` inside one) finds the legacy
/// directories beside it, where s6-overlay looks for them.
pub fn detect(dir: &Path) -> Option<Layout> {
    let has_legacy = |d: &Path| LEGACY.iter().any(|l| d.join(l).is_dir());
    let mut layout = Layout::default();
    let rc = if s6rc::is_source_dir(dir) {
        Some(dir.to_path_buf())
    } else if dir.join("s6-rc.d").is_dir() {
        Some(dir.join("s6-rc.d"))
    } else if dir.join("s6-overlay/s6-rc.d").is_dir() {
        Some(dir.join("s6-overlay/s6-rc.d"))
    } else {
        None
    };
    let abs = absolute(dir);
    if let Some(rc) = &rc {
        let overlay = (rc.file_name().is_some_and(|n| n == "s6-rc.d"))
            .then(|| absolute(rc).parent().map(Path::to_path_buf))
            .flatten();
        if let Some(o) = overlay
            .as_ref()
            .filter(|o| o.join("user-bundles.d").is_dir())
        {
            layout.bundles = Some(o.join("user-bundles.d"));
        }
        if has_legacy(&abs) {
            layout.etc = Some(dir.to_path_buf());
        } else if let Some(etc) = overlay
            .filter(|o| o.file_name().is_some_and(|n| n == "s6-overlay"))
            .and_then(|o| o.parent().map(Path::to_path_buf))
            .filter(|e| has_legacy(e))
        {
            layout.etc = Some(etc);
        }
    } else if has_legacy(&abs) {
        layout.etc = Some(dir.to_path_buf());
    } else {
        return None;
    }
    layout.rc = rc;
    Some(layout)
}

/// The `S6_*` settings tend acts on, read from its environment at load.
struct Settings {
    /// `S6_BEHAVIOUR_IF_STAGE2_FAILS` ≥ 2: a failing boot script or oneshot
    /// stops the container.
    stage2_fatal: bool,
    /// `S6_KILL_GRACETIME`: s6-rc longruns' stop-timeout.
    kill_grace: Timeout,
    /// `S6_SERVICES_GRACETIME`: services.d services' stop-timeout.
    services_grace: Timeout,
    /// `S6_CMD_WAIT_FOR_SERVICES_MAXTIME`: start-timeout of cont-init
    /// scripts and services.d services (0: none).
    services_maxtime: Timeout,
    /// `S6_KILL_FINISH_MAXTIME`: time for each cont-finish script.
    finish_maxtime: Timeout,
    /// `S6_READ_ONLY_ROOT`: nothing written in the tree (supervise
    /// directories under `LIVE_DIR`).
    read_only_root: bool,
}

/// Variables tend recognises but does not act on, with why (warned
/// when set; those in `WARNED_IF_NONZERO` only when set to a number
/// other than 0, their default, which is what tend does).
const NOT_ACTED_ON: &[(&str, &str)] = &[
    (
        "S6_LOGGING_SCRIPT",
        "there is no catch-all logger (see S6_LOGGING)",
    ),
    (
        "S6_CATCHALL_USER",
        "there is no catch-all logger to run as that user (see S6_LOGGING)",
    ),
    (
        "S6_CMD_USE_TERMINAL",
        "`tend run PATH -- CMD` gives CMD the terminal",
    ),
    (
        "S6_FIX_ATTRS_HIDDEN",
        "fix-attrs.d (deprecated since s6-overlay v3) is not read",
    ),
    ("S6_RUNTIME_PROFILE", "cont-profile.d is not read"),
    (
        "S6_RUNTIME_BUNDLEDIR",
        "user-bundles.d beside s6-rc.d is read",
    ),
    (
        "S6_SERVICES_READYTIME",
        "tend has no readiness race to wait out",
    ),
    (
        "S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES",
        "tend does not refuse a world-writable /run, so there is nothing to allow",
    ),
];

/// As `NOT_ACTED_ON`, warned only when not 0.
const WARNED_IF_NONZERO: &[(&str, &str)] = &[
    (
        "S6_LOGGING",
        "no catch-all logger in /var/log/s6-uncaught-logs: output goes to tend's stdout and `tend logs`",
    ),
    (
        "S6_CMD_RECEIVE_SIGNALS",
        "tend's SIGTERM stops CMD first, then the services; other signals are forwarded to CMD",
    ),
    (
        "S6_WAIT_FOR_CLOSING_FD",
        "tend does not wait for the services' descriptors to close",
    ),
];

/// Where the supervise directories of an s6-overlay tree's longruns go
/// with `S6_READ_ONLY_ROOT`: s6-overlay's scandir, whose `NAME/supervise`
/// s6's tools (`s6-svok`, `s6-svstat`) are pointed at.
pub const LIVE_DIR: &str = "/run/service";

/// s6-overlay's test of a flag (`test "0$VAR" -ne 0`).
fn nonzero(v: &str) -> bool {
    v.trim().parse::<u64>().is_ok_and(|n| n != 0)
}

fn settings(env: &dyn Fn(&str) -> Option<String>, root: &Path, c: &mut Collector) -> Settings {
    let at = Loc::file(root);
    let warn = |c: &mut Collector, msg: String| c.diags.push(at.diag(Severity::Warning, msg));
    let ms = |c: &mut Collector, var: &str, default: u64| -> Timeout {
        let ms = match env(var) {
            None => default,
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                warn(
                    c,
                    format!("{var}=`{v}`: expected milliseconds, using {default}"),
                );
                default
            }),
        };
        (ms > 0).then(|| crate::model::clamp(Duration::from_millis(ms)))
    };
    let kill_grace = ms(c, "S6_KILL_GRACETIME", 3000);
    let services_grace = ms(c, "S6_SERVICES_GRACETIME", 3000);
    let services_maxtime = ms(c, "S6_CMD_WAIT_FOR_SERVICES_MAXTIME", 0);
    let finish_maxtime = ms(c, "S6_KILL_FINISH_MAXTIME", 5000);
    let mut stage2_fatal = false;
    if let Some(v) = env("S6_BEHAVIOUR_IF_STAGE2_FAILS") {
        match v.trim().parse::<u32>() {
            Ok(n) => stage2_fatal = n >= 2,
            Err(_) => warn(
                c,
                format!("S6_BEHAVIOUR_IF_STAGE2_FAILS=`{v}`: expected 0, 1 or 2, using 0"),
            ),
        }
    }
    if env("S6_KEEP_ENV").is_some_and(|v| v.trim() == "0" || v.trim().is_empty()) {
        warn(
            c,
            "S6_KEEP_ENV=0: not acted on: services get tend's environment, as with S6_KEEP_ENV=1"
                .into(),
        );
    }
    if env("S6_CMD_WAIT_FOR_SERVICES").is_some_and(|v| v.trim() == "0") {
        warn(
            c,
            "S6_CMD_WAIT_FOR_SERVICES=0: not acted on: `tend run PATH -- CMD` starts CMD once every service is up"
                .into(),
        );
    }
    for (var, why) in NOT_ACTED_ON {
        if let Some(v) = env(var) {
            warn(c, format!("{var}=`{v}`: recognised, not acted on: {why}"));
        }
    }
    for (var, why) in WARNED_IF_NONZERO {
        if let Some(v) = env(var).filter(|v| v.trim() != "0" && !v.trim().is_empty()) {
            warn(c, format!("{var}=`{v}`: recognised, not acted on: {why}"));
        }
    }
    // Acted on by `tend run` (the verbosity of its own lines).
    if let Some(Err(e)) = env("S6_VERBOSITY").map(|v| crate::verbosity::parse(&v)) {
        warn(c, e);
    }
    let read_only_root = env("S6_READ_ONLY_ROOT").is_some_and(|v| nonzero(&v));
    Settings {
        read_only_root,
        stage2_fatal,
        kill_grace,
        services_grace,
        services_maxtime,
        finish_maxtime,
    }
}

/// Loads the tree of `layout` (PATH `root`) into `c`, with the `S6_*`
/// variables of `env`.
pub fn load(c: &mut Collector, root: &Path, layout: &Layout, env: &dyn Fn(&str) -> Option<String>) {
    let st = settings(env, root, c);
    let etc = layout.etc.as_deref();
    let files_in = |sub: &str| -> Vec<PathBuf> {
        etc.map(|e| {
            let d = e.join(sub);
            s6rc::sorted_entries(&d)
                .into_iter()
                .map(|n| d.join(n))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
    };
    let cont_init = files_in("cont-init.d");
    let cont_finish = files_in("cont-finish.d");

    // cont-init.d: a chain of oneshots.
    let mut legacy: Vec<(Loc, Parsed)> = Vec::new();
    let mut last_init: Option<String> = None;
    for f in &cont_init {
        let file = f.file_name().unwrap_or_default().to_string_lossy();
        let name = format!("cont-init.{file}");
        let loc = Loc::file(f);
        if let Err(e) = check_name(&name) {
            c.diags.push(loc.diag(
                Severity::Error,
                format!("{e} (made from cont-init.d/{file})"),
            ));
            continue;
        }
        if svdir::executable(f) == Some(false) {
            c.diags.push(loc.diag(
                Severity::Warning,
                format!("service `{name}`: not executable: it will fail, as under s6-overlay (chmod +x it)"),
            ));
        }
        let abs = absolute(f);
        let mut spec = ServiceSpec::with_defaults(&name, f.clone(), parent(&abs));
        spec.kind = ServiceType::Oneshot;
        spec.exec = vec![abs.display().to_string()];
        spec.restart = RestartPolicy::No;
        spec.start_timeout = st.services_maxtime;
        spec.critical = st.stage2_fatal;
        let mut deps = Vec::new();
        if let Some(prev) = &last_init {
            // A failing script does not keep the next from running (as in
            // s6-overlay), unless a failure stops the container anyway.
            let kind = if st.stage2_fatal {
                DepKind::Requires
            } else {
                DepKind::Wants
            };
            match kind {
                DepKind::Requires => spec.requires.push(prev.clone()),
                _ => spec.wants.push(prev.clone()),
            }
            deps.push(dep(kind, prev, &loc));
        }
        last_init = Some(name.clone());
        legacy.push((loc, Parsed { spec, deps }));
    }

    // services.d: service directories (svdir's reading).
    let mut legacy_services: Vec<(Loc, Parsed)> = Vec::new();
    if let Some(e) = etc {
        let d = e.join("services.d");
        for n in s6rc::sorted_entries(&d) {
            let p = d.join(&n);
            if !p.is_dir() {
                continue;
            }
            match svdir::detect(&p) {
                svdir::Detect::NotService => c.diags.push(Loc::file(&p).diag(
                    Severity::Warning,
                    format!("`services.d/{n}` has no `run` file: ignored"),
                )),
                svdir::Detect::RunNotExecutable => c.diags.push(Loc::file(&p.join("run")).diag(
                    Severity::Warning,
                    format!("`services.d/{n}/run` is not executable: ignored (chmod +x it)"),
                )),
                svdir::Detect::Service => {
                    if check_name(&n).is_err() {
                        c.diags
                            .push(Loc::file(&p).diag(Severity::Error, check_name(&n).unwrap_err()));
                        continue;
                    }
                    for mut parsed in svdir::service_dir(&p, &n, &absolute(&p), &mut c.diags) {
                        let s = &mut parsed.spec;
                        // services.d is s6's: its `finish` gets s6's arguments.
                        if s.on_exit.is_some() {
                            s.finish_args = Some(crate::model::FinishArgs::S6);
                        }
                        if !s.source.join("timeout-kill").exists() {
                            s.stop_timeout = st.services_grace;
                        }
                        s.start_timeout = st.services_maxtime.or(s.start_timeout);
                        legacy_services.push((Loc::file(&parsed.spec.source), parsed));
                    }
                }
            }
        }
    }
    let services_d: Vec<String> = legacy_services
        .iter()
        .map(|(_, p)| p.spec.name.clone())
        .collect();

    // s6-rc.d
    let mut builtin: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let base: Vec<String> = last_init.iter().cloned().collect();
    builtin.insert("base".into(), base.clone());
    builtin.insert("legacy-cont-init".into(), base.clone());
    builtin.insert("fix-attrs".into(), Vec::new());
    builtin.insert("legacy-services".into(), services_d.clone());
    let mut external: BTreeSet<String> = services_d.iter().cloned().collect();
    external.extend(legacy.iter().map(|(_, p)| p.spec.name.clone()));
    let mut extra: BTreeMap<String, Vec<(String, Loc)>> = BTreeMap::new();
    if let Some(b) = &layout.bundles {
        for bundle in ["user", "user2"] {
            let d = b.join(bundle).join("contents.d");
            for n in s6rc::sorted_entries(&d) {
                let loc = Loc::file(&d.join(&n));
                extra.entry(bundle.to_string()).or_default().push((n, loc));
            }
        }
    }
    let defs = layout
        .rc
        .as_deref()
        .map(|rc| s6rc::read_source(rc, &mut c.diags))
        .unwrap_or_default();
    let lw = Lowering {
        builtin: &builtin,
        extra_contents: &extra,
        external: &external,
        longrun_stop_timeout: if etc.is_some() || layout.bundles.is_some() || is_overlay(layout) {
            st.kill_grace
        } else {
            Some(Duration::from_secs(10))
        },
        critical_oneshots: st.stage2_fatal,
    };
    let lowered = s6rc::lower(&defs, &lw, &mut c.diags);
    for (name, loc) in &lowered.failed {
        c.define(name, loc);
    }
    // services.d starts after `base` and the user bundle, as s6-overlay's
    // `legacy-services` depends on both.
    // When a boot failure stops the container, nothing starts after one.
    for (loc, p) in &mut legacy_services {
        for n in &base {
            if st.stage2_fatal {
                p.spec.requires.push(n.clone());
                p.deps.push(dep(DepKind::Requires, n, loc));
            } else {
                p.spec.wants.push(n.clone());
                p.deps.push(dep(DepKind::Wants, n, loc));
            }
        }
        for n in &lowered.user {
            p.spec.wants.push(n.clone());
            p.deps.push(dep(DepKind::Wants, n, loc));
        }
    }
    // Everything else needs `base` in s6-overlay only when it says so;
    // cont-init.d still comes first (s6-overlay runs base before user).
    let mut all: Vec<(Loc, Parsed)> = legacy;
    let first_rc = all.len();
    all.extend(lowered.services);
    if !base.is_empty() {
        for (loc, p) in &mut all[first_rc..] {
            if p.spec.autostart
                && !p.spec.wants.contains(&base[0])
                && !p.spec.requires.contains(&base[0])
            {
                let last = &base[0];
                p.spec.after.push(last.clone());
                p.deps.push(dep(DepKind::After, last, loc));
            }
        }
    }
    all.extend(legacy_services);
    if !cont_finish.is_empty() {
        let name = "cont-finish";
        let dir = etc.map(|e| e.join("cont-finish.d")).unwrap_or_default();
        let loc = Loc::file(&dir);
        for (l, p) in &mut all {
            p.spec.after.push(name.into());
            p.deps.push(dep(DepKind::After, name, l));
        }
        let mut spec = ServiceSpec::with_defaults(name, dir.clone(), absolute(&dir));
        spec.kind = ServiceType::Oneshot;
        spec.exec = vec!["true".into()];
        spec.restart = RestartPolicy::No;
        let mut script = vec![
            "sh".to_string(),
            "-c".into(),
            "for f do \"$f\"; done".into(),
            "cont-finish".into(),
        ];
        script.extend(
            cont_finish
                .iter()
                .map(|f| absolute(f).display().to_string()),
        );
        spec.stop_exec = Some(script);
        spec.stop_timeout = st
            .finish_maxtime
            .map(|t| t.saturating_mul(cont_finish.len() as u32))
            .map(crate::model::clamp);
        all.push((
            loc,
            Parsed {
                spec,
                deps: Vec::new(),
            },
        ));
    }
    for (loc, mut p) in all {
        // A read-only root: s6-overlay runs its longruns from copies in
        // /run/service; tend runs them where they are and keeps only
        // their supervise directories (lock, event) there.
        if st.read_only_root && p.spec.supervise_lock.is_some() {
            let live = Path::new(LIVE_DIR).join(&p.spec.name);
            p.spec.supervise_lock = Some(live.join("supervise").join("lock"));
        }
        // s6-rc allows spaces and more in names; tend's names are stricter.
        if let Err(e) = check_name(&p.spec.name) {
            c.diags.push(loc.diag(
                Severity::Error,
                format!("{e} (the service name comes from the directory name)"),
            ));
            continue;
        }
        if c.define(&p.spec.name, &loc) {
            c.services.push(p);
        }
    }
}

/// A tree inside an s6-overlay layout (`.../s6-overlay/s6-rc.d`).
fn is_overlay(layout: &Layout) -> bool {
    layout.rc.as_deref().map(absolute).is_some_and(|rc| {
        rc.parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "s6-overlay")
    })
}

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| p.to_path_buf())
}

fn dep(kind: DepKind, name: &str, loc: &Loc) -> DepRef {
    DepRef {
        kind,
        name: name.to_string(),
        loc: loc.clone(),
        from_unit: false,
    }
}
