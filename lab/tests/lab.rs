//! The lab end to end (root): a 3-node vxlan lab with real weftds and the
//! real `weft` plugin; pods in two namespaces reach each other over TCP and
//! UDP without NAT, reach the world masqueraded to their node's IP; status,
//! apply (invalid files, relabelling), exec, delete and down behave as
//! LAB.md says. The lab is always taken down, pass or fail.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{TestLab, assert_all_connected, find_pod, pod_entry, pod_ip};
use serde_json::Value;
use weft_lab::probe::{Detail, Proto, probe_from};

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

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_three_node_lab_wires_pods_that_reach_each_other_and_the_world() {
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
    let out = lab.try_apply(&invalid);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matchExpressions[0].values"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(lab.status()["pods"].as_array().map(Vec::len), Some(0));

    lab.apply(APP);
    let status = lab.status();
    let pods = ["alpha/a1", "alpha/a2", "beta/b1", "beta/b2"];
    let placed: Vec<&str> = pods
        .iter()
        .map(|p| pod_entry(&status, p)["node"].as_str().expect("node"))
        .collect();
    assert_eq!(placed, vec!["n1", "n2", "n1", "n3"], "{status}");
    assert_eq!(pod_entry(&status, "alpha/a1")["labels"]["app"], "a1");
    assert!(
        status["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "beta" && n["labels"]["team"] == "b")
    );

    for (proto, port) in [("tcp", 80), ("udp", 53)] {
        assert_all_connected(&lab.matrix(proto, port), 4);
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
    lab.apply(&APP.replace("labels: {app: a1}", "labels: {app: a1, v: \"2\"}"));
    let relabelled = lab.status();
    assert_eq!(pod_ip(&relabelled, "alpha/a1"), pod_ip(&status, "alpha/a1"));
    assert_eq!(pod_entry(&relabelled, "alpha/a1")["labels"]["v"], "2");
    assert_eq!(lab.pod_netns("alpha/a1"), netns_before);

    // delete: the pod goes, its netns too; a second delete is exit 3.
    lab.ok(&["delete", "pod", "beta/b1"]);
    let after = lab.status();
    assert!(find_pod(&after, "beta/b1").is_none());
    assert!(lab.state().pod("beta", "b1").is_none());
    assert!(!lab.netns_of_lab().iter().any(|n| n.ends_with(".beta.b1")));
    assert_eq!(
        lab.run(&["delete", "pod", "beta/b1"]).status.code(),
        Some(3)
    );
    lab.ok(&["delete", "--ignore-not-found", "pod", "beta/b1"]);
    // matrix's defaults (TCP to port 80).
    let matrix: Value = serde_json::from_str(&lab.ok(&["matrix", "-o", "json"])).unwrap();
    assert_all_connected(&matrix, 3);

    // down removes every netns, process, link, pin and file of the lab.
    lab.down_leaves_nothing();
}
