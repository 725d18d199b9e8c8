//! What Weft keeps of each watched object (pure): the fields the overlay
//! and the policy compiler read, nothing else, so 10,000 pods cost a few
//! MiB instead of hundreds (managedFields, most of spec and status go).
//! Pods not on the pod network (hostNetwork) or finished (their IPs may
//! already belong to another pod) are not kept at all.

use k8s_openapi::api::core::v1::{
    Container, Namespace, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
};
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

/// A pod's name, labels, node, container ports and IPs; `None` for pods
/// that have no pod-network address of their own.
pub fn slim_pod(pod: &Pod) -> Option<Pod> {
    let spec = pod.spec.as_ref();
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        return None;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    let containers = spec
        .map(|s| {
            s.containers
                .iter()
                .map(|c| Container {
                    name: c.name.clone(),
                    ports: c.ports.clone(),
                    ..Container::default()
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Pod {
        metadata: slim_meta(&pod.metadata, |_| false),
        spec: Some(PodSpec {
            node_name: spec.and_then(|s| s.node_name.clone()),
            containers,
            ..PodSpec::default()
        }),
        status: pod.status.as_ref().map(|status| PodStatus {
            pod_ips: status.pod_ips.clone(),
            phase: status.phase.clone(),
            ..PodStatus::default()
        }),
    })
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

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_pod_keeps_what_policy_and_events_read_and_nothing_else() {
        let full = pod(json!({
            "metadata": {"name": "a", "namespace": "x", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "a"}, "annotations": {"big": "x"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "serviceAccountName": "sa",
                "containers": [{"name": "c", "image": "busybox", "args": ["x"],
                    "ports": [{"containerPort": 80, "name": "http"}]}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}],
                "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let slim = serde_json::to_value(slim_pod(&full).unwrap()).unwrap();
        assert_eq!(
            slim,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "a", "namespace": "x", "uid": "u1", "labels": {"app": "a"}},
                "spec": {"nodeName": "n1",
                    "containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]},
                "status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}]}
            })
        );
    }

    #[test]
    fn host_network_and_finished_pods_are_not_kept() {
        let host = pod(
            json!({"metadata": {"name": "p"}, "spec": {"hostNetwork": true, "containers": []}}),
        );
        assert!(slim_pod(&host).is_none());
        for phase in ["Succeeded", "Failed"] {
            let done = pod(json!({"metadata": {"name": "p"}, "status": {"phase": phase}}));
            assert!(slim_pod(&done).is_none(), "{phase}");
        }
        let pending = pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}));
        assert!(slim_pod(&pending).is_some());
    }

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
