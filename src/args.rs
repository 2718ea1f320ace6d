//! The command line (SPEC §1), as clap definitions. No behaviour here.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tend",
    version,
    about = "process supervisor, service manager and container init"
)]
pub struct Cli {
    /// Control socket of the supervisor (else $TEND_SOCKET, else the default).
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// Colour in output: auto (on a terminal, unless $NO_COLOR is set),
    /// always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Supervise the services defined at PATH (default ./tend.d, or /etc/tend as PID 1).
    ///
    /// With `-- CMD [ARG...]`, CMD is the container's main process (the
    /// service `main`, like `tini --`): it starts once the services of
    /// PATH are ready (no PATH: no definitions are read), gets tend's
    /// terminal, receives the signals tend receives, and tend exits with
    /// its status.
    Run {
        path: Option<PathBuf>,
        /// Accepted for compatibility and changes nothing: tend is always
        /// a child subreaper (as PID 1 the kernel makes it one), so orphans
        /// of its services are reaped by tend and tracked.
        #[arg(long)]
        subreaper: bool,
        /// With `-- CMD`: forward signals to CMD's whole process group, not
        /// only to CMD (tini's -g).
        #[arg(long)]
        forward_group: bool,
        /// A Procfile's formation, as foreman's `-m`: how many of each
        /// process type run (`web=2,worker=1`, `all=N`); it replaces
        /// `.foreman`'s.
        #[arg(short = 'm', long, value_name = "TYPE=N,...")]
        formation: Option<String>,
        /// The command to run as the service `main`.
        #[arg(last = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Show services: state, pid, uptime, restarts, last exit.
    Status {
        names: Vec<String>,
        #[arg(long)]
        json: bool,
        /// The services as a tree of what each depends on (requires and
        /// wants), from those nothing depends on.
        #[arg(long, conflicts_with = "json")]
        tree: bool,
    },
    /// Start services and wait until they are ready.
    Start {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop services and wait until all their processes are gone.
    Stop {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop then start services, and wait until they are ready.
    Restart {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send the reload signal (or run reload-exec).
    Reload {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal to every process of a service.
    Kill {
        name: String,
        #[arg(short = 's', long = "signal", default_value = "TERM")]
        signal: String,
    },
    /// Print the event log, then follow it.
    Events {
        #[arg(long)]
        since: Option<u64>,
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the last lines of services' output, then follow it. One NAME:
    /// its lines as they are; several or none (every service): interleaved
    /// by time as `NAME | line`, a colour per service on a terminal.
    Logs {
        names: Vec<String>,
        /// The last N lines of each service (default 100; with --since,
        /// every retained line since then).
        #[arg(short = 'n', long = "lines")]
        lines: Option<usize>,
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only lines written since WHEN: a duration ago ("10m", "1h") or a
        /// UTC time ("2026-11-21T22:40:00Z").
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// One JSON object per line: time, service, stream, line.
        #[arg(long)]
        json: bool,
    },
    /// Validate every definition at PATH.
    Check { path: PathBuf },
    /// Print the native TOML equivalent of the definitions at PATH (any format).
    Convert { path: PathBuf },
    /// Run CMD and recommend a service type.
    DetectType {
        #[arg(long, default_value = "5s")]
        timeout: String,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// sd_notify client for scripts, like systemd-notify.
    Notify {
        #[arg(long)]
        ready: bool,
        #[arg(long)]
        status: Option<String>,
        vars: Vec<String>,
    },
    /// Re-read the definitions: start added, stop removed, restart changed services.
    ReloadConfig,
    /// Are the named services (default: every autostart one) ready, or
    /// completed? Exit 0 if so, 1 listing those that are not (an exec probe
    /// for Kubernetes that needs no curl).
    Ready {
        names: Vec<String>,
        /// Wait until they are (or --timeout passes).
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. "30s").
        #[arg(long, value_name = "DUR")]
        timeout: Option<String>,
    },
    /// The dependency graph in DOT (`tend graph | dot -Tsvg`): of the running
    /// supervisor, or of the definitions at PATH.
    Graph { path: Option<PathBuf> },
    /// Shell completions for bash, zsh or fish, on stdout.
    Completions { shell: clap_complete::Shell },
    /// Man pages: tend(1) on stdout, or one page per command into DIR.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Full-screen live view of every service: state, pid, uptime,
    /// restarts, last exit, readiness, CPU, memory, processes; their logs
    /// and events; keys to start, stop, restart, reload and signal them
    /// (`?` lists the keys).
    Top,
    /// Stop everything gracefully; `tend run` then exits 0.
    Shutdown,
    /// Replace the running supervisor with a new binary (tend's own path by
    /// default: the upgraded file), every service kept running: the same
    /// pids, pipes, sockets, cgroups and event seq; none restarted.
    Reexec {
        /// The binary to run instead (checked first: `PATH --version` must
        /// say tend, or nothing changes).
        #[arg(long, value_name = "PATH")]
        binary: Option<PathBuf>,
    },
}

/// `tend [--socket PATH] run [--forward-group] -- CMD [ARG...]`: the
/// bare entrypoint, as a container starts it, read without clap.
///
/// Building clap's whole command (every subcommand, its arguments and
/// help) is about a tenth of a millisecond at every container start, for
/// a line that has one form. Only these exact words are read here; any
/// other line (another option, `--socket=P`, a PATH, a value that is not
/// UTF-8 or starts with `-`, `--help`) is `None` and goes to clap, so
/// that clap stays the one judge of everything else. The tests check that
/// clap reads every line accepted here the same way.
#[derive(Debug, PartialEq, Eq)]
pub struct BareRun {
    pub socket: Option<PathBuf>,
    pub forward_group: bool,
    pub cmd: Vec<String>,
}

pub fn bare_run(args: &[std::ffi::OsString]) -> Option<BareRun> {
    let mut rest = args;
    let mut socket = None;
    if let [flag, value, tail @ ..] = rest
        && flag == "--socket"
    {
        if value.is_empty() || value.as_encoded_bytes().starts_with(b"-") {
            return None;
        }
        socket = Some(PathBuf::from(value));
        rest = tail;
    }
    let [run, tail @ ..] = rest else {
        return None;
    };
    if run != "run" {
        return None;
    }
    rest = tail;
    let mut forward_group = false;
    if let [flag, tail @ ..] = rest
        && flag == "--forward-group"
    {
        forward_group = true;
        rest = tail;
    }
    let [dashes, cmd @ ..] = rest else {
        return None;
    };
    if dashes != "--" || cmd.is_empty() {
        return None;
    }
    let cmd = (cmd.iter())
        .map(|a| a.to_str().map(String::from))
        .collect::<Option<Vec<_>>>()?;
    Some(BareRun {
        socket,
        forward_group,
        cmd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// What clap makes of `args`, in `BareRun`'s terms (None: not a bare
    /// run, or an error).
    fn by_clap(args: &[OsString]) -> Option<BareRun> {
        let argv = std::iter::once(OsString::from("tend")).chain(args.iter().cloned());
        let cli = Cli::try_parse_from(argv).ok()?;
        if cli.color != ColorWhen::Auto {
            return None;
        }
        match cli.command {
            Command::Run {
                path: None,
                subreaper: false,
                forward_group,
                formation: None,
                cmd,
            } if !cmd.is_empty() => Some(BareRun {
                socket: cli.socket,
                forward_group,
                cmd,
            }),
            _ => None,
        }
    }

    #[test]
    fn the_bare_entrypoint_is_read_as_clap_reads_it() {
        let accepted = [
            &["run", "--", "/bin/true"][..],
            &["run", "--", "sh", "-c", "exit 3"],
            &["run", "--", "cmd", "--", "--socket", "x"],
            &["run", "--", "run"],
            &["--socket", "/tmp/t.sock", "run", "--", "/bin/true"],
            &["--socket", "run", "run", "--", "x"],
            &["run", "--forward-group", "--", "x", "-g"],
            &["--socket", "s", "run", "--forward-group", "--", "--help"],
        ];
        for words in accepted {
            let args = os(words);
            let fast = bare_run(&args);
            assert!(fast.is_some(), "{words:?}");
            assert_eq!(fast, by_clap(&args), "{words:?}");
        }
    }

    #[test]
    fn every_other_line_goes_to_clap() {
        let others = [
            &[][..],
            &["run"],
            &["run", "--"],
            &["run", "path", "--", "x"],
            &["run", "--subreaper", "--", "x"],
            &["run", "-m", "web=1", "--", "x"],
            &["run", "--socket", "s", "--", "x"],
            &["--socket=s", "run", "--", "x"],
            &["--socket", "-s", "run", "--", "x"],
            &["--socket", "", "run", "--", "x"],
            &["--color", "never", "run", "--", "x"],
            &["run", "--forward-group", "--forward-group", "--", "x"],
            &["run", "--help", "--", "x"],
            &["status"],
            &["--socket", "s"],
            &["--socket"],
        ];
        for words in others {
            assert_eq!(bare_run(&os(words)), None, "{words:?}");
        }
        // Not UTF-8: clap's error, not ours.
        let mut args = os(&["run", "--"]);
        args.push(OsString::from_vec(vec![0xff, b'x']));
        assert_eq!(bare_run(&args), None);
    }
}
