//! `tend run` and `tend check`: load, set up the process (PID 1 duties,
//! control socket), and hand over to the reactor.

use crate::load::{self, Diagnostic, Severity};
use crate::model::{Config, RestartPolicy, ServiceSpec};
use crate::reactor::{Entrypoint, Reactor};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// Exit status for a configuration error (SPEC §1).
pub const EXIT_CONFIG: i32 = 2;

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
}

pub fn check(path: &Path) -> i32 {
    match load::load(path) {
        Ok(loaded) => {
            print_diagnostics(&loaded.warnings);
            println!(
                "{}: {} service(s), no errors",
                path.display(),
                loaded.config.services.len()
            );
            0
        }
        Err(diags) => {
            print_diagnostics(&diags);
            let n = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            eprintln!("tend: {n} error(s) in {}", path.display());
            EXIT_CONFIG
        }
    }
}

/// `tend run [PATH] -- CMD` (SPEC §8): the command, and where forwarded
/// signals go.
pub struct Entry {
    pub cmd: Vec<String>,
    pub forward_group: bool,
}

pub use crate::model::{ENTRY_RESERVED, MAIN};

pub fn run(path: Option<&Path>, socket: Option<&Path>, entry: Option<Entry>) -> i32 {
    crate::os::ensure_stdio();
    // As PID 1, a panic must not end the container (s6-svscan's rule).
    crate::os::reaper::install_panic_hook();
    // `tend reexec`: the previous binary handed its services over.
    let taken = crate::reactor::take_handover();
    let resuming = taken.is_some();
    let pid1 = std::process::id() == 1;
    let mut after = Fatal {
        resuming,
        pid1,
        back: None,
    };
    let mut handover = match taken {
        None => None,
        Some(t) => {
            after.back = t.back;
            match t.handover {
                Ok(h) => Some(h),
                Err(e) => return after.fatal(&format!("reexec: {e}"), 1),
            }
        }
    };
    // tend's own supervisor (systemd, podman) talks to tend, not to the
    // services: keep its variables out of what they inherit.
    let upward = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| handover.as_ref().and_then(|h| h.upward.clone()));
    for var in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
    ] {
        // SAFETY: still single-threaded; nothing else reads the environment now.
        unsafe { std::env::remove_var(var) };
    }
    // The entrypoint without PATH reads no definitions at all.
    let path = match (path, &entry) {
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(_)) => None,
        (None, None) => Some(PathBuf::from(if pid1 { "/etc/tend" } else { "./tend.d" })),
    };
    // Like tini, the bare entrypoint says nothing of its own but errors.
    let quiet = entry.is_some() && path.is_none();
    // s6-overlay's container environment, for `with-contenv` (written as
    // PID 1 of an image that has a `with-contenv`, or where
    // `$TEND_CONTAINER_ENV` says).
    if path.is_some()
        && !resuming
        && (std::env::var_os("TEND_CONTAINER_ENV").is_some()
            || (pid1 && crate::cli::contenv::installed()))
    {
        let dir = crate::cli::contenv::dir();
        if let Err(e) = crate::cli::contenv::write_envdir(&dir, std::env::vars_os()) {
            eprintln!(
                "tend: warning: container environment {}: {e}",
                dir.display()
            );
        }
    }
    if let Some(p) = &path
        && !resuming
    {
        stage2_hook(p);
    }
    // s6-overlay's variables that act on tend itself (the tree's own are
    // read by its loader, which warns about bad values).
    let s6 = path.as_deref().is_some_and(load::is_s6_tree);
    let s6_var = |var: &str| std::env::var(var).ok().filter(|_| s6);
    let verbosity = (s6_var("S6_VERBOSITY").and_then(|v| crate::verbosity::parse(&v).ok()))
        .unwrap_or(crate::verbosity::DEFAULT);
    let says = |level| crate::verbosity::shows(verbosity, level);
    let entry = entry.map(|mut e| {
        // `$arg0 "$@"`, as s6-overlay's rc.init runs CMD.
        if let Some(arg0) = s6_var("S6_CMD_ARG0") {
            let words = arg0.split_whitespace().map(String::from);
            e.cmd = words.chain(e.cmd).collect();
        }
        e
    });
    let sync_disks = s6_var("S6_SYNC_DISKS").is_some_and(|v| nonzero(&v));
    let mut config = match &path {
        None => Config {
            supervisor: Default::default(),
            services: Vec::new(),
        },
        Some(path) => {
            let reserved = if entry.is_some() { ENTRY_RESERVED } else { &[] };
            match load::load_reserving(path, reserved) {
                Ok(loaded) => {
                    if says(crate::verbosity::WARNING) {
                        print_diagnostics(&loaded.warnings);
                    }
                    loaded.config
                }
                Err(diags) => {
                    print_diagnostics(&diags);
                    let why = format!("refusing to start: errors in {}", path.display());
                    if !resuming {
                        eprintln!("tend: {why}");
                        return EXIT_CONFIG;
                    }
                    return after.fatal(&why, EXIT_CONFIG);
                }
            }
        }
    };
    if let Some(w) = load::unused_cli_formation()
        && says(crate::verbosity::WARNING)
    {
        eprintln!("tend: warning: {w}");
    }
    if let Some(e) = &entry {
        let main = main_service(e, &config.services);
        let at = config.services.partition_point(|s| s.name.as_str() < MAIN);
        config.services.insert(at, main);
    }
    config.resolve_defaults();
    config.supervisor.verbosity = verbosity;
    if let Some(dirs) = tmpfiles_dirs(&config, pid1 && path.is_some()).filter(|_| !resuming) {
        for line in crate::os::tmpfiles::create_from(&dirs) {
            eprintln!("tend: {line}");
        }
    }
    let socket_path = match (
        socket,
        std::env::var_os("TEND_SOCKET"),
        &config.supervisor.socket,
    ) {
        (Some(s), _, _) => s.to_path_buf(),
        (None, Some(env), _) if !env.is_empty() => PathBuf::from(env),
        (None, _, Some(s)) => s.clone(),
        _ => crate::cli::socket_path(None),
    };
    // The bare entrypoint binds its socket once CMD is started
    // (`Reactor::bind_late`): it has no definitions, so nothing else can
    // need it sooner, and CMD need not wait for the inode.
    let late = quiet && handover.is_none();
    let bound_now = match handover.as_mut().map(crate::reactor::take_listener) {
        Some(l) => Ok(l),
        None if late => Ok(None),
        None => bind(
            &socket_path,
            config.supervisor.socket_group.as_deref(),
            config.supervisor.socket_read_group.as_deref(),
        )
        .map(Some),
    };
    let listener = match bound_now {
        Ok(l) => l,
        // A wrapper must run its command wherever tini would: without a
        // control socket if it has to (another tend holds the default one,
        // a read-only /run).
        Err(e) if entry.is_some() => {
            if !quiet {
                eprintln!(
                    "tend: warning: control socket {}: {e}; running without one",
                    socket_path.display()
                );
            }
            None
        }
        Err(e) => {
            return after.fatal(&format!("control socket {}: {e}", socket_path.display()), 1);
        }
    };
    let bound = listener.is_some();
    // Notify sockets as files beside the control socket, so that only a
    // service's user can reach its own (abstract sockets, the fallback,
    // have no permissions at all).
    if let Some(dir) = handover.as_ref().and_then(|h| h.notify_dir.clone()) {
        crate::os::notify::resume_private_dir(dir);
    } else if bound && !quiet && !resuming {
        let base = socket_path.parent().filter(|p| !p.as_os_str().is_empty());
        let base = base.unwrap_or(Path::new("."));
        if let Err(e) = crate::os::notify::set_private_dir(base) {
            eprintln!(
                "tend: warning: notify sockets in {}: {e}; using abstract sockets, which any \
                 local user can reach",
                base.display()
            );
        }
    }
    let remove_socket = || {
        if bound {
            let _ = std::fs::remove_file(&socket_path);
            crate::os::notify::remove_private_dir();
        }
    };
    // Orphans of services must come to us, whether or not we are PID 1
    // (as PID 1 the kernel does this anyway).
    if !pid1 && let Err(e) = crate::os::become_subreaper() {
        eprintln!("tend: warning: cannot become a child subreaper: {e}");
    }
    // `$TEND_CGROUP_ROOT` is the default for `[supervisor] cgroup-root`.
    let env_root = std::env::var_os("TEND_CGROUP_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let cgroup_root = config.supervisor.cgroup_root.clone().or(env_root);
    // The bare entrypoint (`tend run -- CMD`, no PATH) tracks CMD by its
    // process group, as tini does: a cgroup costs a millisecond of
    // mkdir/rmdir per run (most of what tend would add to a container's
    // start and stop), and as PID 1 the kernel ends whatever CMD left
    // when tend exits anyway.
    let setup = match (quiet, &handover) {
        // The subtree the previous binary set up, as it is.
        (_, Some(h)) => match h.cgroups.clone() {
            Some(v) => serde_json::from_value(v).map_err(|e| format!("reexec: {e}")),
            None => Err("the previous binary did not use them".to_string()),
        },
        (true, None) => Err("the bare entrypoint tracks CMD by its process group".to_string()),
        (false, None) => crate::os::cgroup::setup(cgroup_root.as_deref(), pid1),
    };
    let mut orphans = Vec::new();
    let cgroups = match setup {
        Ok(h) => {
            if !quiet && !resuming && says(crate::verbosity::INFO) {
                eprintln!("tend: tracking services with {}", h.describe());
            }
            if !resuming {
                for o in h.orphaned_subtrees() {
                    eprintln!("tend: warning: {o}");
                    orphans.push(o.dir);
                }
            }
            Some(h)
        }
        Err(why) => {
            if !quiet && !resuming && says(crate::verbosity::WARNING) {
                eprintln!(
                    "tend: cgroups not used ({why}); tracking services by process group and \
                     child subreaper: a process that leaves its group (setsid) is not tracked"
                );
            }
            None
        }
    };
    let child_nofile = handover.as_ref().and_then(|h| h.child_nofile);
    if let Err(e) = open_file_budget(&config, cgroups.is_some(), child_nofile) {
        let code = after.fatal(&e, 1);
        remove_socket();
        return code;
    }
    let entry = entry.map(|e| Entrypoint::new(e.forward_group, quiet));
    // The HTTP endpoint's listener is handed over too (bound, it would not
    // bind again).
    let http = match &handover {
        Some(h) if h.http.is_some() => config.supervisor.http.take(),
        _ => None,
    };
    let reactor = match Reactor::new(config, path, listener, upward, cgroups, entry) {
        Ok(mut r) => {
            r.orphans = orphans;
            r
        }
        Err(e) => {
            let code = after.fatal(&e.to_string(), 1);
            remove_socket();
            return code;
        }
    };
    // Taken over: no way back is needed any more (its fd is closed).
    drop(after);
    let mut reactor = reactor;
    if late {
        reactor.bind_after_start(crate::reactor::LateSocket {
            path: socket_path.clone(),
            // No definitions: no socket group either.
            bind: |path| bind(path, None, None),
        });
    }
    let code = match handover {
        Some(h) => {
            reactor.settings.http = http;
            reactor.run_resumed(h)
        }
        None => reactor.run(),
    };
    remove_socket();
    // S6_SYNC_DISKS: s6-linux-init-shutdown's -S, before the container ends.
    if sync_disks {
        crate::os::sync_disks();
    }
    code
}

/// s6-overlay's test of a flag variable (`test "0$VAR" -ne 0`): a number
/// other than 0.
fn nonzero(v: &str) -> bool {
    v.trim().parse::<u64>().is_ok_and(|n| n != 0)
}

/// The tmpfiles.d directories to apply before anything starts, if any
/// (`[supervisor] tmpfiles`; "auto": as a container's PID 1 running
/// systemd units, which expect what systemd-tmpfiles makes at boot).
fn tmpfiles_dirs(config: &Config, pid1_with_path: bool) -> Option<Vec<PathBuf>> {
    use crate::model::Tmpfiles;
    let standard = || crate::tmpfiles::DIRS.iter().map(PathBuf::from).collect();
    match &config.supervisor.tmpfiles {
        Tmpfiles::Never => None,
        Tmpfiles::Always => Some(standard()),
        Tmpfiles::Dirs(d) => Some(d.clone()),
        Tmpfiles::Auto => {
            let units = (config.services.iter())
                .any(|s| s.source.extension().is_some_and(|e| e == "service"));
            (pid1_with_path && units).then(standard)
        }
    }
}

/// s6-overlay's `S6_STAGE2_HOOK`: for an s6-overlay tree, the command it
/// names runs once, before the tree is read, so that it can change it
/// (linuxserver.io's `/docker-mods`, scripts that edit `user/contents.d`).
/// As s6-overlay's rc.init runs `$hook`: split on blanks, no shell; a
/// failure is a warning and the start goes on. `tend check` runs nothing.
fn stage2_hook(path: &Path) {
    let Some(hook) = std::env::var("S6_STAGE2_HOOK")
        .ok()
        .filter(|h| !h.trim().is_empty())
    else {
        return;
    };
    if !load::is_s6_tree(path) {
        return;
    }
    let argv: Vec<&str> = hook.split_ascii_whitespace().collect();
    match crate::os::run_to_end(&argv) {
        Ok(0) => {}
        Ok(code) => eprintln!("tend: warning: S6_STAGE2_HOOK `{hook}` exited {code}"),
        Err(e) => eprintln!("tend: warning: S6_STAGE2_HOOK `{hook}`: {e}"),
    }
}

/// Raise tend's open-file limit to the hard limit (services keep the soft
/// one they would have had) and check that the definitions fit in it: a
/// clear error now rather than services that cannot start later. After a
/// reexec, services keep the limit of `children` (what the first binary
/// started with), not the one this process inherited already raised.
fn open_file_budget(
    config: &Config,
    cgroups: bool,
    children: Option<(u64, u64)>,
) -> Result<(), String> {
    let Some((soft, hard)) = crate::os::nofile_limit() else {
        return Ok(());
    };
    let need = crate::model::fds_needed(config, cgroups);
    let limit = crate::os::raise_nofile_limit(need).unwrap_or(soft);
    let (soft, hard) = children.unwrap_or((soft, hard));
    // Always: a reload-config may raise tend's limit later.
    crate::os::spawn::set_child_nofile(soft, hard).map_err(|e| format!("spawner: {e}"))?;
    if need > limit {
        return Err(format!(
            "{} service(s) need about {need} open files, more than the limit of {limit} \
             (raise it: ulimit -n, LimitNOFILE=, docker run --ulimit nofile=...)",
            config.services.len()
        ));
    }
    Ok(())
}

/// The service `main` of the entrypoint: CMD, run once (restart `no`),
/// critical, in tend's working directory and environment, started once
/// every autostart service of PATH is up (`wants`, with the supervisor's
/// rule that a failure among them keeps it from starting).
fn main_service(e: &Entry, others: &[ServiceSpec]) -> ServiceSpec {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut s = ServiceSpec::with_defaults(MAIN, PathBuf::from("(command line)"), cwd);
    s.exec = e.cmd.clone();
    s.restart = RestartPolicy::No;
    s.critical = true;
    s.entrypoint = true;
    s.wants = (others.iter().filter(|o| o.autostart))
        .map(|o| o.name.clone())
        .collect();
    s
}

/// Bind the control socket with mode 0600 (0660 with a socket group or a
/// read group, 0666 with both: every connection's credentials are checked
/// anyway), replacing a stale socket file but never a live supervisor's.
fn bind(
    path: &Path,
    group: Option<&str>,
    read_group: Option<&str>,
) -> std::io::Result<UnixListener> {
    let gid = match group.or(read_group) {
        Some(g) => Some(crate::control::server::group_id(g)?),
        None => None,
    };
    let mode = match (group, read_group) {
        (Some(_), Some(_)) => 0o666,
        (None, None) => 0o600,
        _ => 0o660,
    };
    crate::os::bind_control_socket(path, gid, mode)
}

/// A fatal error before the loop. Once the previous binary's services are
/// this binary's (a reexec), they must not be left: back to the previous
/// binary if it gave the way, else, as PID 1, a reaper; not PID 1, tend
/// exits and they run on untracked (said).
struct Fatal {
    resuming: bool,
    pid1: bool,
    back: Option<crate::reactor::WayBack>,
}

impl Fatal {
    /// Say `why`; returns the exit code only where tend is to exit.
    fn fatal(&mut self, why: &str, code: i32) -> i32 {
        eprintln!("tend: fatal: {why}");
        if let Some(back) = self.back.take() {
            eprintln!("tend: reexec: going back to the previous binary");
            let e = back.go(why);
            eprintln!("tend: reexec: {e}");
        }
        if self.resuming {
            if self.pid1 {
                crate::os::reaper::become_reaper(why);
            }
            eprintln!("tend: the previous binary's services are left running, untracked");
        }
        code
    }
}
