//! Unit name parts and `%` specifiers (systemd.unit(5), "Specifiers"),
//! resolved when the unit is loaded, as systemd does.
//!
//! Values about "the user running the service manager" (`%u %U %h %g %G
//! %s`) are tend's own user's, not `User=`'s: systemd.unit(5) says these
//! are "not influenced by the User= setting". The directory roots (`%t %S
//! %C %L %E`) are the system manager's when tend runs as root, the user
//! manager's (`$XDG_*`) otherwise.

use std::path::{Path, PathBuf};

/// A unit's name, split as systemd splits it: `getty@tty1.service` has
/// prefix `getty`, instance `tty1`; `sshd.service` has prefix `sshd` and no
/// instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitName {
    /// Without `.service`: `getty@tty1`, `sshd`, `getty@` (a template).
    pub stem: String,
}

impl UnitName {
    pub fn new(stem: &str) -> Self {
        UnitName { stem: stem.into() }
    }

    /// `getty`: the part before the first `@` (the whole stem without one).
    pub fn prefix(&self) -> &str {
        self.stem.split_once('@').map_or(&self.stem, |(p, _)| p)
    }

    /// `tty1` for `getty@tty1`; None for non-instances and templates.
    pub fn instance(&self) -> Option<&str> {
        self.stem
            .split_once('@')
            .map(|(_, i)| i)
            .filter(|i| !i.is_empty())
    }

    pub fn is_template(&self) -> bool {
        self.stem.ends_with('@') && self.stem.matches('@').count() == 1
    }

    /// `getty@` for `getty@tty1`.
    pub fn template(&self) -> Option<String> {
        self.instance().map(|_| format!("{}@", self.prefix()))
    }
}

/// The characters systemd allows in a unit name (besides the one `@`).
pub fn valid_unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":-_.\\".contains(c)
}

/// systemd-escape's reverse (`unit_name_unescape`): `\xNN` is the byte
/// NN, `-` is `/`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' => out.push(b'/'),
            b'\\' if b.get(i + 1) == Some(&b'x') => {
                let hex = s
                    .get(i + 2..i + 4)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => out.push(b'\\'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `unit_name_path_unescape`: `-` alone is `/`; anything else is
/// unescaped with a `/` in front (`dev-sda1` → `/dev/sda1`).
pub fn unescape_path(s: &str) -> String {
    if s == "-" {
        return "/".into();
    }
    let u = unescape(s);
    if u.starts_with('/') {
        u
    } else {
        format!("/{u}")
    }
}

/// What specifiers resolve against: the unit and where its main file is.
pub struct Specifiers<'a> {
    pub unit: &'a UnitName,
    /// The unit's main file (the template's, for an instance made from it).
    pub fragment: &'a Path,
}

/// Why a value could not be resolved: the byte offset of the `%` in the
/// input and the message.
#[derive(Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub at: usize,
    pub message: String,
}

impl Specifiers<'_> {
    /// `s` with every `%X` replaced. An unknown specifier, or one whose
    /// value cannot be found here (no machine id...), is an error.
    pub fn resolve(&self, s: &str) -> Result<String, Unresolved> {
        if !s.contains('%') {
            return Ok(s.to_string());
        }
        let mut out = String::with_capacity(s.len());
        let mut chars = s.char_indices();
        while let Some((at, c)) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some((_, x)) = chars.next() else {
                return Err(Unresolved {
                    at,
                    message: "a `%` at the end (write `%%` for a percent sign)".into(),
                });
            };
            match self.value(x) {
                Ok(v) => out.push_str(&v),
                Err(message) => return Err(Unresolved { at, message }),
            }
        }
        Ok(out)
    }

    fn value(&self, x: char) -> Result<String, String> {
        let u = self.unit;
        let system = is_root();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let home = || env("HOME").or_else(|| user().map(|p| p.dir.to_string_lossy().into()));
        let xdg = |var: &str, under_home: &str| -> Result<String, String> {
            env(var)
                .or_else(|| home().map(|h| format!("{h}/{under_home}")))
                .ok_or_else(|| format!("`%{x}`: neither ${var} nor $HOME is set"))
        };
        Ok(match x {
            '%' => "%".into(),
            'n' => format!("{}.service", u.stem),
            'N' => u.stem.clone(),
            'p' => u.prefix().into(),
            'P' => unescape(u.prefix()),
            'i' => u.instance().unwrap_or("").into(),
            'I' => unescape(u.instance().unwrap_or("")),
            'f' => unescape_path(u.instance().unwrap_or(u.prefix())),
            'j' => last_component(u.prefix()).into(),
            'J' => unescape(last_component(u.prefix())),
            'y' => self.fragment.display().to_string(),
            'Y' => (self.fragment.parent())
                .unwrap_or(Path::new("/"))
                .display()
                .to_string(),
            't' if system => "/run".into(),
            't' => env("XDG_RUNTIME_DIR").ok_or("`%t`: $XDG_RUNTIME_DIR is not set")?,
            'S' if system => "/var/lib".into(),
            'S' => xdg("XDG_STATE_HOME", ".local/state")?,
            'C' if system => "/var/cache".into(),
            'C' => xdg("XDG_CACHE_HOME", ".cache")?,
            'L' if system => "/var/log".into(),
            'L' => format!("{}/log", xdg("XDG_STATE_HOME", ".local/state")?),
            'E' if system => "/etc".into(),
            'E' => xdg("XDG_CONFIG_HOME", ".config")?,
            'T' => env("TMPDIR")
                .or_else(|| env("TEMP"))
                .or_else(|| env("TMP"))
                .unwrap_or_else(|| "/tmp".into()),
            'V' => env("TMPDIR")
                .or_else(|| env("TEMP"))
                .or_else(|| env("TMP"))
                .unwrap_or_else(|| "/var/tmp".into()),
            'd' => env("CREDENTIALS_DIRECTORY")
                .unwrap_or_else(|| format!("/run/credentials/{}.service", u.stem)),
            'h' if system => "/root".into(),
            'h' => home().ok_or("`%h`: no home directory for tend's user")?,
            'u' if system => "root".into(),
            'u' => user()
                .map(|p| p.name)
                .ok_or("`%u`: tend's user has no name")?,
            'U' => nix::unistd::geteuid().to_string(),
            'g' if system => "root".into(),
            'g' => nix::unistd::Group::from_gid(nix::unistd::getegid())
                .ok()
                .flatten()
                .map(|g| g.name)
                .ok_or("`%g`: tend's group has no name")?,
            'G' => nix::unistd::getegid().to_string(),
            's' if system => "/bin/sh".into(),
            's' => user()
                .map(|p| p.shell.to_string_lossy().into_owned())
                .ok_or("`%s`: tend's user has no shell")?,
            'H' => hostname(),
            'l' => short_hostname(),
            'q' => key_value_file(Path::new("/etc/machine-info"), "PRETTY_HOSTNAME")
                .unwrap_or_else(short_hostname),
            'm' => read_id(&["/etc/machine-id"]).ok_or("`%m`: no machine id (/etc/machine-id)")?,
            'b' => read_id(&["/proc/sys/kernel/random/boot_id"])
                .ok_or("`%b`: no boot id (/proc/sys/kernel/random/boot_id)")?,
            // What `uname -r` says.
            'v' => proc_kernel("osrelease").ok_or("`%v`: no /proc/sys/kernel/osrelease")?,
            'a' => architecture().into(),
            'o' => os_release("ID"),
            'w' => os_release("VERSION_ID"),
            'B' => os_release("BUILD_ID"),
            'W' => os_release("VARIANT_ID"),
            'A' => os_release("IMAGE_VERSION"),
            'M' => os_release("IMAGE_ID"),
            other => {
                return Err(format!(
                    "unknown specifier `%{other}` (write `%%` for a percent sign)"
                ));
            }
        })
    }
}

/// `%j`: after the last `-` of the prefix (the prefix if it has none).
fn last_component(prefix: &str) -> &str {
    prefix.rsplit_once('-').map_or(prefix, |(_, last)| last)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn user() -> Option<nix::unistd::User> {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
}

fn proc_kernel(name: &str) -> Option<String> {
    let v = std::fs::read_to_string(Path::new("/proc/sys/kernel").join(name)).ok()?;
    Some(v.trim().to_string())
}

/// gethostname(2)'s value, which the kernel shows here too.
fn hostname() -> String {
    proc_kernel("hostname").unwrap_or_else(|| "localhost".into())
}

fn short_hostname() -> String {
    let h = hostname();
    h.split('.').next().unwrap_or(&h).to_string()
}

/// An id file's 32 hex digits (the boot id is written with dashes;
/// systemd prints ids without them).
fn read_id(paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| {
        let id: String = std::fs::read_to_string(p)
            .ok()?
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .collect();
        (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
    })
}

/// A `KEY=value` of an os-release style file, unquoted.
fn key_value_file(path: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    crate::environ::parse_env_file(&text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// os-release(5): /etc/os-release, else /usr/lib/os-release; a field
/// that is not set is empty.
fn os_release(key: &str) -> String {
    let etc = PathBuf::from("/etc/os-release");
    let path = if etc.exists() {
        etc
    } else {
        PathBuf::from("/usr/lib/os-release")
    };
    key_value_file(&path, key).unwrap_or_default()
}

/// systemd's architecture names (ConditionArchitecture=).
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "x86" => "x86",
        "aarch64" if cfg!(target_endian = "big") => "arm64-be",
        "aarch64" => "arm64",
        "arm" if cfg!(target_endian = "big") => "arm-be",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64-le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "loongarch64" => "loongarch64",
        "mips64" => "mips64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(stem: &str, s: &str) -> Result<String, Unresolved> {
        let u = UnitName::new(stem);
        Specifiers {
            unit: &u,
            fragment: Path::new("/etc/tend/getty@.service"),
        }
        .resolve(s)
    }

    #[test]
    fn names_split_like_systemd() {
        let u = UnitName::new("getty@tty1");
        assert_eq!((u.prefix(), u.instance()), ("getty", Some("tty1")));
        assert_eq!(u.template().as_deref(), Some("getty@"));
        assert!(UnitName::new("getty@").is_template());
        assert!(!UnitName::new("sshd").is_template());
        assert_eq!(UnitName::new("sshd").instance(), None);
        assert_eq!(UnitName::new("getty@").instance(), None);
    }

    #[test]
    fn unit_name_specifiers() {
        let r = |s| resolve(r"systemd-fsck@dev-disk-by\x2duuid-AB", s).unwrap();
        assert_eq!(r("%n"), r"systemd-fsck@dev-disk-by\x2duuid-AB.service");
        assert_eq!(r("%N"), r"systemd-fsck@dev-disk-by\x2duuid-AB");
        assert_eq!(r("%p|%P"), "systemd-fsck|systemd/fsck");
        assert_eq!(r("%i"), r"dev-disk-by\x2duuid-AB");
        assert_eq!(r("%I"), "dev/disk/by-uuid/AB");
        assert_eq!(r("%f"), "/dev/disk/by-uuid/AB");
        assert_eq!(r("%j|%J"), "fsck|fsck");
        assert_eq!(r("100%%"), "100%");
        assert_eq!(r("%y %Y"), "/etc/tend/getty@.service /etc/tend");
        // Not an instance: %i is empty, %f the prefix as a path.
        assert_eq!(
            resolve("foo-bar", "[%i]%p %f %j").unwrap(),
            "[]foo-bar /foo/bar bar"
        );
        assert_eq!(resolve("x@-", "%f").unwrap(), "/");
    }

    #[test]
    fn system_values() {
        let r = |s| resolve("a", s).unwrap();
        assert_eq!(r("%a"), architecture());
        assert!(!r("%H").is_empty());
        assert!(!r("%H").is_empty() && !r("%l").contains('.'));
        let uname = std::process::Command::new("uname")
            .arg("-r")
            .output()
            .unwrap();
        assert_eq!(r("%v"), String::from_utf8_lossy(&uname.stdout).trim());
        assert_eq!(r("%U"), nix::unistd::geteuid().to_string());
        if is_root() {
            assert_eq!(
                r("%t %S %C %L %E %h %u %g"),
                "/run /var/lib /var/cache /var/log /etc /root root root"
            );
        }
        if Path::new("/etc/machine-id").exists() {
            assert_eq!(r("%m").len(), 32);
        }
        assert_eq!(r("%b").len(), 32);
    }

    #[test]
    fn unknown_specifiers_say_where() {
        let e = resolve("a", "/bin/x --y=%Q").unwrap_err();
        assert_eq!(e.at, 11);
        assert!(
            e.message.contains("unknown specifier `%Q`"),
            "{}",
            e.message
        );
        assert_eq!(resolve("a", "50%").unwrap_err().at, 2);
    }

    #[test]
    fn unescaping() {
        assert_eq!(unescape(r"a\x2db-c"), "a-b/c");
        assert_eq!(unescape(r"\x20x\xzz"), r" x\xzz");
        assert_eq!(unescape_path("-"), "/");
        assert_eq!(unescape_path("srv-www"), "/srv/www");
    }
}
