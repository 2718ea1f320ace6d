//! Turn a service definition into a ready-to-fork `spawn::Command`: read
//! env files, look up users and groups, find the program in PATH. Done in
//! the parent before fork, so the child stays async-signal-safe.

use super::spawn::Command;
use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a process needs beyond its argv, for services and helper commands.
pub struct Context<'a> {
    pub argv: &'a [String],
    pub working_dir: &'a Path,
    pub environment: &'a BTreeMap<String, String>,
    pub env_files: &'a [PathBuf],
    pub user: Option<&'a str>,
    pub group: Option<&'a str>,
    /// Extra variables set by tend (TEND_SERVICE, NOTIFY_SOCKET, ...).
    pub extra_env: &'a [(String, String)],
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub extra_fds: Vec<(RawFd, RawFd)>,
    /// A variable the child sets to its own pid (`WATCHDOG_PID`).
    pub pid_env: Option<&'static str>,
    /// Start the child in this cgroup.
    pub cgroup: Option<super::spawn::CgroupFds>,
    /// systemd's `$VAR` expansion of `argv` with the final environment.
    pub expand_env: bool,
    /// Commands to run first, in the same process (`tend __exec-chain`).
    pub pre: &'a [crate::model::PreCommand],
    /// The service's confinement (None for tend's own helpers and probes).
    pub confine: Option<&'a crate::model::Confinement>,
    /// Only these of tend's variables are inherited (`pass-environment`).
    pub pass_environment: Option<&'a [String]>,
    /// Removed from the final environment (`unset-environment`).
    pub unset_environment: &'a [String],
}

/// systemd's PATH for services (a unit with PassEnvironment= and no PATH
/// passed or set gets this one, as under systemd).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin";

pub fn prepare(ctx: &Context) -> Result<Command, String> {
    // tend's environment, then env files, then `environment`, then tend's
    // own variables: the explicit table is the more specific statement, so
    // it wins over env files (docs/BEHAVIOUR.md).
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| ctx.pass_environment.is_none_or(|l| l.contains(k)))
        .collect();
    if ctx.pass_environment.is_some() {
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.into());
    }
    for file in ctx.env_files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("env-file {}: {e}", file.display()))?;
        for (k, v) in crate::environ::parse_env_file(&text) {
            env.insert(k, v);
        }
    }
    env.extend(ctx.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(ctx.extra_env.iter().cloned());
    // UnsetEnvironment=: last, over every source (systemd.exec(5)).
    for u in ctx.unset_environment {
        match u.split_once('=') {
            Some((k, v)) => {
                if env.get(k).is_some_and(|x| x == v) {
                    env.remove(k);
                }
            }
            None => {
                env.remove(u.as_str());
            }
        }
    }
    let expanded;
    let argv = if ctx.expand_env {
        expanded = crate::environ::expand_env(ctx.argv, &|k| env.get(k).cloned());
        &expanded[..]
    } else {
        ctx.argv
    };
    let Some(first) = argv.first().filter(|p| !p.is_empty()) else {
        return Err("empty command (after expanding the environment)".into());
    };

    let (uid, gid, mut groups) = ids(ctx.user, ctx.group)?;
    if let Some(extra) = ctx.confine.map(|c| &c.supplementary_groups)
        && !extra.is_empty()
    {
        let list = groups.get_or_insert_with(Vec::new);
        for g in extra {
            let gid = ahead_group(g).map_or_else(|| group_id(g), Ok)?;
            if !list.contains(&gid) {
                list.push(gid);
            }
        }
    }
    let path_var = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut program = find_program(first, &path_var, ctx.working_dir);
    let chained;
    let argv = if ctx.pre.is_empty() {
        argv
    } else {
        // The process runs tend's own binary first (`/proc/self/exe` is
        // still tend between clone and exec, even if the file was replaced
        // since), which runs each pre command and then execs `program`.
        let mut v = vec!["tend".to_string(), "__exec-chain".to_string()];
        for p in ctx.pre {
            let words = if ctx.expand_env {
                crate::environ::expand_env(&p.argv, &|k| env.get(k).cloned())
            } else {
                p.argv.clone()
            };
            v.push(
                if p.ignore_failure {
                    "--step-ignore"
                } else {
                    "--step"
                }
                .into(),
            );
            v.push(words.len().to_string());
            v.extend(words);
        }
        v.push("--program".into());
        v.push(program.to_string_lossy().into_owned());
        v.push("--".into());
        v.extend(argv.iter().cloned());
        program = PathBuf::from("/proc/self/exe");
        chained = v;
        &chained[..]
    };
    let cstr =
        |s: &[u8], what: &str| CString::new(s).map_err(|_| format!("{what} contains a NUL byte"));
    Ok(Command {
        program: cstr(program.as_os_str().as_bytes(), "program")?,
        argv: (argv.iter().map(|a| cstr(a.as_bytes(), "argument"))).collect::<Result<_, _>>()?,
        env: (env
            .iter()
            .map(|(k, v)| cstr(format!("{k}={v}").as_bytes(), "environment")))
        .collect::<Result<_, _>>()?,
        cwd: Some(cstr(ctx.working_dir.as_os_str().as_bytes(), "working-dir")?),
        uid,
        gid,
        groups,
        stdin: ctx.stdin,
        stdout: ctx.stdout,
        stderr: ctx.stderr,
        extra_fds: ctx.extra_fds.clone(),
        new_process_group: true,
        foreground: false,
        display: first.to_string(),
        pid_env: ctx.pid_env,
        cgroup: ctx.cgroup,
        confine: match ctx.confine {
            Some(c) => super::confine::plan(c, uid)?,
            None => None,
        },
        keep: Vec::new(),
    })
}

/// Tests: `sh -c script` with every stdio fd on `stdio`, in `/`, with
/// tend's environment.
#[cfg(test)]
pub fn sh_command(
    script: &str,
    stdio: RawFd,
    extra_fds: Vec<(RawFd, RawFd)>,
    cgroup: Option<super::spawn::CgroupFds>,
) -> Command {
    let argv = ["sh".to_string(), "-c".to_string(), script.to_string()];
    prepare(&Context {
        argv: &argv,
        working_dir: Path::new("/"),
        environment: &BTreeMap::new(),
        env_files: &[],
        user: None,
        group: None,
        extra_env: &[],
        stdin: stdio,
        stdout: stdio,
        stderr: stdio,
        extra_fds,
        pid_env: None,
        cgroup,
        expand_env: false,
        pre: &[],
        confine: None,
        pass_environment: None,
        unset_environment: &[],
    })
    .expect("prepare")
}

/// A name with a slash is a path (relative to the working dir); otherwise
/// the first executable match in PATH. Not found: the name as given, so
/// execve reports ENOENT.
fn find_program(name: &str, path_var: &str, cwd: &Path) -> PathBuf {
    if name.contains('/') {
        return cwd.join(name);
    }
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        let c = CString::new(candidate.as_os_str().as_bytes()).ok();
        // SAFETY: access(2) on a valid C string.
        if c.is_some_and(|c| unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0) {
            return candidate;
        }
    }
    PathBuf::from(OsStr::new(name))
}

type Ids = (Option<u32>, Option<u32>, Option<Vec<u32>>);

/// The uid and gid a service with `user`/`group` runs as (None: tend's).
pub fn service_ids(user: Option<&str>, group: Option<&str>) -> Option<(u32, u32)> {
    let (uid, gid, _) = ids(user, group).ok()?;
    let gid = gid.unwrap_or_else(|| nix::unistd::getegid().as_raw());
    uid.map(|u| (u, gid))
}

/// Users and groups looked up when the definitions are loaded (and again
/// on reload-config), so that a spawn does not ask NSS (files, LDAP, sssd:
/// a network round trip at worst) inside the loop. Only what was found is
/// kept: a name unknown then is looked up at its spawn, and fails there as
/// it would have.
#[derive(Default)]
struct Ahead {
    ids: std::collections::HashMap<(Option<String>, Option<String>), Ids>,
    groups: std::collections::HashMap<String, u32>,
}

static AHEAD: std::sync::Mutex<Option<Ahead>> = std::sync::Mutex::new(None);

/// Look up every service's user, group and supplementary groups now,
/// replacing what an earlier load found.
pub fn resolve_ahead(services: &[crate::model::ServiceSpec]) {
    let mut ahead = Ahead::default();
    for s in services {
        let key = (s.user.clone(), s.group.clone());
        if (key.0.is_some() || key.1.is_some())
            && !ahead.ids.contains_key(&key)
            && let Ok(found) = resolve_ids(s.user.as_deref(), s.group.as_deref())
        {
            ahead.ids.insert(key, found);
        }
        for g in &s.confine.supplementary_groups {
            if !ahead.groups.contains_key(g)
                && let Ok(gid) = group_id(g)
            {
                ahead.groups.insert(g.clone(), gid);
            }
        }
    }
    *AHEAD.lock().unwrap_or_else(|e| e.into_inner()) = Some(ahead);
}

/// The ids of `user`/`group`: as found at load, else looked up now.
fn ids(user: Option<&str>, group: Option<&str>) -> Result<Ids, String> {
    if user.is_none() && group.is_none() {
        return Ok((None, None, None));
    }
    let key = (user.map(str::to_owned), group.map(str::to_owned));
    let found = (AHEAD.lock().unwrap_or_else(|e| e.into_inner()).as_ref())
        .and_then(|a| a.ids.get(&key).cloned());
    found.map_or_else(|| resolve_ids(user, group), Ok)
}

fn ahead_group(g: &str) -> Option<u32> {
    (AHEAD.lock().unwrap_or_else(|e| e.into_inner()).as_ref())?
        .groups
        .get(g)
        .copied()
}

/// user → uid, its primary gid and supplementary groups; group overrides
/// the primary gid. Numeric ids are taken as they are.
/// A group by number or name.
fn group_id(g: &str) -> Result<u32, String> {
    use nix::unistd::Group;
    Ok(match g.parse::<u32>() {
        Ok(n) => n,
        Err(_) => Group::from_name(g)
            .map_err(|e| format!("group `{g}`: {e}"))?
            .ok_or_else(|| format!("group `{g}`: no such group"))?
            .gid
            .as_raw(),
    })
}

fn resolve_ids(user: Option<&str>, group: Option<&str>) -> Result<Ids, String> {
    use nix::unistd::{Gid, User, getgrouplist};
    let mut out: Ids = (None, None, None);
    if let Some(u) = user {
        let found = match u.parse::<u32>() {
            Ok(n) => User::from_uid(n.into()).ok().flatten(),
            Err(_) => User::from_name(u).map_err(|e| format!("user `{u}`: {e}"))?,
        };
        match found {
            Some(pw) => {
                let name = CString::new(pw.name.as_bytes()).map_err(|_| "bad user name")?;
                let groups = getgrouplist(&name, pw.gid)
                    .map_err(|e| format!("user `{u}`: supplementary groups: {e}"))?;
                out = (
                    Some(pw.uid.as_raw()),
                    Some(pw.gid.as_raw()),
                    Some(groups.iter().map(|g: &Gid| g.as_raw()).collect()),
                );
            }
            None => match u.parse::<u32>() {
                Ok(n) => out = (Some(n), Some(n), Some(vec![n])),
                Err(_) => return Err(format!("user `{u}`: no such user")),
            },
        }
    }
    if let Some(g) = group {
        let gid = group_id(g)?;
        out.1 = Some(gid);
        // Without a user, the supplementary groups are just this one.
        if out.2.is_none() {
            out.2 = Some(vec![gid]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_parse_like_systemd() {
        let got = crate::environ::parse_env_file(
            "# c\nA=1\nexport B = \"two words\"\n\nC='x'\nnoeq\n; c\n",
        );
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }

    #[test]
    fn programs_are_found_in_path() {
        let p = find_program("sh", "/nonexistent:/bin:/usr/bin", Path::new("/"));
        assert!(p.ends_with("sh") && p.is_absolute());
        assert_eq!(
            find_program("no-such-prog-x", "/bin", Path::new("/")),
            PathBuf::from("no-such-prog-x")
        );
        assert_eq!(
            find_program("./run", "/bin", Path::new("/srv")),
            PathBuf::from("/srv/./run")
        );
    }

    #[test]
    fn unknown_users_are_reported() {
        let e = resolve_ids(Some("no-such-user-xyz"), None).unwrap_err();
        assert!(e.contains("no such user"), "{e}");
        assert_eq!(
            resolve_ids(None, Some("0")).unwrap(),
            (None, Some(0), Some(vec![0]))
        );
    }
}
