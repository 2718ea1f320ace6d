//! Tests of native definitions (single-file and directory forms).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("tend-load-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Diagnostics as printed, with the temp dir prefix removed.
pub fn shown(dir: &Path, diags: &[Diagnostic]) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    diags
        .iter()
        .map(|d| d.to_string().replace(&prefix, ""))
        .collect()
}

/// Loads a directory made of `files`; Ok(warnings) or Err(all diags), shown.
pub fn load_dir_files(files: &[(&str, &str)]) -> (TempDir, Result<Loaded, Vec<String>>) {
    let t = TempDir::new("dir");
    for (name, text) in files {
        t.write(name, text);
    }
    let r = load(&t.0).map_err(|d| shown(&t.0, &d));
    (t, r)
}

/// Loads one service `web.toml` with `text`: Err(all diags) or its spec and warnings.
pub fn one(text: &str) -> Result<(ServiceSpec, Vec<String>), Vec<String>> {
    let (t, r) = load_dir_files(&[("web.toml", text)]);
    r.map(|l| {
        let w = shown(&t.0, &l.warnings);
        (
            l.config.services.into_iter().next().expect("one service"),
            w,
        )
    })
}

pub fn one_err(text: &str) -> Vec<String> {
    match one(text) {
        Ok((s, w)) => panic!("expected errors, got {s:?} {w:?}"),
        Err(e) => e,
    }
}

#[test]
fn explore() {
    for text in [
        "exec = 'x'\nrestart_delay = '1s'\ntype = 'nope'\nstop-signal = 'BOGUS'\n",
        "exec = []\nready-fd = 2\n",
        "exec = 'a \"b'\nrestart-delay = 5\nlog = { file = 'x', keep = -1 }\n",
        "exec = 'x'\ntype = 'notify-fd'\nready-check = { tcp = 'x', http = 'y' }\n",
        "exec = 'x'\nrequires = ['db']\n",
        "exec = [1, 'a']\n[environment]\nA = 1\n",
        "exec = 'x'\n[service.web]\n",
        "exec = 'x\n",
    ] {
        eprintln!("---\n{text}=> {:#?}", one(text));
    }
}
