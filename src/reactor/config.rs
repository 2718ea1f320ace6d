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
        let Some(path) = &self.config_path else {
            return Err(vec![
                "no definitions to re-read: `tend run -- CMD` was started without PATH".into(),
            ]);
        };
        // The entrypoint's `main` comes from the command line, and the
        // name stays reserved (the supervisor keeps that service as it is).
        let reserved = match self.entry {
            Some(_) => crate::run::ENTRY_RESERVED,
            None => &[],
        };
        let loaded = crate::load::load_reserving(path, reserved)
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        for w in &loaded.warnings {
            self.system_line(&w.to_string());
        }
        let mut new = loaded.config;
        new.resolve_defaults();
        let (done, fx) = self.sup.reconfigure(
            new.services.clone(),
            new.supervisor.shutdown_timeout,
            Instant::now(),
        );
        // New slots get their pipes; every live service its log targets.
        for i in self.rt.len()..self.sup.services.len() {
            match Runtime::new() {
                Ok(r) => self.rt.push(r),
                Err(e) => {
                    self.system_line(&format!("reload-config: pipes: {e}"));
                    return Err(vec![format!("cannot create pipes: {e}")]);
                }
            }
            if let Err(e) = self.register_runtime(i) {
                return Err(vec![format!("cannot watch service fds: {e}")]);
            }
        }
        // A changed service may now need a notify socket.
        for i in 0..self.sup.services.len() {
            if let Err(e) = self.ensure_notify_socket(i) {
                self.system_line(&format!("notify socket: {e}"));
            }
        }
        for name in &done.removed {
            self.logs.remove(name);
        }
        for s in &new.services {
            if done.added.contains(&s.name) || done.changed.contains(&s.name) {
                self.logs.configure(&s.name, &s.log);
            }
        }
        self.settings = new.supervisor;
        self.apply(fx);
        Ok(done)
    }
}
