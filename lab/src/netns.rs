//! Named network namespaces (iproute2's /run/netns/NAME) and the two safe
//! ways to act inside one: a child process that enters it before exec, or a
//! dedicated thread that enters it, does one job and ends.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sched::{CloneFlags, setns};

use crate::underlay_plan::{IpBatch, Sysctl};

/// Where iproute2 keeps named netns.
const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("{what} failed: {stderr}")]
    Command { what: String, stderr: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("entering netns {path}: {source}")]
    Enter { path: String, source: nix::Error },
    #[error("a thread working in netns {0} panicked")]
    ThreadPanicked(String),
}

pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Creates the namespaces that do not exist yet.
pub fn add_all(names: &[String]) -> Result<(), NetnsError> {
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !exists(n))
        .map(|n| format!("netns add {n}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run_ip(&[], &missing, "creating network namespaces")
}

/// Deletes the namespaces that exist; deleting a netns also removes every
/// link inside it, which takes the other ends of its veths with them.
pub fn delete_all(names: &[String]) -> Result<(), NetnsError> {
    let present: Vec<String> = names
        .iter()
        .filter(|n| exists(n))
        .map(|n| format!("netns delete {n}"))
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    run_ip(&[], &present, "deleting network namespaces")
}

/// Replays one batch of `ip` commands inside its netns.
pub fn run_batch(batch: &IpBatch) -> Result<(), NetnsError> {
    run_ip(
        &["-n", &batch.netns],
        &batch.lines,
        &format!("configuring netns {}", batch.netns),
    )
}

fn run_ip(args: &[&str], lines: &[String], what: &str) -> Result<(), NetnsError> {
    let io = |source| NetnsError::Io {
        what: what.to_owned(),
        source,
    };
    let mut child = Command::new("ip")
        .args(args)
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(lines.join("\n").as_bytes()).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            what: what.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        })
    }
}

/// Opens a netns for entering.
pub fn open(netns_path: &Path) -> Result<File, NetnsError> {
    File::open(netns_path).map_err(|source| NetnsError::Io {
        what: format!("opening netns {}", netns_path.display()),
        source,
    })
}

/// Makes `command` enter `netns` between fork and exec; with `detach` it
/// also starts a new session, so it outlives the lab command that started it.
pub fn enter_before_exec(command: &mut Command, netns: File, detach: bool) {
    // SAFETY: setns and setsid are async-signal-safe, and the closure touches
    // nothing but the fd it owns.
    unsafe {
        command.pre_exec(move || {
            setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            if detach {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
}

/// Runs `job` on a fresh thread that first enters `netns_path` (setns moves
/// only the calling thread, and this thread ends with the job, so nothing
/// else ever runs in that netns by accident).
pub fn run_in<T, F>(netns_path: &Path, job: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let netns = open(netns_path)?;
    let shown = netns_path.display().to_string();
    let for_thread = shown.clone();
    std::thread::spawn(move || {
        setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
            path: for_thread,
            source,
        })?;
        Ok(job())
    })
    .join()
    .map_err(|_| NetnsError::ThreadPanicked(shown))?
}

/// Sets a sysctl inside its netns: /proc/sys/net resolves the netns of the
/// thread that opens the file.
pub fn set_sysctl(sysctl: &Sysctl) -> Result<(), NetnsError> {
    let file = Path::new("/proc/sys").join(sysctl.key);
    let value = sysctl.value;
    let shown = format!("setting {} in netns {}", sysctl.key, sysctl.netns);
    run_in(&path(&sysctl.netns), move || std::fs::write(file, value))?.map_err(|source| {
        NetnsError::Io {
            what: shown,
            source,
        }
    })
}
