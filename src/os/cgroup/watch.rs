//! inotify on `cgroup.events` files: how the epoll loop learns that a
//! service's cgroup became empty, without polling.

use crate::os::inotify::Inotify;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::Path;

/// One non-blocking inotify fd watching `cgroup.events` files for
/// `IN_MODIFY` (the kernel raises it when `populated` or `frozen` changes).
/// Put [`as_raw_fd`](Self::as_raw_fd) in epoll (readable); on a wake-up call
/// [`read_changed`](Self::read_changed) and re-read `populated` of those.
#[derive(Debug)]
pub struct EventsWatch(Inotify);

impl EventsWatch {
    pub fn new() -> io::Result<Self> {
        Inotify::new().map(EventsWatch)
    }

    /// Watch a `cgroup.events` file; returns its watch descriptor. Watching
    /// the same file twice returns the same wd. Check `populated` after
    /// adding: a change before the watch existed raised nothing.
    pub fn add(&mut self, path: &Path) -> io::Result<i32> {
        self.0.add(path, libc::IN_MODIFY)
    }

    /// Stop watching. (A watch also ends by itself when its cgroup is
    /// removed; removing it again is harmless.)
    pub fn remove(&mut self, wd: i32) {
        self.0.remove(wd)
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// The watches whose file changed, sorted, each once (all of them if
    /// the kernel's queue overflowed).
    pub fn read_changed(&mut self) -> Vec<i32> {
        self.0.read_fired()
    }
}

impl AsFd for EventsWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
