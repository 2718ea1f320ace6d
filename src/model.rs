//! The validated service model: what every definition format lowers into.
//!
//! Invariant: plain data. No I/O, no serde, no clock. Loaders (`load::*`)
//! produce it; the supervisor and the reactor consume it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A duration that may be infinite (`"infinity"` in definitions).
pub type Timeout = Option<Duration>;

/// The longest duration tend works with (100 years): every duration is
/// clamped to it where it enters (definitions, notify datagrams, requests),
/// so that no deadline computed from one can overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `d`, at most [`MAX_DURATION`].
pub fn clamp(d: Duration) -> Duration {
    d.min(MAX_DURATION)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    Simple,
    Exec,
    Forking,
    Oneshot,
    Notify,
    NotifyFd,
    Dbus,
    Idle,
}

impl ServiceType {
    pub fn name(self) -> &'static str {
        match self {
            ServiceType::Simple => "simple",
            ServiceType::Exec => "exec",
            ServiceType::Forking => "forking",
            ServiceType::Oneshot => "oneshot",
            ServiceType::Notify => "notify",
            ServiceType::NotifyFd => "notify-fd",
            ServiceType::Dbus => "dbus",
            ServiceType::Idle => "idle",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    /// A clean exit (a success exit code, or SIGHUP/SIGINT/SIGTERM/SIGPIPE).
    OnSuccess,
    OnFailure,
    OnAbnormal,
    /// An uncaught signal that is not a clean exit.
    OnAbort,
    /// The watchdog expired.
    OnWatchdog,
    Always,
}

/// Which processes a stop signals (systemd's `KillMode=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KillMode {
    /// Every process of the service (its cgroup, else its process group).
    #[default]
    ControlGroup,
    /// The stop signal to the main process only; what is left once it is
    /// gone gets the final kill signal.
    Mixed,
    /// The main process only: the service is down when it is, whatever it
    /// left running.
    Process,
    /// No signal: `stop-exec` only; the service is down once it is done.
    None,
}

impl KillMode {
    pub fn name(self) -> &'static str {
        match self {
            KillMode::ControlGroup => "control-group",
            KillMode::Mixed => "mixed",
            KillMode::Process => "process",
            KillMode::None => "none",
        }
    }
}

/// Where a service's stdin, stdout or stderr goes (systemd's
/// `StandardInput=`/`StandardOutput=`/`StandardError=`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Stdio {
    /// stdin: /dev/null; stdout and stderr: tend's pipes, into `log`.
    #[default]
    Log,
    Null,
    /// Opened for writing at its start, not truncated (`file:`); for stdin,
    /// read.
    File(PathBuf),
    /// Opened in append mode (`append:`).
    Append(PathBuf),
    /// Truncated when opened (`truncate:`).
    Truncate(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLimitAction {
    Alert,
    GiveUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyAccess {
    Main,
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Exec(Vec<String>),
    Tcp(String),
    Http(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Lines go to tend's stdout, prefixed `NAME | `.
    Inherit,
    /// Rotated files: `path`, rotated at `max_size` bytes, `keep` old files.
    File {
        path: PathBuf,
        max_size: u64,
        keep: u32,
    },
}

/// How the on-exit hook is called when it is a runit or s6 `finish`
/// script: with two arguments about how the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishArgs {
    /// runsv(8): the exit code and 0, or -1 and the signal number.
    Runit,
    /// s6-supervise(8): the exit code and 0, or 256 and the signal number;
    /// and a `finish` that exits 125 keeps the service down.
    S6,
}

/// A command run before the main one (`pre-exec`, systemd's
/// `ExecStartPre=`), in order, in the service's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreCommand {
    pub argv: Vec<String>,
    /// Its failure does not fail the start (systemd's `-` prefix).
    pub ignore_failure: bool,
    /// What of the service's user and confinement it runs with.
    pub privilege: Privilege,
}

/// What of the service's credentials and confinement one command gets
/// (native `privileged`; systemd's `+` and `!` prefixes, and
/// `PermissionsStartOnly=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    /// The service's user, groups and whole confinement.
    #[default]
    Service,
    /// `privileged = "credentials"` (`!`): tend's own user and groups
    /// (no `user`, `group`, `supplementary-groups`); the confinement
    /// applies.
    Credentials,
    /// `privileged = "full"` (`+`): tend's user and groups and none of the
    /// confinement that restricts privileges (capabilities,
    /// no-new-privileges, namespaces and mounts); resource settings
    /// (rlimits, umask, nice, oom-score-adjust) still apply.
    Full,
}

impl Privilege {
    /// The native value (`privileged = "..."`); None for the default.
    pub fn native(self) -> Option<&'static str> {
        match self {
            Privilege::Service => None,
            Privilege::Credentials => Some("credentials"),
            Privilege::Full => Some("full"),
        }
    }

    /// Whether the command runs as the service's `user` and `group`.
    pub fn changes_user(self) -> bool {
        self == Privilege::Service
    }

    /// The part of `c` a command with this privilege gets.
    pub fn confinement(self, c: &Confinement) -> std::borrow::Cow<'_, Confinement> {
        use std::borrow::Cow;
        match self {
            Privilege::Service => Cow::Borrowed(c),
            Privilege::Credentials if c.supplementary_groups.is_empty() => Cow::Borrowed(c),
            Privilege::Credentials => Cow::Owned(Confinement {
                supplementary_groups: Vec::new(),
                ..c.clone()
            }),
            Privilege::Full => Cow::Owned(Confinement {
                rlimits: c.rlimits.clone(),
                umask: c.umask,
                nice: c.nice,
                oom_score_adjust: c.oom_score_adjust,
                ..Confinement::default()
            }),
        }
    }
}

/// A socket tend binds for a service (`listen`, systemd's `.socket`
/// units) and passes to each start as fds 3, 4, … (`LISTEN_FDS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    /// Its entry in `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`).
    pub name: String,
    /// Mode and owner of a unix socket file (nothing for the others).
    pub perm: SocketPerm,
}

/// A unix socket file's mode and owner, and the mode of the directories
/// made for it (native `listen` keys `mode`, `directory-mode`, `user`,
/// `group`; systemd's `SocketMode=`, `DirectoryMode=`, `SocketUser=`,
/// `SocketGroup=`). None: systemd's defaults, 0666, 0755, root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketPerm {
    pub mode: Option<u32>,
    pub dir_mode: Option<u32>,
    /// A name or a number, looked up when the socket is bound.
    pub user: Option<String>,
    pub group: Option<String>,
}

impl SocketPerm {
    pub fn is_default(&self) -> bool {
        *self == SocketPerm::default()
    }
}

/// `"0660"`: 1 to 4 octal digits (a mode of chmod(2)).
pub fn octal_mode(s: &str) -> Option<u32> {
    let ok = (1..=4).contains(&s.len()) && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    ok.then(|| u32::from_str_radix(s, 8).ok()).flatten()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// `tcp:HOST:PORT` (`ListenStream=`): a listening stream socket.
    Tcp(std::net::SocketAddr),
    /// `udp:HOST:PORT` (`ListenDatagram=`).
    Udp(std::net::SocketAddr),
    /// `unix:/path` (a stream socket; the file is made 0666 and replaced
    /// if it exists), `unix:@name` (abstract).
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "tcp:{a}"),
            ListenAddr::Udp(a) => write!(f, "udp:{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A directory tend makes before each start (systemd's
/// `RuntimeDirectory=` and siblings, native `directories`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedDir {
    pub path: PathBuf,
    pub mode: u32,
    /// Owned by the service's user and group (else root's, as
    /// `ConfigurationDirectory=`).
    pub owned: bool,
    /// Removed when the service is stopped (`RuntimeDirectory=` without
    /// `RuntimeDirectoryPreserve=yes`).
    pub remove_on_stop: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    /// The file the definition came from (for messages).
    pub source: PathBuf,
    pub exec: Vec<String>,
    /// What `exec` runs with (systemd's `ExecStart=+...`).
    pub exec_privilege: Privilege,
    /// Run one after the other before `exec`, in the same process (pid,
    /// cgroup, user, environment): `tend __exec-chain` (src/exec_chain.rs);
    /// those before the last one whose privilege is not `exec`'s run first
    /// as their own processes (`pre_exec_split`).
    pub pre_exec: Vec<PreCommand>,
    /// `post-start` (systemd's `ExecStartPost=`): run in order once the
    /// main process has started (simple/exec: exec'd; notify: READY=1;
    /// forking: the parent exited; oneshot: it completed), in the
    /// service's cgroup; the service is ready only once they all
    /// succeeded, and a failure (unless `-`) fails the start.
    pub post_start: Vec<PreCommand>,
    /// `exec-condition` (systemd's `ExecCondition=`): run in order before
    /// `pre-exec`; exit 1–254 skips the start (not a failure), 255 or a
    /// signal fails it.
    pub exec_condition: Vec<PreCommand>,
    /// `conditions` and `asserts` (systemd's `Condition*=`, `Assert*=`),
    /// checked before each start (`condition::check`).
    pub conditions: Vec<crate::condition::Condition>,
    /// Sockets tend holds for the service across its restarts; with
    /// `autostart = false` a connection starts it (socket activation).
    pub listen: Vec<Listen>,
    /// Made before each start, in order.
    pub directories: Vec<ManagedDir>,
    pub kind: ServiceType,
    pub pid_file: Option<PathBuf>,
    pub ready_fd: Option<i32>,
    pub bus_name: Option<String>,
    pub ready_check: Option<Box<Probe>>,
    pub health_check: Option<Box<Probe>>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub after: Vec<String>,
    /// `binds-to` (BindsTo=): like `requires`, and when one of these
    /// leaves up for any reason (stopped, failed, exited by itself), this
    /// service is stopped and stays down.
    pub binds_to: Vec<String>,
    /// `part-of` (PartOf=): a stop or restart of one of these, asked for,
    /// is also one of this service (not the other way).
    pub part_of: Vec<String>,
    /// `stop-propagated-from` (StopPropagatedFrom=, and the other side of
    /// PropagatesStopTo=): a stop of one of these, asked for, stops this
    /// service too.
    pub stop_propagated_from: Vec<String>,
    /// `requisite` (Requisite=): these must already be up when this
    /// service starts (or on their way, when it is `after` them); else the
    /// start fails at once. They are never started for it.
    pub requisite: Vec<String>,
    /// `conflicts` (Conflicts=, both ways): starting this service stops
    /// those, and starting one of those stops this one.
    pub conflicts: Vec<String>,
    /// `on-failure` (OnFailure=): started when this service fails (or hits
    /// its crash-loop limit), with `$MONITOR_*` saying how.
    pub on_failure: Vec<String>,
    /// `on-success` (OnSuccess=): started when this service ends well (a
    /// oneshot completed, a process exited cleanly with no restart).
    pub on_success: Vec<String>,
    pub restart: RestartPolicy,
    pub restart_delay: Duration,
    pub restart_delay_max: Duration,
    pub start_limit_burst: u32,
    pub start_limit_interval: Duration,
    pub start_limit_action: StartLimitAction,
    /// `ready-after`: the service is ready only once its process has
    /// stayed up this long, after what its type waits for (supervisord's
    /// `startsecs`).
    pub ready_after: Option<Duration>,
    /// `start-retries`: a run that ends before the service is ready is a
    /// failed start, retried this many times whatever `restart` says
    /// (after 1, 2, 3 ... × `restart-delay`), then the service is
    /// `failed` (supervisord's `startretries`, BACKOFF then FATAL).
    pub start_retries: Option<u32>,
    /// `supervisor-name = "GROUP:PROCESS"`: the name `supervisorctl`
    /// shows and accepts for the service (a program of `[group:x]`, or
    /// one process of `numprocs`); `GROUP:*` names the whole group.
    /// None: the service's own name, its own group.
    pub supervisor_name: Option<String>,
    pub start_timeout: Timeout,
    /// Signal number.
    pub stop_signal: i32,
    pub stop_timeout: Timeout,
    pub stop_exec: Option<Vec<String>>,
    /// What `stop-exec` runs with (one for all its commands).
    pub stop_exec_privilege: Privilege,
    pub reload_signal: i32,
    pub reload_exec: Option<Vec<String>>,
    pub reload_exec_privilege: Privilege,
    /// `reload-notify`: `tend reload` of a notify service waits for
    /// `RELOADING=1` … `READY=1` (systemd's `Type=notify-reload`); false:
    /// the reload is done once its signal is sent or its command ended
    /// (systemd's `Type=notify` with `ExecReload=`).
    pub reload_notify: bool,
    pub watchdog: Option<Duration>,
    pub notify_access: NotifyAccess,
    pub success_exit_codes: Vec<i32>,
    /// Signals whose death counts as a clean exit besides systemd's own
    /// four (SuccessExitStatus=SIGUSR1; an ExecStart= prefixed `-`).
    pub success_exit_signals: Vec<i32>,
    /// Exit codes and signals after which the service is never restarted,
    /// whatever `restart` says (RestartPreventExitStatus=).
    pub restart_prevent_exit_codes: Vec<i32>,
    pub restart_prevent_exit_signals: Vec<i32>,
    /// Exit codes and signals after which the service is restarted,
    /// whatever `restart` says (RestartForceExitStatus=); the prevent
    /// lists win, and an explicit stop is never followed by a restart.
    pub restart_force_exit_codes: Vec<i32>,
    pub restart_force_exit_signals: Vec<i32>,
    /// Which processes a stop signals (`kill-mode`, KillMode=).
    pub kill_mode: KillMode,
    /// SIGKILL (`final-kill-signal`) at stop-timeout (`send-sigkill`,
    /// SendSIGKILL=); without it the service is given up as down at
    /// stop-timeout, and what is left keeps running.
    pub send_sigkill: bool,
    /// SIGHUP right after the stop signal, to the same processes
    /// (`send-sighup`, SendSIGHUP=).
    pub send_sighup: bool,
    /// What stop-timeout sends instead of SIGKILL (FinalKillSignal=).
    pub final_kill_signal: i32,
    /// The stop signal of `tend restart` (RestartKillSignal=); None: the
    /// stop signal.
    pub restart_kill_signal: Option<i32>,
    /// Only these of tend's own environment variables are passed
    /// (`pass-environment`, PassEnvironment=); None: all of them.
    pub pass_environment: Option<Vec<String>>,
    /// Removed from the final environment, last (`unset-environment`,
    /// UnsetEnvironment=): `NAME`, or `NAME=VALUE` for that exact value.
    pub unset_environment: Vec<String>,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// The name on the service's lines in tend's output (`log-prefix`,
    /// SyslogIdentifier=); None: the service's name.
    pub log_prefix: Option<String>,
    /// Other names of this service (a systemd unit's `Alias=` and alias
    /// symlinks, `.service` stripped): dependencies on them were resolved
    /// to `name` when loading; a client asking for one means this service.
    pub aliases: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub working_dir: PathBuf,
    /// Fully merged environment additions: env files first, then `environment`.
    pub environment: BTreeMap<String, String>,
    pub env_files: Vec<PathBuf>,
    pub on_exit: Option<Vec<String>>,
    pub on_exit_privilege: Privilege,
    /// `on-exit-args`: the hook gets runit's or s6's two arguments.
    pub finish_args: Option<FinishArgs>,
    /// `on-exit-timeout`: how long the hook may run (s6's `timeout-finish`);
    /// None: `stop-timeout`.
    pub on_exit_timeout: Option<Timeout>,
    pub critical: bool,
    pub autostart: bool,
    pub log: Vec<LogTarget>,
    /// `pipe-to`: the service's stdout (its every process's) goes into the
    /// stdin of this other service through one pipe that tend holds open
    /// across restarts of either side (runit's `log/run`, s6-rc's
    /// `producer-for`); stderr still goes to `log`. The consumer starts
    /// before its producers and stops after them.
    pub pipe_to: Option<String>,
    /// `supervise-lock`: a file tend keeps write-locked (fcntl) while the
    /// service is defined, as s6-supervise does `supervise/lock`: s6's
    /// tools that check for a supervisor (s6-notifyoncheck, s6-svok) then
    /// find one.
    pub supervise_lock: Option<PathBuf>,
    pub memory_max: Option<u64>,
    pub tasks_max: Option<u64>,
    /// CPU quota as (quota_us, period_us).
    pub cpu_max: Option<(u64, u64)>,
    /// Commands get systemd's `$VAR` / `${VAR}` expansion at exec time,
    /// against the service's environment (units: `load::words::expand_env`).
    pub expand_env: bool,
    /// The command of `tend run [PATH] -- CMD` (SPEC §8), never set by a
    /// definition: it gets tend's own stdin, stdout and stderr (and the
    /// terminal), its end ends tend, and its exit status is tend's.
    pub entrypoint: bool,
    /// What the service's processes may see and do (SPEC §10's
    /// confinement keys), set up between clone and exec (`os/confine`).
    pub confine: Confinement,
}

/// `protect-system` (ProtectSystem=).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProtectSystem {
    #[default]
    No,
    /// `/usr`, `/boot`, `/efi` read-only.
    Yes,
    /// Those and `/etc`.
    Full,
    /// Everything but `/dev`, `/proc`, `/sys` (and what is made writable
    /// or private otherwise).
    Strict,
}

/// `protect-home` (ProtectHome=): `/home`, `/root`, `/run/user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProtectHome {
    #[default]
    No,
    /// Empty and inaccessible.
    Yes,
    ReadOnly,
    /// An empty read-only tmpfs on each.
    Tmpfs,
}

/// A path of `read-only-paths` and its siblings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfinePath {
    pub path: PathBuf,
    /// Written with systemd's `-` prefix: a missing path is skipped.
    pub optional: bool,
}

/// One `rlimits` entry: a resource (`libc::RLIMIT_*`) and its soft and
/// hard limits (`u64::MAX`: infinity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// The confinement of a service's processes. The default confines
/// nothing (and costs nothing at spawn).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Confinement {
    pub no_new_privileges: bool,
    /// The capability bounding set, as a bit mask of capability numbers
    /// (None: unchanged).
    pub capabilities: Option<u64>,
    /// Ambient capabilities (raised for the program, kept across `user`).
    pub ambient_capabilities: u64,
    pub private_tmp: bool,
    pub protect_system: ProtectSystem,
    pub protect_home: ProtectHome,
    pub read_only_paths: Vec<ConfinePath>,
    pub read_write_paths: Vec<ConfinePath>,
    pub inaccessible_paths: Vec<ConfinePath>,
    pub private_devices: bool,
    pub private_network: bool,
    /// In the order written, one per resource.
    pub rlimits: Vec<Rlimit>,
    pub umask: Option<u32>,
    /// The nice level, -20..19 (`nice`, Nice=).
    pub nice: Option<i32>,
    /// `/proc/self/oom_score_adj`, -1000..1000 (OOMScoreAdjust=).
    pub oom_score_adjust: Option<i32>,
    /// Groups added to the user's (`supplementary-groups`,
    /// SupplementaryGroups=): names or numbers.
    pub supplementary_groups: Vec<String>,
}

impl Confinement {
    /// Whether the processes need a mount namespace of their own.
    pub fn needs_mount_namespace(&self) -> bool {
        self.private_tmp
            || self.protect_system != ProtectSystem::No
            || self.protect_home != ProtectHome::No
            || !self.read_only_paths.is_empty()
            || !self.read_write_paths.is_empty()
            || !self.inaccessible_paths.is_empty()
            || self.private_devices
            || self.private_network
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupervisorSpec {
    pub socket: Option<PathBuf>,
    pub socket_group: Option<String>,
    /// `socket-read-group`: members may read (status, events, logs) but
    /// not control.
    pub socket_read_group: Option<String>,
    pub on_exit: Option<Vec<String>>,
    pub shutdown_timeout: Timeout,
    pub event_retention: usize,
    pub event_journal: Option<JournalSpec>,
    pub http: Option<String>,
    /// `http-token`: writes over HTTP (`POST /services/NAME/...`) need
    /// `Authorization: Bearer TOKEN`; without it every POST is refused.
    pub http_token: Option<String>,
    pub cgroup_root: Option<PathBuf>,
    /// `tmpfiles`: apply tmpfiles.d at start (docs/BEHAVIOUR.md).
    pub tmpfiles: Tmpfiles,
    /// How much of its own output tend prints (`verbosity`; set from
    /// s6-overlay's `S6_VERBOSITY` by `tend run`, not a key).
    pub verbosity: u8,
}

/// `[supervisor] tmpfiles`: whether tend makes what tmpfiles.d(5) lists
/// before the services start, as `systemd-tmpfiles --create --boot` does
/// on a booted system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tmpfiles {
    /// As PID 1 (a container), when systemd units are among the
    /// definitions: they are what relies on it.
    #[default]
    Auto,
    Always,
    Never,
    /// Always, from these directories (most important first) instead of
    /// tmpfiles.d(5)'s.
    Dirs(Vec<PathBuf>),
}

/// `event-journal`: the file events are appended to, rotated as a log file
/// is (`file` → `file.1` → … → `file.KEEP` once it reaches `max_size`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalSpec {
    pub path: PathBuf,
    pub max_size: u64,
    pub keep: u32,
}

impl Default for SupervisorSpec {
    fn default() -> Self {
        SupervisorSpec {
            socket: None,
            socket_group: None,
            socket_read_group: None,
            on_exit: None,
            shutdown_timeout: Some(Duration::from_secs(30)),
            event_retention: 10_000,
            event_journal: None,
            http: None,
            http_token: None,
            cgroup_root: None,
            tmpfiles: Tmpfiles::Auto,
            verbosity: crate::verbosity::DEFAULT,
        }
    }
}

/// Everything loaded from PATH: the supervisor settings and the services,
/// sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub supervisor: SupervisorSpec,
    pub services: Vec<ServiceSpec>,
}

/// The name of the entrypoint's service (`tend run [PATH] -- CMD`).
pub const MAIN: &str = "main";

/// What definitions may not be named when there is an entrypoint.
pub const ENTRY_RESERVED: &[(&str, &str)] = &[(MAIN, "the command of `tend run PATH -- CMD`")];

/// fds tend holds whatever it runs: stdio, the spawn slots, epoll, timer,
/// signals, the sockets, the reserve, a journal, and some headroom.
const FDS_BASE: u64 = 32;

/// About how many fds tend holds for `config` (see `open_file_budget`).
pub fn fds_needed(config: &Config, cgroups: bool) -> u64 {
    let per = |s: &ServiceSpec| {
        let files = s.log.iter().filter(|l| matches!(l, LogTarget::File { .. }));
        let notify = s.kind == ServiceType::Notify || s.watchdog.is_some();
        // Two pipes; the cgroup's directory and its `cgroup.events`; the
        // pipe to its consumer (counted at the producer: at most one each);
        // its sockets.
        let piped = 2 * u64::from(s.pipe_to.is_some());
        4 + if cgroups { 2 } else { 0 }
            + u64::from(notify)
            + files.count() as u64
            + piped
            + s.listen.len() as u64
    };
    FDS_BASE + config.services.iter().map(per).sum::<u64>()
}

impl Config {
    /// Fill service keys whose default comes from `[supervisor]`.
    pub fn resolve_defaults(&mut self) {
        for s in &mut self.services {
            if s.on_exit.is_none() {
                s.on_exit.clone_from(&self.supervisor.on_exit);
            }
        }
    }
}

impl ServiceSpec {
    /// `pre-exec` as (the commands run first, each run of one privilege
    /// as its own process, before the main one is started; the commands
    /// run in the main process, which have `exec`'s privilege).
    pub fn pre_exec_split(&self) -> (&[PreCommand], &[PreCommand]) {
        let keep = (self.pre_exec.iter().rev())
            .take_while(|p| p.privilege == self.exec_privilege)
            .count();
        self.pre_exec.split_at(self.pre_exec.len() - keep)
    }

    /// A service with every default of SPEC §2, for `exec`; loaders start
    /// from this and override what the definition sets.
    pub fn with_defaults(name: &str, source: PathBuf, working_dir: PathBuf) -> Self {
        ServiceSpec {
            name: name.to_string(),
            source,
            exec: Vec::new(),
            exec_privilege: Privilege::Service,
            pre_exec: Vec::new(),
            post_start: Vec::new(),
            exec_condition: Vec::new(),
            conditions: Vec::new(),
            listen: Vec::new(),
            directories: Vec::new(),
            kind: ServiceType::Simple,
            pid_file: None,
            ready_fd: None,
            bus_name: None,
            ready_check: None,
            health_check: None,
            requires: Vec::new(),
            wants: Vec::new(),
            after: Vec::new(),
            binds_to: Vec::new(),
            part_of: Vec::new(),
            stop_propagated_from: Vec::new(),
            requisite: Vec::new(),
            conflicts: Vec::new(),
            on_failure: Vec::new(),
            on_success: Vec::new(),
            restart: RestartPolicy::OnFailure,
            restart_delay: Duration::from_millis(100),
            restart_delay_max: Duration::from_secs(30),
            start_limit_burst: 5,
            start_limit_interval: Duration::from_secs(10),
            start_limit_action: StartLimitAction::Alert,
            ready_after: None,
            start_retries: None,
            supervisor_name: None,
            start_timeout: Some(Duration::from_secs(90)),
            stop_signal: libc::SIGTERM,
            stop_timeout: Some(Duration::from_secs(10)),
            stop_exec: None,
            stop_exec_privilege: Privilege::Service,
            reload_signal: libc::SIGHUP,
            reload_notify: true,
            reload_exec: None,
            reload_exec_privilege: Privilege::Service,
            watchdog: None,
            notify_access: NotifyAccess::All,
            success_exit_codes: vec![0],
            success_exit_signals: Vec::new(),
            restart_prevent_exit_codes: Vec::new(),
            restart_prevent_exit_signals: Vec::new(),
            restart_force_exit_codes: Vec::new(),
            restart_force_exit_signals: Vec::new(),
            kill_mode: KillMode::ControlGroup,
            send_sigkill: true,
            send_sighup: false,
            final_kill_signal: libc::SIGKILL,
            restart_kill_signal: None,
            pass_environment: None,
            unset_environment: Vec::new(),
            stdin: Stdio::Log,
            stdout: Stdio::Log,
            stderr: Stdio::Log,
            log_prefix: None,
            aliases: Vec::new(),
            user: None,
            group: None,
            working_dir,
            environment: BTreeMap::new(),
            env_files: Vec::new(),
            on_exit: None,
            on_exit_privilege: Privilege::Service,
            finish_args: None,
            on_exit_timeout: None,
            critical: false,
            autostart: true,
            log: vec![LogTarget::Inherit],
            pipe_to: None,
            supervise_lock: None,
            memory_max: None,
            tasks_max: None,
            cpu_max: None,
            expand_env: false,
            entrypoint: false,
            confine: Confinement::default(),
        }
    }
}
