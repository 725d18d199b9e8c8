//! Test harness shared by the integration tests (run as root): a "node"
//! netns the plugin runs in (so the host end of every veth lands there,
//! never in the machine's own netns; namespaces are weft-tests' `Netns`),
//! and helpers to run the built `weft` binary the way a runtime does.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tempfile::TempDir;
use weft_ipam::{Attachment, IpamStore};
pub use weft_tests::Netns;

/// Pod subnets used by the tests; they only exist inside test namespaces.
pub const POD_SUBNET_V4: &str = "198.19.0.0/24";
pub const POD_SUBNET_V6: &str = "fd00:77::/64";
/// The node's own addresses (on its loopback), used as ping sources.
pub const NODE_IP_V4: &str = "198.18.0.1";
pub const NODE_IP_V6: &str = "fd00:198::1";

/// What one plugin invocation printed and how it exited.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
}

impl Outcome {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {:?}", self.stdout))
    }

    /// The CNI error code; panics if the invocation succeeded.
    pub fn error_code(&self) -> u64 {
        assert!(!self.success, "expected failure, got {}", self.stdout);
        self.json()["code"].as_u64().unwrap()
    }

    /// Asserts success and returns the parsed result (or Null if empty).
    pub fn ok(&self) -> Value {
        assert!(self.success, "plugin failed: {}", self.stdout);
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// One attachment's invocation environment.
#[derive(Clone)]
pub struct Attach<'a> {
    pub container_id: &'a str,
    pub ifname: &'a str,
    pub netns: Option<String>,
}

/// A node: its netns (with addresses on lo to ping from) and an IPAM dir.
pub struct Node {
    pub ns: Netns,
    pub ipam: TempDir,
}

impl Node {
    pub fn new() -> Node {
        let ns = Netns::new("node");
        ns.ip(&["addr", "add", &format!("{NODE_IP_V4}/32"), "dev", "lo"]);
        ns.ip(&["addr", "add", &format!("{NODE_IP_V6}/128"), "dev", "lo"]);
        Node {
            ns,
            ipam: tempfile::tempdir().unwrap(),
        }
    }

    pub fn ipam_dir(&self) -> &Path {
        self.ipam.path()
    }

    /// A standalone config with the IPv4 test subnet; `extra` keys are merged in.
    pub fn conf(&self, version: &str, extra: Value) -> Value {
        let mut conf = json!({
            "cniVersion": version,
            "name": "weft-test",
            "type": "weft",
            "standalone": true,
            "subnet": POD_SUBNET_V4,
            "ipamDir": self.ipam_dir(),
        });
        for (key, value) in extra.as_object().unwrap() {
            conf[key] = value.clone();
        }
        conf
    }

    /// Runs the plugin inside the node netns, like a runtime would.
    pub fn weft(&self, command: &str, attach: Option<&Attach>, stdin: &str) -> Outcome {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, env!("CARGO_BIN_EXE_weft")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CNI_COMMAND", command)
            .env("CNI_PATH", "/opt/cni/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(attach) = attach {
            cmd.env("CNI_CONTAINERID", attach.container_id)
                .env("CNI_IFNAME", attach.ifname)
                .env("CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=test");
            if let Some(netns) = &attach.netns {
                cmd.env("CNI_NETNS", netns);
            }
        }
        let mut child = cmd.spawn().expect("weft starts");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Outcome {
            success: out.status.success(),
            stdout: String::from_utf8(out.stdout).unwrap(),
        }
    }

    pub fn reservations(&self) -> Vec<Attachment> {
        IpamStore::open(self.ipam_dir()).unwrap().list().unwrap()
    }

    /// Host veths weft created in the node netns, with whether each is up.
    pub fn weft_links(&self) -> Vec<(String, bool)> {
        self.ns
            .link_details()
            .iter()
            .filter_map(|link| {
                let name = link["ifname"].as_str()?;
                let up = link["flags"]
                    .as_array()
                    .is_some_and(|flags| flags.iter().any(|f| f == "UP"));
                name.starts_with("weft").then(|| (name.to_string(), up))
            })
            .collect()
    }

    /// Pod IPs with a route in the node netns.
    pub fn routed_pod_ips(&self) -> HashSet<String> {
        let mut routed: HashSet<String> = HashSet::new();
        for family in ["-4", "-6"] {
            for dst in self.ns.route_destinations(family) {
                let ip = dst.split('/').next().unwrap().to_string();
                if ip.starts_with("198.19.") || ip.starts_with("fd00:77:") {
                    routed.insert(ip);
                }
            }
        }
        routed
    }

    /// Busybox ping from the node netns.
    pub fn pings(&self, ip: &str) -> bool {
        self.ns
            .exec(&["busybox", "ping", "-c1", "-W2", ip])
            .status
            .success()
    }
}

/// The pod IPs (without prefix) an ADD result assigns to interface `index`.
pub fn result_ips(result: &Value) -> Vec<IpAddr> {
    result["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| {
            ip["address"]
                .as_str()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// Adds `prevResult` to a config (for CHECK and chained ADD).
pub fn with_prev_result(mut conf: Value, prev: &Value) -> String {
    conf["prevResult"] = prev.clone();
    conf.to_string()
}

pub fn temp_socket_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("weftd.sock");
    (dir, socket)
}

/// A stand-in for weftd on a unix socket: records each request and answers
/// with `reply(request)`.
pub struct FakeWeftd {
    pub socket: PathBuf,
    requests: std::sync::Arc<std::sync::Mutex<Vec<weft_api::Request>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl FakeWeftd {
    pub fn start(
        reply: impl Fn(&weft_api::Request) -> weft_api::Response + Send + 'static,
    ) -> FakeWeftd {
        use std::io::{BufRead, BufReader};
        use std::os::unix::net::UnixListener;

        let (dir, socket) = temp_socket_dir();
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                if BufReader::new(&stream).read_line(&mut line).is_err() {
                    continue;
                }
                let Ok(request) = serde_json::from_str::<weft_api::Request>(&line) else {
                    continue;
                };
                let mut answer = serde_json::to_vec(&reply(&request)).unwrap();
                answer.push(b'\n');
                seen.lock().unwrap().push(request);
                let _ = stream.write_all(&answer);
            }
        });
        FakeWeftd {
            socket,
            requests,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn requests(&self) -> Vec<weft_api::Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeWeftd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
