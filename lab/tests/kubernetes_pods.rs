//! Pods and policies on the real API server (root): in a 3-node lab on the
//! kubernetes datastore, `weft-lab apply` creates Pods through the API
//! server; the real scheduler binds the one without a node; each node's
//! kubelet stand-in wires its pods with the `weft` CNI plugin and writes
//! their status, so `kubectl get pods -o wide` shows Weft's pod IPs (and
//! the host's kubectl reaches the API server with `weft-lab kubeconfig`'s
//! file, through the lab's loopback relay); every
//! pod reaches every pod over TCP and UDP; a NetworkPolicy applied with
//! plain `kubectl apply` is enforced on every node (and the time from the
//! API write to every weftd having it in effect is measured); `kubectl
//! delete pod` tears the pod's sandbox down; `weft-lab delete
//! --all-policies` returns with the deletions in effect. The lab is always
//! taken down.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    CONVERGE, TestLab, assert_all_connected, node_pod_cidr, pod_entry, pod_ip, wait_until,
};
use weft_api::RevisionKind;
use weft_lab::control_plane::client::with_client;
use weft_lab::paths::LabPaths;
use weft_lab::weftd::{KindRequirement, health};

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
  containers: [{name: c, image: serve, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  nodeName: n2
  containers: [{name: c, image: serve, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x, labels: {pod: c}}
spec:
  nodeName: n3
  containers: [{name: c, image: serve, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: x, labels: {pod: d}}
spec:
  containers: [{name: c, image: serve, ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]}]
";
const PODS: [&str; 4] = ["x/a", "x/b", "x/c", "x/d"];

/// Isolates x/a for ingress.
const DENY_A: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-a, namespace: x}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress]}
";
/// Rounds of the apply-to-enforced measurement.
const ROUNDS: usize = 20;

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn pods_and_policies_go_through_the_api_server() {
    let lab = TestLab::up("kp", &["--nodes", "3", "--datastore", "kubernetes"]);
    lab.apply(PODS_YAML);

    let status = lab.status();
    let wide = lab.ok(&[
        "kubectl",
        "--",
        "get",
        "pods",
        "-n",
        "x",
        "-o",
        "wide",
        "--no-headers",
    ]);
    for pod in PODS {
        let entry = pod_entry(&status, pod);
        let node = entry["node"].as_str().expect("the pod is bound");
        let ip = pod_ip(&status, pod);
        let std::net::IpAddr::V4(v4) = ip else {
            panic!("{pod} has {ip}, not IPv4")
        };
        assert!(
            node_pod_cidr(&status, node).contains(&v4),
            "{pod} has {ip}, outside {node}'s pod CIDR"
        );
        let name = pod.trim_start_matches("x/");
        let line = wide
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{pod} is not listed: {wide}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            (fields[1], fields[2], fields[5], fields[6]),
            ("1/1", "Running", ip.to_string().as_str(), node),
            "{line}"
        );
    }
    assert_all_connected(&lab.matrix("tcp", 80), PODS.len());
    assert_all_connected(&lab.matrix("udp", 53), PODS.len());

    // The host's own kubectl works with the kubeconfig the lab prints.
    let kubeconfig = lab.ok(&["kubeconfig"]);
    let kubectl = weft_lab::control_plane::binaries::k8s_binary("kubectl").expect("kubectl");
    let from_host = std::process::Command::new(kubectl)
        .args([
            "--kubeconfig",
            kubeconfig.trim(),
            "get",
            "pods",
            "-n",
            "x",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    assert_eq!(
        String::from_utf8_lossy(&from_host.stdout),
        "pod/a\npod/b\npod/c\npod/d\n",
        "{}",
        String::from_utf8_lossy(&from_host.stderr)
    );

    // A policy through plain kubectl, not the lab: enforced on every node.
    lab.ok_with_stdin(&["kubectl", "--", "apply", "-f", "-"], DENY_A);
    for from in ["x/b", "x/c", "x/d"] {
        wait_until(&format!("{from} -> x/a blocked"), CONVERGE, || {
            let out = lab.run(&["probe", from, "x/a", "80", "--timeout-ms", "300"]);
            match out.status.code() {
                Some(1) => Ok(()),
                code => Err(format!("probe exited {code:?}")),
            }
        });
    }
    let out = lab.run(&["probe", "x/a", "x/b", "80"]);
    assert!(out.status.success(), "x/a is isolated for ingress only");

    let latencies = apply_to_enforced(&lab);
    eprintln!(
        "apply-to-enforced on 3 nodes over {ROUNDS} policies: p50 {:?}, p99 {:?}",
        latencies[latencies.len() / 2],
        latencies[(latencies.len() * 99).div_ceil(100) - 1]
    );
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(2)),
        "{latencies:?}"
    );

    // kubectl delete waits for the kubelet to tear the sandbox down.
    let netns = lab.pod_netns("x/d");
    lab.ok(&["kubectl", "--", "delete", "pod", "-n", "x", "d"]);
    assert!(!netns.exists(), "{} is left", netns.display());
    // The lab's delete returns once every node has the deletions in effect.
    lab.ok(&["delete", "--all-policies"]);
    assert_all_connected(&lab.matrix("udp", 53), PODS.len() - 1);
    lab.down_leaves_nothing();
}

/// Creates policies one at a time through the API server and times each
/// from the write until every node's weftd reports it in effect; sorted.
fn apply_to_enforced(lab: &TestLab) -> Vec<Duration> {
    let paths = LabPaths::new(lab.dir());
    let netns = Path::new("/run/netns").join(format!("{}-control-plane", lab.name));
    let kubeconfig = paths.admin_kubeconfig();
    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        let started = Instant::now();
        let revision = with_client(&netns, &kubeconfig, move |client| async move {
            let policy: weft_datastore::NetworkPolicy = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("p{round}"), "namespace": "x"},
                "spec": {"podSelector": {"matchLabels": {"pod": "c"}},
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "a"}}}]}]}
            }))
            .map_err(|e| weft_lab::control_plane::client::ApiError::Unexpected(e.to_string()))?;
            let api: kube::Api<weft_datastore::NetworkPolicy> = kube::Api::namespaced(client, "x");
            let created = api.create(&Default::default(), &policy).await?;
            Ok(created
                .metadata
                .resource_version
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or(u64::MAX))
        })
        .expect("the policy is created");
        let wanted = KindRequirement::from([(RevisionKind::NetworkPolicies, revision)]);
        wait_until(
            "every node has the policy in effect",
            CONVERGE,
            || match ["n1", "n2", "n3"]
                .into_iter()
                .find(|node| !health(&paths, node).has_applied_kinds(&wanted))
            {
                None => Ok(()),
                Some(node) => Err(format!("{node} lags")),
            },
        );
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}
