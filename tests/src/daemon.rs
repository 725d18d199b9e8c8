//! A real weftd for a test: started in the test's node namespace with its
//! own directories, ready when its socket answers Status, killed by PID.

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tempfile::TempDir;
use weft_api::{Request, Response};

use crate::{Netns, binary, eventually};

pub struct Weftd {
    child: Child,
    pub dir: TempDir,
    /// The bpffs directory of its pinned maps and links, removed on drop.
    pub bpf_dir: PathBuf,
}

/// Where tests' weftds pin their datapath: one directory per weftd.
const BPF_ROOT: &str = "/sys/fs/bpf";

impl Weftd {
    /// Starts weftd for `pod_cidrs` ("10.x.0.0/24[,fd00::/64]") inside `node`
    /// and waits until it serves its API and has written the conflist.
    pub fn start(node: &Netns, pod_cidrs: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bpf_dir = Path::new(BPF_ROOT).join(crate::unique_name("weftd"));
        let node_ns = node.file();
        let mut command = Command::new(binary("weftd"));
        command
            .args([
                "--node-name",
                "n1",
                "--pod-cidr",
                pod_cidrs,
                "--metrics-addr",
                "off",
            ])
            .arg("--cni-conf-dir")
            .arg(dir.path().join("net.d"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--bpf-dir")
            .arg(&bpf_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: setns is async-signal-safe; the closure uses only its fd.
        unsafe {
            command.pre_exec(move || {
                setns(node_ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        let child = command.spawn().expect("weftd starts");
        let daemon = Self {
            child,
            dir,
            bpf_dir,
        };
        daemon.wait_ready();
        daemon
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join(weft_api::SOCKET_FILE)
    }

    pub fn conflist_path(&self) -> PathBuf {
        self.dir.path().join("net.d/10-weft.conflist")
    }

    /// The `weft` plugin entry of the conflist weftd wrote.
    pub fn plugin_conf(&self) -> Value {
        let conflist: Value = serde_json::from_slice(
            &std::fs::read(self.conflist_path()).expect("conflist is written when ready"),
        )
        .expect("conflist is JSON");
        conflist["plugins"][0].clone()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops weftd now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    fn wait_ready(&self) {
        assert!(
            eventually(Duration::from_secs(20), || {
                self.conflist_path().exists() && status_ready(&self.socket())
            }),
            "weftd did not become ready in 20 s"
        );
    }
}

fn status_ready(socket: &Path) -> bool {
    matches!(
        weft_api::call(socket, &Request::Status, Duration::from_secs(1)),
        Ok(Response::Status { ready: true, .. })
    )
}

impl Drop for Weftd {
    fn drop(&mut self) {
        self.kill();
        // The pins hold the programs attached; without them they go.
        let _ = std::fs::remove_dir_all(&self.bpf_dir);
    }
}
