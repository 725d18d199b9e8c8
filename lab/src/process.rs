//! Processes the lab starts and later stops: weftds, pod port servers and the
//! world server. Each is started detached inside a netns and recorded as
//! (PID, start time), so a later `down` stops exactly that process even if
//! the PID was reused; stopping goes through a pidfd, so no race either.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use serde::{Deserialize, Serialize};

use crate::netns;

/// A process the lab started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRecord {
    pub pid: i32,
    /// Field 22 of /proc/PID/stat: tells this process from a later one
    /// that reuses its PID.
    pub start_time: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("process {0} is gone before it could be recorded")]
    Vanished(i32),
    #[error("{program} did not report ready: {reason}; see {log}")]
    NotReady {
        program: String,
        reason: String,
        log: String,
    },
    #[error("process {pid} did not exit after SIGKILL")]
    Unkillable { pid: i32 },
}

/// What /proc/PID/stat says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    pub state: char,
    pub start_time: u64,
}

/// Parses /proc/PID/stat; the command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat(stat: &str) -> Option<StatFields> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3), start time is field 22: 18 fields further.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(StatFields { state, start_time })
}

fn read_stat(pid: i32) -> Option<StatFields> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

impl ProcessRecord {
    pub fn of(pid: i32) -> Result<Self, ProcessError> {
        let stat = read_stat(pid).ok_or(ProcessError::Vanished(pid))?;
        Ok(Self {
            pid,
            start_time: stat.start_time,
        })
    }

    /// Whether this very process still runs (a zombie does not).
    pub fn is_running(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }

    /// Whether this very process has died but not yet been fully torn down.
    fn is_exiting(&self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start_time == self.start_time && s.state == 'Z')
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once it has exited.
    /// A process that is already gone is fine.
    pub fn stop(&self, grace: Duration) -> Result<(), ProcessError> {
        let Some(raw) = Pid::from_raw(self.pid) else {
            return Ok(());
        };
        let Ok(pidfd) = pidfd_open(raw, PidfdFlags::empty()) else {
            return Ok(());
        };
        // The pidfd pins the process: if the start time matches now, every
        // signal below reaches this process and no other.
        if !self.is_running() {
            if self.is_exiting() {
                // A killed process is a zombie before all its threads have
                // let go of its files (a weftd's API socket among them).
                wait_exit(&pidfd, Duration::from_secs(5));
            }
            return Ok(());
        }
        let _ = pidfd_send_signal(&pidfd, Signal::TERM);
        if wait_exit(&pidfd, grace) {
            return Ok(());
        }
        let _ = pidfd_send_signal(&pidfd, Signal::KILL);
        if wait_exit(&pidfd, Duration::from_secs(5)) {
            Ok(())
        } else {
            Err(ProcessError::Unkillable { pid: self.pid })
        }
    }
}

/// Waits until the pidfd turns readable (the process exited).
fn wait_exit(pidfd: &impl AsFd, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timespec = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec)) {
            Ok(n) if n > 0 => return true,
            Ok(_) => return false,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// A program to start detached inside a netns, logging to a file.
#[derive(Debug, Clone)]
pub struct DetachedSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub netns: PathBuf,
    pub log: PathBuf,
    /// Environment variables set on the program (after the lab's own
    /// WEFT_* ones are taken away).
    pub env: Vec<(String, String)>,
    /// The program prints "ready" on stdout once it serves; wait for that.
    pub await_ready_line: Option<Duration>,
}

/// The line a detached program prints on stdout once it serves.
pub const READY_LINE: &str = "ready";

/// Starts the program in its own session inside the netns, stderr (and
/// stdout unless a ready line is awaited) appended to the log file.
pub fn spawn_detached(spec: &DetachedSpec) -> Result<ProcessRecord, ProcessError> {
    let program = spec.program.display().to_string();
    let log = open_log(&spec.log)?;
    let mut command = Command::new(&spec.program);
    command.args(&spec.args).stdin(Stdio::null());
    // weftd takes WEFT_* variables as flags; the lab passes every setting
    // it means, so none may leak in from whoever runs the lab.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WEFT_") {
            command.env_remove(name);
        }
    }
    command.envs(spec.env.iter().map(|(name, value)| (name, value)));
    if spec.await_ready_line.is_some() {
        command.stdout(Stdio::piped());
    } else {
        command.stdout(clone_log(&log, &spec.log)?);
    }
    command.stderr(log);
    netns::enter_before_exec(&mut command, netns::open(&spec.netns)?, true);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
        program: program.clone(),
        source,
    })?;
    let record = ProcessRecord::of(child.id() as i32)?;
    if let (Some(timeout), Some(stdout)) = (spec.await_ready_line, child.stdout.take())
        && let Err(reason) = await_ready(stdout, timeout)
    {
        let _ = record.stop(Duration::from_secs(1));
        let _ = child.wait();
        return Err(ProcessError::NotReady {
            program,
            reason,
            log: spec.log.display().to_string(),
        });
    }
    Ok(record)
}

fn open_log(path: &Path) -> Result<File, ProcessError> {
    let io = |source| ProcessError::Io {
        what: format!("opening log {}", path.display()),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)
}

fn clone_log(log: &File, path: &Path) -> Result<File, ProcessError> {
    log.try_clone().map_err(|source| ProcessError::Io {
        what: format!("sharing log {}", path.display()),
        source,
    })
}

/// Reads the child's first stdout line on a helper thread, so a child that
/// hangs before printing cannot hang the lab past `timeout`.
fn await_ready(stdout: ChildStdout, timeout: Duration) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(line)) if line.trim() == READY_LINE => Ok(()),
        Ok(Ok(line)) if line.is_empty() => Err("it exited".into()),
        Ok(Ok(line)) => Err(format!("it printed {:?}", line.trim())),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "1234 (we ird) p) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    1 2 0 0 20 0 1 0 987654 1000000 100 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(StatFields {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn the_running_test_process_is_recorded_and_seen_running() {
        let me = ProcessRecord::of(std::process::id() as i32).unwrap();
        assert!(me.is_running());
        let reused = ProcessRecord {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(
            !reused.is_running(),
            "a different start time is another process"
        );
    }

    #[test]
    fn stop_terminates_a_child_and_tolerates_a_gone_one() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let record = ProcessRecord::of(child.id() as i32).unwrap();
        assert!(record.is_running());
        record.stop(Duration::from_secs(5)).unwrap();
        child.wait().unwrap();
        assert!(!record.is_running());
        record.stop(Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn a_process_with_a_reused_pid_is_left_alone() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let real = ProcessRecord::of(child.id() as i32).unwrap();
        let stale = ProcessRecord {
            start_time: real.start_time.wrapping_sub(1),
            ..real
        };
        stale.stop(Duration::from_millis(100)).unwrap();
        assert!(real.is_running());
        real.stop(Duration::from_secs(5)).unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn ready_line_is_required() {
        let mut child = Command::new("sh")
            .args(["-c", "echo ready; sleep 5"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        assert_eq!(await_ready(stdout, Duration::from_secs(5)), Ok(()));
        child.kill().unwrap();
        child.wait().unwrap();

        let mut child = Command::new("sh")
            .args(["-c", "echo nope"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        assert_eq!(
            await_ready(stdout, Duration::from_secs(5)),
            Err("it printed \"nope\"".into())
        );
        child.wait().unwrap();
    }
}
