//! The enforcer on an in-memory datapath: adopting what a previous weftd
//! left, ADD and DEL writing only their endpoint's entries, a failed ADD
//! rolled back, and syncs converging to the compile, after a write that was
//! cut short too.

use std::net::IpAddr;
use std::sync::Arc;

use weft_api::Endpoint;
use weft_datastore::ClusterSnapshot;
use weft_policy::MapContents;

use super::desired::prepare_policy;
use super::desired::tests::{CLUSTER, endpoints, snapshot};
use super::enforcer::{Node, PolicyEnforcer};
use super::error::EnforcerError;
use super::fake_datapath::FakeDatapath;
use super::pod_interface::pod_interface;
use crate::endpoints::programmer::EndpointProgrammer;
use crate::endpoints::registry::tests::endpoint;
use crate::metrics::Metrics;

const HOST: &str = "198.18.0.11";

fn host_addresses() -> std::io::Result<Vec<IpAddr>> {
    Ok(vec![HOST.parse().unwrap()])
}

fn start(fake: &FakeDatapath, recorded: &[Endpoint], standalone: bool) -> PolicyEnforcer {
    let node = Node {
        datapath: Box::new(fake.clone()),
        host_addresses,
    };
    let recorded = recorded.to_vec();
    PolicyEnforcer::adopting("n1", node, recorded, standalone, Metrics::default()).unwrap()
}

/// What a compile of `yaml` with `local` endpoints puts in the maps.
fn compiled(yaml: &str, local: &[Endpoint]) -> MapContents {
    let host = [HOST.parse().unwrap()];
    prepare_policy(&snapshot(yaml), "n1", &host, endpoints(local)).maps
}

/// Makes the host veths of `wired` exist.
fn interfaces_of(fake: &FakeDatapath, wired: &[&Endpoint]) {
    let mut node = fake.node();
    for (ifindex, endpoint) in (10..).zip(wired) {
        node.ifindexes.insert(endpoint.host_ifname.clone(), ifindex);
    }
}

/// CLUSTER with pod-a open to pod-far: pod-a's profile changes.
fn from_far() -> String {
    format!(
        "{CLUSTER}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{namespace: default, name: from-far}}
spec:
  podSelector: {{matchLabels: {{app: a}}}}
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: far}}}}}}]}}]
"
    )
}

fn sync(enforcer: &PolicyEnforcer, yaml: &str) -> Result<(), EnforcerError> {
    enforcer.sync(Arc::new(snapshot(yaml)))
}

#[test]
fn a_restart_keeps_the_maps_until_the_first_snapshot_and_rewires_recorded_interfaces() {
    let fake = FakeDatapath::default();
    let a = endpoint("a", "10.0.1.5/32");
    let gone = endpoint("gone", "10.0.1.66/32");
    let left = compiled(CLUSTER, &[a.clone(), gone.clone()]);
    interfaces_of(&fake, &[&a]);
    {
        let mut node = fake.node();
        node.maps = left.clone();
        node.interfaces.insert(10, pod_interface(&a, 3).unwrap());
        node.interfaces.insert(11, pod_interface(&gone, 4).unwrap());
    }
    let enforcer = start(&fake, std::slice::from_ref(&a), false);
    {
        let node = fake.node();
        assert_eq!(node.maps, left, "the previous policy stays in force");
        assert!(node.writes.is_empty());
        assert_eq!(node.interfaces.keys().collect::<Vec<_>>(), [&10]);
        assert_eq!(node.interfaces[&10].slot, 3, "the slot is adopted");
        assert!(node.filtered.contains("wefta"));
    }
    let b = endpoint("b", "10.0.1.6/32");
    interfaces_of(&fake, &[&a, &b]);
    let refused = enforcer.program(&b).unwrap_err();
    assert!(refused.message.contains("snapshot"), "{refused}");
    assert!(fake.node().writes.is_empty());

    sync(&enforcer, CLUSTER).unwrap();
    assert_eq!(fake.node().maps, compiled(CLUSTER, &[a]));
}

#[test]
fn add_and_del_write_their_endpoints_entries_as_a_full_compile_has_them() {
    let fake = FakeDatapath::default();
    let enforcer = start(&fake, &[], false);
    sync(&enforcer, CLUSTER).unwrap();
    // pod-a2 publishes 10.0.1.9 but is wired at 10.0.1.10; pod-a is not
    // published yet and shares pod-a2's identity.
    let a2 = endpoint("a2", "10.0.1.10/32");
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a2, &a]);

    enforcer.program(&a2).unwrap();
    {
        let node = fake.node();
        assert_eq!(node.maps, compiled(CLUSTER, std::slice::from_ref(&a2)));
        let add = node.writes.last().unwrap();
        assert!(
            add.policy.upsert.is_empty(),
            "its profile was written by the sync"
        );
        assert_eq!(add.identities.upsert.len() + add.identities.remove.len(), 2);
        assert!(node.filtered.contains("wefta2"));
        assert_eq!(node.interfaces.len(), 1);
        assert_eq!(
            node.local_pods,
            [("10.0.1.10".parse().unwrap(), (10, [2, 0, 0, 0, 0, 2]))].into(),
            "host routing finds it by its wired address, behind its veth"
        );
    }
    assert_eq!(
        enforcer.pod_names()[&"10.0.1.10".parse::<IpAddr>().unwrap()],
        "default/pod-a2"
    );

    enforcer.program(&a).unwrap();
    assert_eq!(
        fake.node().maps,
        compiled(CLUSTER, &[a2.clone(), a.clone()])
    );

    enforcer.unprogram(&a2).unwrap();
    let node = fake.node();
    assert_eq!(node.maps, compiled(CLUSTER, &[a]));
    assert!(!node.filtered.contains("wefta2"));
    assert_eq!(node.interfaces.len(), 1);
    assert_eq!(
        node.local_pods.keys().collect::<Vec<_>>(),
        [&"10.0.1.5".parse::<IpAddr>().unwrap()]
    );
}

#[test]
fn a_failed_add_leaves_nothing_behind() {
    let fake = FakeDatapath::default();
    let enforcer = start(&fake, &[], false);
    sync(&enforcer, CLUSTER).unwrap();
    let before = fake.node().maps.clone();
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a]);

    fake.node().fail_attach = true;
    assert!(enforcer.program(&a).is_err());
    {
        let node = fake.node();
        assert_eq!(node.maps, before, "its entries were written, then undone");
        assert!(node.interfaces.is_empty());
        assert!(node.local_pods.is_empty());
    }

    fake.node().fail_attach = false;
    fake.node().fail_next_write = true;
    assert!(enforcer.program(&a).is_err());
    assert_eq!(fake.node().maps, before);
    assert!(fake.node().filtered.is_empty());

    enforcer.program(&a).unwrap();
    assert_eq!(fake.node().maps, compiled(CLUSTER, &[a]));
}

#[test]
fn a_sync_after_a_write_cut_short_converges_from_what_the_maps_hold() {
    let fake = FakeDatapath::default();
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a]);
    let enforcer = start(&fake, &[], false);
    sync(&enforcer, CLUSTER).unwrap();
    enforcer.program(&a).unwrap();
    let from_far = from_far();
    fake.node().fail_next_write = true;
    assert!(sync(&enforcer, &from_far).is_err());
    assert_ne!(
        fake.node().maps.policy,
        compiled(CLUSTER, std::slice::from_ref(&a)).policy,
        "the new profile's entries were written before the write failed"
    );
    // Back to the old policy: the new profile's entries must go, though
    // the failed write never said they arrived.
    sync(&enforcer, CLUSTER).unwrap();
    assert_eq!(fake.node().maps, compiled(CLUSTER, &[a]));
}

#[test]
fn a_sync_retried_after_a_write_cut_short_removes_the_old_profile() {
    let fake = FakeDatapath::default();
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a]);
    let enforcer = start(&fake, &[], false);
    sync(&enforcer, CLUSTER).unwrap();
    enforcer.program(&a).unwrap();
    let from_far = from_far();
    fake.node().fail_next_write = true;
    assert!(sync(&enforcer, &from_far).is_err());
    sync(&enforcer, &from_far).unwrap();
    assert_eq!(fake.node().maps, compiled(&from_far, &[a]));
}

#[test]
fn a_sync_drops_the_node_links_this_run_did_not_attach() {
    let fake = FakeDatapath::default();
    fake.node().linked.insert("old0".into());
    fake.node().ifindexes.insert("eth0".into(), 2);
    let enforcer = start(&fake, &[], false);
    enforcer.attach_node_device("eth0").unwrap();
    sync(&enforcer, CLUSTER).unwrap();
    assert_eq!(fake.node().linked.iter().collect::<Vec<_>>(), ["eth0"]);
}

#[test]
fn a_node_device_created_again_under_its_name_gets_its_programs_again() {
    let fake = FakeDatapath::default();
    fake.node().ifindexes.insert("weft.vxlan".into(), 7);
    let enforcer = start(&fake, &[], false);
    enforcer.attach_node_device("weft.vxlan").unwrap();
    // Deleted (its links go with it) and created again: a new ifindex.
    fake.node().linked.clear();
    fake.node().ifindexes.insert("weft.vxlan".into(), 8);
    enforcer.attach_node_device("weft.vxlan").unwrap();
    assert_eq!(
        fake.node().linked.iter().collect::<Vec<_>>(),
        ["weft.vxlan"]
    );
    fake.node().linked.clear();
    enforcer.attach_node_device("weft.vxlan").unwrap();
    assert!(
        fake.node().linked.is_empty(),
        "the same device is attached once per run"
    );
}

#[test]
fn without_a_datastore_the_empty_clusters_policy_is_in_force_from_the_start() {
    let fake = FakeDatapath::default();
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a]);
    fake.node().maps = compiled(CLUSTER, &[a.clone(), endpoint("gone", "10.0.1.66/32")]);
    let enforcer = start(&fake, std::slice::from_ref(&a), true);
    let empty = |local: &[Endpoint]| {
        let host = [HOST.parse().unwrap()];
        prepare_policy(&ClusterSnapshot::default(), "n1", &host, endpoints(local)).maps
    };
    assert_eq!(fake.node().maps, empty(std::slice::from_ref(&a)));
    let b = endpoint("b", "10.0.1.6/32");
    interfaces_of(&fake, &[&a, &b]);
    enforcer.program(&b).unwrap();
    assert_eq!(fake.node().maps, empty(&[a, b]));
}

#[test]
fn weftctl_sees_the_last_compile() {
    let fake = FakeDatapath::default();
    let enforcer = start(&fake, &[], false);
    assert!(enforcer.compiled().endpoints.is_empty());
    sync(&enforcer, CLUSTER).unwrap();
    let compiled = enforcer.compiled();
    let names: Vec<&str> = compiled.endpoints.keys().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["pod-a", "pod-a2"]);
}

#[test]
fn successive_syncs_write_what_changed_between_the_compiles() {
    let fake = FakeDatapath::default();
    let a = endpoint("a", "10.0.1.5/32");
    interfaces_of(&fake, &[&a]);
    let enforcer = start(&fake, &[], false);
    sync(&enforcer, CLUSTER).unwrap();
    enforcer.program(&a).unwrap();
    let from_far = from_far();
    for yaml in [from_far.as_str(), CLUSTER] {
        sync(&enforcer, yaml).unwrap();
        assert_eq!(fake.node().maps, compiled(yaml, std::slice::from_ref(&a)));
    }
    let writes = fake.node().writes.len();
    sync(&enforcer, CLUSTER).unwrap();
    assert_eq!(
        fake.node().writes.len(),
        writes,
        "nothing changed, nothing written"
    );
}
