//! `tend __exec-argv0 PROGRAM ARGV0 [ARG...]`: exec PROGRAM with ARGV0 as
//! its argv[0] — systemd's `@` prefix (`ExecStart=@/usr/sbin/daemon
//! daemon-name --flag`). The model's `exec` is an argv whose first word is
//! also the program, so a unit line with `@` runs through this helper; it
//! replaces itself (same pid, same cgroup, same fds), leaving nothing
//! behind. A program without a slash is looked up in `$PATH`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// The helper's first argument.
pub const ARG: &str = "__exec-argv0";

/// Runs the helper with the arguments after [`ARG`]; returns only on
/// failure, with the exit code (127 not found, 126 not executable, 2
/// usage), as a shell would.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    let [program, rest @ ..] = args else {
        eprintln!("usage: tend {ARG} PROGRAM ARGV0 [ARG...]");
        return 2;
    };
    if rest.is_empty() {
        eprintln!("usage: tend {ARG} PROGRAM ARGV0 [ARG...]");
        return 2;
    }
    let c = |s: &std::ffi::OsString| CString::new(s.as_bytes());
    let (Ok(prog), Ok(argv)) = (
        c(program),
        rest.iter().map(c).collect::<Result<Vec<_>, _>>(),
    ) else {
        eprintln!("tend {ARG}: an argument contains a NUL byte");
        return 2;
    };
    // execvp: PATH lookup as a shell does when there is no slash.
    let e = match nix::unistd::execvp(&prog, &argv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    eprintln!("tend: exec {}: {e}", program.to_string_lossy());
    if e == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    }
}
