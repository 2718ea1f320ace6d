//! `reload-config` and SIGHUP: make the running set match PATH again.

use super::*;

impl Reactor {
    pub(super) fn reload_config_and_log(&mut self) {
        match self.reload_config() {
            Ok(r) => {
                let line = format!(
                    "reload-config: added {:?}, removed {:?}, changed {:?}",
                    r.added, r.removed, r.changed
                );
                self.system_line(&line);
            }
            Err(errors) => {
                self.system_line("reload-config refused; the running set is unchanged:");
                for e in errors {
                    self.system_line(&e);
                }
            }
        }
    }

    /// Re-read PATH and make the running set match it. On any error,
    /// nothing changes and the errors come back.
    pub(crate) fn reload_config(&mut self) -> Result<Reconfigured, Vec<String>> {
        self.reread(false)
    }

    /// Re-read PATH; with `dry_run`, only say what reload-config would do.
    pub(crate) fn reread(&mut self, dry_run: bool) -> Result<Reconfigured, Vec<String>> {
        let Some(path) = &self.config_path else {
            return Err(vec![
                "no definitions to re-read: `tend run -- CMD` was started without PATH".into(),
            ]);
        };
        // The entrypoint's `main` comes from the command line, and the
        // name stays reserved (the supervisor keeps that service as it is).
        let reserved = match self.entry {
            Some(_) => crate::model::ENTRY_RESERVED,
            None => &[],
        };
        let loaded = crate::load::load_reserving(path, reserved)
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        for w in &loaded.warnings {
            self.system_line(&w.to_string());
        }
        let mut new = loaded.config;
        new.resolve_defaults();
        if dry_run {
            return Ok(self.sup.plan(&new.services));
        }
        // (The entrypoint's `main` is kept, and counted.)
        let need = crate::model::fds_needed(&new, self.cgroups.is_some()) + 6;
        if let Some(limit) = os::raise_nofile_limit(need)
            && need > limit
        {
            return Err(vec![format!(
                "{} service(s) need about {need} open files, more than tend's limit of {limit} \
                 (raise it and restart tend)",
                new.services.len()
            )]);
        }
        // A transaction: whatever can fail (pipes, sockets: EMFILE near the
        // open-file limit) is made before anything changes, so that a
        // failure leaves the running set exactly as it was.
        let live: std::collections::HashSet<&str> = (self.sup.services.iter())
            .filter(|s| !s.retired)
            .map(|s| s.spec.name.as_str())
            .collect();
        let added = (new.services.iter())
            .filter(|s| !live.contains(s.name.as_str()))
            .count();
        let mut fresh = Vec::with_capacity(added);
        for _ in 0..added {
            fresh.push(Runtime::new().map_err(|e| vec![format!("cannot create pipes: {e}")])?);
        }
        let mut sockets: HashMap<String, os::notify::NotifySocket> = HashMap::new();
        for spec in &new.services {
            let has_one = (self.sup.find(&spec.name)).is_some_and(|i| self.readiness.has_notify(i));
            if readiness::needs_notify_socket(spec) && !has_one {
                let (sock, _) = readiness::notify_socket_for(spec)
                    .map_err(|e| vec![format!("{}: notify socket: {e}", spec.name)])?;
                sockets.insert(spec.name.clone(), sock);
            }
        }
        // Consumers (`pipe-to`) that have no input pipe yet get one; one
        // that has keeps it (its producers and it may restart around it).
        let mut inputs: HashMap<String, ConsumerPipe> = HashMap::new();
        for spec in &new.services {
            let has_one = (self.sup.find(&spec.name)).is_some_and(|i| self.rt[i].input.is_some());
            if super::is_consumer(&new.services, &spec.name) && !has_one {
                let p =
                    ConsumerPipe::new().map_err(|e| vec![format!("cannot create pipes: {e}")])?;
                inputs.insert(spec.name.clone(), p);
            }
        }
        os::launch::resolve_ahead(&new.services);
        let (done, fx) = self.sup.reconfigure(
            new.services.clone(),
            new.supervisor.shutdown_timeout,
            Instant::now(),
        );
        // New slots get the pipes made above (reused slots keep theirs);
        // services that now need a notify socket get theirs.
        // (`reconfigure` adds one service per name not live before, in a
        // reused slot or a new one: `fresh` holds enough for every new one.)
        while self.rt.len() < self.sup.services.len()
            && let Some(r) = fresh.pop()
        {
            self.rt.push(r);
            self.watch_outputs(self.rt.len() - 1);
        }
        for i in 0..self.sup.services.len() {
            if let Some(sock) = sockets.remove(&self.sup.services[i].spec.name)
                && !self.readiness.has_notify(i)
            {
                self.adopt_notify_socket(i, sock);
            }
        }
        for i in 0..self.sup.services.len() {
            let s = &self.sup.services[i];
            if let Some(p) = inputs.remove(&s.spec.name) {
                self.rt[i].input = Some(p);
            } else if !s.retired && !super::is_consumer(&new.services, &s.spec.name) {
                // No longer anyone's consumer: its producers were changed
                // (so restarted) or removed.
                self.rt[i].input = None;
            }
        }
        // s6's supervise files of added s6 services, started or not.
        for i in 0..self.sup.services.len() {
            let s = &self.sup.services[i];
            if !s.retired && done.added.contains(&s.spec.name) {
                self.s6_supervise(i);
            }
        }
        for name in &done.removed {
            self.logs.remove(name);
            self.metrics.forget(name);
        }
        for s in &new.services {
            if done.added.contains(&s.name) || done.changed.contains(&s.name) {
                self.logs.configure(&s.name, &s.log);
                self.logs.set_prefix(&s.name, s.log_prefix.as_deref());
            }
        }
        // (The verbosity is tend's environment's, read once at start.)
        let verbosity = self.settings.verbosity;
        self.settings = new.supervisor;
        self.settings.verbosity = verbosity;
        self.apply(fx);
        Ok(done)
    }
}
