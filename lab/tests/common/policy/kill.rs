//! SIGKILL to exactly a recorded process (a pidfd pins it, and the start
//! time says the PID was not reused), and waiting until it is gone.

use std::os::fd::OwnedFd;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use weft_lab::process::ProcessRecord;

use crate::common::CONVERGE;

/// Sends SIGKILL; returns the pidfd to wait on.
pub fn sigkill(process: &ProcessRecord) -> OwnedFd {
    let pid = Pid::from_raw(process.pid).expect("a valid PID");
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).expect("the process exists");
    assert!(process.is_running(), "{process:?} is not the recorded one");
    pidfd_send_signal(&pidfd, Signal::KILL).expect("SIGKILL is sent");
    pidfd
}

/// Waits until a pidfd turns readable: every thread of the process has
/// exited, so its files (weftd's API socket) are closed. A zombie group
/// leader is not enough: its other threads may still hold them.
pub fn wait_exited(pidfd: &OwnedFd) {
    let timeout = Timespec::try_from(CONVERGE).expect("a timespec");
    loop {
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(ready) => {
                assert_eq!(ready, 1, "a killed process still runs after {CONVERGE:?}");
                return;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => panic!("polling a pidfd: {err}"),
        }
    }
}
