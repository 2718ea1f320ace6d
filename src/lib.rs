//! tend: process supervisor, service manager and container init.
//! See ARCHITECTURE.md for the map of modules and their invariants.

pub mod args;
pub mod cli;
pub mod condition;
pub mod control;
pub mod convert;
pub mod detect;
pub mod event;
pub mod eventlog;
pub mod exec_argv0;
pub mod exec_chain;
pub mod flood;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod journal;
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
pub mod supervisor;
pub mod tmpfiles;
pub mod verbosity;
