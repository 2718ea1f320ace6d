//! `directories` (systemd's `RuntimeDirectory=` and siblings): made before
//! each start of the service, with their mode and owner; those marked
//! `remove-on-stop` removed once the service is stopped and settled (its
//! on-exit hook done), as systemd removes a runtime directory after
//! `ExecStopPost=`.

use crate::model::ServiceSpec;
use crate::os;
use crate::service::{Phase, Service, Want};

/// Make a service's directories. `Err`: which one, and why.
pub(super) fn make(spec: &ServiceSpec) -> Result<(), String> {
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

/// Whether the service's `remove-on-stop` directories are due for removal:
/// it has some, a start made them, and it is stopped for good (wanted
/// down, at rest, no hook running).
pub(super) fn due_for_removal(s: &Service, made: bool, hook_running: bool) -> bool {
    let at_rest = matches!(s.phase, Phase::Down | Phase::Failed | Phase::Completed);
    made && s.spec.directories.iter().any(|d| d.remove_on_stop)
        && s.want == Want::Down
        && at_rest
        && !hook_running
}

/// Remove the `remove-on-stop` directories; what could not be removed, as
/// warnings.
pub(super) fn remove(spec: &ServiceSpec) -> Vec<String> {
    (spec.directories.iter())
        .filter(|d| d.remove_on_stop)
        .filter_map(|d| match std::fs::remove_dir_all(&d.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Some(format!("cannot remove {}: {e}", d.path.display()))
            }
            _ => None,
        })
        .collect()
}
