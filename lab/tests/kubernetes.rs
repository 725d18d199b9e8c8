//! The lab on a real control plane (root): `up --datastore kubernetes`
//! starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler
//! in the lab's control-plane netns, registers three nodes with their own
//! credentials, and runs every weftd on the API server. The Nodes get
//! their pod CIDRs from the controller-manager, weftd's annotations and
//! NetworkUnavailable=False, and Ready=True; every node routes to every
//! other node's pod CIDR over VXLAN; a control-plane process that died is
//! restarted by `up`; `down` leaves nothing, no control-plane process
//! either. Weft is installed from manifests/daemonset.yaml: every weftd
//! runs as its ServiceAccount (so its RBAC suffices for all of the above)
//! with its ConfigMap's settings, the RBAC grants nothing more than weftd
//! needs, and the whole manifest applies. The lab is always taken down, pass or fail.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use common::policy::kill::{sigkill, wait_exited};
use common::{CONVERGE, TestLab, wait_until};
use ipnet::Ipv4Net;
use serde_json::Value;
use weft_lab::control_plane::component::Component;
use weft_lab::control_plane::install::MANIFEST;
use weft_lab::paths::LabPaths;
use weft_lab::state::LabState;

const WEFT_USER: &str = "system:serviceaccount:kube-system:weft";

/// Not the manifest's default: the lab sets its own in the ConfigMap.
const CLUSTER_CIDR: &str = "10.200.0.0/16";
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
            "--cluster-cidr",
            CLUSTER_CIDR,
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

    weftd_runs_as_the_manifest_says(&lab, &state);

    let kubeconfig = lab.ok(&["kubeconfig"]);
    assert!(Path::new(kubeconfig.trim()).is_file(), "{kubeconfig}");
    let missing = lab.run(&["kubectl", "--", "get", "nodes", "n9"]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "kubectl's exit code passes through"
    );
    // An invalid object rejects the whole file: its namespace is not made.
    let refused = lab.try_apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: rejected}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: rejected}\n\
         spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}\n",
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("nothing of stdin applied") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
    let namespace = lab.run(&["kubectl", "--", "get", "namespace", "rejected"]);
    assert_eq!(
        namespace.status.code(),
        Some(1),
        "namespace rejected was made"
    );

    // A control-plane process that died is started again by `up`; the
    // rest stay as they are. So is a weftd, with a fresh token and the
    // ConfigMap's settings.
    let scheduler = state.control_plane[&Component::KubeScheduler];
    wait_exited(&sigkill(&scheduler));
    let weftd = state.weftds["n2"];
    wait_exited(&sigkill(&weftd));
    let token = std::fs::read_to_string(LabPaths::new(lab.dir()).weft_kubeconfig()).unwrap();
    lab.ok(&["up"]);
    let restarted = lab.state();
    assert_ne!(restarted.weftds["n2"], weftd);
    assert_eq!(restarted.weftds["n1"], state.weftds["n1"]);
    assert_ne!(
        std::fs::read_to_string(LabPaths::new(lab.dir()).weft_kubeconfig()).unwrap(),
        token,
        "a weftd started again gets a fresh token"
    );
    weftd_runs_as_the_manifest_says(&lab, &restarted);
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

/// Every weftd runs as kube-system/weft, with the settings of the
/// ConfigMap the lab applied (the lab's cluster CIDR, not the manifest's)
/// and was never refused; the RBAC denies what weftd does not need; the
/// whole manifest, DaemonSet included, is accepted by the API server.
fn weftd_runs_as_the_manifest_says(lab: &TestLab, state: &LabState) {
    let out = lab.ok(&[
        "kubectl",
        "--",
        "get",
        "configmap",
        "weft-config",
        "-n",
        "kube-system",
        "-o",
        "json",
    ]);
    let config: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
    assert_eq!(
        config["data"]["WEFT_CLUSTER_CIDR"], CLUSTER_CIDR,
        "{config}"
    );
    assert_eq!(config["data"]["WEFT_MODE"], "vxlan", "{config}");
    assert_eq!(config["data"]["RUST_LOG"], "info", "{config}");

    let paths = LabPaths::new(lab.dir());
    for (node, weftd) in &state.weftds {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", weftd.pid)).unwrap();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let kubeconfig = paths.weft_kubeconfig().display().to_string();
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--kubeconfig" && w[1] == kubeconfig),
            "{node}: {args:?}"
        );
        assert!(
            !args.iter().any(|a| a == "--cluster-cidr" || a == "--mode"),
            "{args:?}"
        );
        let environ = std::fs::read(format!("/proc/{}/environ", weftd.pid)).unwrap();
        let env: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        for expected in [
            format!("WEFT_CLUSTER_CIDR={CLUSTER_CIDR}"),
            "WEFT_MODE=vxlan".to_owned(),
            "RUST_LOG=info".to_owned(),
        ] {
            assert!(env.contains(&expected), "{node}: {expected} in {env:?}");
        }
        let log = std::fs::read_to_string(paths.node_log(node)).unwrap();
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "weftd on {node} was refused:\n{log}"
        );
    }
    let kubeconfig = std::fs::read_to_string(paths.weft_kubeconfig()).unwrap();
    assert!(kubeconfig.contains(WEFT_USER), "{kubeconfig}");
    assert!(kubeconfig.contains("token: "), "{kubeconfig}");
    assert!(!kubeconfig.contains("client-certificate"), "{kubeconfig}");

    let can_i = |request: &[&str]| -> String {
        let mut args = vec!["kubectl", "--", "auth", "can-i", "--as", WEFT_USER];
        args.extend_from_slice(request);
        let out = lab.run(&args);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    for denied in [
        &["get", "secrets", "-A"][..],
        &["get", "secrets", "-n", "kube-system"],
        &["list", "secrets", "-A"],
        &["create", "pods"],
        &["update", "pods"],
        &["delete", "pods"],
        &["patch", "pods/status"],
        &["update", "configmaps/weft-config", "-n", "kube-system"],
        &["get", "configmaps/other", "-n", "kube-system"],
        &["delete", "configmaps/weft-pod-cidrs", "-n", "kube-system"],
        &["create", "configmaps", "-n", "default"],
    ] {
        assert_eq!(can_i(denied), "no", "weft may {denied:?}");
    }
    for allowed in [
        &["watch", "networkpolicies", "-A"][..],
        &["patch", "nodes"],
        &["patch", "nodes/status"],
        &["list", "pods", "-A"],
        &["watch", "namespaces"],
        // Node subnet claims (when the controller manager gives none).
        &["create", "configmaps", "-n", "kube-system"],
        &["get", "configmaps/weft-pod-cidrs", "-n", "kube-system"],
        &["update", "configmaps/weft-pod-cidrs", "-n", "kube-system"],
    ] {
        assert_eq!(can_i(allowed), "yes", "weft may not {allowed:?}");
    }

    let applied = lab.run_with_stdin(
        &["kubectl", "--", "apply", "--dry-run=server", "-f", "-"],
        MANIFEST,
    );
    assert!(
        applied.status.success(),
        "the manifest does not apply: {}{}",
        String::from_utf8_lossy(&applied.stdout),
        String::from_utf8_lossy(&applied.stderr)
    );
    let stdout = String::from_utf8_lossy(&applied.stdout);
    assert!(
        stdout.contains("daemonset.apps/weft created (server dry run)"),
        "{stdout}"
    );
}
