//! tend's CPU time slice. tend does little work per wake-up but is on the
//! path of everything (a restart, a spawn, an event), so it asks the fair
//! scheduler (EEVDF, Linux 6.12+) for a short slice: a woken tend, or a
//! child it has just cloned, gets the CPU soon even when services keep
//! every core busy. Its children get the default slice back before exec.

/// `struct sched_attr` (`sched_setattr(2)`), up to the utilization clamps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// The slice tend asks for: the shortest the kernel accepts.
const SLICE_NS: u64 = 100_000;

fn get() -> Option<SchedAttr> {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as libc::c_uint;
    // SAFETY: the kernel writes at most `size` bytes into `a`.
    let r = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a, size, 0) };
    (r == 0).then_some(a)
}

/// Set the calling thread's attributes; raw syscall, so it may also run in
/// a child that shares tend's memory.
pub fn set(a: &SchedAttr) -> bool {
    // SAFETY: `a` is a valid sched_attr of the size it says.
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, a as *const SchedAttr, 0) == 0 }
}

/// Ask for a short slice if tend runs under the fair scheduler (normal or
/// batch policy). Returns what a child must set to get the default slice
/// back (same policy and nice), or None where nothing was changed (older
/// kernels, a real-time policy, a refusal).
pub fn shorten_own_slice() -> Option<SchedAttr> {
    let mut a = get()?;
    if !matches!(a.policy as i32, libc::SCHED_OTHER | libc::SCHED_BATCH) {
        return None;
    }
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // Utilization clamps are left alone (not asked for).
    const SCHED_FLAG_UTIL_CLAMP: u64 = 0x20 | 0x40;
    a.flags &= !SCHED_FLAG_UTIL_CLAMP;
    let mut short = a;
    short.runtime = SLICE_NS;
    if !set(&short) || get().map(|g| g.runtime) != Some(SLICE_NS) {
        return None;
    }
    a.runtime = 0;
    Some(a)
}
