//! The lab's node network under change and failure (root), in a 3-node
//! vxlan lab: a node added to the datastore appears in every node's routes,
//! neighbours and FDB, and a node removed (made up or real) disappears from
//! them; every weftd killed with SIGKILL and restarted by `up` does not break
//! an established TCP connection between pods on different nodes and leaves
//! no duplicate state; malformed files in the datastore are logged and
//! skipped while every weftd keeps running and converging; `down` then
//! leaves no netns, process, link, pin or state directory behind.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::OwnedFd;

use common::policy::connection::Connection;
use common::policy::kill::{sigkill, wait_exited};
use common::{CONVERGE, NodeNetwork, TestLab, node_pod_cidr, node_underlay_ip, pod_ip, wait_until};
use ipnet::Ipv4Net;
use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use weft_datastore::{Kind, Node, Object, ObjectKey};
use weft_lab::paths::LabPaths;
use weft_lab::process::ProcessRecord;

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const POD_CIDRS_ANNOTATION: &str = "weft.dev/pod-cidrs";
const UNDERLAY_IP_ANNOTATION: &str = "weft.dev/underlay-ip";
const VTEP_MAC_ANNOTATION: &str = "weft.dev/vtep-mac";

/// What a vxlan node holds for one peer.
#[derive(Debug, Clone)]
struct PeerEntries {
    cidr: Ipv4Net,
    route: String,
    neighbour: String,
    fdb: String,
}

impl PeerEntries {
    fn new(cidr: Ipv4Net, underlay: IpAddr, mac: &str) -> Self {
        let vtep = cidr.network();
        Self {
            cidr,
            route: format!("{cidr} via {vtep} dev weft.vxlan onlink"),
            neighbour: format!("{vtep} lladdr {mac} PERMANENT"),
            fdb: format!("{mac} dst {underlay} self permanent"),
        }
    }

    /// Whether `node` holds exactly these entries (`present`), or nothing
    /// for this peer at all; `Err` says what it holds instead.
    fn check(&self, lab: &TestLab, node: &str, present: bool) -> Result<(), String> {
        let network = lab.node_network(node);
        let vtep = format!("{} ", self.cidr.network());
        let mac = self.fdb.split(' ').next().unwrap_or_default();
        let holds = if present {
            network.routes.contains(&self.route)
                && network.neighbours.contains(&self.neighbour)
                && network.fdb.contains(&self.fdb)
        } else {
            !network
                .routes
                .iter()
                .any(|r| r.contains(&self.cidr.to_string()))
                && !network.neighbours.iter().any(|n| n.starts_with(&vtep))
                && !network.fdb.iter().any(|f| f.starts_with(mac))
        };
        if holds {
            Ok(())
        } else {
            Err(format!("{node} holds {network:?}"))
        }
    }
}

/// Waits until every one of `nodes` holds the peer's entries, or none.
fn wait_everywhere(lab: &TestLab, nodes: &[&str], peer: &PeerEntries, present: bool) {
    let what = format!(
        "{} for {} on {nodes:?}",
        if present { "entries" } else { "no entries" },
        peer.cidr
    );
    wait_until(&what, CONVERGE, || {
        nodes
            .iter()
            .try_for_each(|node| peer.check(lab, node, present))
    });
}

fn node_object(name: &str, annotations: BTreeMap<String, String>) -> Object {
    Object::Node(Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: Some(annotations),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// A node that only exists in the datastore, and what every vxlan node
/// should hold for it.
fn made_up_node(name: &str, cidr: &str, underlay: &str, mac: &str) -> (Object, PeerEntries) {
    let entries = PeerEntries::new(cidr.parse().unwrap(), underlay.parse().unwrap(), mac);
    let annotations = BTreeMap::from([
        (POD_CIDRS_ANNOTATION.to_owned(), cidr.to_owned()),
        (UNDERLAY_IP_ANNOTATION.to_owned(), underlay.to_owned()),
        (VTEP_MAC_ANNOTATION.to_owned(), mac.to_owned()),
    ]);
    (node_object(name, annotations), entries)
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn nodes_added_to_and_removed_from_the_datastore_come_and_go_on_every_node() {
    let lab = TestLab::up("n", &["--nodes", "3", "--mode", "vxlan"]);
    let store = lab.store();

    // A node that only exists in the datastore, on the lab's subnet.
    let (n9_object, n9) = made_up_node("n9", "10.244.200.0/24", "198.18.0.99", "02:00:5e:00:02:09");
    store.apply(&[n9_object]).expect("n9 is stored");
    wait_everywhere(&lab, &NODES, &n9, true);
    store
        .delete(&[ObjectKey::new(Kind::Node, None, "n9")], false)
        .expect("n9 is deleted");
    wait_everywhere(&lab, &NODES, &n9, false);

    // A real node removed from the datastore, then registered again.
    let status = lab.status();
    let n3_key = ObjectKey::new(Kind::Node, None, "n3");
    let n3 = store.get(&n3_key).unwrap().expect("n3 is registered");
    let n3_mac =
        n3.metadata().annotations.as_ref().expect("n3 is annotated")[VTEP_MAC_ANNOTATION].clone();
    let n3_entries = PeerEntries::new(
        node_pod_cidr(&status, "n3"),
        node_underlay_ip(&status, "n3"),
        &n3_mac,
    );
    let others = ["n1", "n2"];
    wait_everywhere(&lab, &others, &n3_entries, true);
    store.delete(&[n3_key], false).expect("n3 is deleted");
    wait_everywhere(&lab, &others, &n3_entries, false);
    store.apply(&[n3]).expect("n3 is stored again");
    wait_everywhere(&lab, &others, &n3_entries, true);

    lab.down_leaves_nothing();
}

/// Hand-written datastore files that are not valid objects: file name,
/// content, and part of why the datastore rejects it.
const MALFORMED_FILES: [(&str, &str, &str); 3] = [
    (
        "malformed-syntax.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: [unclosed\n",
        "not valid YAML",
    ),
    (
        "malformed-types.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n7}\nspec: {podCIDRs: 5}\n",
        "spec.podCIDRs: invalid type",
    ),
    (
        "malformed-kind.yaml",
        "apiVersion: v1\nkind: Gizmo\nmetadata: {name: g}\n",
        "unsupported kind \"Gizmo\"",
    ),
];

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn malformed_datastore_objects_are_skipped_and_weftd_keeps_converging() {
    let lab = TestLab::up("m", &["--nodes", "3", "--mode", "vxlan"]);
    let paths = LabPaths::new(lab.dir());
    let malformed: Vec<_> = MALFORMED_FILES
        .iter()
        .map(|(name, text, _)| {
            let path = paths.store_dir().join(name);
            std::fs::write(&path, text).expect("a hand-made file is written");
            path
        })
        .collect();

    let (n8_object, n8) = made_up_node("n8", "10.244.201.0/24", "198.18.0.98", "02:00:5e:00:02:08");
    lab.store().apply(&[n8_object]).expect("n8 is stored");
    wait_everywhere(&lab, &NODES, &n8, true);

    let weftds = lab.state().weftds;
    assert_eq!(weftds.len(), NODES.len());
    for (node, process) in &weftds {
        assert!(process.is_running(), "weftd on {node} died: {process:?}");
    }
    for (name, _, why) in MALFORMED_FILES {
        wait_until(&format!("a weftd log names {name}"), CONVERGE, || {
            let skipped: Vec<String> = NODES
                .iter()
                .map(|node| std::fs::read_to_string(paths.node_log(node)).unwrap_or_default())
                .flat_map(|log| {
                    log.lines()
                        .filter(|l| l.contains("skipping a datastore object"))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            let names = |line: &String| line.contains(name) && line.contains(why);
            if skipped.iter().any(names) {
                Ok(())
            } else {
                Err(format!("skipped objects logged: {skipped:?}"))
            }
        });
    }

    for path in &malformed {
        std::fs::remove_file(path).expect("a hand-made file is removed");
    }
    lab.down_leaves_nothing();
}

const PODS_YAML: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec:
  nodeName: n2
  containers: [{name: c, ports: [{containerPort: 80}]}]
";
/// The long-lived connection's port in pod x/b (the lab serves 80 there).
const CONNECTION_PORT: u16 = 9000;

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftd_killed_and_restarted_keeps_connections_and_duplicates_nothing() {
    let lab = TestLab::up("k", &["--nodes", "3", "--mode", "vxlan"]);
    lab.apply(PODS_YAML);
    let status = lab.status();
    let (a_ip, b_ip) = (pod_ip(&status, "x/a"), pod_ip(&status, "x/b"));
    let (mut connection, peer) = Connection::open(&lab, "x/a", "x/b", b_ip, CONNECTION_PORT);
    assert_eq!(peer.ip(), a_ip, "the server sees the client pod's IP");
    connection.carries("before the kill");

    let before: Vec<NodeNetwork> = NODES.iter().map(|n| lab.node_network(n)).collect();
    let killed: Vec<ProcessRecord> = lab.state().weftds.into_values().collect();
    assert_eq!(killed.len(), NODES.len());
    let pidfds: Vec<OwnedFd> = killed.iter().map(sigkill).collect();
    pidfds.iter().for_each(wait_exited);
    connection.carries("while every weftd is down");

    lab.ok(&["up"]);
    let restarted = lab.state().weftds;
    for (node, process) in &restarted {
        assert!(process.is_running(), "weftd on {node} runs again");
        assert!(!killed.contains(process), "weftd on {node} is a new one");
    }
    connection.carries("after the restart");
    let after: Vec<NodeNetwork> = NODES.iter().map(|n| lab.node_network(n)).collect();
    for ((node, before), after) in NODES.iter().zip(&before).zip(&after) {
        assert_eq!(
            before, after,
            "{node}'s node network changed over the restart"
        );
    }
    connection.carries("after checking the state");

    drop(connection);
    lab.down_leaves_nothing();
}
