//! What Weft keeps of each watched Node, Namespace and NetworkPolicy
//! (pure): the fields the overlay and the policy compiler read, nothing
//! else (managedFields and most of spec and status go). Pods are kept as
//! [`PodRecord`](crate::PodRecord)s.

use k8s_openapi::api::core::v1::{Namespace, Node, NodeCondition, NodeSpec, NodeStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Annotations Weft reads from Nodes start with this.
const WEFT_ANNOTATION_PREFIX: &str = "weft.dev/";

/// Identity and labels; annotations only when asked. Not the
/// resourceVersion: an object whose kept fields did not change is no news.
fn slim_meta(meta: &ObjectMeta, keep_annotations: impl Fn(&str) -> bool) -> ObjectMeta {
    let annotations = meta.annotations.as_ref().map(|all| {
        all.iter()
            .filter(|(key, _)| keep_annotations(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        labels: meta.labels.clone(),
        annotations: annotations.filter(|a: &std::collections::BTreeMap<_, _>| !a.is_empty()),
        deletion_timestamp: meta.deletion_timestamp.clone(),
        ..ObjectMeta::default()
    }
}

/// The Node condition weftd sets; the others are kubelet's.
const NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";

/// A node's name, Weft's annotations, pod CIDRs, addresses and its
/// NetworkUnavailable condition.
pub fn slim_node(node: &Node) -> Node {
    Node {
        metadata: slim_meta(&node.metadata, |key| {
            key.starts_with(WEFT_ANNOTATION_PREFIX)
        }),
        spec: node.spec.as_ref().map(|spec| NodeSpec {
            pod_cidr: spec.pod_cidr.clone(),
            pod_cidrs: spec.pod_cidrs.clone(),
            ..NodeSpec::default()
        }),
        status: node.status.as_ref().map(|status| NodeStatus {
            addresses: status.addresses.clone(),
            conditions: status.conditions.as_ref().map(|all| {
                all.iter()
                    .filter(|c| c.type_ == NETWORK_UNAVAILABLE)
                    .map(|c| NodeCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        ..NodeCondition::default()
                    })
                    .collect()
            }),
            ..NodeStatus::default()
        }),
    }
}

/// A namespace's name and labels.
pub fn slim_namespace(namespace: &Namespace) -> Namespace {
    Namespace {
        metadata: slim_meta(&namespace.metadata, |_| false),
        ..Namespace::default()
    }
}

/// A NetworkPolicy's spec, without the server's bookkeeping.
pub fn slim_policy(policy: &NetworkPolicy) -> NetworkPolicy {
    NetworkPolicy {
        metadata: slim_meta(&policy.metadata, |_| false),
        spec: policy.spec.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_keeps_only_weft_annotations_cidrs_addresses_and_the_network_condition() {
        let full: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1", "annotations": {
                "weft.dev/underlay-ip": "198.18.0.11", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
                "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "InternalIP", "address": "198.18.0.11"}],
                "capacity": {"cpu": "2"},
                "conditions": [
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-12-04T10:00:00Z"},
                    {"type": "NetworkUnavailable", "status": "False", "reason": "WeftIsUp"}]}
        }))
        .unwrap();
        let slim = serde_json::to_value(slim_node(&full)).unwrap();
        assert_eq!(
            slim,
            json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n1", "annotations": {"weft.dev/underlay-ip": "198.18.0.11"}},
                "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
                "status": {"addresses": [{"type": "InternalIP", "address": "198.18.0.11"}],
                    "conditions": [{"type": "NetworkUnavailable", "status": "False"}]}
            })
        );
    }
}
