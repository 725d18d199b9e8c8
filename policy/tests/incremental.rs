//! Wiring or unwiring one pod on a prepared compile (what weftd does on a
//! CNI ADD or DEL) against compiling the whole cluster again: equal map
//! contents whenever the identities stay the same, and otherwise entries
//! that allow less than the full compile, never more.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use support::{HOST_IP, TCP, UDP, WORLD_IP, model, model_pod_with_labels, verdict};
use weft_datastore::ClusterSnapshot;
use weft_policy::{
    ClusterInputs, Direction, EndpointScope, MapContents, ObjectName, PreparedCluster, prepare,
};

type Wired = BTreeMap<ObjectName, Vec<IpAddr>>;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn name(namespace: &str, pod: &str) -> ObjectName {
    (namespace.to_owned(), pod.to_owned())
}

/// One node's compiler inputs, but for the wired addresses.
struct NodeView<'a> {
    snapshot: &'a ClusterSnapshot,
    node: &'a str,
    host_ips: Vec<IpAddr>,
}

/// How wiring one pod went.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Equal to compiling again.
    Exact,
    /// The pod's identity was new: reported, and allowing no more.
    Unnumbered,
}

impl NodeView<'_> {
    fn prepare(&self, wired: &Wired) -> PreparedCluster {
        let inputs = ClusterInputs::new(self.snapshot)
            .with_scope(EndpointScope::Node(self.node))
            .with_host_ips(&self.host_ips)
            .with_wired_ips(wired);
        prepare(&inputs)
    }

    /// Every pod address (published or wired), the world and the node.
    fn addresses(&self, wired: &Wired) -> BTreeSet<IpAddr> {
        let published = self
            .snapshot
            .pods
            .values()
            .flat_map(|pod| pod.ips.iter().map(|ip| ip.parse::<IpAddr>().unwrap()));
        let wired = wired.values().flatten().copied();
        let extra = [ip(WORLD_IP), ip(HOST_IP)];
        published.chain(wired).chain(extra).collect()
    }

    /// Wires `pod` (with `all`'s addresses) on a compile of `all` without
    /// it, and unwires it on a compile of `all`, each checked against
    /// compiling again.
    fn wire_and_unwire(&self, all: &Wired, pod: &ObjectName) -> Outcome {
        let mut without = all.clone();
        without.remove(pod);
        let before = self.prepare(&without);
        let after = self.prepare(all);
        let touched = |prepared: &PreparedCluster| -> BTreeSet<IpAddr> {
            let wired = all[pod].iter().copied();
            wired
                .chain(prepared.published_addresses(pod).iter().copied())
                .collect()
        };

        let wiring = before.address_entries(&touched(&before), all);
        let wired = incremental(&before, &wiring);
        let full = after.compiled.map_contents();
        let outcome = if before.compiled.identities == after.compiled.identities {
            assert!(wiring.unnumbered.is_empty(), "{pod:?}: {wiring:?}");
            assert_eq!(wired, full, "wiring {pod:?}");
            Outcome::Exact
        } else {
            assert_eq!(wiring.unnumbered, BTreeSet::from([pod.clone()]));
            self.assert_allows_no_more(&wired, &full, all);
            Outcome::Unnumbered
        };

        let unwiring = after.address_entries(&touched(&after), &without);
        let unwired = incremental(&after, &unwiring);
        let full = before.compiled.map_contents();
        if before.compiled.identities == after.compiled.identities {
            assert_eq!(unwired, full, "unwiring {pod:?}");
        } else {
            // The rules still name the identity no address carries now.
            self.assert_allows_no_more(&unwired, &full, all);
            self.assert_allows_no_more(&full, &unwired, all);
        }
        outcome
    }

    /// Every packet between the cluster's addresses that `maps` passes,
    /// `reference` passes too.
    fn assert_allows_no_more(&self, maps: &MapContents, reference: &MapContents, wired: &Wired) {
        let addresses = self.addresses(wired);
        for &endpoint in &addresses {
            for &peer in &addresses {
                for direction in Direction::ALL {
                    for (protocol, port) in [
                        (TCP, 53),
                        (UDP, 53),
                        (TCP, 80),
                        (TCP, 443),
                        (TCP, 8080),
                        (TCP, 9090),
                    ] {
                        let passes = |maps| {
                            verdict(maps, direction, endpoint, peer, protocol, port).passes()
                        };
                        assert!(
                            !passes(maps) || passes(reference),
                            "{direction:?} {endpoint} <-> {peer} {protocol}/{port} passes only incrementally"
                        );
                    }
                }
            }
        }
    }
}

/// `prepared`'s map contents with `entries` put in two ways, which must
/// agree: overlaid, and written as changes to maps holding the contents.
fn incremental(prepared: &PreparedCluster, entries: &weft_policy::AddressEntries) -> MapContents {
    let mut overlaid = prepared.compiled.map_contents();
    let mut written = overlaid.clone();
    entries.overlay(&mut overlaid);
    entries
        .changes(&written, &prepared.compiled)
        .apply(&mut written);
    assert_eq!(written, overlaid, "changes and overlay agree");
    overlaid
}

/// The published addresses of the pods on `node`, as weftd wired them.
fn local_addresses(snapshot: &ClusterSnapshot, node: &str) -> Wired {
    let local = snapshot
        .pods
        .iter()
        .filter(|(_, pod)| pod.node_name.as_deref() == Some(node));
    local
        .map(|(name, pod)| {
            let ips = pod.ips.iter().map(|ip| ip.parse().unwrap());
            (name.clone(), ips.collect())
        })
        .collect()
}

/// The pods of `wired` as the datastore has them before the kubelet
/// publishes their addresses (weftd's ADD comes first).
fn unpublished(snapshot: &ClusterSnapshot, wired: &Wired) -> ClusterSnapshot {
    let mut snapshot = snapshot.clone();
    for name in wired.keys() {
        if let Some(pod) = snapshot.pods.get_mut(name) {
            std::sync::Arc::make_mut(pod).ips.clear();
        }
    }
    snapshot
}

#[test]
fn wiring_replicas_of_a_large_cluster_is_exact_published_or_not() {
    let published = support::synthetic::cluster(6, 30, 10).records();
    let node = "node-7";
    let wired = local_addresses(&published, node);
    assert_eq!(wired.len(), 6);
    for snapshot in [published.clone(), unpublished(&published, &wired)] {
        let view = NodeView {
            snapshot: &snapshot,
            node,
            host_ips: vec![ip(HOST_IP)],
        };
        for pod in wired.keys() {
            assert_eq!(view.wire_and_unwire(&wired, pod), Outcome::Exact, "{pod:?}");
        }
    }
}

#[test]
fn a_pod_whose_identity_is_new_is_reported_and_allowed_less_until_compiled() {
    let mut cluster = model();
    // x/a2 joins x/a's workload; x/d is the first of its kind.
    cluster.apply(&model_pod_with_labels("x", "a2", "10.0.1.20", "{pod: a}"));
    cluster.apply(&model_pod_with_labels("x", "d", "10.0.1.21", "{pod: d}"));
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: 'y', name: from-x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}}], ports: [{port: 80}]}]
"#,
    );
    let mut wired = local_addresses(&cluster.snapshot, "node-1");
    wired.retain(|name, _| name.0 == "x");
    let snapshot = unpublished(&cluster.snapshot, &wired);
    let view = NodeView {
        snapshot: &snapshot,
        node: "node-1",
        host_ips: cluster.host_ips.clone(),
    };
    for replica in ["a", "a2"] {
        let outcome = view.wire_and_unwire(&wired, &name("x", replica));
        assert_eq!(outcome, Outcome::Exact, "x/{replica}");
    }
    for first in ["b", "c", "d"] {
        // Unpublished, each of these is the only address of its identity.
        let outcome = view.wire_and_unwire(&wired, &name("x", first));
        assert_eq!(outcome, Outcome::Unnumbered, "x/{first}");
    }
}

#[test]
fn a_wired_address_is_taken_from_a_pod_still_publishing_it_and_given_back() {
    let mut cluster = model();
    // A finished pod's address, handed out again by this node's IPAM to a
    // pod whose status still shows the address of its previous sandbox.
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: z, name: stale, labels: {pod: a}}\nspec: {nodeName: node-2, containers: []}\nstatus: {podIP: 10.0.1.50, podIPs: [{ip: 10.0.1.50}]}\n");
    cluster.apply(&model_pod_with_labels("y", "new", "10.0.9.9", "{pod: a}"));
    let view = NodeView {
        snapshot: &cluster.snapshot,
        node: "node-1",
        host_ips: cluster.host_ips.clone(),
    };
    let mut wired = local_addresses(&cluster.snapshot, "node-1");
    wired.insert(name("y", "new"), vec![ip("10.0.1.50")]);
    let new = name("y", "new");
    assert_eq!(view.wire_and_unwire(&wired, &new), Outcome::Exact);
    let after = view.prepare(&wired);
    assert_eq!(after.compiled.endpoints[&new].ips, vec![ip("10.0.1.50")]);
    assert!(!after.compiled.prefixes.contains_key(&ip("10.0.9.9").into()));
}
