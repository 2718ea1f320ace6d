//! Drop-ins (systemd.unit(5)): `NAME.service.d/*.conf` read after the
//! unit, found the way systemd's `unit_file_find_dropin_paths` finds them.
//!
//! For `foo-bar@x.service` the directories are, most specific first:
//! `foo-bar@x.service.d`, `foo-bar@.service.d`, `foo-.service.d` (the
//! template's prefix), `foo-@x.service.d`, `foo-@.service.d`, then the
//! same for each alias, then `service.d` (every service). A file name found in several of them is taken from the first
//! (so a unit's own `10-x.conf` replaces the template's); a drop-in linked
//! to /dev/null masks that name. The files are then applied in the lexical
//! order of their names, wherever each came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::specifiers::UnitName;

/// The unit names whose `NAME.d` directories apply to `stem` (without the
/// `.service` suffix), most specific first; `service` (the type) is not
/// among them.
pub fn candidate_names(stem: &str) -> Vec<String> {
    let mut out = Vec::new();
    add_candidates(stem, &mut out);
    out
}

fn add_candidates(stem: &str, out: &mut Vec<String>) {
    if !out.iter().any(|n| n == stem) {
        out.push(stem.to_string());
    }
    let name = UnitName::new(stem);
    if let Some(template) = name.template() {
        add_candidates(&template, out);
    }
    // The prefix up to and including its last dash ("foo-bar-" for
    // "foo-bar-baz"; a trailing dash is chopped once: "foo-" for
    // "foo-bar-"); a leading dash stops the walk.
    let mut prefix = name.prefix().to_string();
    let mut chopped = false;
    loop {
        let Some(dash) = prefix.rfind('-') else {
            return;
        };
        if dash == 0 {
            return;
        }
        if dash + 1 != prefix.len() || chopped {
            prefix.truncate(dash + 1);
            break;
        }
        prefix.truncate(dash);
        chopped = true;
    }
    // A template's prefix directory has no `@` (systemd builds it without
    // an instance): `foo-.service.d` for `foo-bar@.service`.
    let built = match name.instance() {
        Some(i) => format!("{prefix}@{i}"),
        None => prefix,
    };
    add_candidates(&built, out);
}

/// Every directory (by name, relative to the definitions directory) whose
/// drop-ins apply to a unit known by `names` (its name first, then its
/// aliases): the candidates of each, then `service.d`.
pub fn dirs_for(names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        for c in candidate_names(n) {
            let d = format!("{c}.service.d");
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out.push("service.d".into());
    out
}

/// The drop-in files for a unit, in the order they apply: from `dirs`
/// (most specific first) under `root`, `*.conf` only, the first of each
/// file name, masked names (links to /dev/null) left out.
pub fn files(root: &Path, dirs: &[String]) -> Vec<PathBuf> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(d)) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !name.ends_with(".conf") || name.starts_with('.') {
                continue;
            }
            by_name.entry(name).or_insert_with(|| e.path());
        }
    }
    by_name
        .into_values()
        .filter(|p| !std::fs::canonicalize(p).is_ok_and(|c| c == Path::new("/dev/null")))
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_systemd_order() {
        assert_eq!(candidate_names("sshd"), ["sshd"]);
        assert_eq!(candidate_names("getty@tty1"), ["getty@tty1", "getty@"]);
        assert_eq!(
            candidate_names("foo-bar-baz"),
            ["foo-bar-baz", "foo-bar-", "foo-"]
        );
        assert_eq!(
            candidate_names("foo-bar@x"),
            ["foo-bar@x", "foo-bar@", "foo-", "foo-@x", "foo-@"]
        );
        assert_eq!(candidate_names("-foo"), ["-foo"]);
        assert_eq!(
            dirs_for(&["a-b", "c"]),
            ["a-b.service.d", "a-.service.d", "c.service.d", "service.d"]
        );
    }

    #[test]
    fn files_are_ordered_by_name_and_the_specific_one_wins() {
        let t = super::super::tests::TempDir::new("dropins");
        t.write("getty@.service.d/20-b.conf", "[Service]\n");
        t.write("getty@.service.d/10-a.conf", "[Service]\n");
        t.write("getty@tty1.service.d/20-b.conf", "[Service]\n");
        t.write("getty@tty1.service.d/notes.txt", "");
        t.write("service.d/00-all.conf", "[Service]\n");
        t.write("service.d/99-masked.conf", "[Service]\n");
        std::fs::create_dir_all(t.0.join("getty@tty1.service.d")).unwrap();
        std::os::unix::fs::symlink("/dev/null", t.0.join("getty@tty1.service.d/99-masked.conf"))
            .unwrap();
        let got: Vec<String> = files(&t.0, &dirs_for(&["getty@tty1"]))
            .iter()
            .map(|p| p.strip_prefix(&t.0).unwrap().display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "service.d/00-all.conf",
                "getty@.service.d/10-a.conf",
                "getty@tty1.service.d/20-b.conf"
            ]
        );
    }
}
