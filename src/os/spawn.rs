//! Spawning a process: a vfork-style clone, then exec, with failures
//! reported precisely.
//!
//! The child is created with `CLONE_VM | CLONE_VFORK | CLONE_FILES` (what
//! `posix_spawn` does, plus the shared fd table): the kernel copies neither
//! tend's page tables nor its fd table, and tend is suspended until the
//! child has exec'd or exited. So the outcome is known when `spawn` returns:
//! a failing child writes (stage, errno) into memory it shares with tend and
//! exits 126/127 like a shell; no status pipe is needed.
//!
//! The fd table is the costly part with many services: each has a few fds
//! open in tend, and a plain fork copies them all and closes them all again
//! at exec (O(N) per spawn). Here the fds a child needs are first dup'd into
//! a few low *slots* reserved at start-up; the child then unshares its fd
//! table with `close_range(cutoff, ~0, CLOSE_RANGE_UNSHARE)`, which copies
//! only the fds below the slots' end. Where that is not available the child
//! unshares the whole table (correct, just slower).
//!
//! Between clone and exec the child shares tend's memory: it only makes
//! raw, async-signal-safe calls on data prepared here, never allocates and
//! never returns. tend blocks every asynchronous signal, so no handler can
//! run in the child before exec.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::sync::Mutex;

/// What the child does, in order; reported with the errno on failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Cgroup = 1,
    ProcessGroup,
    Signals,
    Fds,
    Chdir,
    Groups,
    Gid,
    Uid,
    Exec,
    // Confinement (`os/confine`): the report's detail says which part.
    Namespaces,
    Mounts,
    Loopback,
    Rlimits,
    KeepCaps,
    Bounding,
    Capabilities,
    Ambient,
    NoNewPrivs,
    Nice,
    OomScore,
}

impl Stage {
    fn from_u8(b: u8) -> Option<Stage> {
        use Stage::*;
        [
            Cgroup,
            ProcessGroup,
            Signals,
            Fds,
            Chdir,
            Groups,
            Gid,
            Uid,
            Exec,
            Namespaces,
            Mounts,
            Loopback,
            Rlimits,
            KeepCaps,
            Bounding,
            Capabilities,
            Ambient,
            NoNewPrivs,
            Nice,
            OomScore,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Cgroup => "joining the service's cgroup",
            Stage::ProcessGroup => "setpgid",
            Stage::Signals => "signal setup",
            Stage::Fds => "fd setup",
            Stage::Chdir => "chdir",
            Stage::Groups => "setgroups",
            Stage::Gid => "setgid",
            Stage::Uid => "setuid",
            Stage::Exec => "exec",
            _ => "confinement",
        }
    }

    fn from_confine(f: super::confine::Failure) -> Stage {
        use super::confine::Failure as F;
        match f {
            F::Unshare => Stage::Namespaces,
            F::Mount => Stage::Mounts,
            F::Loopback => Stage::Loopback,
            F::Rlimit => Stage::Rlimits,
            F::KeepCaps => Stage::KeepCaps,
            F::Bounding => Stage::Bounding,
            F::Capset => Stage::Capabilities,
            F::Ambient => Stage::Ambient,
            F::NoNewPrivs => Stage::NoNewPrivs,
            F::Nice => Stage::Nice,
            F::OomScore => Stage::OomScore,
        }
    }

    fn to_confine(self) -> Option<super::confine::Failure> {
        use super::confine::Failure as F;
        Some(match self {
            Stage::Namespaces => F::Unshare,
            Stage::Mounts => F::Mount,
            Stage::Loopback => F::Loopback,
            Stage::Rlimits => F::Rlimit,
            Stage::KeepCaps => F::KeepCaps,
            Stage::Bounding => F::Bounding,
            Stage::Capabilities => F::Capset,
            Stage::Ambient => F::Ambient,
            Stage::NoNewPrivs => F::NoNewPrivs,
            Stage::Nice => F::Nice,
            Stage::OomScore => F::OomScore,
            _ => return None,
        })
    }
}

/// A fully prepared command.
pub struct Command {
    /// Path handed to execve (already looked up in PATH).
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: Option<CString>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub groups: Option<Vec<u32>>,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Further fds: (source, number in the child).
    pub extra_fds: Vec<(RawFd, RawFd)>,
    /// Own process group (services), or stay in tend's (never used yet).
    pub new_process_group: bool,
    /// Make the child's new process group the foreground group of the
    /// terminal on its stdin (the entrypoint's CMD on a terminal).
    pub foreground: bool,
    /// For messages: what the user wrote as the program.
    pub display: String,
    /// The cgroup the child starts in, so that no process of the service
    /// ever runs outside it.
    pub cgroup: Option<CgroupFds>,
    /// Set this variable to the child's own pid (e.g. `WATCHDOG_PID`),
    /// which only the child knows.
    pub pid_env: Option<&'static str>,
    /// Namespaces, mounts, capabilities, rlimits... prepared for the
    /// child (`os/confine`); None: nothing to confine.
    pub confine: Option<Box<super::confine::Plan>>,
    /// Files opened for this spawn's stdio (`stdout = "file:..."`), closed
    /// with the command once the child has its copies.
    pub keep: Vec<std::os::fd::OwnedFd>,
}

/// A service's cgroup: its directory, for clone3's `CLONE_INTO_CGROUP` or
/// for joining it from the child where clone3 cannot.
#[derive(Clone, Copy, Debug)]
pub struct CgroupFds {
    pub dir: RawFd,
    /// Whether clone3 may start the child there (else it joins).
    pub clone_into: bool,
}

impl CgroupFds {
    /// How a process is started in `cg`: by clone3 into it, unless a
    /// `cgroup.kill` there makes the kernel kill such children (see
    /// `ServiceCgroup::was_killed`), then by joining it from the child.
    pub fn of(cg: &super::cgroup::ServiceCgroup) -> CgroupFds {
        CgroupFds {
            dir: std::os::fd::AsRawFd::as_raw_fd(&cg.dir_fd),
            clone_into: !cg.was_killed(),
        }
    }
}

pub struct Child {
    pub pid: i32,
    /// Whether execve succeeded; the failure message is ready to show (the
    /// child has exited 126 or 127 and is still to be reaped).
    pub exec: Result<(), String>,
}

/// Low fds reserved for the child's fds (stdin, stdout, stderr and extras).
const SLOTS: usize = 8;
/// At most this many fds for one child (more than the slots: the child
/// then copies the whole table).
const MAX_FDS: usize = 32;
/// The child's stack (it runs a few frames of setup code, then execve).
const STACK: usize = 64 * 1024;
const GUARD: usize = 4096;
/// `close_range` flag: unshare the fd table, copying only what is kept.
const CLOSE_RANGE_UNSHARE: libc::c_uint = 1 << 1;
/// `close_range` flag: mark close-on-exec instead of closing.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// What every spawn reuses: the child's stack, the fd slots, and the
/// signals tend ignores (ignored dispositions survive exec, so the child
/// resets them; handled ones are reset by the kernel).
struct Spawner {
    /// Lowest usable address of the stack (above its guard page).
    stack_base: usize,
    /// `/dev/null`, what an unused slot holds.
    devnull: RawFd,
    slots: [RawFd; SLOTS],
    /// One above the highest slot: the child keeps only fds below it.
    cutoff: RawFd,
    ignored: Vec<libc::c_int>,
    /// What the child sets before exec when tend changed its own slice.
    child_sched: Option<super::sched::SchedAttr>,
    /// The open-file limit services get, when tend raised its own.
    child_nofile: Option<libc::rlimit>,
}

/// One spawner per process; the lock also serialises spawns from test
/// threads (tend's daemon is single-threaded).
static SPAWNER: Mutex<Option<Spawner>> = Mutex::new(None);

/// Reserve the slots and the stack. Call early (while fd numbers are low)
/// and after the signal dispositions are set; `spawn` calls it otherwise.
pub fn init() -> std::io::Result<()> {
    let mut guard = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_none() {
        *guard = Some(Spawner::new()?);
    }
    Ok(())
}

/// tend changed its scheduling (a short slice): children set `attr`
/// before exec, so that services get the default.
pub fn set_child_sched(attr: super::sched::SchedAttr) -> std::io::Result<()> {
    init()?;
    let mut guard = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sp) = guard.as_mut() {
        sp.child_sched = Some(attr);
    }
    Ok(())
}

/// tend raised its open-file limit: children set this one back before
/// exec (the soft limit tend started with, and the hard one).
pub fn set_child_nofile(soft: u64, hard: u64) -> std::io::Result<()> {
    init()?;
    let mut guard = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(sp) = guard.as_mut() {
        sp.child_nofile = Some(libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        });
    }
    Ok(())
}

/// The open-file limit children get (soft, hard), if tend set one: what
/// a reexec hands over, so services keep the limit tend first started with
/// rather than the one it raised for itself.
pub fn child_nofile() -> Option<(u64, u64)> {
    let guard = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    let lim = guard.as_ref()?.child_nofile?;
    Some((lim.rlim_cur, lim.rlim_max))
}

impl Spawner {
    fn new() -> std::io::Result<Spawner> {
        let err = std::io::Error::last_os_error;
        // SAFETY: plain syscalls on fds and a mapping created here; the
        // fds and the mapping are kept for the life of the process.
        unsafe {
            let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            if devnull < 0 {
                return Err(err());
            }
            let mut slots = [0; SLOTS];
            for s in &mut slots {
                *s = libc::fcntl(devnull, libc::F_DUPFD_CLOEXEC, 3);
                if *s < 0 {
                    return Err(err());
                }
            }
            let base = libc::mmap(
                std::ptr::null_mut(),
                GUARD + STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(err());
            }
            // The stack grows down: its lowest page faults instead of
            // overwriting whatever lies below.
            if libc::mprotect(base, GUARD, libc::PROT_NONE) != 0 {
                return Err(err());
            }
            let mut ignored = Vec::new();
            for sig in 1..=libc::SIGRTMAX() {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
                {
                    ignored.push(sig);
                }
            }
            Ok(Spawner {
                stack_base: base as usize + GUARD,
                devnull,
                cutoff: slots.iter().max().map_or(3, |m| m + 1),
                slots,
                ignored,
                child_sched: None,
                child_nofile: None,
            })
        }
    }
}

/// Shared between tend and the child: what failed, if anything.
#[repr(C)]
struct Report {
    /// Set by the child first thing: a child killed at birth never runs.
    started: bool,
    stage: u8,
    errno: i32,
    /// Which part of a confinement stage (an op, a capability, an rlimit).
    detail: u32,
}

/// Everything the child reads, prepared by the parent.
struct ChildArgs<'a> {
    cmd: &'a Command,
    argv: &'a [*const libc::c_char],
    envp: &'a mut [*const libc::c_char],
    /// (source fd, number in the child); sources are slots when `cutoff`
    /// is set, else the original fds.
    fds: &'a [(RawFd, RawFd)],
    cutoff: Option<RawFd>,
    ignored: &'a [libc::c_int],
    /// Join the cgroup from the child (clone3 could not start it there).
    join_cgroup: bool,
    sched: Option<&'a super::sched::SchedAttr>,
    nofile: Option<&'a libc::rlimit>,
    report: *mut Report,
}

/// Clone and exec. `Err` is a failure to create the process; a failure of
/// the child before or at exec is in `Child::exec`.
pub fn spawn(cmd: &Command) -> std::io::Result<Child> {
    init()?;
    let guard = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(sp) = guard.as_ref() else {
        return Err(std::io::Error::other("spawner not initialised"));
    };
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.env.iter().map(|a| a.as_ptr()).collect();
    // A slot the child fills with `NAME=<its pid>`, and the terminator.
    envp.push(std::ptr::null());
    envp.push(std::ptr::null());

    let wanted: Vec<(RawFd, RawFd)> = [(cmd.stdin, 0), (cmd.stdout, 1), (cmd.stderr, 2)]
        .into_iter()
        .chain(cmd.extra_fds.iter().copied())
        .collect();
    if wanted.len() > MAX_FDS {
        return Err(std::io::Error::other(format!(
            "a child gets at most {MAX_FDS} fds, not {}",
            wanted.len()
        )));
    }
    // Put the sources into the slots, so the child can drop everything
    // above them; if that fails (or more fds are wanted than there are
    // slots: many `listen` sockets), the child copies the whole table.
    let mut in_slots =
        !WITHOUT_SLOTS.load(std::sync::atomic::Ordering::Relaxed) && wanted.len() <= SLOTS;
    let mut fds = wanted.clone();
    for (k, (src, _)) in fds.iter_mut().enumerate() {
        if !in_slots {
            break;
        }
        // SAFETY: dup3 onto a slot fd this process reserved.
        in_slots = unsafe { libc::dup3(*src, sp.slots[k], libc::O_CLOEXEC) } >= 0;
        *src = sp.slots[k];
    }
    if !in_slots {
        fds = wanted.clone();
    }
    let mut report = Report {
        started: false,
        stage: 0,
        errno: 0,
        detail: 0,
    };
    let mut args = ChildArgs {
        cmd,
        argv: &argv,
        envp: &mut envp,
        fds: &fds,
        cutoff: in_slots.then_some(sp.cutoff),
        ignored: &sp.ignored,
        join_cgroup: false,
        sched: sp.child_sched.as_ref(),
        nofile: sp.child_nofile.as_ref(),
        report: &mut report,
    };
    let argp: *mut ChildArgs = &mut args;
    // SAFETY: the stack is ours and unused (spawns are serialised by the
    // lock); CLONE_VFORK suspends this thread until the child has exec'd
    // or exited, so `args` and `report` outlive its use of them.
    let cloned = match cmd.cgroup {
        Some(cg) if cg.clone_into => unsafe { clone_into_cgroup(sp.stack_base, cg.dir, argp) },
        _ => None,
    };
    // SAFETY: the child is past exec or gone.
    let started = unsafe { std::ptr::read_volatile(&raw const report.started) };
    if cloned.is_some() && !started {
        // Killed before it ran: the kernel bug described at
        // `ServiceCgroup::killed`, here in a form tend cannot predict (its
        // own cgroup was killed once, say). The corpse is reaped like any
        // unknown child; join by migration from now on.
        NO_CLONE_INTO_CGROUP.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let cloned = cloned.filter(|_| started);
    let (pid, clone_error) = match cloned {
        Some(pid) => (pid, None),
        None => {
            // SAFETY: as above; the child is the only user of `args` now.
            unsafe { (*argp).join_cgroup = cmd.cgroup.is_some() };
            let pid = unsafe {
                libc::clone(
                    child_main,
                    (sp.stack_base + STACK) as *mut libc::c_void,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD,
                    argp.cast(),
                )
            };
            (pid, Some(std::io::Error::last_os_error()))
        }
    };
    // The slots must not keep the child's pipes open (EOF would never come).
    for &slot in sp
        .slots
        .iter()
        .take(if in_slots { wanted.len() } else { 0 })
    {
        // SAFETY: dup3 of our /dev/null onto our own slot.
        unsafe { libc::dup3(sp.devnull, slot, libc::O_CLOEXEC) };
    }
    if pid < 0 {
        return Err(clone_error.unwrap_or_else(std::io::Error::last_os_error));
    }
    // SAFETY: the child is past exec or gone; nothing writes `report` now.
    let (stage, errno, detail) = unsafe {
        let r = std::ptr::read_volatile(&report);
        (r.stage, r.errno, r.detail)
    };
    let exec = match Stage::from_u8(stage) {
        None if stage == 0 => Ok(()),
        found => Err(failure_message(found, errno, detail, cmd)),
    };
    Ok(Child { pid, exec })
}

/// Tests set it: spawns skip the slots, so the fallback (the child unshares
/// the whole fd table) is exercised. Correct either way, so other spawns
/// meanwhile do not mind.
static WITHOUT_SLOTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// clone3 is missing or lacks `CLONE_INTO_CGROUP` (Linux < 5.7, or a
/// seccomp filter says ENOSYS): stop trying.
static NO_CLONE_INTO_CGROUP: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The vfork-style clone with `CLONE_INTO_CGROUP`: the child starts in the
/// cgroup. Joining it afterwards is a migration, which takes a global lock
/// and may wait for an RCU grace period (milliseconds, now and then).
/// None: not possible here or for this cgroup; the caller clones and joins
/// (which also reports a cgroup error precisely).
///
/// # Safety
/// As for `libc::clone`: `stack_base` is an unused stack of `STACK` bytes
/// and `args` stays valid until the child has exec'd or exited.
#[cfg(target_arch = "x86_64")]
unsafe fn clone_into_cgroup(stack_base: usize, dir: RawFd, args: *mut ChildArgs) -> Option<i32> {
    use std::sync::atomic::Ordering;
    /// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return None;
    }
    let ca = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES) as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack_base as u64,
        stack_size: STACK as u64,
        cgroup: dir as u64,
        ..CloneArgs::default()
    };
    let ret: i64;
    // The child returns from the syscall on the new stack (16-byte
    // aligned: the kernel sets rsp to stack + stack_size) with the
    // registers of the parent, so r12/r13 still hold the argument and the
    // function, which execs or exits and never returns.
    // SAFETY: see the function's contract.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &ca as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") args,
            in("r13") child_main as extern "C" fn(*mut libc::c_void) -> libc::c_int,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    if ret >= 0 {
        return Some(ret as i32);
    }
    if matches!(-ret as i32, libc::ENOSYS | libc::E2BIG | libc::EINVAL) {
        NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
    }
    None
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn clone_into_cgroup(_: usize, _: RawFd, _: *mut ChildArgs) -> Option<i32> {
    None
}

fn failure_message(stage: Option<Stage>, errno: i32, detail: u32, cmd: &Command) -> String {
    let err = std::io::Error::from_raw_os_error(errno);
    if let Some(f) = stage.and_then(Stage::to_confine) {
        let what = cmd.confine.as_ref().map(|p| p.describe(f, detail));
        return format!("{}: {err}", what.as_deref().unwrap_or("confinement"));
    }
    match stage {
        Some(Stage::Exec) => format!("exec {}: {err}", cmd.display),
        Some(Stage::Chdir) => {
            let dir = cmd.cwd.as_ref().map(|c| c.to_string_lossy());
            format!("chdir {}: {err}", dir.as_deref().unwrap_or("?"))
        }
        Some(s) => format!("{}: {err}", s.name()),
        None => format!("child setup failed: {err}"),
    }
}

/// The child, between clone and exec, on the spawner's stack.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while it is
    // suspended; see `child`.
    unsafe {
        let a = &mut *arg.cast::<ChildArgs>();
        std::ptr::write_volatile(&mut (*a.report).started, true);
        child(a)
    }
}

/// Never returns: execve or `_exit`. Only raw syscalls here: the memory is
/// tend's, and glibc's set*id wrappers would act on tend's threads.
unsafe fn child(a: &mut ChildArgs) -> ! {
    let cmd = a.cmd;
    unsafe {
        if a.join_cgroup
            && let Some(cg) = cmd.cgroup
            && let Err(errno) = join_in_child(cg.dir)
        {
            die(a.report, Stage::Cgroup, errno);
        }
        if cmd.new_process_group && libc::setpgid(0, 0) != 0 {
            die(a.report, Stage::ProcessGroup, errno());
        }
        // Before anything runs in the new group, so that its first read
        // of the terminal cannot meet SIGTTIN. SIGTTOU is still blocked
        // here, which lets a background group take the terminal; a
        // terminal that is gone changes nothing.
        if cmd.foreground && cmd.new_process_group {
            libc::tcsetpgrp(cmd.stdin, libc::getpid());
        }
        for &sig in a.ignored {
            libc::signal(sig, libc::SIG_DFL);
        }
        // tend blocks signals; the service starts with an empty mask.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            die(a.report, Stage::Signals, errno());
        }
        // From here on the fd table is the child's own.
        let unshared = match a.cutoff {
            Some(c) => {
                libc::syscall(
                    libc::SYS_close_range,
                    c as libc::c_uint,
                    !0u32,
                    CLOSE_RANGE_UNSHARE,
                ) == 0
            }
            None => false,
        };
        // (Without CLOSE_RANGE_UNSHARE: a full copy, the slots included.)
        if !unshared && libc::unshare(libc::CLONE_FILES) != 0 {
            die(a.report, Stage::Fds, errno());
        }
        // Move every source above every target first, so that no dup2
        // overwrites a source still to be used.
        let top = a.fds.iter().map(|&(_, dst)| dst).max().unwrap_or(2) + 1;
        let floor = a.cutoff.unwrap_or(0).max(top);
        let mut moved = [0 as RawFd; MAX_FDS];
        for (k, &(src, _)) in a.fds.iter().enumerate() {
            let fd = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, floor);
            if fd < 0 {
                die(a.report, Stage::Fds, errno());
            }
            if let Some(m) = moved.get_mut(k) {
                *m = fd;
            }
        }
        // The service gets exactly the fds it is given: whatever tend
        // inherited without close-on-exec is closed at exec too (Linux
        // 5.11; older kernels leave such strays open).
        libc::syscall(libc::SYS_close_range, 3u32, !0u32, CLOSE_RANGE_CLOEXEC);
        for (k, &(src, dst)) in a.fds.iter().enumerate() {
            let from = moved.get(k).copied().unwrap_or(src);
            if libc::dup2(from, dst) < 0 {
                die(a.report, Stage::Fds, errno());
            }
        }
        // The service's view of the file system, before its working
        // directory is looked up in it.
        if let Some(plan) = &cmd.confine
            && let Err((f, detail, e)) = super::confine::child_namespaces(plan)
        {
            die_at(a.report, Stage::from_confine(f), detail, e);
        }
        if let Some(dir) = &cmd.cwd
            && libc::chdir(dir.as_ptr()) != 0
        {
            die(a.report, Stage::Chdir, errno());
        }
        // Best effort: a refusal leaves the service tend's short slice.
        if let Some(attr) = a.sched {
            super::sched::set(attr);
        }
        // Best effort too: the limit tend started with (it raised its own).
        if let Some(lim) = a.nofile {
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                lim as *const libc::rlimit,
                std::ptr::null_mut::<libc::rlimit>(),
            );
        }
        // rlimits (above the hard limit needs root), umask, the bounding
        // set (needs CAP_SETPCAP) and keeping capabilities across setuid.
        if let Some(plan) = &cmd.confine
            && let Err((f, detail, e)) = super::confine::child_before_user(plan)
        {
            die_at(a.report, Stage::from_confine(f), detail, e);
        }
        if let Some(groups) = &cmd.groups
            && libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0
        {
            die(a.report, Stage::Groups, errno());
        }
        if let Some(gid) = cmd.gid
            && libc::syscall(libc::SYS_setgid, gid) != 0
        {
            die(a.report, Stage::Gid, errno());
        }
        if let Some(uid) = cmd.uid
            && libc::syscall(libc::SYS_setuid, uid) != 0
        {
            die(a.report, Stage::Uid, errno());
        }
        // The ambient set (kept across the user change), then
        // no-new-privileges, the last thing before exec.
        if let Some(plan) = &cmd.confine
            && let Err((f, detail, e)) = super::confine::child_after_user(plan)
        {
            die_at(a.report, Stage::from_confine(f), detail, e);
        }
        let mut pid_var = [0u8; 64];
        if let Some(name) = cmd.pid_env
            && format_var(&mut pid_var, name.as_bytes(), libc::getpid() as u32)
            && let Some(slot) = a.envp.len().checked_sub(2).and_then(|k| a.envp.get_mut(k))
        {
            *slot = pid_var.as_ptr().cast();
        }
        libc::execve(cmd.program.as_ptr(), a.argv.as_ptr(), a.envp.as_ptr());
        die(a.report, Stage::Exec, errno())
    }
}

/// In the child between fork and exec: move the calling process into the
/// cgroup whose directory is `dir_fd` (write its pid to `cgroup.procs`).
/// Returns the errno on failure.
///
/// # Safety
/// Async-signal-safe (openat, getpid, write, close, a stack buffer: no
/// allocation), so it may run in a forked child of a multi-threaded
/// process. `dir_fd` must be an open cgroup directory
/// (`ServiceCgroup::dir_fd`); call it before anything that could reuse
/// that fd number (dup2 onto stdio), and before dropping privileges: the
/// write needs write access to the common ancestor cgroup.
pub(crate) unsafe fn join_in_child(dir_fd: RawFd) -> Result<(), i32> {
    // SAFETY: openat, getpid, write, close and errno are async-signal-safe;
    // the buffer is on the stack. The fd lives only here (in a vfork child
    // sharing tend's fd table, tend is suspended meanwhile).
    unsafe {
        let procs_fd = libc::openat(
            dir_fd,
            c"cgroup.procs".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if procs_fd < 0 {
            return Err(*libc::__errno_location());
        }
        let mut n = libc::getpid() as u32;
        let mut buf = [0u8; 12];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        let len = buf.len() - i;
        let r = libc::write(procs_fd, buf.as_ptr().add(i).cast(), len);
        let errno = *libc::__errno_location();
        libc::close(procs_fd);
        if r == len as isize {
            Ok(())
        } else if r < 0 {
            Err(errno)
        } else {
            Err(libc::EIO)
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `NAME=<n>\0` into `buf` without allocating (async-signal-safe).
fn format_var(buf: &mut [u8; 64], name: &[u8], mut n: u32) -> bool {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if name.len() + 1 + len + 1 > buf.len() {
        return false;
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = b'=';
    for k in 0..len {
        buf[name.len() + 1 + k] = digits[len - 1 - k];
    }
    buf[name.len() + 1 + len] = 0;
    true
}

/// In the child: leave (stage, errno) for tend and exit like a shell.
unsafe fn die(report: *mut Report, stage: Stage, errno: i32) -> ! {
    unsafe { die_at(report, stage, 0, errno) }
}

/// `die` with a detail: which part of the stage failed.
unsafe fn die_at(report: *mut Report, stage: Stage, detail: u32, errno: i32) -> ! {
    unsafe {
        std::ptr::write_volatile(
            report,
            Report {
                started: true,
                stage: stage as u8,
                errno,
                detail,
            },
        );
        libc::_exit(if errno == libc::ENOENT { 127 } else { 126 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::fd::{AsRawFd, OwnedFd};

    fn command(script: &str, out: RawFd, extra: Vec<(RawFd, RawFd)>) -> Command {
        crate::os::launch::sh_command(script, out, extra, None)
    }

    /// Everything written to `r` until EOF (bounded), and the exit code.
    fn finish(child: Child, r: OwnedFd) -> (String, Option<i32>) {
        let mut f = std::fs::File::from(r);
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut f, &mut text);
        let mut status = 0;
        // SAFETY: our own child; it has closed its output, so it is ending.
        unsafe { libc::waitpid(child.pid, &mut status, 0) };
        (
            text,
            libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        )
    }

    #[test]
    fn the_child_gets_its_fds_where_asked_and_no_others() {
        fds_land_where_asked_and_nothing_else();
    }

    #[test]
    fn without_the_slots_too() {
        WITHOUT_SLOTS.store(true, std::sync::atomic::Ordering::Relaxed);
        fds_land_where_asked_and_nothing_else();
        WITHOUT_SLOTS.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    fn fds_land_where_asked_and_nothing_else() {
        init().expect("init");
        let slots = SPAWNER.lock().unwrap().as_ref().unwrap().slots;
        let (r, w) = crate::os::pipe(false).expect("pipe");
        let (r2, w2) = crate::os::pipe(false).expect("pipe");
        // Targets on slot numbers and on each other's sources.
        let (a, b) = (slots[0], slots[3]);
        // (Maybe above 9, which sh cannot redirect to: /proc/self/fd.)
        let script = format!(
            "echo one > /proc/self/fd/{a}; echo two > /proc/self/fd/{b}; \
             ls /proc/self/fd | sort -n | tr '\n' ' '"
        );
        let cmd = command(
            &script,
            w.as_raw_fd(),
            vec![(w2.as_raw_fd(), a), (w.as_raw_fd(), b)],
        );
        let child = spawn(&cmd).expect("spawn");
        assert_eq!(child.exec, Ok(()));
        drop((w, w2));
        let (out, code) = finish(child, r);
        let mut f2 = std::fs::File::from(r2);
        let mut out2 = String::new();
        std::io::Read::read_to_string(&mut f2, &mut out2).expect("read");
        assert_eq!(code, Some(0));
        assert_eq!(out2, "one\n");
        // 0-2, the two extras, and the fd `ls` opens to list the directory.
        let mut want: Vec<RawFd> = vec![0, 1, 2, a, b];
        want.sort();
        let listed: Vec<RawFd> = out
            .split_once("two\n")
            .map(|(_, l)| l)
            .unwrap_or(&out)
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        assert!(out.starts_with("two\n"), "{out:?}");
        assert_eq!(listed.len(), want.len() + 1, "fds in the child: {listed:?}");
        assert!(
            want.iter().all(|f| listed.contains(f)),
            "{listed:?} lacks one of {want:?}"
        );
    }

    #[test]
    fn an_exec_failure_is_known_when_spawn_returns() {
        let (r, w) = crate::os::pipe(false).expect("pipe");
        let mut cmd = command("true", w.as_raw_fd(), Vec::new());
        cmd.program = CString::new("/nonexistent/prog").unwrap();
        cmd.display = "/nonexistent/prog".into();
        let child = spawn(&cmd).expect("spawn");
        assert_eq!(
            child.exec,
            Err("exec /nonexistent/prog: No such file or directory (os error 2)".into())
        );
        drop(w);
        assert_eq!(finish(child, r).1, Some(127));
        let mut cmd = command("true", 1, Vec::new());
        cmd.cwd = Some(CString::new("/nonexistent-dir").unwrap());
        let child = spawn(&cmd).expect("spawn");
        assert_eq!(
            child.exec,
            Err("chdir /nonexistent-dir: No such file or directory (os error 2)".into())
        );
        let mut status = 0;
        // SAFETY: our own child, already exited.
        unsafe { libc::waitpid(child.pid, &mut status, 0) };
    }

    #[test]
    fn pid_variables_are_formatted_without_allocating() {
        let mut buf = [0u8; 64];
        assert!(format_var(&mut buf, b"WATCHDOG_PID", 40213));
        assert_eq!(&buf[..19], b"WATCHDOG_PID=40213\0");
        assert!(format_var(&mut buf, b"X", 0));
        assert_eq!(&buf[..4], b"X=0\0");
    }
}
