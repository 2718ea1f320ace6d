//! inotify: watch paths, learn which watches fired. One wrapper for every
//! use (cgroup.events files, directories of awaited pid files).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One non-blocking inotify fd. Put it in epoll (readable); on a wake-up
/// call [`read_fired`](Self::read_fired).
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
    wds: BTreeSet<i32>,
}

impl Inotify {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the fd is owned right away.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Inotify {
            // SAFETY: fd was just created and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            wds: BTreeSet::new(),
        })
    }

    /// Watch `path` for `mask` (`libc::IN_*`); returns the watch descriptor
    /// (the same one for a path watched twice).
    pub fn add(&mut self, path: &Path, mask: u32) -> io::Result<i32> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a valid C string and our inotify fd.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
        }
        self.wds.insert(wd);
        Ok(wd)
    }

    /// Stop watching (harmless for a watch the kernel already ended).
    pub fn remove(&mut self, wd: i32) {
        if self.wds.remove(&wd) {
            // SAFETY: our inotify fd and a wd it returned.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Drain the fd: the watches that fired, sorted, each once. If the
    /// kernel's queue overflowed, every watch is reported.
    pub fn read_fired(&mut self) -> Vec<i32> {
        #[repr(C, align(8))]
        struct Buf([u8; 4096]);
        let mut buf = Buf([0; 4096]);
        let header = std::mem::size_of::<libc::inotify_event>();
        let mut fired = BTreeSet::new();
        let mut overflow = false;
        loop {
            // SAFETY: reading into a local buffer from our fd.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), buf.0.as_mut_ptr().cast(), buf.0.len()) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let Ok(n) = usize::try_from(n) else { break };
            if n == 0 {
                break;
            }
            let mut off = 0;
            while off + header <= n {
                // SAFETY: the header lies within the `n` bytes read;
                // read_unaligned copes with any offset.
                let ev: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buf.0.as_ptr().add(off).cast()) };
                if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                    overflow = true;
                } else if ev.mask & libc::IN_IGNORED != 0 {
                    self.wds.remove(&ev.wd);
                } else if self.wds.contains(&ev.wd) {
                    fired.insert(ev.wd);
                }
                off += header + ev.len as usize;
            }
        }
        if overflow {
            fired.extend(self.wds.iter().copied());
        }
        fired.into_iter().collect()
    }
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
