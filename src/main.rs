// tend starts without Rust's runtime start-up (`lang_start`): as a
// container's init it runs at every container start, and that start-up
// reads and parses /proc/self/maps (the main thread's stack, for the
// stack-overflow message) and maps a signal stack, work tend does not
// need. What it needs of it (stdio that exists, SIGPIPE ignored) is
// `os::process_start`; the arguments come from glibc as before, and
// `std::process::exit` still flushes std's stdout.
// (The test build of this binary, which has no tests, keeps the
// harness's own main.)
#![cfg_attr(not(test), no_main)]

use clap::Parser;
use tend::args::{Cli, Command};

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    tend::os::process_start();
    tend_main();
    0
}

#[cfg_attr(test, allow(dead_code))]
fn tend_main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let rest: Vec<std::ffi::OsString> = argv.collect();
    if let Some(code) = tend::cli::as_other_client(&argv0, &rest) {
        std::process::exit(code);
    }
    // Hidden helper: a service's pre-exec commands, then its command.
    if rest.first().is_some_and(|a| a == "__exec-chain") {
        let args: Vec<String> = (rest[1..].iter())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(tend::exec_chain::main(&args));
    }
    // Hidden helper (readiness of `type = "dbus"` services): handled before
    // clap so that it never shows in help and parses its own arguments.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__dbus-wait")
    {
        let args: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(tend::readiness::dbus_wait::main(&args));
    }
    // Hidden helper (systemd's `@` prefix: a program run with its own
    // argv[0]), before clap for the same reasons.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == tend::exec_argv0::ARG)
    {
        let args: Vec<_> = std::env::args_os().skip(2).collect();
        std::process::exit(tend::exec_argv0::main(&args));
    }
    // Hidden: what PID 1 becomes after a fatal error (`reaper`).
    if rest.first().is_some_and(|a| a == tend::os::reaper::ARG) {
        std::process::exit(tend::os::reaper::main());
    }
    // The bare entrypoint (`tend run -- CMD`) is read without building
    // clap's whole command line: it is on every container's start.
    if let Some(bare) = tend::args::bare_run(&rest) {
        let entry = tend::run::Entry {
            cmd: bare.cmd,
            forward_group: bare.forward_group,
        };
        let socket = bare.socket.as_deref();
        std::process::exit(tend::run::run(None, socket, Some(entry)));
    }
    let cli = Cli::parse();
    tend::cli::color::set(cli.color);
    let code = match &cli.command {
        Command::Run {
            path,
            subreaper: _,
            forward_group,
            formation,
            cmd,
        } => {
            if let Some(f) = formation
                && let Err(e) = tend::load::set_cli_formation(f)
            {
                eprintln!("tend: run: {e}");
                std::process::exit(tend::run::EXIT_CONFIG);
            }
            let entry = if cmd.is_empty() && std::env::args_os().any(|a| a == "--") {
                eprintln!(
                    "tend: run: no command after `--` (usage: tend run [PATH] -- CMD [ARG...])"
                );
                std::process::exit(tend::run::EXIT_CONFIG);
            } else {
                (!cmd.is_empty()).then(|| tend::run::Entry {
                    cmd: cmd.clone(),
                    forward_group: *forward_group,
                })
            };
            tend::run::run(path.as_deref(), cli.socket.as_deref(), entry)
        }
        Command::Check { path } => tend::run::check(path),
        Command::Convert { path } => tend::convert::run(path),
        Command::DetectType { timeout, cmd } => tend::detect::run(timeout, cmd),
        Command::Notify {
            ready,
            status,
            vars,
        } => tend::notify_cli::run(*ready, status.as_deref(), vars),
        Command::Completions { shell } => tend::cli::docs::completions(*shell),
        Command::Man { dir } => tend::cli::docs::man(dir.as_deref()),
        Command::Graph { path: Some(path) } => tend::cli::graph_of_definitions(path),
        Command::Top => tend::cli::top::run(&tend::cli::socket_path(cli.socket.as_deref())),
        other => tend::cli::run(other, &tend::cli::socket_path(cli.socket.as_deref())),
    };
    std::process::exit(code);
}
