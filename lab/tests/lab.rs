//! The lab end to end (root): a 3-node vxlan lab with real weftds and the
//! real `weft` plugin; pods in two namespaces reach each other over TCP and
//! UDP without NAT, reach the world masqueraded to their node's IP; status,
//! apply (invalid files, relabelling), exec, delete and down behave as
//! LAB.md says. The lab is always taken down, pass or fail.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use weft_lab::probe::{Detail, Proto, probe_from};
use weft_lab::state::LabState;

const LAB_BIN: &str = env!("CARGO_BIN_EXE_weft-lab");

/// A lab that is taken down when dropped.
struct TestLab {
    name: String,
}

impl TestLab {
    fn up(tag: &str, args: &[&str]) -> Self {
        for sibling in ["weft", "weftd"] {
            let path = Path::new(LAB_BIN).with_file_name(sibling);
            assert!(
                path.exists(),
                "{} is not built: run `cargo build --workspace` first",
                path.display()
            );
        }
        let lab = TestLab {
            name: format!("t{}{tag}", std::process::id()),
        };
        let mut up = vec!["up"];
        up.extend_from_slice(args);
        lab.ok(&up);
        lab
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(LAB_BIN)
            .args(["--name", &self.name])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("weft-lab runs");
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(text) = stdin {
            input
                .write_all(text.as_bytes())
                .expect("weft-lab reads stdin");
        }
        drop(input);
        child.wait_with_output().expect("weft-lab exits")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "weft-lab {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, yaml: &str) -> Output {
        self.run_with_stdin(&["apply", "-f", "-"], Some(yaml))
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "-o", "json"])).expect("status is JSON")
    }

    fn state(&self) -> LabState {
        LabState::load(&self.dir().join("state.json"))
            .expect("state is readable")
            .expect("the lab has state")
    }

    fn dir(&self) -> PathBuf {
        Path::new("/run/weft-lab").join(&self.name)
    }

    fn pod_netns(&self, pod: &str) -> PathBuf {
        let (namespace, name) = pod.split_once('/').expect("ns/name");
        let state = self.state();
        let record = state.pod(namespace, name).expect("the pod is wired");
        Path::new("/run/netns").join(&record.netns)
    }

    fn netns_of_lab(&self) -> Vec<String> {
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
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = self.run(&["down"]);
    }
}

const APP: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: alpha, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: beta, labels: {team: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: a1, namespace: alpha, labels: {app: a1}}
spec:
  containers:
    - name: c
      ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}, {containerPort: 9, protocol: SCTP}]
---
apiVersion: v1
kind: Pod
metadata: {name: a2, namespace: alpha, labels: {app: a2}}
spec:
  containers:
    - name: c
      ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: b1, namespace: beta, labels: {app: b1}}
spec:
  containers:
    - name: c
      ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: b2, namespace: beta, labels: {app: b2}}
spec:
  nodeName: n3
  containers:
    - name: c
      ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]
";

fn pod_entry<'a>(status: &'a Value, pod: &str) -> Option<&'a Value> {
    let (namespace, name) = pod.split_once('/')?;
    status["pods"]
        .as_array()?
        .iter()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
}

fn pod_ip(status: &Value, pod: &str) -> IpAddr {
    pod_entry(status, pod).expect("pod listed")["ips"][0]
        .as_str()
        .expect("pod has an IP")
        .parse()
        .expect("an IP")
}

fn assert_all_connected(matrix: &Value, pods: usize) {
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

#[test]
fn a_three_node_lab_wires_pods_that_reach_each_other_and_the_world() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the lab test needs root (network namespaces)"
    );
    let lab = TestLab::up("v", &["--nodes", "3", "--mode", "vxlan"]);
    let status = lab.status();
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node["name"], format!("n{}", i + 1));
        assert_eq!(node["underlayIP"], format!("198.18.0.{}", 11 + i));
        assert_eq!(node["ready"], true, "{node}");
        assert_eq!(node["podCIDRs"].as_array().map(Vec::len), Some(1), "{node}");
    }
    // up on a healthy lab leaves it as it is.
    let weftds = lab.state().weftds;
    lab.ok(&["up"]);
    assert_eq!(lab.state().weftds, weftds);

    // An invalid file is rejected whole.
    let invalid = format!(
        "{APP}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: bad, namespace: alpha}}\nspec:\n  podSelector: {{matchExpressions: [{{key: app, operator: In}}]}}\n"
    );
    let out = lab.apply(&invalid);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matchExpressions[0].values"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(lab.status()["pods"].as_array().map(Vec::len), Some(0));

    let out = lab.apply(APP);
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = lab.status();
    let pods = ["alpha/a1", "alpha/a2", "beta/b1", "beta/b2"];
    let placed: Vec<&str> = pods
        .iter()
        .map(|p| {
            pod_entry(&status, p).expect("listed")["node"]
                .as_str()
                .expect("node")
        })
        .collect();
    assert_eq!(placed, vec!["n1", "n2", "n1", "n3"], "{status}");
    assert_eq!(
        pod_entry(&status, "alpha/a1").unwrap()["labels"]["app"],
        "a1"
    );
    assert!(
        status["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "beta" && n["labels"]["team"] == "b")
    );

    for proto in ["tcp", "udp"] {
        let port = if proto == "tcp" { "80" } else { "53" };
        let matrix: Value = serde_json::from_str(
            &lab.ok(&["matrix", "--port", port, "--proto", proto, "-o", "json"]),
        )
        .expect("matrix is JSON");
        assert_all_connected(&matrix, 4);
    }

    // The server sees the client pod's own IP: no NAT between pods.
    for (from, to) in [("alpha/a1", "beta/b2"), ("beta/b2", "alpha/a2")] {
        for (proto, port) in [(Proto::Tcp, 80), (Proto::Udp, 53)] {
            let outcome = probe_from(
                &lab.pod_netns(from),
                SocketAddr::new(pod_ip(&status, to), port),
                proto,
                Duration::from_secs(2),
            );
            assert_eq!(outcome.detail, Detail::Connected);
            assert_eq!(
                outcome.reply,
                Some(format!("{to} saw {}", pod_ip(&status, from)))
            );
        }
    }
    // The world sees the node's IP: traffic leaving the cluster is masqueraded.
    let outcome = probe_from(
        &lab.pod_netns("beta/b2"),
        "198.18.0.254:80".parse().unwrap(),
        Proto::Tcp,
        Duration::from_secs(2),
    );
    assert_eq!(outcome.reply.as_deref(), Some("world saw 198.18.0.13"));

    // probe: connected, or blocked with exit 1 (nothing listens on 81).
    assert_eq!(
        lab.ok(&["probe", "alpha/a1", "beta/b1", "80"]).trim(),
        "connected"
    );
    let blocked = lab.run(&["probe", "alpha/a1", "beta/b1", "81"]);
    assert_eq!(blocked.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&blocked.stdout).trim(), "blocked");

    // exec passes the exit code through and runs in the pod's netns.
    let exec = lab.run(&["exec", "alpha/a1", "--", "sh", "-c", "exit 7"]);
    assert_eq!(exec.status.code(), Some(7));
    let addrs = lab.ok(&[
        "exec", "alpha/a1", "--", "ip", "-o", "-4", "addr", "show", "eth0",
    ]);
    assert!(
        addrs.contains(&pod_ip(&status, "alpha/a1").to_string()),
        "{addrs}"
    );

    // Relabelling keeps the pod's netns and IP.
    let netns_before = lab.pod_netns("alpha/a1");
    let out = lab.apply(&APP.replace("labels: {app: a1}", "labels: {app: a1, v: \"2\"}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let relabelled = lab.status();
    assert_eq!(pod_ip(&relabelled, "alpha/a1"), pod_ip(&status, "alpha/a1"));
    assert_eq!(
        pod_entry(&relabelled, "alpha/a1").unwrap()["labels"]["v"],
        "2"
    );
    assert_eq!(lab.pod_netns("alpha/a1"), netns_before);

    // delete: the pod goes, its netns too; a second delete is exit 3.
    lab.ok(&["delete", "pod", "beta/b1"]);
    let after = lab.status();
    assert!(pod_entry(&after, "beta/b1").is_none());
    assert!(lab.state().pod("beta", "b1").is_none());
    assert!(!lab.netns_of_lab().iter().any(|n| n.ends_with(".beta.b1")));
    assert_eq!(
        lab.run(&["delete", "pod", "beta/b1"]).status.code(),
        Some(3)
    );
    lab.ok(&["delete", "--ignore-not-found", "pod", "beta/b1"]);
    let matrix: Value = serde_json::from_str(&lab.ok(&["matrix", "-o", "json"])).unwrap();
    assert_all_connected(&matrix, 3);

    // down removes every netns, process and file of the lab.
    let processes = lab.state().all_processes();
    assert!(!processes.is_empty());
    lab.ok(&["down"]);
    assert!(lab.netns_of_lab().is_empty(), "{:?}", lab.netns_of_lab());
    assert!(processes.iter().all(|p| !p.is_running()));
    assert!(!lab.dir().exists());
    lab.ok(&["down"]);
}
