//! `tend run` and `tend check`: load, set up the process (PID 1 duties,
//! control socket), and hand over to the reactor.

use crate::load::{self, Diagnostic, Severity};
use crate::reactor::Reactor;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
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

pub fn run(path: Option<&Path>, socket: Option<&Path>, _subreaper: bool) -> i32 {
    crate::os::ensure_stdio();
    // tend's own supervisor (systemd, podman) talks to tend, not to the
    // services: keep its variables out of what they inherit.
    let upward = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
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
    let pid1 = std::process::id() == 1;
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(if pid1 { "/etc/tend" } else { "./tend.d" }));
    let loaded = match load::load(&path) {
        Ok(l) => l,
        Err(diags) => {
            print_diagnostics(&diags);
            eprintln!("tend: refusing to start: errors in {}", path.display());
            return EXIT_CONFIG;
        }
    };
    print_diagnostics(&loaded.warnings);
    let mut config = loaded.config;
    config.resolve_defaults();
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
    let listener = match bind(&socket_path, config.supervisor.socket_group.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tend: fatal: control socket {}: {e}", socket_path.display());
            return 1;
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
    let cgroups = match crate::os::cgroup::setup(cgroup_root.as_deref(), pid1) {
        Ok(h) => {
            eprintln!("tend: tracking services with {}", h.describe());
            Some(h)
        }
        Err(why) => {
            eprintln!(
                "tend: cgroups not used ({why}); tracking services by process group and \
                 child subreaper: a process that leaves its group (setsid) is not tracked"
            );
            None
        }
    };
    let reactor = match Reactor::new(config, path, listener, upward, cgroups) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tend: fatal: {e}");
            let _ = std::fs::remove_file(&socket_path);
            return 1;
        }
    };
    let code = reactor.run();
    let _ = std::fs::remove_file(&socket_path);
    code
}

/// Bind the control socket with mode 0600 (0660 with a socket group),
/// replacing a stale socket file but never a live supervisor's.
fn bind(path: &Path, group: Option<&str>) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::other(
                "another supervisor is listening there",
            ));
        }
        std::fs::remove_file(path)?;
    }
    use nix::sys::stat::{Mode, umask};
    let old = umask(Mode::from_bits_truncate(0o177));
    let listener = UnixListener::bind(path);
    umask(old);
    let listener = listener?;
    if let Some(g) = group {
        let gid = crate::control::server::group_id(g)?;
        nix::unistd::chown(path, None, Some(gid.into()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    }
    Ok(listener)
}
