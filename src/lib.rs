//! tend: process supervisor, service manager and container init.
//! See ARCHITECTURE.md for the map of modules and their invariants.

// Every line tend writes to its stderr (and the few to stdout outside the
// log path) goes through these two, which shadow std's macros crate-wide
// (a `macro_rules!` before the modules is in scope in all of them). std's
// versions write an unbuffered stderr piece by piece, so a reader could see
// half a line, and they panic when the write fails: with
// `panic = "abort"`, a closed stderr pipe would take PID 1 down. Here the
// whole line is formatted first and written with one `write_all` (one
// write(2) for any line below the pipe's atomic size), and a failed
// write is ignored: there is nowhere left to say it.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        let mut line = ::std::format!($($arg)*);
        line.push('\n');
        let _ = ::std::io::Write::write_all(&mut ::std::io::stderr().lock(), line.as_bytes());
    }};
}
macro_rules! println {
    ($($arg:tt)*) => {{
        let mut line = ::std::format!($($arg)*);
        line.push('\n');
        let _ = ::std::io::Write::write_all(&mut ::std::io::stdout().lock(), line.as_bytes());
    }};
}
macro_rules! print {
    ($($arg:tt)*) => {{
        let text = ::std::format!($($arg)*);
        let _ = ::std::io::Write::write_all(&mut ::std::io::stdout().lock(), text.as_bytes());
    }};
}

pub mod args;
pub mod cli;
pub mod color;
pub mod condition;
pub mod control;
pub mod convert;
pub mod detect;
pub mod environ;
pub mod event;
pub mod eventlog;
pub mod exec_argv0;
pub mod exec_chain;
pub mod flood;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod handover;
pub mod journal;
pub mod kernel_names;
pub mod load;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod notify_cli;
pub mod os;
pub mod probe;
pub mod reactor;
pub mod readiness;
pub mod run;
pub mod service;
pub mod specifiers;
pub mod supervisor;
pub mod tmpfiles;
pub mod verbosity;
