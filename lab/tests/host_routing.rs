//! eBPF host routing end to end (root), on dir-datastore labs: in each mode
//! (vxlan, direct, and auto's direct and tunnelled peers) a pod sends 1 GiB
//! to a pod on another node, and the receiver checks every byte (numbered
//! blocks: loss, reordering, duplication or corruption all fail). With
//! host routing (the lab's default) neither node forwards the transfer's
//! packets in its stack; with `--host-routing kernel` both do, and the
//! data is the same. On a path narrower than the pods' MTU (both pods and
//! their host veths at 1500 over the 1450 of VXLAN), the sender learns the
//! path MTU from its node and the transfer completes.

mod common;

use std::net::IpAddr;

use common::transfer::{BLOCK, BLOCKS, transfer_gib};
use common::{TestLab, pod_ip};
use serde_json::Value;

/// More than a lab node forwards on its own during a transfer, far fewer
/// than a 1 GiB transfer's packets (at least 16,384 of 64 KiB).
const FORWARDED_ALONGSIDE: u64 = 2_000;

fn pods_yaml(placement: &[(&str, &str)]) -> String {
    let mut yaml = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: hr}\n");
    for (name, node) in placement {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{namespace: hr, name: {name}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: serve}}]\n"
        ));
    }
    yaml
}

/// IPv4 datagrams the node's stack has forwarded (/proc/net/snmp).
fn forwarded(lab: &TestLab, node: &str) -> u64 {
    let lines = lab.node_lines(node, &["cat", "/proc/net/snmp"]);
    let ip: Vec<&String> = lines.iter().filter(|l| l.starts_with("Ip:")).collect();
    let [names, values] = ip.as_slice() else {
        panic!("two Ip: lines in /proc/net/snmp: {lines:?}")
    };
    let at = names
        .split_whitespace()
        .position(|name| name == "ForwDatagrams")
        .expect("ForwDatagrams");
    values
        .split_whitespace()
        .nth(at)
        .and_then(|value| value.parse().ok())
        .expect("a count")
}

/// Sends 1 GiB from pod `from` to pod `to` ("hr/NAME", on `nodes`) and
/// returns how many datagrams the two nodes forwarded meanwhile.
fn transfer(lab: &TestLab, status: &Value, from: &str, to: &str, nodes: [&str; 2]) -> u64 {
    let before: u64 = nodes.iter().map(|node| forwarded(lab, node)).sum();
    transfer_gib(lab, from, to, pod_ip(status, to));
    let after: u64 = nodes.iter().map(|node| forwarded(lab, node)).sum();
    after - before
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_gib_crosses_nodes_intact_in_every_mode_past_the_stack_with_host_routing() {
    for mode in ["vxlan", "direct"] {
        let lab = TestLab::up(&mode[..1], &["--nodes", "2", "--mode", mode]);
        lab.apply(&pods_yaml(&[("a", "n1"), ("b", "n2")]));
        let status = lab.status();
        let forwarded = transfer(&lab, &status, "hr/a", "hr/b", ["n1", "n2"]);
        assert!(
            forwarded < FORWARDED_ALONGSIDE,
            "{mode}: the nodes forwarded {forwarded} datagrams"
        );
        lab.down_leaves_nothing();
    }
    // Auto: n1 reaches n2 through the router (VXLAN), n2 reaches n3 directly.
    let lab = TestLab::up("u", &["--nodes", "3", "--mode", "auto"]);
    lab.apply(&pods_yaml(&[("a", "n1"), ("b", "n2"), ("c", "n3")]));
    let status = lab.status();
    for (from, to, nodes) in [
        ("hr/a", "hr/b", ["n1", "n2"]),
        ("hr/b", "hr/c", ["n2", "n3"]),
    ] {
        let forwarded = transfer(&lab, &status, from, to, nodes);
        assert!(
            forwarded < FORWARDED_ALONGSIDE,
            "auto, {from} -> {to}: the nodes forwarded {forwarded} datagrams"
        );
    }
    lab.down_leaves_nothing();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn with_kernel_host_routing_the_stack_forwards_the_same_gib() {
    let lab = TestLab::up("k", &["--nodes", "2", "--host-routing", "kernel"]);
    lab.apply(&pods_yaml(&[("a", "n1"), ("b", "n2")]));
    let status = lab.status();
    let forwarded = transfer(&lab, &status, "hr/a", "hr/b", ["n1", "n2"]);
    assert!(
        forwarded > 2 * (BLOCKS * BLOCK as u64 / 65_536),
        "both nodes forward every packet: {forwarded}"
    );
    lab.down_leaves_nothing();
}

/// The host veth of `pod` on `node`: where the node routes its address.
fn host_veth(lab: &TestLab, node: &str, pod: IpAddr) -> String {
    let route = lab.node_lines(node, &["ip", "route", "get", &pod.to_string()]);
    let words: Vec<&str> = route[0].split_whitespace().collect();
    let at = words.iter().position(|w| *w == "dev").expect("a device");
    words[at + 1].to_owned()
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn pods_with_an_mtu_above_the_paths_learn_it_and_their_transfer_completes() {
    let lab = TestLab::up("m", &["--nodes", "2"]);
    lab.apply(&pods_yaml(&[("a", "n1"), ("b", "n2")]));
    let status = lab.status();
    for (pod, node) in [("hr/a", "n1"), ("hr/b", "n2")] {
        let veth = host_veth(&lab, node, pod_ip(&status, pod));
        lab.ok(&[
            "exec", "--node", node, "--", "ip", "link", "set", &veth, "mtu", "1500",
        ]);
        lab.ok(&[
            "exec", pod, "--", "ip", "link", "set", "eth0", "mtu", "1500",
        ]);
    }
    transfer(&lab, &status, "hr/a", "hr/b", ["n1", "n2"]);
    let b = pod_ip(&status, "hr/b").to_string();
    let route = lab.ok(&["exec", "hr/a", "--", "ip", "route", "get", &b]);
    assert!(
        route.contains("mtu 1450"),
        "a learnt the VXLAN path's MTU: {route}"
    );
    lab.down_leaves_nothing();
}
