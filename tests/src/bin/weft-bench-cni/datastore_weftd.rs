//! A weftd on a `dir` datastore in a node namespace of this run (vxlan mode
//! over a veth standing for the underlay NIC, metrics on the namespace's
//! loopback): started with its log in a file, ready when it answers Status
//! ready and has written its conflist, killed by its PID when dropped.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use weft_api::{Request, Response};
use weft_tests::{Netns, binary, unique_name};

/// The cluster CIDR; the node claims a /24 of it, far from the synthetic
/// cluster's pod addresses (10.0-99.x.x).
const CLUSTER_CIDR: &str = "10.200.0.0/16";
const METRICS_ADDR: &str = "127.0.0.1:9968";
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Between two looks at weftd's status while waiting.
const POLL_EVERY: Duration = Duration::from_millis(5);

pub struct DatastoreWeftd {
    child: Child,
    dir: PathBuf,
    bpf_dir: PathBuf,
}

impl DatastoreWeftd {
    /// Starts weftd as node `node_name` on the datastore at `store` inside
    /// `node` (given an `eth0` here); its files go under `dir`.
    pub fn start(node: &Netns, node_name: &str, store: &Path, dir: &Path) -> anyhow::Result<Self> {
        for argv in [
            &[
                "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer",
            ][..],
            &["ip", "link", "set", "eth0peer", "up"],
            &["ip", "addr", "add", "198.18.0.1/15", "dev", "eth0"],
            &["ip", "link", "set", "eth0", "up"],
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        ] {
            node.exec_ok(argv);
        }
        let bpf_dir = Path::new("/sys/fs/bpf").join(unique_name("weftd"));
        let log = File::create(dir.join("weftd.log")).context("creating weftd.log")?;
        let mut command = Command::new(binary("weftd"));
        command
            .args(["--node-name", node_name, "--datastore", "dir"])
            .arg("--datastore-dir")
            .arg(store)
            .args(["--cluster-cidr", CLUSTER_CIDR, "--mode", "vxlan"])
            .args([
                "--underlay-interface",
                "eth0",
                "--metrics-addr",
                METRICS_ADDR,
            ])
            .arg("--cni-conf-dir")
            .arg(dir.join("net.d"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--run-dir")
            .arg(dir.join("run"))
            .arg("--bpf-dir")
            .arg(&bpf_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let node_ns = node.file();
        // SAFETY: setns is async-signal-safe; the closure uses only its fd.
        unsafe {
            command.pre_exec(move || {
                setns(node_ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        let child = command.spawn().context("starting weftd")?;
        let daemon = DatastoreWeftd {
            child,
            dir: dir.to_owned(),
            bpf_dir,
        };
        daemon.wait_until("ready", || {
            let ready = matches!(
                weft_api::call(&daemon.socket(), &Request::Status, STATUS_TIMEOUT),
                Ok(Response::Status { ready: true, .. })
            );
            ready && daemon.conflist_path().exists()
        })?;
        Ok(daemon)
    }

    /// Waits until weftd reports datastore revision `revision` applied.
    pub fn wait_applied(&self, revision: u64) -> anyhow::Result<()> {
        self.wait_until(&format!("revision {revision} applied"), || {
            self.applied_revision().is_some_and(|r| r >= revision)
        })
    }

    /// The `weft` plugin entry of weftd's conflist, as a runtime passes it.
    pub fn plugin_conf(&self) -> anyhow::Result<Value> {
        let path = self.conflist_path();
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let conflist: Value = serde_json::from_slice(&text).context("the conflist is JSON")?;
        let mut conf = conflist["plugins"][0].clone();
        conf["cniVersion"] = json!("1.0.0");
        conf["name"] = json!("weft");
        Ok(conf)
    }

    /// (count, sum in seconds) of weft_policy_compile_seconds, scraped from
    /// inside `node`.
    pub fn compile_seconds(&self, node: &Netns) -> anyhow::Result<(u64, f64)> {
        let text = node.run(|| -> anyhow::Result<String> {
            let mut stream = TcpStream::connect(METRICS_ADDR).context("connecting to /metrics")?;
            stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: weftd\r\n\r\n")?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        })?;
        let value = |name: &str| {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} ")));
            line.and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        };
        match (
            value("weft_policy_compile_seconds_count"),
            value("weft_policy_compile_seconds_sum"),
        ) {
            (Some(count), Some(sum)) => Ok((count as u64, sum)),
            _ => bail!("no weft_policy_compile_seconds in weftd's metrics:\n{text}"),
        }
    }

    fn applied_revision(&self) -> Option<u64> {
        match weft_api::call(&self.socket(), &Request::Status, STATUS_TIMEOUT) {
            Ok(Response::Status {
                applied_revision, ..
            }) => applied_revision,
            _ => None,
        }
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while !done() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("weftd.log")).unwrap_or_default();
                bail!("weftd was not {what} within {READY_TIMEOUT:?}; its log:\n{log}");
            }
            std::thread::sleep(POLL_EVERY);
        }
        Ok(())
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run").join(weft_api::SOCKET_FILE)
    }

    fn conflist_path(&self) -> PathBuf {
        self.dir.join("net.d/10-weft.conflist")
    }
}

impl Drop for DatastoreWeftd {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        // The pins hold the programs attached; without them they go.
        let _ = std::fs::remove_dir_all(&self.bpf_dir);
    }
}
