//! tend invoked as `with-contenv` (s6-overlay's, SPEC §9): run a command
//! with the container environment, e.g. `#!/usr/bin/with-contenv bash`.
//!
//! The container environment is an envdir (one file per variable, the
//! file's contents its value, as s6-overlay keeps it): `tend run`, as PID 1
//! of an image with a `with-contenv` (in `$PATH` or `/command`), writes its
//! own environment to `/run/s6/container_environment`
//! (`$TEND_CONTAINER_ENV`, when set, names another directory), and
//! scripts may add to it (cont-init.d scripts do:
//! `printf x > /var/run/s6/container_environment/FOO`). `with-contenv`
//! reads it like `s6-envdir -fn`: the whole file, trailing newlines kept,
//! NUL bytes read as newlines, an empty file unsets its variable; a
//! missing directory changes nothing. With `S6_KEEP_ENV=1` it only runs
//! the command, as s6-overlay's does.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

pub const DEFAULT_DIR: &str = "/run/s6/container_environment";

/// Whether a `with-contenv` is installed (in `$PATH` or s6-overlay's
/// `/command`): only then is the container environment worth writing.
pub fn installed() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/command")])
        .any(|d| d.join("with-contenv").exists())
}

/// Where the container environment is kept.
pub fn dir() -> PathBuf {
    match std::env::var_os("TEND_CONTAINER_ENV") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_DIR),
    }
}

/// What an envdir says: (name, Some(value)) to set, (name, None) to unset.
pub fn read_envdir(dir: &Path) -> std::io::Result<Vec<(OsString, Option<OsString>)>> {
    let mut vars = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes[0] == b'.' || bytes.contains(&b'=') {
            continue;
        }
        if !entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink())
        {
            continue;
        }
        let Ok(mut value) = std::fs::read(entry.path()) else {
            continue;
        };
        if value.is_empty() {
            vars.push((name, None));
            continue;
        }
        for b in &mut value {
            if *b == 0 {
                *b = b'\n';
            }
        }
        vars.push((name, Some(OsString::from_vec(value))));
    }
    vars.sort();
    Ok(vars)
}

/// Writes `vars` to `dir` as an envdir (made if missing, mode 0755).
pub fn write_envdir(
    dir: &Path,
    vars: impl Iterator<Item = (OsString, OsString)>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (k, v) in vars {
        let kb = k.as_bytes();
        if kb.is_empty() || kb.contains(&b'/') || kb == b"." || kb == b".." {
            continue;
        }
        std::fs::write(dir.join(&k), v.as_bytes())?;
    }
    Ok(())
}

/// `with-contenv CMD [ARG...]`: exec CMD; returns only on failure.
pub fn main(args: &[OsString]) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("with-contenv: usage: with-contenv PROG [ARG...]");
        return 100;
    };
    let mut command = std::process::Command::new(cmd);
    command.args(rest);
    let keep =
        std::env::var_os("S6_KEEP_ENV").is_some_and(|v| v != OsStr::new("0") && !v.is_empty());
    if !keep {
        match read_envdir(&dir()) {
            Ok(vars) => {
                for (k, v) in vars {
                    match v {
                        Some(v) => command.env(k, v),
                        None => command.env_remove(k),
                    };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("with-contenv: warning: {}: {e}", dir().display()),
        }
    }
    let e = command.exec();
    eprintln!(
        "with-contenv: unable to exec {}: {e}",
        Path::new(cmd).display()
    );
    if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}
