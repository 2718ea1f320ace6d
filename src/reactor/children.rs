//! Processes tend starts for a service: the service itself, its helper
//! commands (stop-exec, reload-exec), its on-exit hook; and the cgroup they
//! run in, how they are signalled and counted.

use super::*;
use crate::model::{PreCommand, Privilege};

impl Reactor {
    /// How many processes the service has, where that can be known
    /// (cgroup mode); None without cgroups.
    /// Service `i`'s cgroup, if it has one.
    pub(crate) fn cgroup_of(&self, i: usize) -> Option<&os::cgroup::ServiceCgroup> {
        self.rt.get(i)?.cgroup.as_ref()
    }

    pub(crate) fn process_count(&self, i: usize) -> Option<usize> {
        let cg = self.rt[i].cgroup.as_ref()?;
        Some(if self.sup.services[i].phase.has_processes() {
            cg.pids().len()
        } else {
            0
        })
    }

    /// `cgroup.events` of service `i` changed. Reading it is what clears
    /// the notice (level-triggered), so it is read whatever the phase.
    pub(super) fn on_cgroup_events(&mut self, i: usize) {
        let Some(cg) = &self.rt[i].cgroup else { return };
        if let Err(e) = cg.populated() {
            // Gone (removed behind tend's back) or unreadable: stop
            // watching rather than be woken for ever.
            if let Ok(fd) = self.rt[i]
                .cgroup
                .as_mut()
                .map_or(Ok(-1), |c| c.watch_events())
            {
                self.deregister(fd);
            }
            let message = format!("its cgroup's events cannot be read: {e}");
            self.emit(i, EventKind::Warning { message });
            return;
        }
        self.check_down(i);
    }

    /// An OOM kill or the tasks limit hit since the last look: say so.
    pub(super) fn report_limits(&mut self, i: usize) {
        let Some(cg) = &self.rt[i].cgroup else { return };
        let oom = cg.memory_events().map_or(0, |m| m.oom_kill);
        let tasks = cg.pids_events().unwrap_or(0);
        let (old_oom, old_tasks) = (self.rt[i].oom_kills, self.rt[i].tasks_max_hits);
        self.rt[i].oom_kills = oom;
        self.rt[i].tasks_max_hits = tasks;
        if oom > old_oom {
            let message = format!(
                "memory-max reached: the OOM killer killed {} process(es)",
                oom - old_oom
            );
            self.emit(i, EventKind::Warning { message });
        }
        if tasks > old_tasks {
            let message = format!("tasks-max reached: {} fork(s) refused", tasks - old_tasks);
            self.emit(i, EventKind::Warning { message });
        }
    }

    /// Every process of the service, each signalled once (a second SIGTERM
    /// means "quit now" to many programs): its cgroup, or its process group
    /// and the group of a main process that left it (a daemon that called
    /// setsid). The main process is signalled directly where the cgroup's
    /// list did not show it (it could not be read), so that a stop is never
    /// lost.
    pub(crate) fn signal_all(&mut self, i: usize, sig: i32) {
        let main = self.sup.services[i].live_main_pid();
        if let Some(cg) = &self.rt[i].cgroup {
            if sig == libc::SIGKILL {
                if cg.kill().is_err()
                    && let Some(main) = main
                {
                    os::signal_pid(main, sig);
                }
                return;
            }
            let pids = cg.pids();
            for &p in &pids {
                os::signal_pid(p, sig);
            }
            if let Some(main) = main.filter(|m| !pids.contains(m)) {
                os::signal_pid(main, sig);
            }
            return;
        }
        let pgid = self.rt[i].pgid;
        match pgid {
            Some(pgid) => {
                os::signal_group(pgid, sig);
            }
            None => {
                if let Some(main) = main {
                    os::signal_pid(main, sig);
                }
            }
        }
        if let Some(main) = main.filter(|&p| Some(p) != pgid)
            && let Some((_, g)) = os::parent_and_group(main)
            && Some(g) != pgid
        {
            // The main process left the service's group: its own group
            // (setsid), or just itself.
            if g == main {
                os::signal_group(g, sig);
            } else {
                os::signal_pid(main, sig);
            }
        }
    }

    /// Create the service's cgroup on its first start (kept across
    /// restarts), watch its `cgroup.events`, warn about missing controllers.
    pub(super) fn ensure_cgroup(&mut self, i: usize) -> Result<(), String> {
        let Some(h) = &self.cgroups else {
            return Ok(());
        };
        if self.rt[i].cgroup.is_some() {
            return Ok(());
        }
        let spec = &self.sup.services[i].spec;
        let limits = cgroup::Limits {
            memory_max: spec.memory_max,
            tasks_max: spec.tasks_max,
            cpu_max: spec.cpu_max,
        };
        let cg = h
            .create(&spec.name, &limits)
            .map_err(|e| format!("cgroup for {}: {e}", spec.name))?;
        if !cg.unsupported_limits.is_empty() {
            let message = format!(
                "{} not applied: the cgroup controller is not available here ({})",
                cg.unsupported_limits.join(", "),
                h.describe()
            );
            self.emit(i, EventKind::Warning { message });
        }
        let mut cg = cg;
        let watched = cg
            .watch_events()
            .and_then(|fd| self.register(fd, T_CGEVENTS | i as u64, EpollFlags::EPOLLPRI));
        if let Err(e) = watched {
            let _ = cg.remove();
            return Err(format!("watching {}: {e}", cg.events_path().display()));
        }
        self.rt[i].oom_kills = cg.memory_events().map_or(0, |m| m.oom_kill);
        self.rt[i].tasks_max_hits = cg.pids_events().unwrap_or(0);
        self.rt[i].cgroup = Some(cg);
        Ok(())
    }

    /// A removed service is gone for good: drop its cgroup (and, were it
    /// a consumer, its input pipe).
    pub(super) fn release_cgroup(&mut self, i: usize) {
        self.rt[i].input = None;
        self.s6_release(i);
        for cg in [self.rt[i].hook_cgroup.take(), self.probes.take_cgroup(i)]
            .into_iter()
            .flatten()
        {
            let _ = cg.remove();
        }
        if let Some(mut cg) = self.rt[i].cgroup.take() {
            if let Ok(fd) = cg.watch_events() {
                self.deregister(fd);
            }
            let _ = cg.remove();
        }
    }

    /// What a start needs before its process: its cgroup (never one where
    /// an earlier tend's copy runs), s6's supervise files, its directories,
    /// its sockets.
    fn before_spawn(&mut self, i: usize) -> Result<(), String> {
        let first = self.rt[i].cgroup.is_none();
        self.ensure_cgroup(i)?;
        // A cgroup this tend just made holds nobody: no reads needed.
        let fresh = first && self.rt[i].cgroup.as_ref().is_some_and(|cg| cg.fresh());
        if first
            && !fresh
            && let Some(cg) = &self.rt[i].cgroup
        {
            self.rt[i].inherited = cg.populated().unwrap_or(false);
        }
        if let Some(error) = self.earlier_copy(i) {
            return Err(error);
        }
        if !fresh {
            self.warn_leftovers(i);
        }
        self.s6_supervise(i);
        directories::make(&self.sup.services[i].spec)?;
        self.rt[i].dirs_made = true;
        self.ensure_listening(i)
    }

    /// A start that failed inside tend, before any process ran.
    fn spawn_failed(&mut self, i: usize, error: String, now: Instant) {
        let fx = self.sup.input(i, Input::SpawnFailed { error }, now);
        self.queue.extend(fx);
    }

    pub(super) fn spawn_service(&mut self, i: usize) {
        self.readiness.set_ready_fd(i, None, &host!(self));
        if let Err(error) = self.before_spawn(i) {
            self.spawn_failed(i, error, Instant::now());
            return;
        }
        let (listen_fds, listen_env) = self.listen_fds(i);
        let spec = &self.sup.services[i].spec;
        let ready_pipe = match (spec.kind, spec.ready_fd) {
            (ServiceType::NotifyFd, Some(fd)) => match os::pipe(true) {
                Ok((r, w)) => Some((r, w, fd)),
                Err(e) => {
                    self.spawn_failed(i, format!("pipe: {e}"), Instant::now());
                    return;
                }
            },
            _ => None,
        };
        let extra_fds: Vec<(RawFd, RawFd)> = (ready_pipe.iter())
            .map(|(_, w, fd)| (w.as_raw_fd(), *fd))
            .chain(listen_fds)
            .collect();
        let r = &self.rt[i];
        let mut extra = vec![("TEND_SERVICE".to_string(), spec.name.clone())];
        extra.extend(listen_env);
        // `$MONITOR_*` of an `on-failure`/`on-success` start.
        extra.extend(self.sup.monitor_env_of(i).iter().cloned());
        if let Some(w) = spec.watchdog {
            extra.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
        }
        if let Some(n) = self.readiness.notify_env(i) {
            extra.push(("NOTIFY_SOCKET".into(), n.to_string()));
        }
        // One variable the child sets to its pid: sd_listen_fds(3) ignores
        // sockets without LISTEN_PID, while sd_watchdog_enabled(3) takes a
        // missing WATCHDOG_PID as "this process".
        let pid_env = if spec.listen.is_empty() {
            spec.watchdog.map(|_| "WATCHDOG_PID")
        } else {
            Some("LISTEN_PID")
        };
        let entrypoint = spec.entrypoint;
        let prepared = self
            .prepare(i, Run::Main, &extra, extra_fds, pid_env, r.cgroup.as_ref())
            .and_then(|mut cmd| {
                cmd.foreground =
                    entrypoint && self.entry.as_ref().is_some_and(|e| e.takes_terminal());
                spawn::spawn(&cmd).map_err(|e| format!("fork: {e}"))
            });
        let now = Instant::now();
        let child = match prepared {
            Ok(child) => child,
            Err(error) => {
                if entrypoint {
                    eprintln!("tend: {}", without_os_error(&error));
                }
                self.spawn_failed(i, error, now);
                return;
            }
        };
        let pid = child.pid;
        self.rt[i].pgid = Some(pid);
        self.pids.insert(pid, PidOwner::Main(i));
        // Our copy of the write end closes here (dropped with the tuple),
        // so only the service holds it.
        if let Some((r, _w, _)) = ready_pipe {
            self.readiness.set_ready_fd(i, Some(r), &host!(self));
        }
        // The entrypoint's CMD that cannot run says so in one line, as a
        // shell would (tend exits 127 or 126 with it).
        if let (true, Err(e)) = (entrypoint, &child.exec) {
            eprintln!("tend: {}", without_os_error(e));
        }
        // The spawn returned after the child's exec (or its failure).
        let exec = match child.exec {
            Ok(()) => Input::ExecOk,
            Err(error) => Input::ExecFailed { error },
        };
        for input in [Input::Forked { pid }, exec] {
            let fx = self.sup.input(i, input, now);
            self.queue.extend(fx);
        }
    }

    /// A copy of service `i` that an earlier tend, killed outright, left
    /// running in its private subtree: not started twice. The start fails
    /// saying where it runs and how to end it; a later start (the restart
    /// policy's, `tend start`) goes ahead once it is gone.
    fn earlier_copy(&mut self, i: usize) -> Option<String> {
        let name = cgroup::escape_name(&self.sup.services[i].spec.name);
        let orphaned = (self.orphans.iter())
            .map(|d| d.join(&name))
            .find(|cg| cgroup::is_populated(cg));
        // The service's own cgroup, reused (`cgroup-root`, a delegated
        // cgroup), full before this tend ever started the service.
        let rt = &mut self.rt[i];
        let inherited = match &rt.cgroup {
            Some(cg) if rt.inherited => {
                let full = cg.populated().unwrap_or(false);
                rt.inherited = full;
                full.then(|| cg.path().to_path_buf())
            }
            _ => None,
        };
        let cg = orphaned.or(inherited)?;
        Some(format!(
            "a copy left running by an earlier tend is in {cg}: not started twice (end it: \
             echo 1 > {cg}/cgroup.kill)",
            cg = cg.display()
        ))
    }

    /// Processes a previous run left in the cgroup (`kill-mode` process or
    /// none, `send-sigkill = false`) stay there, unsignalled, as under
    /// systemd ("Found left-over process ... in control group while
    /// starting unit. Ignoring."): said once per start.
    fn warn_leftovers(&mut self, i: usize) {
        let Some(cg) = &self.rt[i].cgroup else { return };
        if !cg.populated().unwrap_or(false) {
            return;
        }
        let pids = cg.pids();
        if pids.is_empty() {
            return;
        }
        let named: Vec<String> = (pids.iter().take(5))
            .map(|p| {
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                format!("{p} ({})", comm.trim())
            })
            .collect();
        let more = match pids.len() {
            n if n > 5 => format!(" and {} more", n - 5),
            _ => String::new(),
        };
        let message = format!(
            "found left-over process(es) {}{more} in its cgroup while starting: left running",
            named.join(", ")
        );
        self.emit(i, EventKind::Warning { message });
    }

    /// The on-exit hook: its own process group (and cgroup), the service's
    /// output pipes, the hook variables; bounded by the service's deadline.
    pub(super) fn run_hook(&mut self, i: usize, env: Vec<(String, String)>) {
        let s = &self.sup.services[i];
        let spec = &s.spec;
        let Some(mut argv) = spec.on_exit.clone() else {
            return;
        };
        // runit's and s6's `finish SCRIPT EXIT SIGNAL`.
        if let Some(style) = spec.finish_args {
            use crate::event::ExitStatus;
            use crate::model::FinishArgs;
            let (code, sig) = match (s.last_exit, style) {
                (Some(ExitStatus::Code(c)), _) => (c, 0),
                (Some(ExitStatus::Signal(n)), FinishArgs::Runit) => (-1, n),
                (Some(ExitStatus::Signal(n)), FinishArgs::S6) => (256, n),
                (None, FinishArgs::Runit) => (-1, 0),
                (None, FinishArgs::S6) => (256, 0),
            };
            argv.push(code.to_string());
            argv.push(sig.to_string());
        }
        if self.rt[i].hook_cgroup.is_none()
            && let Some(h) = &self.cgroups
        {
            let name = format!("{}:on-exit", spec.name);
            self.rt[i].hook_cgroup = h
                .create(&name, &cgroup::Limits::default())
                .ok()
                .map(Box::new);
        }
        let cgroup = self.rt[i].hook_cgroup.as_deref();
        let privilege = spec.on_exit_privilege;
        let prepared = self.prepare(
            i,
            Run::Helper(&argv, privilege),
            &env,
            Vec::new(),
            None,
            cgroup,
        );
        match prepared.and_then(|cmd| spawn::spawn(&cmd).map_err(|e| format!("fork: {e}"))) {
            Ok(child) => {
                self.rt[i].hook = Some((child.pid, false));
                self.pids.insert(child.pid, PidOwner::Hook(i));
            }
            Err(e) => {
                let message = format!("on-exit hook could not run: {e}");
                self.emit(i, EventKind::Warning { message });
                let fx = self
                    .sup
                    .input(i, Input::HookDone { status: None }, Instant::now());
                self.queue.extend(fx);
            }
        }
    }

    /// Kill the hook's whole process tree.
    pub(super) fn kill_hook(&mut self, i: usize) {
        let r = &mut self.rt[i];
        let Some((pid, killed)) = &mut r.hook else {
            return;
        };
        *killed = true;
        match &r.hook_cgroup {
            Some(cg) => {
                let _ = cg.kill();
            }
            None => {
                os::signal_group(*pid, libc::SIGKILL);
            }
        }
    }

    pub(super) fn hook_exited(&mut self, i: usize, status: ExitStatus) {
        let Some((pid, killed)) = self.rt[i].hook.take() else {
            return;
        };
        // Whatever the hook left behind goes with it.
        match &self.rt[i].hook_cgroup {
            Some(cg) => {
                let _ = cg.kill();
            }
            None => {
                os::signal_group(pid, libc::SIGKILL);
            }
        }
        let status = (!killed).then_some(status);
        let fx = self
            .sup
            .input(i, Input::HookDone { status }, Instant::now());
        self.apply(fx);
        self.release_if_gone(i);
    }

    /// `tend reload`: announce it, then reload-exec or the reload signal
    /// (to the main process, like systemd's `kill -HUP $MAINPID`).
    pub(crate) fn begin_reload(&mut self, i: usize) -> Result<(), String> {
        let s = &self.sup.services[i];
        // A completed oneshot is up (systemd's `RemainAfterExit=yes`,
        // "active (exited)"): its reload-exec runs, as systemd runs
        // `ExecReload=` there (nftables reloads its ruleset); with no
        // process to signal, a reload-signal alone is refused.
        let exited = s.phase == Phase::Completed && s.spec.reload_exec.is_some();
        if !matches!(s.phase, Phase::Ready | Phase::Starting) && !exited {
            return Err(format!("not running ({})", s.phase.name()));
        }
        if exited {
            self.ensure_cgroup(i)?;
        }
        let fx = self.sup.input(i, Input::ReloadAsked, Instant::now());
        self.apply(fx);
        let s = &self.sup.services[i];
        if let Some(argv) = s.spec.reload_exec.clone() {
            let pid = self.spawn_helper(i, &argv, s.spec.reload_exec_privilege)?;
            self.rt[i].reload_exec = Some((pid, None));
            self.pids.insert(pid, PidOwner::ReloadExec(i));
            return Ok(());
        }
        let sig = s.spec.reload_signal;
        match s.live_main_pid() {
            Some(pid) => {
                os::signal_pid(pid, sig);
            }
            None => self.signal_all(i, sig),
        }
        Ok(())
    }

    /// The outcome of a reload, once there is one.
    pub(crate) fn reload_outcome(&mut self, i: usize) -> Option<(bool, String)> {
        let s = &self.sup.services[i];
        match self.rt[i].reload_exec {
            Some((_, None)) => return None,
            Some((_, Some(status))) => {
                self.rt[i].reload_exec = None;
                if status != ExitStatus::Code(0) {
                    return Some((
                        false,
                        format!("reload-exec exited with {}", status.describe()),
                    ));
                }
            }
            None => {}
        }
        if s.reloading() {
            return (!s.phase.has_processes() || s.phase != Phase::Ready).then(|| {
                (
                    false,
                    format!("stopped while reloading ({})", s.phase.name()),
                )
            });
        }
        Some((true, "reloaded".into()))
    }

    /// Fork and exec `argv` in service `i`'s context (working dir,
    /// environment, user, output pipes), plus what this process needs.
    pub(super) fn launch(
        &self,
        i: usize,
        argv: &[String],
        extra_env: &[(String, String)],
        extra_fds: Vec<(RawFd, RawFd)>,
        pid_env: Option<&'static str>,
        cgroup: Option<&cgroup::ServiceCgroup>,
    ) -> Result<spawn::Child, String> {
        let what = Run::Helper(argv, Privilege::Service);
        let cmd = self.prepare(i, what, extra_env, extra_fds, pid_env, cgroup)?;
        spawn::spawn(&cmd).map_err(|e| format!("fork: {e}"))
    }

    /// The command `launch` runs. The entrypoint's processes get tend's
    /// own stdin, stdout and stderr; every other service's get /dev/null
    /// and its output pipes.
    fn prepare(
        &self,
        i: usize,
        what: Run,
        extra_env: &[(String, String)],
        extra_fds: Vec<(RawFd, RawFd)>,
        pid_env: Option<&'static str>,
        cgroup: Option<&cgroup::ServiceCgroup>,
    ) -> Result<spawn::Command, String> {
        let spec = &self.sup.services[i].spec;
        // The pre-exec commands left for the main process are those with
        // its privilege (the others ran first: `Control::PreExec`).
        let (argv, pre, privilege) = match what {
            Run::Main => (&spec.exec[..], spec.pre_exec_split().1, spec.exec_privilege),
            Run::Helper(argv, p) => (argv, &[][..], p),
        };
        let confine = privilege.confinement(&spec.confine);
        let as_user = privilege.changes_user();
        let r = &self.rt[i];
        let (stdin, stdout, stderr) = if spec.entrypoint {
            (0, 1, 2)
        } else {
            // `pipe-to`: stdout is the consumer's pipe (every process of
            // the service: runsv gives `finish` the log pipe too); a
            // consumer's main process reads its pipe.
            let consumer = (spec.pipe_to.as_deref())
                .and_then(|n| self.sup.find(n))
                .and_then(|j| self.rt[j].input.as_ref()?.write.as_ref());
            let input = (r.input.as_ref()).filter(|_| matches!(what, Run::Main));
            (
                input.map_or(self.devnull.as_raw_fd(), |p| p.read.as_raw_fd()),
                consumer.unwrap_or(&r.out.1).as_raw_fd(),
                r.err.1.as_raw_fd(),
            )
        };
        let mut cmd = launch::prepare(&launch::Context {
            argv,
            working_dir: &spec.working_dir,
            environment: &spec.environment,
            env_files: &spec.env_files,
            user: spec.user.as_deref().filter(|_| as_user),
            group: spec.group.as_deref().filter(|_| as_user),
            extra_env,
            stdin,
            stdout,
            stderr,
            extra_fds,
            pid_env,
            cgroup: cgroup.map(os::spawn::CgroupFds::of),
            expand_env: spec.expand_env,
            pre,
            confine: Some(&confine),
            pass_environment: spec.pass_environment.as_deref(),
            unset_environment: &spec.unset_environment,
        })?;
        if !spec.entrypoint {
            stdio_files(spec, &mut cmd)?;
        }
        Ok(cmd)
    }

    /// A helper command of service `i` (stop-exec, reload-exec), in the
    /// service's cgroup, with `$MAINPID`.
    pub(super) fn spawn_helper(
        &self,
        i: usize,
        argv: &[String],
        privilege: Privilege,
    ) -> Result<i32, String> {
        let s = &self.sup.services[i];
        let extra = [
            ("TEND_SERVICE".to_string(), s.spec.name.clone()),
            (
                "MAINPID".to_string(),
                s.live_main_pid().unwrap_or(0).to_string(),
            ),
        ];
        let cgroup = self.rt[i].cgroup.as_ref();
        let cmd = self.prepare(
            i,
            Run::Helper(argv, privilege),
            &extra,
            Vec::new(),
            None,
            cgroup,
        )?;
        spawn::spawn(&cmd)
            .map(|c| c.pid)
            .map_err(|e| format!("fork: {e}"))
    }

    /// A start's `conditions`, asked of the system now.
    pub(super) fn check_conditions(&mut self, i: usize) {
        let failed =
            crate::condition::check(&self.sup.services[i].spec.conditions, &os::facts::Live);
        let fx = self
            .sup
            .input(i, Input::ConditionsChecked { failed }, Instant::now());
        self.queue.extend(fx);
    }

    /// exec-condition, pre-exec (those run before the main process) or
    /// post-start: the commands in order, each run of one privilege as
    /// one `tend __exec-chain`, in the service's cgroup (as systemd runs
    /// its control processes), with `$MAINPID`; the next run starts once
    /// one exited 0 (`control_exited`).
    pub(super) fn run_control(&mut self, i: usize, which: crate::service::Control) {
        self.rt[i].control_next = Some((which, 0));
        self.next_control(i);
    }

    /// The commands of `which` from `from` on that share its privilege.
    fn control_run(&self, i: usize, which: crate::service::Control, from: usize) -> &[PreCommand] {
        use crate::service::Control;
        let spec = &self.sup.services[i].spec;
        let cmds = match which {
            Control::Condition => &spec.exec_condition[..],
            Control::PreExec => spec.pre_exec_split().0,
            Control::PostStart => &spec.post_start[..],
        };
        let rest = cmds.get(from..).unwrap_or_default();
        let n = match rest.first() {
            Some(c) => rest
                .iter()
                .take_while(|d| d.privilege == c.privilege)
                .count(),
            None => 0,
        };
        &rest[..n]
    }

    /// Starts the next run of the current control list; false once there
    /// is none left.
    fn next_control(&mut self, i: usize) -> bool {
        use crate::service::Control;
        let Some((which, from)) = self.rt[i].control_next else {
            return false;
        };
        let cmds = self.control_run(i, which, from).to_vec();
        let Some(privilege) = cmds.first().map(|c| c.privilege) else {
            self.rt[i].control_next = None;
            return false;
        };
        self.rt[i].control_next = Some((which, from + cmds.len()));
        // exec-condition may run before the service's first spawn.
        let made = self.ensure_cgroup(i);
        let spec = &self.sup.services[i].spec;
        let argv =
            crate::exec_chain::steps_argv(&cmds, spec.expand_env, which == Control::Condition);
        let started = made.and_then(|()| self.spawn_helper(i, &argv, privilege));
        match started {
            Ok(pid) => {
                self.rt[i].control = Some((pid, false));
                self.pids.insert(pid, PidOwner::Control(i));
            }
            Err(e) => {
                self.rt[i].control_next = None;
                let what = match which {
                    Control::Condition => "exec-condition",
                    Control::PreExec => "pre-exec",
                    Control::PostStart => "post-start",
                };
                let message = format!("{what} could not run: {e}");
                self.emit(i, EventKind::Warning { message });
                let fx = self
                    .sup
                    .input(i, Input::ControlDone { status: None }, Instant::now());
                self.queue.extend(fx);
            }
        }
        true
    }

    /// The control commands go, with what they started (their process
    /// group; the service's cgroup is the service's own to stop).
    pub(super) fn kill_control(&mut self, i: usize) {
        if let Some((pid, killed)) = &mut self.rt[i].control {
            *killed = true;
            os::signal_group(*pid, libc::SIGKILL);
        }
    }

    pub(super) fn control_exited(&mut self, i: usize, status: ExitStatus) {
        let Some((pid, killed)) = self.rt[i].control.take() else {
            return;
        };
        // Whatever the chain left in its group goes with it.
        os::signal_group(pid, libc::SIGKILL);
        // A run that succeeded: the next one of the list, if any.
        if !killed && status == ExitStatus::Code(0) && self.next_control(i) {
            return;
        }
        self.rt[i].control_next = None;
        let status = (!killed).then_some(status);
        let fx = self
            .sup
            .input(i, Input::ControlDone { status }, Instant::now());
        self.apply(fx);
    }

    pub(super) fn run_stop_exec(&mut self, i: usize) {
        let spec = &self.sup.services[i].spec;
        let Some(argv) = spec.stop_exec.clone() else {
            return;
        };
        match self.spawn_helper(i, &argv, spec.stop_exec_privilege) {
            Ok(pid) => {
                self.rt[i].stop_exec = Some(pid);
                self.pids.insert(pid, PidOwner::StopExec(i));
            }
            Err(e) => {
                let message = format!("stop-exec failed: {e}");
                self.emit(i, EventKind::Warning { message });
                let fx = self.sup.input(i, Input::StopExecDone, Instant::now());
                self.queue.extend(fx);
            }
        }
    }
}

/// `stdin`, `stdout`, `stderr` other than `log`: opened for this spawn
/// (by tend, as systemd opens them with the manager's privileges); stderr
/// naming the same file as stdout shares its descriptor.
fn stdio_files(spec: &crate::model::ServiceSpec, cmd: &mut spawn::Command) -> Result<(), String> {
    use crate::model::Stdio;
    use std::os::unix::fs::OpenOptionsExt;
    let open = |t: &Stdio, input: bool| -> Result<Option<OwnedFd>, String> {
        let mut o = std::fs::OpenOptions::new();
        o.custom_flags(libc::O_NOCTTY).mode(0o644);
        let path = match t {
            Stdio::Log => return Ok(None),
            Stdio::Null => {
                let f = o.read(input).write(!input).open("/dev/null");
                return f
                    .map(|f| Some(f.into()))
                    .map_err(|e| format!("/dev/null: {e}"));
            }
            Stdio::File(p) if input => {
                o.read(true);
                p
            }
            Stdio::File(p) => {
                o.write(true).create(true);
                p
            }
            Stdio::Append(p) => {
                o.append(true).create(true);
                p
            }
            Stdio::Truncate(p) => {
                o.write(true).create(true).truncate(true);
                p
            }
        };
        let which = if input { "stdin" } else { "stdout/stderr" };
        o.open(path)
            .map(|f| Some(f.into()))
            .map_err(|e| format!("{which} {}: {e}", path.display()))
    };
    if let Some(fd) = open(&spec.stdin, true)? {
        cmd.stdin = fd.as_raw_fd();
        cmd.keep.push(fd);
    }
    let out = open(&spec.stdout, false)?;
    if let Some(fd) = &out {
        cmd.stdout = fd.as_raw_fd();
        if spec.stderr == spec.stdout {
            cmd.stderr = fd.as_raw_fd();
        }
    }
    if (spec.stderr != spec.stdout || out.is_none())
        && let Some(fd) = open(&spec.stderr, false)?
    {
        cmd.stderr = fd.as_raw_fd();
        cmd.keep.push(fd);
    }
    cmd.keep.extend(out);
    Ok(())
}

/// s6's event fifodir of a service whose `supervise-lock` is `lock`:
/// `D/event` for `D/supervise/lock` (s6-supervise's layout).
pub(super) fn s6_event_dir(lock: &std::path::Path) -> std::path::PathBuf {
    let supervise = lock.parent().unwrap_or(lock);
    supervise.parent().unwrap_or(supervise).join("event")
}

/// `exec x: No such file or directory`, without std's ` (os error 2)`.
fn without_os_error(message: &str) -> &str {
    match message.rfind(" (os error ") {
        Some(k) if message.ends_with(')') => &message[..k],
        _ => message,
    }
}

/// What [`Reactor::prepare`] runs in a service's context.
#[derive(Clone, Copy)]
enum Run<'a> {
    /// The service's command, after its `pre-exec` commands.
    Main,
    /// A helper command (stop-exec, reload-exec, the hook...), with
    /// what it runs with.
    Helper(&'a [String], Privilege),
}
