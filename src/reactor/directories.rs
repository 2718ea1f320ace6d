//! `directories` (systemd's `RuntimeDirectory=` and siblings): made before
//! each start of the service, with their mode and owner; those marked
//! `remove-on-stop` removed once the service is stopped and settled (its
//! on-exit hook done), as systemd removes a runtime directory after
//! `ExecStopPost=`.

use super::Reactor;
use crate::os;
use crate::service::{Phase, Want};

impl Reactor {
    /// Make service `i`'s directories. `Err`: which one, and why.
    pub(super) fn make_directories(&self, i: usize) -> Result<(), String> {
        let spec = &self.sup.services[i].spec;
        if spec.directories.is_empty() {
            return Ok(());
        }
        let owner = os::launch::service_ids(spec.user.as_deref(), spec.group.as_deref());
        for d in &spec.directories {
            os::make_dir(&d.path, d.mode, owner.filter(|_| d.owned))
                .map_err(|e| format!("directories: {}: {e}", d.path.display()))?;
        }
        Ok(())
    }

    /// After each batch: the `remove-on-stop` directories of services that
    /// are stopped for good (wanted down, at rest, no hook running).
    pub(super) fn remove_stopped_directories(&mut self) {
        for i in 0..self.rt.len() {
            let s = &self.sup.services[i];
            if !s.spec.directories.iter().any(|d| d.remove_on_stop) || !self.rt[i].dirs_made {
                continue;
            }
            let at_rest = matches!(s.phase, Phase::Down | Phase::Failed | Phase::Completed);
            if s.want != Want::Down || !at_rest || self.rt[i].hook.is_some() {
                continue;
            }
            self.rt[i].dirs_made = false;
            let failed: Vec<String> = (s.spec.directories.iter())
                .filter(|d| d.remove_on_stop)
                .filter_map(|d| match std::fs::remove_dir_all(&d.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Some(format!("cannot remove {}: {e}", d.path.display()))
                    }
                    _ => None,
                })
                .collect();
            for message in failed {
                self.emit(i, crate::event::EventKind::Warning { message });
            }
        }
    }
}
