//! Resilience on the real API server (root), in 3-node vxlan labs on the
//! kubernetes datastore:
//! - kube-apiserver killed (SIGKILL) and etcd compacted while it is down,
//!   then restarted by `up`: an established TCP connection between pods on
//!   two nodes keeps carrying data, a policy applied before stays enforced,
//!   every weftd relists each kind about once (its watches resume with
//!   410 Gone) without touching its node network, and a policy and a pod
//!   applied afterwards take effect on every node;
//! - a weftd killed and started again while the API server is down serves,
//!   says it is not ready and keeps retrying, with its node network, the
//!   connection and the policy untouched, and is ready once `up` has
//!   brought the API server back;
//! - a Node deleted: every other node drops its route, neighbour and FDB
//!   entry and keeps forwarding between its pods, and the claims of Nodes that are gone leave the pod CIDR
//!   claims record (the lab's controller-manager allocates CIDRs, so the
//!   record is written by the test; weftd's own claims are unit-tested).
//!
//! Each lab is always taken down.

mod common;
#[path = "kubernetes_resilience/etcd.rs"]
mod etcd;
#[path = "kubernetes_resilience/peer.rs"]
mod peer;
#[path = "kubernetes_resilience/weftd_again.rs"]
mod weftd_again;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::policy::connection::Connection;
use common::policy::kill::{sigkill, wait_exited};
use common::{CONVERGE, NodeNetwork, TestLab, pod_ip, wait_until};
use peer::PeerEntries;
use serde_json::Value;
use weft_api::{Request, Response};
use weft_lab::control_plane::component::Component;
use weft_lab::paths::LabPaths;
use weftd_again::WeftdCommand;

const NODES: [&str; 3] = ["n1", "n2", "n3"];
/// The kinds weftd watches, as its log names them.
const WATCHED_KINDS: [&str; 4] = ["Node", "Namespace", "Pod", "NetworkPolicy"];
/// Relists a weftd may make of one kind after one outage: one is
/// expected (the 410), a second if the API server was not quite up.
const MAX_RELISTS: usize = 2;
/// How long weftd may take to come back after the API server does: its
/// watches retry with a backoff that grows to 30 s.
const RECOVER: Duration = Duration::from_secs(60);
/// The long-lived connection's port in pod x/b (the lab serves 80 there).
const CONNECTION_PORT: u16 = 9000;

/// Pods a, b, c on n1, n2, n3; only a may reach b.
const PODS_YAML: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec:
  nodeName: n1
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  nodeName: n2
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {pod: c}}
spec:
  nodeName: n3
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-a-to-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]
";

/// Pods a and b on n1 and n2, none on n3.
const TWO_PODS_YAML: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec:
  nodeName: n1
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  nodeName: n2
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
";

/// Applied after the outage: pod d on n3, and x/a isolated for ingress.
const AFTER_YAML: &str = "
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: x, labels: {pod: d}}
spec:
  nodeName: n3
  containers: [{name: c, image: serve, ports: [{containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-a, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress]}
";

fn kubernetes_lab(tag: &str) -> TestLab {
    TestLab::up(
        tag,
        &[
            "--nodes",
            "3",
            "--mode",
            "vxlan",
            "--datastore",
            "kubernetes",
        ],
    )
}

fn control_plane_netns(lab: &TestLab) -> PathBuf {
    Path::new("/run/netns").join(format!("{}-control-plane", lab.name))
}

/// Probes `from` -> `to` on port 80 once: connected, or blocked by a drop
/// (a timeout, not a refusal).
fn assert_reaches(lab: &TestLab, from: &str, to: &str, connected: bool) {
    let out = lab.run(&["probe", from, to, "80", "--timeout-ms", "1000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if connected {
        assert!(out.status.success(), "{from} -> {to} is blocked: {stderr}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{from} -> {to}: {stderr}");
        assert!(stderr.contains("timeout"), "{from} -> {to}: {stderr}");
    }
}

/// Only a reaches b; c is not isolated.
fn assert_only_a_reaches_b(lab: &TestLab) {
    assert_reaches(lab, "x/a", "x/b", true);
    assert_reaches(lab, "x/c", "x/b", false);
    assert_reaches(lab, "x/b", "x/c", true);
}

fn networks(lab: &TestLab) -> BTreeMap<&'static str, NodeNetwork> {
    NODES.iter().map(|n| (*n, lab.node_network(n))).collect()
}

fn assert_networks_unchanged(lab: &TestLab, before: &BTreeMap<&str, NodeNetwork>, when: &str) {
    for (node, network) in networks(lab) {
        assert_eq!(
            before[node], network,
            "{node}'s node network changed {when}"
        );
    }
}

/// How long each node's weftd log is now: what follows is news.
fn log_marks(lab: &TestLab) -> BTreeMap<&'static str, usize> {
    NODES
        .iter()
        .map(|n| (*n, log_since(lab, n, 0).len()))
        .collect()
}

/// The node's weftd log from byte `mark` on.
fn log_since(lab: &TestLab, node: &str, mark: usize) -> String {
    let log = std::fs::read_to_string(LabPaths::new(lab.dir()).node_log(node)).unwrap_or_default();
    log.get(mark..).unwrap_or_default().to_owned()
}

/// The kind a "listing"/"relisting" line of weftd's log names.
fn listed_kind(line: &str) -> Option<&str> {
    let value = line.split_once("kind=")?.1;
    value.split_whitespace().next().map(|v| v.trim_matches('"'))
}

/// Per kind, how many relists the log shows.
fn relists(log: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains(" relisting")) {
        if let Some(kind) = listed_kind(line) {
            *counts.entry(kind.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// What the node's weftd answers to Status: ready, and why not.
fn weftd_status(lab: &TestLab, node: &str) -> Result<(bool, Option<String>), String> {
    let socket = LabPaths::new(lab.dir()).node_socket(node);
    match weft_api::call(&socket, &Request::Status, Duration::from_secs(2)) {
        Ok(Response::Status { ready, reason, .. }) => Ok((ready, reason)),
        Ok(other) => Err(format!("Status answered with {other:?}")),
        Err(err) => Err(err.to_string()),
    }
}

fn kubectl_json(lab: &TestLab, args: &[&str]) -> Value {
    let mut full = vec!["kubectl", "--"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&lab.ok(&full)).expect("kubectl prints JSON")
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_api_server_outage_with_compacted_etcd_keeps_the_datapath_and_recovers() {
    let lab = kubernetes_lab("o");
    lab.apply(PODS_YAML);
    assert_only_a_reaches_b(&lab);
    let status = lab.status();
    let (a_ip, b_ip) = (pod_ip(&status, "x/a"), pod_ip(&status, "x/b"));
    let (mut connection, peer) = Connection::open(&lab, "x/a", "x/b", b_ip, CONNECTION_PORT);
    assert_eq!(peer.ip(), a_ip, "the server sees the client pod's IP");
    connection.carries("before the outage");
    let before = networks(&lab);
    let marks = log_marks(&lab);
    let state = lab.state();

    let api_server = state.control_plane[&Component::KubeApiserver];
    wait_exited(&sigkill(&api_server));
    connection.carries("while the API server is down");
    assert_only_a_reaches_b(&lab);
    let compacted = etcd::advance_and_compact(&control_plane_netns(&lab));
    eprintln!("etcd compacted at revision {compacted}");
    connection.carries("after etcd was compacted");

    lab.ok(&["up"]);
    let restarted = lab.state();
    assert_ne!(
        restarted.control_plane[&Component::KubeApiserver],
        api_server,
        "up started the API server again"
    );
    // Every weftd's watches resumed from compacted revisions: each kind
    // is listed again, once or so, by the same weftd as before.
    let relisted = wait_until("every weftd relisted every kind", RECOVER, || {
        let counts: BTreeMap<&str, BTreeMap<String, usize>> = NODES
            .iter()
            .map(|n| (*n, relists(&log_since(&lab, n, marks[n]))))
            .collect();
        let all = counts
            .values()
            .all(|c| WATCHED_KINDS.iter().all(|k| c.contains_key(*k)));
        if all {
            Ok(counts)
        } else {
            Err(format!("{counts:?}"))
        }
    });
    eprintln!("relists after the outage: {relisted:?}");
    for (node, counts) in &relisted {
        assert!(
            counts.values().all(|n| *n <= MAX_RELISTS),
            "{node}'s weftd relisted too often: {counts:?}"
        );
        let log = log_since(&lab, node, marks[node]);
        // The API server's 410 Gone reads "too old resource version: ... Expired".
        let gone: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("a Kubernetes watch failed") && l.contains("Expired"))
            .collect();
        eprintln!("{node}: watches resumed with 410 Gone: {gone:#?}");
        assert!(!gone.is_empty(), "{node}'s weftd saw no 410 Gone:\n{log}");
        assert!(
            !log.contains("changing the node network"),
            "{node}'s weftd changed its node network:\n{log}"
        );
        assert_eq!(
            restarted.weftds[*node], state.weftds[*node],
            "{node}'s weftd ran through the outage"
        );
        assert_eq!(weftd_status(&lab, node), Ok((true, None)), "{node}");
    }
    assert_networks_unchanged(&lab, &before, "over the outage");
    connection.carries("after the API server came back");
    assert_only_a_reaches_b(&lab);

    // Changes after the recovery take effect on every node: apply returns
    // once the pod is Ready and every weftd has both kinds in effect.
    lab.apply(AFTER_YAML);
    for from in ["x/a", "x/b", "x/c"] {
        assert_reaches(&lab, from, "x/d", true);
    }
    for from in ["x/b", "x/c", "x/d"] {
        assert_reaches(&lab, from, "x/a", false);
    }
    assert_reaches(&lab, "x/a", "x/b", true);
    connection.carries("after the changes");

    drop(connection);
    lab.down_leaves_nothing();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_weftd_restarted_while_the_api_server_is_down_waits_with_the_datapath_intact() {
    let lab = kubernetes_lab("w");
    lab.apply(PODS_YAML);
    assert_only_a_reaches_b(&lab);
    let b_ip = pod_ip(&lab.status(), "x/b");
    let (mut connection, _) = Connection::open(&lab, "x/a", "x/b", b_ip, CONNECTION_PORT);
    connection.carries("before the outage");
    let before = networks(&lab);
    let state = lab.state();
    let old = state.weftds["n2"];
    let command = WeftdCommand::of(&old);

    wait_exited(&sigkill(&state.control_plane[&Component::KubeApiserver]));
    wait_exited(&sigkill(&old));
    connection.carries("with the API server and n2's weftd down");
    let mark = log_since(&lab, "n2", 0).len();
    let weftd = command.start(&lab, "n2");

    // It serves its socket, is not ready, and keeps trying the API server
    // (every watch failed at least twice).
    let reason = wait_until("n2's weftd waits for the API server", RECOVER, || {
        let (ready, reason) = weftd_status(&lab, "n2")?;
        assert!(!ready, "ready without the API server");
        let failures = log_since(&lab, "n2", mark)
            .lines()
            .filter(|l| l.contains("a Kubernetes watch failed"))
            .count();
        if failures >= 2 * WATCHED_KINDS.len() {
            Ok(reason)
        } else {
            Err(format!("{failures} watch failures; not ready: {reason:?}"))
        }
    });
    assert_eq!(
        reason.as_deref(),
        Some("listing the cluster from the datastore"),
        "the reason names the step weftd waits in"
    );
    assert!(weftd.is_running());
    assert_networks_unchanged(&lab, &before, "while n2's weftd waits");
    connection.carries("while n2's weftd waits for the API server");
    assert_only_a_reaches_b(&lab);
    assert!(
        !weftd_status(&lab, "n2").expect("weftd answers").0,
        "still not ready"
    );

    lab.ok(&["up"]);
    assert_eq!(lab.state().weftds["n2"], weftd, "up left the waiting weftd");
    assert_eq!(weftd_status(&lab, "n2"), Ok((true, None)));
    let log = log_since(&lab, "n2", mark);
    assert!(
        !log.contains("changing the node network"),
        "n2's weftd changed its node network:\n{log}"
    );
    assert_networks_unchanged(&lab, &before, "once n2's weftd was ready");
    connection.carries("after the API server came back");
    assert_only_a_reaches_b(&lab);

    drop(connection);
    lab.down_leaves_nothing();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_deleted_node_leaves_every_other_node_and_its_claim_is_released() {
    let lab = kubernetes_lab("d");
    lab.apply(TWO_PODS_YAML);
    let others = ["n1", "n2"];
    let n3 = wait_until("n3 is announced", CONVERGE, || {
        let node = kubectl_json(&lab, &["get", "node", "n3"]);
        if node["metadata"]["annotations"]["weft.dev/vtep-mac"].is_string() {
            Ok(PeerEntries::of_node(&node))
        } else {
            Err(node.to_string())
        }
    });
    n3.wait_everywhere(&lab, &others, true);

    // A claims record as weftd keeps it where nothing allocates CIDRs:
    // one claim per node, and one of a Node that never was.
    let cidr = |node: &str| {
        kubectl_json(&lab, &["get", "node", node])["spec"]["podCIDRs"][0]
            .as_str()
            .expect("a pod CIDR")
            .to_owned()
    };
    let claims = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: weft-pod-cidrs, namespace: kube-system}}\n\
         data: {{n1: '{}', n2: '{}', n3: '{}', n9: 10.244.250.0/24}}\n",
        cidr("n1"),
        cidr("n2"),
        n3.cidr
    );
    lab.ok_with_stdin(&["kubectl", "--", "apply", "-f", "-"], &claims);
    let marks = log_marks(&lab);

    lab.ok(&["kubectl", "--", "delete", "node", "n3"]);
    n3.wait_everywhere(&lab, &others, false);
    let kept = wait_until("the claims of n3 and n9 are released", CONVERGE, || {
        let record = kubectl_json(
            &lab,
            &["get", "configmap", "weft-pod-cidrs", "-n", "kube-system"],
        );
        let data = record["data"].as_object().cloned().unwrap_or_default();
        let claimants: Vec<&str> = data.keys().map(String::as_str).collect();
        if claimants == others {
            Ok(data)
        } else {
            Err(record.to_string())
        }
    });
    assert_eq!(kept["n1"], cidr("n1").as_str(), "n1 keeps its claim");
    // The lowest-named node released them; the others left the record be.
    let released = |node: &str| {
        log_since(&lab, node, marks[node]).contains("released the pod CIDR claims of deleted Nodes")
    };
    assert!(released("n1"));
    assert!(!released("n2"));
    // The nodes left keep forwarding between themselves.
    assert_reaches(&lab, "x/a", "x/b", true);
    assert_reaches(&lab, "x/b", "x/a", true);

    // n3's kube-proxy exits once its Node is deleted, as upstream's does,
    // so `down_leaves_nothing` (every recorded process running) does not
    // apply; `down` still stops and removes everything.
    let n3_proxy = lab.state().kube_proxies["n3"];
    wait_until("n3's kube-proxy exits", CONVERGE, || {
        if n3_proxy.is_running() {
            Err(format!("{n3_proxy:?} runs"))
        } else {
            Ok(())
        }
    });
    let recorded = lab.state().all_processes();
    lab.ok(&["down"]);
    let running: Vec<_> = recorded.iter().filter(|p| p.is_running()).collect();
    assert!(running.is_empty(), "still running after down: {running:?}");
    assert!(lab.netns_of_lab().is_empty(), "{:?}", lab.netns_of_lab());
    assert!(!lab.dir().exists(), "{} is left", lab.dir().display());
}
