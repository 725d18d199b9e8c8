//! One weftd in the benchmark's node netns, joined to a `dir` datastore in
//! vxlan mode: started with its log in a file, ready when it answers Status
//! ready and has written its conflist, killed by its PID when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use weft_api::{Request, Response};

use crate::netns::NsPath;
use crate::peers::CLUSTER_CIDR;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// weftd's bpffs pins: one directory per run, named after the run's dir
/// (bpffs refuses dots in names).
fn bpf_dir(dir: &Path) -> PathBuf {
    let run = dir.file_name().unwrap_or_default().to_string_lossy();
    Path::new("/sys/fs/bpf").join(format!("weft-bench-{}", run.replace('.', "")))
}

pub struct DatastoreWeftd {
    child: Child,
    dir: PathBuf,
}

impl DatastoreWeftd {
    /// Starts weftd as node `node_name` on `store` inside `netns`; files go under `dir`.
    pub fn start(
        weftd: &Path,
        netns: &NsPath,
        node_name: &str,
        store: &Path,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let path = |p: &Path| p.display().to_string();
        let log = File::create(dir.join("weftd.log")).context("creating weftd.log")?;
        let child = netns
            .command(
                &path(weftd),
                &[
                    "--node-name",
                    node_name,
                    "--datastore",
                    "dir",
                    "--datastore-dir",
                    &path(store),
                    "--cluster-cidr",
                    CLUSTER_CIDR,
                    "--mode",
                    "vxlan",
                    "--underlay-interface",
                    "eth0",
                    "--metrics-addr",
                    "off",
                    "--cni-conf-dir",
                    &path(&dir.join("net.d")),
                    "--state-dir",
                    &path(&dir.join("state")),
                    "--run-dir",
                    &path(&dir.join("run")),
                    "--bpf-dir",
                    &path(&bpf_dir(dir)),
                ],
            )?
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting weftd")?;
        let daemon = DatastoreWeftd {
            child,
            dir: dir.to_owned(),
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("weftd.log")
    }

    /// The datastore revision weftd has put in effect, if it answers.
    pub fn applied_revision(&self) -> Option<u64> {
        match weft_api::call(&self.socket(), &Request::Status, STATUS_TIMEOUT) {
            Ok(Response::Status {
                applied_revision, ..
            }) => applied_revision,
            _ => None,
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run").join(weft_api::SOCKET_FILE)
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let conflist = self.dir.join("net.d/10-weft.conflist");
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = matches!(
                weft_api::call(&self.socket(), &Request::Status, STATUS_TIMEOUT),
                Ok(Response::Status { ready: true, .. })
            );
            if ready && conflist.exists() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
                bail!("weftd was not ready within {READY_TIMEOUT:?}; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DatastoreWeftd {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(bpf_dir(&self.dir));
    }
}
