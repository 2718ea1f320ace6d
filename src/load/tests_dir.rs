//! Tests of the directory form: tend.toml, duplicates, ignored files,
//! dependency checks, systemd units and service directories.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::tests::{TempDir, load_dir_files, shown};
use super::*;
use crate::model::{RestartPolicy, ServiceType};

fn exec_file(t: &TempDir, rel: &str, text: &str) {
    let p = t.write(rel, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn explore() {
    let unit = "[Unit]\nDescription=x\nAfter=network.target db.service\nRequires=db.service\nBefore=z.service\n\n[Service]\nType=notify\nExecStart=-/usr/bin/app --x \"a b\" \\\n  --more\nRestart=on-failure\nRestartSec=5\nTimeoutSec=0\nKillSignal=SIGINT\nEnvironment=A=1 \"B=two words\"\nEnvironmentFile=-/nonexistent/env\nFoo=bar\nMemoryMax=1G\n[Install]\nWantedBy=multi-user.target\n";
    let (t, r) = load_dir_files(&[("app.service", unit), ("db.toml", "exec='db'")]);
    match r {
        Ok(l) => eprintln!(
            "{:#?}\n{:#?}",
            l.config.services[0],
            shown(&t.0, &l.warnings)
        ),
        Err(e) => eprintln!("{e:#?}"),
    }
    let t = TempDir::new("sv");
    exec_file(&t, "svc/run", "#!/bin/sh\n");
    exec_file(&t, "svc/finish", "#!/bin/sh\n");
    t.write("svc/notification-fd", "3\n");
    t.write("svc/down", "");
    exec_file(&t, "svc/log/run", "#!/bin/sh\n");
    t.write("norun/README", "");
    t.write("noexec/run", "");
    t.write("README", "");
    t.write("x.toml.bak", "");
    t.write(".hidden.toml", "garbage");
    match load(&t.0) {
        Ok(l) => eprintln!(
            "{:#?}\n{:#?}",
            l.config.services[0],
            shown(&t.0, &l.warnings)
        ),
        Err(e) => eprintln!("{:#?}", shown(&t.0, &e)),
    }
}
