//! Opening the pod's network namespace and running work inside it on a
//! dedicated thread: `setns` moves only the calling thread, so the thread
//! that enters a pod netns does nothing else and ends with that work.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use nix::sched::CloneFlags;
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use super::KernelError;

/// Why `CNI_NETNS` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("{} is not a network namespace", .0.display())]
    NotANetns(PathBuf),
    #[error("{} is the plugin's own network namespace", .0.display())]
    OwnNetns(PathBuf),
    #[error("opening {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Opens `path` and checks it is a network namespace other than ours.
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    let io = |source| NetnsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|err| match err.kind() {
        ErrorKind::NotFound => NetnsError::NotFound(path.to_path_buf()),
        _ => io(err),
    })?;
    let is_nsfs = fstatfs(&file)
        .map_err(|errno| io(errno.into()))?
        .filesystem_type()
        == NSFS_MAGIC;
    if !is_nsfs {
        return Err(NetnsError::NotANetns(path.to_path_buf()));
    }
    let theirs = file.metadata().map_err(io)?;
    let ours = std::fs::metadata("/proc/thread-self/ns/net").map_err(io)?;
    if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
        return Err(NetnsError::OwnNetns(path.to_path_buf()));
    }
    Ok(OwnedFd::from(file))
}

/// A thread working inside a pod netns.
pub struct NetnsThread<T>(JoinHandle<Result<T, KernelError>>);

/// Starts a thread that enters `netns` and runs `work` there.
pub fn spawn_in<T: Send + 'static>(
    netns: OwnedFd,
    work: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<NetnsThread<T>, KernelError> {
    std::thread::Builder::new()
        .name("weft-pod-netns".into())
        .spawn(move || {
            nix::sched::setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(KernelError::Setns)?;
            drop(netns);
            work()
        })
        .map(NetnsThread)
        .map_err(|err| KernelError::Thread(format!("cannot start: {err}")))
}

impl<T> NetnsThread<T> {
    pub fn join(self) -> Result<T, KernelError> {
        self.0
            .join()
            .map_err(|_| KernelError::Thread("panicked".into()))?
    }
}

/// Runs `work` inside `netns` and waits for it.
pub fn run_in<T: Send + 'static>(
    netns: OwnedFd,
    work: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    spawn_in(netns, work)?.join()
}
