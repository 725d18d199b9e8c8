//! The node-network modes end to end (root): a 3-node lab in `direct` and in
//! `auto` mode (`vxlan` is lab.rs's), with a pod on every node. Every pod
//! reaches every pod over TCP and UDP and the server sees the client pod's
//! own IP (no NAT); a pod reaches the world host outside the cluster CIDR,
//! which sees the pod's node IP (masquerade); and each node's routes are
//! what the mode means: a plain route via the peer's underlay IP where the
//! peer is reached directly (every peer in `direct`, peers on the node's
//! own underlay subnet in `auto`), a route over weft.vxlan with a static
//! neighbour and FDB entry otherwise.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::pod_per_node::{NODES, PODS, PODS_YAML, PROBE_TIMEOUT, TCP_PORT, UDP_PORT, WORLD_PORT};
use common::{
    TestLab, VXLAN_DEVICE, assert_all_connected, node_pod_cidr, node_underlay_ip, pod_entry,
    pod_ip, reply_from,
};
use serde_json::Value;
use weft_datastore::{Kind, Object, ObjectKey};
use weft_lab::probe::Proto;
use weft_lab::topology::{Mode, UNDERLAY_IFNAME};

const VTEP_MAC_ANNOTATION: &str = "weft.dev/vtep-mac";

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn direct_mode_connects_every_pod_without_nat_over_plain_routes() {
    let lab = TestLab::up("d", &["--nodes", "3", "--mode", "direct"]);
    let status = pods_reach_each_other_and_the_world(&lab);
    assert_node_network(&lab, &status);
    for node in NODES {
        let device = lab.run(&[
            "exec",
            "--node",
            node,
            "--",
            "ip",
            "link",
            "show",
            VXLAN_DEVICE,
        ]);
        assert!(
            !device.status.success(),
            "direct mode made {VXLAN_DEVICE} on {node}"
        );
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn auto_mode_goes_direct_on_a_shared_subnet_and_over_vxlan_across() {
    let lab = TestLab::up("a", &["--nodes", "3", "--mode", "auto"]);
    let status = pods_reach_each_other_and_the_world(&lab);
    let kinds = assert_node_network(&lab, &status);
    assert_eq!(
        kinds,
        BTreeSet::from([PeerPath::Direct, PeerPath::Vxlan]),
        "the auto lab has node pairs on one subnet and across subnets"
    );
}

/// Applies the pods, checks the matrix, no NAT between pods and masquerade
/// to the world; returns the lab's status.
fn pods_reach_each_other_and_the_world(lab: &TestLab) -> Value {
    lab.apply(PODS_YAML);
    let status = lab.status();
    for (pod, node) in PODS.iter().zip(NODES) {
        assert_eq!(pod_entry(&status, pod)["node"], node, "{status}");
    }
    assert_all_connected(&lab.matrix("tcp", TCP_PORT), PODS.len());
    assert_all_connected(&lab.matrix("udp", UDP_PORT), PODS.len());

    for from in PODS {
        for to in PODS.iter().filter(|to| **to != from) {
            for (proto, port) in [(Proto::Tcp, TCP_PORT), (Proto::Udp, UDP_PORT)] {
                let reply = reply_from(lab, from, pod_ip(&status, to), proto, port, PROBE_TIMEOUT);
                assert_eq!(
                    reply,
                    format!("{to} saw {}", pod_ip(&status, from)),
                    "{from} -> {to} over {proto}: the server must see the client pod's IP"
                );
            }
        }
    }

    let world = lab.state().topology.world_ip();
    for (pod, node) in PODS.iter().zip(NODES) {
        for proto in [Proto::Tcp, Proto::Udp] {
            let reply = reply_from(
                lab,
                pod,
                IpAddr::V4(world),
                proto,
                WORLD_PORT,
                PROBE_TIMEOUT,
            );
            assert_eq!(
                reply,
                format!("world saw {}", node_underlay_ip(&status, node)),
                "{pod} -> world over {proto}: the world must see the node's IP"
            );
        }
    }
    status
}

/// How a node reaches a peer's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PeerPath {
    Direct,
    Vxlan,
}

/// What the lab's mode means for a pair of nodes.
fn peer_path(mode: Mode, same_subnet: bool) -> PeerPath {
    match mode {
        Mode::Direct => PeerPath::Direct,
        Mode::Vxlan => PeerPath::Vxlan,
        Mode::Auto if same_subnet => PeerPath::Direct,
        Mode::Auto => PeerPath::Vxlan,
    }
}

/// Checks every node's weft routes, and for VXLAN peers the neighbour and
/// FDB entries, against what the mode means; returns the paths seen.
fn assert_node_network(lab: &TestLab, status: &Value) -> BTreeSet<PeerPath> {
    let topology = lab.state().topology;
    let store = lab.store();
    let vtep_mac = |node: &str| -> String {
        let key = ObjectKey::new(Kind::Node, None, node);
        let Some(Object::Node(object)) = store.get(&key).expect("the store reads") else {
            panic!("{node} has no Node object");
        };
        object.metadata.annotations.expect("annotations")[VTEP_MAC_ANNOTATION].clone()
    };
    let mut seen = BTreeSet::new();
    for node in &topology.nodes {
        let mut routes = BTreeSet::new();
        let mut neighbours = BTreeSet::new();
        let mut fdb = BTreeSet::new();
        for peer in &topology.nodes {
            let cidr = node_pod_cidr(status, &peer.name);
            if peer.name == node.name {
                routes.insert(format!("unreachable {cidr}"));
                continue;
            }
            let same_subnet = peer.attachments[0].subnet == node.attachments[0].subnet;
            let path = peer_path(topology.mode, same_subnet);
            seen.insert(path);
            let underlay = node_underlay_ip(status, &peer.name);
            match path {
                PeerPath::Direct => {
                    routes.insert(format!("{cidr} via {underlay} dev {UNDERLAY_IFNAME}"));
                }
                PeerPath::Vxlan => {
                    let vtep = cidr.network();
                    let mac = vtep_mac(&peer.name);
                    routes.insert(format!("{cidr} via {vtep} dev {VXLAN_DEVICE} onlink"));
                    neighbours.insert(format!("{vtep} lladdr {mac} PERMANENT"));
                    fdb.insert(format!("{mac} dst {underlay} self permanent"));
                }
            }
        }
        let name = &node.name;
        assert_eq!(collect(lab.weft_routes(name)), routes, "routes on {name}");
        if topology.mode != Mode::Direct {
            let found = collect(lab.vxlan_neighbours(name));
            assert_eq!(found, neighbours, "neighbours on {name}");
            assert_eq!(collect(lab.vxlan_fdb(name)), fdb, "FDB on {name}");
        }
    }
    seen
}

fn collect(lines: Vec<String>) -> BTreeSet<String> {
    let count = lines.len();
    let set: BTreeSet<String> = lines.into_iter().collect();
    assert_eq!(set.len(), count, "duplicate entries: {set:?}");
    set
}
