//! `autostart.d/`: what `systemctl enable` and `disable` record in a
//! definitions directory, for every format.
//!
//! `DIR/autostart.d/NAME` holds `yes` or `no` (and `#` comments): whether
//! service NAME starts with tend, whatever its definition says
//! (`autostart`, a unit being in the directory). The loader applies it
//! after reading every definition, so `tend run`, `reload-config` and
//! `tend check` see it. An entry naming no service is a warning.

use std::path::{Path, PathBuf};

use super::ctx::{Loc, Src};
use super::{Collector, Severity};

/// The directory's name inside the definitions directory.
pub const AUTOSTART_DIR: &str = "autostart.d";

pub(super) fn apply(c: &mut Collector, dir: &Path) {
    let at = dir.join(AUTOSTART_DIR);
    let Ok(rd) = std::fs::read_dir(&at) else {
        return;
    };
    let mut names: Vec<String> = (rd.flatten())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        let path = at.join(&name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                c.file_error(&path, format!("cannot read: {e}"));
                continue;
            }
        };
        let src = Src::new(&path, &text);
        let mut value = None;
        for (offset, line) in super::content_lines(&text) {
            let word = line.trim_end();
            let span = offset..offset + word.len();
            let v = match word {
                "yes" | "true" | "enabled" => true,
                "no" | "false" | "disabled" => false,
                _ => {
                    c.diags.push(src.loc(&span).diag(
                        Severity::Error,
                        format!("autostart of `{name}`: expected `yes` or `no`, found `{word}`"),
                    ));
                    continue;
                }
            };
            if value.replace(v).is_some() {
                c.diags.push(src.loc(&span).diag(
                    Severity::Error,
                    format!("autostart of `{name}`: one `yes` or `no` only"),
                ));
            }
        }
        let Some(on) = value else {
            c.diags.push(Loc::file(&path).diag(
                Severity::Error,
                format!("autostart of `{name}`: empty (write `yes` or `no`)"),
            ));
            continue;
        };
        let unescaped = name.replace("\\x2f", "/");
        let bare = unescaped.strip_suffix(".service").unwrap_or(&unescaped);
        match c.services.iter_mut().find(|p| p.spec.name == bare) {
            Some(p) => p.spec.autostart = on,
            None => c.diags.push(Loc::file(&path).diag(
                Severity::Warning,
                format!("autostart of `{bare}`: no such service here, ignored"),
            )),
        }
    }
}

/// Records whether `name` starts with tend in `dir` (a definitions
/// directory): writes `dir/autostart.d/NAME`. Returns the file written.
pub fn record_autostart(dir: &Path, name: &str, on: bool) -> std::io::Result<PathBuf> {
    let at = dir.join(AUTOSTART_DIR);
    std::fs::create_dir_all(&at)?;
    let path = at.join(name.replace('/', "\\x2f"));
    let (verb, word) = if on {
        ("enable", "yes")
    } else {
        ("disable", "no")
    };
    let text = format!(
        "# Written by `systemctl {verb} {name}`: whether tend starts {name} with the others.\n{word}\n"
    );
    let tmp = at.join(format!(".{}.tmp", name.replace('/', "\\x2f")));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
