//! Work inside a network namespace on a dedicated thread: the thread
//! enters it, does its one job and ends (setns moves only the calling
//! thread, so no other thread ever finds itself in another namespace).

use std::os::fd::AsFd;
use std::thread::JoinHandle;

use anyhow::{Context, anyhow};
use nix::sched::{CloneFlags, setns};

use crate::netns::NsPath;

/// Runs `job` on a new thread that has entered `netns`, and waits for it.
pub fn run_job<T: Send>(
    netns: &NsPath,
    job: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    let file = netns.open()?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(file.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the netns")?;
            job()
        })
        .join()
        .map_err(|_| anyhow!("a thread working in {} panicked", netns.0.display()))?
    })
}

/// Starts `job` on a new thread that has entered `netns`.
pub fn spawn_job<T: Send + 'static>(
    netns: &NsPath,
    job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<JoinHandle<anyhow::Result<T>>> {
    let file = netns.open()?;
    Ok(std::thread::spawn(move || {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).context("entering the netns")?;
        job()
    }))
}
