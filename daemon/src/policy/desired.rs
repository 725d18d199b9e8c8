//! What this node's policy maps should hold: the cluster's policies compiled
//! for the local endpoints, with the addresses weftd wired (the kubelet
//! publishes a pod's IPs only after ADD returned).

use std::collections::BTreeMap;
use std::net::IpAddr;

use weft_api::Endpoint;
use weft_datastore::ClusterSnapshot;
use weft_policy::maps::{EndpointValue, endpoint_key};
use weft_policy::{ClusterInputs, CompiledPolicy, EndpointScope, MapContents, ObjectName, compile};

/// The compiler's output and the map contents it encodes to.
#[derive(Debug, Clone, Default)]
pub struct DesiredPolicy {
    pub compiled: CompiledPolicy,
    pub maps: MapContents,
}

/// Compiles `snapshot` for the pods of `node_name`, with `endpoints`' wired
/// addresses. An endpoint no local Pod object describes (not yet or not at
/// all in the datastore, or not a Kubernetes pod) is selected by no policy,
/// so it gets an entry that enforces nothing: the datapath drops packets of
/// addresses without an entry.
pub fn desired_policy(
    snapshot: &ClusterSnapshot,
    node_name: &str,
    host_ips: &[IpAddr],
    endpoints: &[Endpoint],
) -> DesiredPolicy {
    let mut wired: BTreeMap<ObjectName, Vec<IpAddr>> = BTreeMap::new();
    for endpoint in endpoints {
        if let (Some(namespace), Some(name)) = (&endpoint.pod_namespace, &endpoint.pod_name) {
            wired
                .entry((namespace.clone(), name.clone()))
                .or_default()
                .extend(endpoint.ips.iter().map(|net| net.addr()));
        }
    }
    let inputs = ClusterInputs::new(snapshot)
        .with_scope(EndpointScope::Node(node_name))
        .with_host_ips(host_ips)
        .with_wired_ips(&wired);
    let compiled = compile(&inputs);
    let mut maps = compiled.map_contents();
    let unselected = EndpointValue {
        profile: 0,
        flags: 0,
    };
    for net in endpoints.iter().flat_map(|e| &e.ips) {
        maps.endpoints
            .entry(endpoint_key(net.addr()))
            .or_insert(unselected);
    }
    DesiredPolicy { compiled, maps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;
    use weft_datastore::parse_objects;
    use weft_policy::maps::{ENFORCE_INGRESS, IDENTITY_HOST, ip_key};

    fn snapshot(yaml: &str) -> ClusterSnapshot {
        let mut snapshot = ClusterSnapshot::default();
        for object in parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        snapshot
    }

    const CLUSTER: &str = "
apiVersion: v1
kind: Pod
metadata: {namespace: default, name: pod-a, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
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

    #[test]
    fn wired_addresses_of_local_pods_are_enforced_before_the_pod_publishes_them() {
        let host: IpAddr = "198.18.0.11".parse().unwrap();
        let desired = desired_policy(
            &snapshot(CLUSTER),
            "n1",
            &[host],
            &[endpoint("a", "10.0.1.5/32")],
        );
        let entry = desired.maps.endpoints[&endpoint_key("10.0.1.5".parse().unwrap())];
        assert_eq!(entry.flags, ENFORCE_INGRESS);
        let host_key = ip_key("198.18.0.11/32".parse().unwrap());
        assert_eq!(desired.maps.identities[&host_key].identity, IDENTITY_HOST);
        let far = ip_key("10.0.2.7/32".parse().unwrap());
        assert!(desired.maps.identities.contains_key(&far));
        assert!(
            !desired
                .maps
                .endpoints
                .contains_key(&endpoint_key("10.0.2.7".parse().unwrap())),
            "pods of other nodes are no local endpoints"
        );
    }

    #[test]
    fn endpoints_no_pod_object_describes_enforce_nothing() {
        let mut anonymous = endpoint("b", "10.0.1.6/32");
        anonymous.pod_namespace = None;
        anonymous.pod_name = None;
        let unknown = endpoint("c", "10.0.1.7/32");
        let desired = desired_policy(&snapshot(CLUSTER), "n1", &[], &[anonymous, unknown]);
        for ip in ["10.0.1.6", "10.0.1.7"] {
            let entry = desired.maps.endpoints[&endpoint_key(ip.parse().unwrap())];
            assert_eq!(entry.flags, 0, "{ip}");
        }
    }
}
