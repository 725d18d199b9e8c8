//! Running commands inside a named network namespace: the child enters it
//! before exec, so nothing else of this process changes namespace.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use nix::sched::{CloneFlags, setns};

/// A named netns (`/run/netns/NAME`), opened when used.
#[derive(Debug, Clone)]
pub struct NsPath(pub PathBuf);

impl NsPath {
    pub fn named(name: &str) -> Self {
        NsPath(Path::new("/run/netns").join(name))
    }

    pub fn open(&self) -> anyhow::Result<File> {
        File::open(&self.0).with_context(|| format!("opening netns {}", self.0.display()))
    }

    /// `program args...` that runs inside this netns.
    pub fn command(&self, program: &str, args: &[&str]) -> anyhow::Result<Command> {
        let netns = self.open()?;
        let mut command = Command::new(program);
        command.args(args);
        // SAFETY: setns is async-signal-safe; the closure uses only its fd.
        unsafe {
            command.pre_exec(move || {
                setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        Ok(command)
    }

    /// Runs a command in this netns; its stdout, or an error with its stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command(program, args)?
            .output()
            .with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            return Err(anyhow!(
                "{program} {args:?} in {} failed: {}",
                self.0.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
