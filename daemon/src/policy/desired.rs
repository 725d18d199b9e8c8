//! What this node's policy maps should hold: the cluster's policies compiled
//! for the local endpoints once per snapshot, with the addresses weftd wired
//! (the kubelet publishes a pod's IPs only after ADD returned); and what one
//! endpoint's ADD or DEL changes in them, worked out from that compile.
//!
//! An endpoint no local Pod object describes (not yet or not at all in the
//! datastore, or not a Kubernetes pod) is selected by no policy, so it gets
//! an entry that enforces nothing: the datapath drops packets of addresses
//! without an entry.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use weft_api::{Endpoint, EndpointKey};
use weft_datastore::ClusterSnapshot;
use weft_policy::maps::{EndpointValue, PROFILE_NONE, endpoint_key};
use weft_policy::{
    AddressEntries, ClusterInputs, EndpointScope, MapContents, ObjectName, PreparedCluster, prepare,
};

/// The local endpoints by key.
pub type Endpoints = BTreeMap<EndpointKey, Endpoint>;

/// The entry of an endpoint no policy selects.
const UNSELECTED: EndpointValue = EndpointValue {
    profile: PROFILE_NONE,
    flags: 0,
};

/// One snapshot's policy for this node.
#[derive(Debug, Clone, Default)]
pub struct PreparedPolicy {
    pub cluster: PreparedCluster,
    /// The maps' content for `endpoints`.
    pub maps: MapContents,
    /// The local endpoints it was prepared with.
    pub endpoints: Endpoints,
    /// "namespace/name" of every address the snapshot's pods publish.
    published_names: BTreeMap<IpAddr, String>,
}

/// Compiles `snapshot` for the pods of `node_name` with `endpoints`' wired
/// addresses.
pub fn prepare_policy(
    snapshot: &ClusterSnapshot,
    node_name: &str,
    host_ips: &[IpAddr],
    endpoints: Endpoints,
) -> PreparedPolicy {
    let wired = wired_addresses(&endpoints);
    let inputs = ClusterInputs::new(snapshot)
        .with_scope(EndpointScope::Node(node_name))
        .with_host_ips(host_ips)
        .with_wired_ips(&wired);
    let cluster = prepare(&inputs);
    let mut maps = cluster.compiled.map_contents();
    for address in endpoints.values().flat_map(addresses) {
        maps.endpoints
            .entry(endpoint_key(address))
            .or_insert(UNSELECTED);
    }
    PreparedPolicy {
        cluster,
        maps,
        endpoints,
        published_names: published_names(snapshot),
    }
}

impl PreparedPolicy {
    /// The maps' content for the endpoints `now` (ADD and DEL may have
    /// changed them since this was prepared).
    pub fn desired(&self, now: &Endpoints) -> Cow<'_, MapContents> {
        let changed = changed_endpoints(&self.endpoints, now);
        if changed.is_empty() {
            return Cow::Borrowed(&self.maps);
        }
        let mut maps = self.maps.clone();
        self.endpoint_entries(now, &changed).overlay(&mut maps);
        Cow::Owned(maps)
    }

    /// The entries of every address whose entries can differ after the
    /// endpoint records in `changed` (before or after an ADD or DEL) made
    /// the endpoints `now`: theirs, and all of their pods' addresses,
    /// wired or published (a wired pod's published ones are not its own).
    pub fn endpoint_entries(&self, now: &Endpoints, changed: &[&Endpoint]) -> AddressEntries {
        let mut touched = BTreeSet::new();
        for endpoint in changed {
            touched.extend(addresses(endpoint));
            if let Some(pod) = pod_of(endpoint) {
                touched.extend(self.cluster.published_addresses(&pod));
                let siblings = now.values().filter(|e| pod_of(e).as_ref() == Some(&pod));
                touched.extend(siblings.flat_map(addresses));
            }
        }
        let mut entries = self
            .cluster
            .address_entries(&touched, &wired_addresses(now));
        let endpoint_addresses: BTreeSet<IpAddr> = now.values().flat_map(addresses).collect();
        for (address, entry) in &mut entries.endpoints {
            if entry.is_none() && endpoint_addresses.contains(address) {
                *entry = Some(UNSELECTED);
            }
        }
        entries
    }

    /// Pod names by address with the endpoints `now`: what the pods
    /// publish, and what weftd wired for them over that.
    pub fn pod_names(&self, now: &Endpoints) -> BTreeMap<IpAddr, String> {
        let mut names = self.published_names.clone();
        for endpoint in now.values() {
            if let Some((namespace, name)) = pod_of(endpoint) {
                let name = format!("{namespace}/{name}");
                names.extend(addresses(endpoint).map(|address| (address, name.clone())));
            }
        }
        names
    }

    /// Makes `names` (pod names with the endpoints before) right for the
    /// endpoints `now`, after the records in `changed` changed.
    pub fn rename(
        &self,
        names: &mut BTreeMap<IpAddr, String>,
        now: &Endpoints,
        changed: &[&Endpoint],
    ) {
        for address in changed.iter().flat_map(|e| addresses(e)) {
            let wired = now.values().filter(|e| addresses(e).any(|a| a == address));
            let wired = wired.filter_map(pod_of).next_back();
            let name = match wired {
                Some((namespace, name)) => Some(format!("{namespace}/{name}")),
                None => self.published_names.get(&address).cloned(),
            };
            match name {
                Some(name) => names.insert(address, name),
                None => names.remove(&address),
            };
        }
    }
}

/// The records that differ between `before` and `after` (both versions of
/// a changed one).
fn changed_endpoints<'a>(before: &'a Endpoints, after: &'a Endpoints) -> Vec<&'a Endpoint> {
    let gone = before.iter().filter(|(key, e)| after.get(*key) != Some(*e));
    let new = after.iter().filter(|(key, e)| before.get(*key) != Some(*e));
    gone.chain(new).map(|(_, endpoint)| endpoint).collect()
}

/// The addresses weftd wired, by pod.
fn wired_addresses(endpoints: &Endpoints) -> BTreeMap<ObjectName, Vec<IpAddr>> {
    let mut wired: BTreeMap<ObjectName, Vec<IpAddr>> = BTreeMap::new();
    for endpoint in endpoints.values() {
        if let Some(pod) = pod_of(endpoint) {
            wired.entry(pod).or_default().extend(addresses(endpoint));
        }
    }
    wired
}

fn pod_of(endpoint: &Endpoint) -> Option<ObjectName> {
    let namespace = endpoint.pod_namespace.clone()?;
    Some((namespace, endpoint.pod_name.clone()?))
}

fn addresses(endpoint: &Endpoint) -> impl Iterator<Item = IpAddr> + '_ {
    endpoint.ips.iter().map(|net| net.addr())
}

/// "namespace/name" of every address the snapshot's pods publish.
fn published_names(snapshot: &ClusterSnapshot) -> BTreeMap<IpAddr, String> {
    let published = snapshot.pods.iter().flat_map(|((namespace, name), pod)| {
        pod.ips
            .iter()
            .filter_map(|ip| ip.parse::<IpAddr>().ok())
            .map(move |ip| (ip, format!("{namespace}/{name}")))
    });
    published.collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;
    use weft_datastore::parse_objects;
    use weft_policy::maps::{ENFORCE_INGRESS, IDENTITY_HOST, ip_key};

    pub(crate) fn snapshot(yaml: &str) -> ClusterSnapshot {
        let mut snapshot = ClusterSnapshot::default();
        for object in parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        snapshot
    }

    /// On node n1: pod-a (isolated for ingress) and pod-a2 (its replica,
    /// publishing 10.0.1.9); on n2: pod-far. The test endpoint of
    /// container "a" is pod-a's.
    pub(crate) const CLUSTER: &str = "
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: pod-a, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: pod-a2, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIPs: [{ip: 10.0.1.9}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: pod-far, labels: {app: far}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIPs: [{ip: 10.0.2.7}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: default, name: deny-a}
spec: {podSelector: {matchLabels: {app: a}}}
";

    pub(crate) fn endpoints(list: &[Endpoint]) -> Endpoints {
        list.iter().map(|e| (e.key.clone(), e.clone())).collect()
    }

    fn anonymous(container: &str, ip: &str) -> Endpoint {
        let mut endpoint = endpoint(container, ip);
        endpoint.pod_namespace = None;
        endpoint.pod_name = None;
        endpoint
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn wired_addresses_of_local_pods_are_enforced_before_the_pod_publishes_them() {
        let host = ip("198.18.0.11");
        let prepared = prepare_policy(
            &snapshot(CLUSTER),
            "n1",
            &[host],
            endpoints(&[endpoint("a", "10.0.1.5/32")]),
        );
        let entry = prepared.maps.endpoints[&endpoint_key(ip("10.0.1.5"))];
        assert_eq!(entry.flags, ENFORCE_INGRESS);
        let host_key = ip_key("198.18.0.11/32".parse().unwrap());
        assert_eq!(prepared.maps.identities[&host_key].identity, IDENTITY_HOST);
        let far = ip_key("10.0.2.7/32".parse().unwrap());
        assert!(prepared.maps.identities.contains_key(&far));
        assert!(
            !prepared
                .maps
                .endpoints
                .contains_key(&endpoint_key(ip("10.0.2.7"))),
            "pods of other nodes are no local endpoints"
        );
    }

    #[test]
    fn endpoints_no_pod_object_describes_enforce_nothing() {
        let list = [
            anonymous("b", "10.0.1.6/32"),
            endpoint("unknown", "10.0.1.7/32"),
        ];
        let prepared = prepare_policy(&snapshot(CLUSTER), "n1", &[], endpoints(&list));
        for address in ["10.0.1.6", "10.0.1.7"] {
            let entry = prepared.maps.endpoints[&endpoint_key(ip(address))];
            assert_eq!(entry, UNSELECTED, "{address}");
        }
    }

    /// Every way the endpoints can change after a compile gives what
    /// compiling with the new endpoints gives: as content, as writes, and
    /// in the pod names.
    #[test]
    fn endpoint_changes_after_a_compile_give_what_compiling_again_gives() {
        let snapshot = snapshot(CLUSTER);
        let a = endpoint("a", "10.0.1.5/32");
        let b = anonymous("b", "10.0.1.6/32");
        // pod-a2 wired at another address than it publishes.
        let a2 = endpoint("a2", "10.0.1.10/32");
        let mut a_moved = a.clone();
        a_moved.ips = vec!["10.0.1.8/32".parse().unwrap()];
        let cases: [(&[&Endpoint], &[&Endpoint]); 5] = [
            (&[], &[&a]),
            (&[&a], &[]),
            (&[&a], &[&a_moved]),
            (&[&a, &b], &[&a, &a2]),
            (&[&a2], &[&a, &b]),
        ];
        for (before, after) in cases {
            let before = endpoints(&before.iter().copied().cloned().collect::<Vec<_>>());
            let after = endpoints(&after.iter().copied().cloned().collect::<Vec<_>>());
            let case = format!("{:?} -> {:?}", before.keys(), after.keys());
            let prepared = prepare_policy(&snapshot, "n1", &[], before.clone());
            let full = prepare_policy(&snapshot, "n1", &[], after.clone()).maps;
            assert_eq!(*prepared.desired(&after), full, "{case}");

            let changed = changed_endpoints(&before, &after);
            let entries = prepared.endpoint_entries(&after, &changed);
            let mut applied = prepared.maps.clone();
            let changes = entries.changes(&applied, &prepared.cluster.compiled);
            changes.apply(&mut applied);
            assert_eq!(applied, full, "{case}");

            let mut names = prepared.pod_names(&before);
            prepared.rename(&mut names, &after, &changed);
            assert_eq!(names, prepared.pod_names(&after), "{case}");
        }
    }

    #[test]
    fn an_unchanged_endpoint_set_costs_no_copy() {
        let list = endpoints(&[endpoint("a", "10.0.1.5/32")]);
        let prepared = prepare_policy(&snapshot(CLUSTER), "n1", &[], list.clone());
        assert!(matches!(prepared.desired(&list), Cow::Borrowed(_)));
    }

    #[test]
    fn pod_names_are_published_then_wired() {
        let mut renamed = endpoint("x", "10.0.1.9/32");
        renamed.pod_name = Some("pod-a".into());
        let list = endpoints(&[endpoint("a2", "10.0.1.10/32"), renamed]);
        let prepared = prepare_policy(&snapshot(CLUSTER), "n1", &[], Endpoints::new());
        let names = prepared.pod_names(&list);
        assert_eq!(names[&ip("10.0.2.7")], "default/pod-far");
        assert_eq!(names[&ip("10.0.1.10")], "default/pod-a2");
        assert_eq!(
            names[&ip("10.0.1.9")],
            "default/pod-a",
            "wired over published"
        );
    }
}
