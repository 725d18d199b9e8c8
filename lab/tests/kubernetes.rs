//! The lab on a real control plane (root): `up --datastore kubernetes`
//! starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! in the lab's control-plane netns, registers three nodes with their own
//! credentials, and runs every weftd on the API server. The Nodes get
//! their pod CIDRs from the controller-manager, weftd's annotations and
//! NetworkUnavailable=False, and Ready=True; every node routes to every
//! other node's pod CIDR over VXLAN; a control-plane process that died is
//! restarted by `up`; `down` leaves nothing, no control-plane process
//! either. The lab is always taken down, pass or fail.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use common::policy::kill::{sigkill, wait_exited};
use common::{CONVERGE, TestLab, wait_until};
use ipnet::Ipv4Net;
use serde_json::Value;
use weft_lab::control_plane::component::Component;

const CLUSTER_CIDR: &str = "10.244.0.0/16";
const UNDERLAY_IP_ANNOTATION: &str = "weft.dev/underlay-ip";

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_kubernetes_lab_runs_weftd_on_the_api_server() {
    let started = Instant::now();
    let lab = TestLab::up(
        "k",
        &[
            "--nodes",
            "3",
            "--mode",
            "vxlan",
            "--datastore",
            "kubernetes",
        ],
    );
    eprintln!(
        "up --datastore kubernetes, 3 nodes: {:?}",
        started.elapsed()
    );
    let state = lab.state();
    assert_eq!(state.control_plane.len(), 4, "{:?}", state.control_plane);

    // Every Node as the API server holds it, once weftd has announced its
    // network (it does so just after it turns ready).
    let nodes = wait_until("every Node converged", CONVERGE, || {
        let nodes = api_nodes(&lab);
        match nodes
            .iter()
            .find(|n| condition(n, "NetworkUnavailable") != Some("False"))
        {
            Some(node) => Err(format!(
                "{} has no NetworkUnavailable=False: {node}",
                name(node)
            )),
            None => Ok(nodes),
        }
    });
    let names: Vec<&str> = nodes.iter().map(name).collect();
    assert_eq!(names, vec!["n1", "n2", "n3"]);
    let cluster: Ipv4Net = CLUSTER_CIDR.parse().unwrap();
    // The controller-manager hands CIDRs out in the order it sees the Nodes.
    let mut cidrs = Vec::new();
    for (node, host) in nodes.iter().zip(&state.topology.nodes) {
        let allocated = node["spec"]["podCIDRs"].as_array().expect("spec.podCIDRs");
        assert_eq!(allocated.len(), 1, "{node}");
        let cidr: Ipv4Net = allocated[0].as_str().unwrap().parse().unwrap();
        assert!(cluster.contains(&cidr), "{cidr} is outside {cluster}");
        assert_eq!(cidr.prefix_len(), 24, "{node}");
        assert!(!cidrs.contains(&cidr), "{cidr} given twice");
        cidrs.push(cidr);
        let underlay = host.underlay_ip().unwrap().to_string();
        assert_eq!(
            node["metadata"]["annotations"][UNDERLAY_IP_ANNOTATION], underlay,
            "{node}"
        );
        let internal: Vec<&Value> = node["status"]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["type"] == "InternalIP")
            .collect();
        assert_eq!(internal.len(), 1, "{node}");
        assert_eq!(internal[0]["address"], underlay.as_str());
        assert_eq!(condition(node, "Ready"), Some("True"), "{node}");
    }

    // The node lifecycle controller takes the not-ready taint the API
    // server put on every new Node off once it is Ready.
    wait_until("no Node tainted", CONVERGE, || {
        match api_nodes(&lab)
            .iter()
            .find(|n| !n["spec"]["taints"].is_null())
        {
            Some(node) => Err(format!(
                "{} is tainted: {}",
                name(node),
                node["spec"]["taints"]
            )),
            None => Ok(()),
        }
    });

    // status reads the same pod CIDRs from the API server.
    let status = lab.status();
    for (entry, node) in status["nodes"].as_array().unwrap().iter().zip(&nodes) {
        assert_eq!(entry["podCIDRs"], node["spec"]["podCIDRs"], "{status}");
        assert_eq!(entry["ready"], true, "{status}");
    }

    // Every node routes to every other node's pod CIDR over VXLAN.
    for (node, own) in names.iter().zip(&cidrs) {
        let routes: BTreeSet<String> = lab.weft_routes(node).into_iter().collect();
        let expected: BTreeSet<String> = cidrs
            .iter()
            .map(|cidr| {
                if cidr == own {
                    format!("unreachable {cidr}")
                } else {
                    format!("{cidr} via {} dev weft.vxlan onlink", cidr.network())
                }
            })
            .collect();
        assert_eq!(routes, expected, "routes on {node}");
    }

    let kubeconfig = lab.ok(&["kubeconfig"]);
    assert!(Path::new(kubeconfig.trim()).is_file(), "{kubeconfig}");
    let missing = lab.run(&["kubectl", "--", "get", "nodes", "n9"]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "kubectl's exit code passes through"
    );
    let refused = lab.try_apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not yet") && stderr.contains("kubectl"),
        "{stderr}"
    );

    // A control-plane process that died is started again by `up`; the
    // rest stay as they are.
    let scheduler = state.control_plane[&Component::KubeScheduler];
    wait_exited(&sigkill(&scheduler));
    lab.ok(&["up"]);
    let ready_since = |nodes: &[Value]| -> Vec<String> {
        nodes
            .iter()
            .map(|n| condition_of(n, "Ready")["lastTransitionTime"].to_string())
            .collect()
    };
    assert_eq!(
        ready_since(&api_nodes(&lab)),
        ready_since(&nodes),
        "a repeated up keeps the Nodes Ready since they first were"
    );
    let repaired = lab.state().control_plane;
    assert_ne!(repaired[&Component::KubeScheduler], scheduler);
    assert!(repaired[&Component::KubeScheduler].is_running());
    for component in [
        Component::Etcd,
        Component::KubeApiserver,
        Component::KubeControllerManager,
    ] {
        assert_eq!(
            repaired[&component], state.control_plane[&component],
            "{component}"
        );
    }

    lab.down_leaves_nothing();
}

/// The Nodes as `kubectl get nodes -o json` shows them, by name.
fn api_nodes(lab: &TestLab) -> Vec<Value> {
    let out = lab.ok(&["kubectl", "--", "get", "nodes", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
    let mut nodes = list["items"].as_array().expect("items").clone();
    nodes.sort_by(|a, b| name(a).cmp(name(b)));
    nodes
}

fn name(node: &Value) -> &str {
    node["metadata"]["name"].as_str().unwrap_or_default()
}

/// The status of the Node's condition of `kind`.
fn condition<'a>(node: &'a Value, kind: &str) -> Option<&'a str> {
    condition_of(node, kind)["status"].as_str()
}

/// The Node's condition of `kind`, or null.
fn condition_of<'a>(node: &'a Value, kind: &str) -> &'a Value {
    node["status"]["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}
