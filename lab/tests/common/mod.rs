//! Shared by the lab's root tests (lab, modes, resilience and the policy
//! ones): a lab that is always taken down, what a node's kernel holds of
//! Weft's node network, bounded polling, and the check that `down` leaves
//! nothing behind; `policy` holds what the policy tests and resilience use.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod pod_per_node;
pub mod policy;
pub mod transfer;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_datastore::DirStore;
use weft_lab::process::ProcessRecord;
use weft_lab::state::LabState;

pub const LAB_BIN: &str = env!("CARGO_BIN_EXE_weft-lab");
/// Where the lab keeps its state (LAB.md; lab/src/names.rs).
const STATE_ROOT: &str = "/run/weft-lab";
/// Longest any convergence in these tests may take.
pub const CONVERGE: Duration = Duration::from_secs(15);
/// Routes weftd owns carry this protocol number.
pub const WEFT_ROUTE_PROTO: &str = "87";
pub const VXLAN_DEVICE: &str = "weft.vxlan";

/// A lab that is taken down when dropped, pass or fail.
pub struct TestLab {
    pub name: String,
}

impl TestLab {
    /// `weft-lab up` with `args` for a lab named after this test process and
    /// `tag` (a short DNS-label suffix, unique within the test binary).
    pub fn up(tag: &str, args: &[&str]) -> Self {
        Self::up_with_env(tag, args, &[])
    }

    /// `up` with `env` added to the environment of `weft-lab up`, which
    /// the daemons it starts inherit.
    pub fn up_with_env(tag: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        for sibling in ["weft", "weftd"] {
            let path = Path::new(LAB_BIN).with_file_name(sibling);
            assert!(
                path.exists(),
                "{} is not built: run `cargo build --workspace` first",
                path.display()
            );
        }
        let lab = TestLab {
            name: format!("w{}{tag}", std::process::id()),
        };
        // Tests that do not say which datastore run on the fast one.
        let datastore: &[&str] = if args.contains(&"--datastore") {
            &[]
        } else {
            &["--datastore", "dir"]
        };
        let output = Command::new(LAB_BIN)
            .args(["--name", &lab.name, "up"])
            .args(args)
            .args(datastore)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("weft-lab runs");
        succeeded("weft-lab up", output);
        lab
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(LAB_BIN)
            .args(["--name", &self.name])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weft-lab runs");
        let mut input = child.stdin.take().expect("stdin is piped");
        input
            .write_all(stdin.as_bytes())
            .expect("weft-lab reads stdin");
        drop(input);
        child.wait_with_output().expect("weft-lab exits")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&format!("weft-lab {args:?}"), self.run(args))
    }

    /// Runs a command with `stdin` that must succeed; returns its stdout.
    pub fn ok_with_stdin(&self, args: &[&str], stdin: &str) -> String {
        succeeded(
            &format!("weft-lab {args:?}"),
            self.run_with_stdin(args, stdin),
        )
    }

    /// `weft-lab apply` of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) {
        succeeded("weft-lab apply", self.try_apply(yaml));
    }

    /// `weft-lab apply` of `yaml`, which may fail.
    pub fn try_apply(&self, yaml: &str) -> Output {
        self.run_with_stdin(&["apply", "-f", "-"], yaml)
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "-o", "json"])).expect("status is JSON")
    }

    pub fn matrix(&self, proto: &str, port: u16) -> Value {
        let port = port.to_string();
        let out = self.ok(&["matrix", "--port", &port, "--proto", proto, "-o", "json"]);
        serde_json::from_str(&out).expect("matrix is JSON")
    }

    pub fn dir(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(&self.name)
    }

    pub fn state(&self) -> LabState {
        LabState::load(&self.dir().join("state.json"))
            .expect("state is readable")
            .expect("the lab has state")
    }

    /// The lab's datastore: the directory every weftd watches.
    pub fn store(&self) -> DirStore {
        DirStore::open(&self.dir().join("store")).expect("the lab's datastore opens")
    }

    /// The pod's netns, wired by the lab (dir datastore) or by its node's
    /// kubelet stand-in (kubernetes datastore).
    pub fn pod_netns(&self, pod: &str) -> PathBuf {
        let (namespace, name) = pod.split_once('/').expect("ns/name");
        let lab = weft_lab::lab::Lab::new(self.name.parse().expect("a lab name"));
        let state = lab.state_with_pods().expect("the lab's state is readable");
        let record = state.pod(namespace, name).expect("the pod is wired");
        Path::new("/run/netns").join(&record.netns)
    }

    /// The non-empty, trimmed lines a command prints in a node's netns.
    pub fn node_lines(&self, node: &str, command: &[&str]) -> Vec<String> {
        let mut args = vec!["exec", "--node", node, "--"];
        args.extend_from_slice(command);
        lines(&self.ok(&args))
    }

    pub fn weft_routes(&self, node: &str) -> Vec<String> {
        self.node_lines(node, &["ip", "route", "show", "proto", WEFT_ROUTE_PROTO])
    }

    pub fn vxlan_neighbours(&self, node: &str) -> Vec<String> {
        self.node_lines(node, &["ip", "neigh", "show", "dev", VXLAN_DEVICE])
    }

    pub fn vxlan_fdb(&self, node: &str) -> Vec<String> {
        self.node_lines(node, &["bridge", "fdb", "show", "dev", VXLAN_DEVICE])
    }

    /// What a node holds of Weft's node network, each list sorted (so a
    /// duplicate shows as an extra line).
    pub fn node_network(&self, node: &str) -> NodeNetwork {
        let sorted = |mut lines: Vec<String>| {
            lines.sort();
            lines
        };
        NodeNetwork {
            routes: sorted(self.weft_routes(node)),
            neighbours: sorted(self.vxlan_neighbours(node)),
            fdb: sorted(self.vxlan_fdb(node)),
            device: self.node_lines(node, &["ip", "-o", "link", "show", "dev", VXLAN_DEVICE]),
            nft: self.node_lines(node, &["nft", "list", "table", "inet", "weft"]),
        }
    }

    pub fn netns_of_lab(&self) -> Vec<String> {
        let prefix = format!("{}-", self.name);
        std::fs::read_dir("/run/netns")
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes the lab down and checks that nothing of it is left: no netns,
    /// no process it started or that ran in one of its netns, no state
    /// directory, no link or bpffs pin named after it. `down` stays safe.
    pub fn down_leaves_nothing(&self) {
        let recorded = self.state().all_processes();
        assert!(!recorded.is_empty());
        let inside = processes_in_netns(&self.netns_of_lab());
        assert!(
            inside.len() >= recorded.len(),
            "every recorded process runs in a lab netns: {inside:?} vs {recorded:?}"
        );
        self.ok(&["down"]);
        assert!(self.netns_of_lab().is_empty(), "{:?}", self.netns_of_lab());
        let alive: Vec<_> = recorded
            .iter()
            .chain(&inside)
            .filter(|p| p.is_running())
            .collect();
        assert!(alive.is_empty(), "still running after down: {alive:?}");
        assert!(!self.dir().exists(), "{} is left", self.dir().display());
        let links = lines(&succeeded(
            "ip link",
            Command::new("ip")
                .args(["-o", "link", "show"])
                .output()
                .expect("ip runs"),
        ));
        let named: Vec<_> = links.iter().filter(|l| l.contains(&self.name)).collect();
        assert!(named.is_empty(), "links left: {named:?}");
        let pins = paths_named(Path::new("/sys/fs/bpf"), &self.name);
        assert!(pins.is_empty(), "pins left: {pins:?}");
        self.ok(&["down"]);
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

/// The node network state a node holds (see `TestLab::node_network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeNetwork {
    pub routes: Vec<String>,
    pub neighbours: Vec<String>,
    pub fdb: Vec<String>,
    /// The device itself (its index shows whether it was made anew).
    pub device: Vec<String>,
    pub nft: Vec<String>,
}

fn succeeded(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every process whose netns is one of the named ones (read while they
/// exist, so their inode numbers cannot have been reused yet).
fn processes_in_netns(names: &[String]) -> Vec<ProcessRecord> {
    let links: BTreeSet<String> = names
        .iter()
        .filter_map(|n| std::fs::metadata(Path::new("/run/netns").join(n)).ok())
        .map(|m| format!("net:[{}]", m.ino()))
        .collect();
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    proc_dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|l| links.contains(l.to_string_lossy().as_ref()))
        })
        .filter_map(|pid| ProcessRecord::of(pid).ok())
        .collect()
}

/// Paths under `root` (recursively) whose file name contains `needle`.
fn paths_named(root: &Path, needle: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.filter_map(|e| e.ok()) {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(needle) {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(paths_named(&path, needle));
        }
    }
    found
}

/// Polls `probe` until it returns `Ok`, for at most `timeout`; panics with
/// the last observation (its `Err`) otherwise. The pause between polls only paces them.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not so after {timeout:?}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The pod's entry in the lab's status, if it is listed.
pub fn find_pod<'a>(status: &'a Value, pod: &str) -> Option<&'a Value> {
    let (namespace, name) = pod.split_once('/').expect("ns/name");
    status["pods"]
        .as_array()
        .expect("pods")
        .iter()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
}

pub fn pod_entry<'a>(status: &'a Value, pod: &str) -> &'a Value {
    find_pod(status, pod).unwrap_or_else(|| panic!("{pod} is not listed: {status}"))
}

pub fn pod_ip(status: &Value, pod: &str) -> IpAddr {
    pod_entry(status, pod)["ips"][0]
        .as_str()
        .expect("the pod has an IP")
        .parse()
        .expect("an IP")
}

pub fn node_entry<'a>(status: &'a Value, node: &str) -> &'a Value {
    status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == node)
        .unwrap_or_else(|| panic!("{node} is not listed: {status}"))
}

/// The node's one pod CIDR, as the lab reports it.
pub fn node_pod_cidr(status: &Value, node: &str) -> ipnet::Ipv4Net {
    let cidrs = node_entry(status, node)["podCIDRs"]
        .as_array()
        .expect("podCIDRs");
    assert_eq!(cidrs.len(), 1, "{status}");
    cidrs[0].as_str().expect("a CIDR").parse().expect("a CIDR")
}

pub fn node_underlay_ip(status: &Value, node: &str) -> IpAddr {
    node_entry(status, node)["underlayIP"]
        .as_str()
        .expect("underlayIP")
        .parse()
        .expect("an IP")
}

pub fn assert_all_connected(matrix: &Value, pods: usize) {
    assert_eq!(
        matrix["pods"].as_array().map(Vec::len),
        Some(pods),
        "{matrix}"
    );
    for row in matrix["connected"].as_array().expect("rows") {
        assert!(
            row.as_array().expect("cells").iter().all(|c| c == true),
            "{matrix}"
        );
    }
}

/// What the server at `to` answered a probe from pod `from`, which must
/// connect within `timeout`.
pub fn reply_from(
    lab: &TestLab,
    from: &str,
    to: IpAddr,
    proto: weft_lab::probe::Proto,
    port: u16,
    timeout: std::time::Duration,
) -> String {
    let outcome = weft_lab::probe::probe_from(
        &lab.pod_netns(from),
        std::net::SocketAddr::new(to, port),
        proto,
        timeout,
    );
    assert_eq!(
        outcome.detail,
        weft_lab::probe::Detail::Connected,
        "{from} -> {to}:{port} over {proto}"
    );
    outcome.reply.expect("a connected probe has a reply")
}
