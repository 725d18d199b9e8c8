//! What Weft keeps of a pod: the fields the policy compiler and weftd read
//! (labels, node, published IPs, named container ports) in a struct
//! of its own, about a tenth of the size of k8s-openapi's `Pod` (2.4 KB of
//! struct before its first container's 2 KB), so a cluster of 10,000 pods
//! costs a few MiB. Pods that have no pod-network address of their own
//! (hostNetwork, or finished: their IPs may already be another pod's) are
//! not kept at all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

/// A pod as weftd sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRecord {
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName`: unset until the pod is scheduled.
    pub node_name: Option<String>,
    /// `status.podIPs` (or `status.podIP` without them), as published:
    /// unparsed, so a bad one can be reported.
    pub ips: Vec<String>,
    /// The named ports of every container, init containers (sidecars) too.
    pub named_ports: Vec<PodPort>,
}

/// A named container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    pub name: String,
    /// As written (`TCP` when unset).
    pub protocol: Option<String>,
    pub container_port: i32,
}

impl PodRecord {
    /// The record of `pod`, or `None` for a pod Weft does not keep.
    pub fn of(pod: &Pod) -> Option<PodRecord> {
        let spec = pod.spec.as_ref();
        if spec.and_then(|s| s.host_network).unwrap_or(false) {
            return None;
        }
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            return None;
        }
        let ips = status.map(|status| match (&status.pod_ips, &status.pod_ip) {
            (Some(ips), _) if !ips.is_empty() => ips.iter().map(|ip| ip.ip.clone()).collect(),
            (_, Some(ip)) => vec![ip.clone()],
            _ => vec![],
        });
        Some(PodRecord {
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            node_name: spec.and_then(|s| s.node_name.clone()),
            ips: ips.unwrap_or_default(),
            named_ports: spec.map(named_ports).unwrap_or_default(),
        })
    }
}

fn named_ports(spec: &PodSpec) -> Vec<PodPort> {
    let containers = spec.containers.iter();
    let containers = containers.chain(spec.init_containers.iter().flatten());
    containers
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|port| {
            Some(PodPort {
                name: port.name.clone()?,
                protocol: port.protocol.clone(),
                container_port: port.container_port,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_record_keeps_labels_node_ips_and_named_ports_of_every_container() {
        let full = pod(json!({
            "metadata": {"name": "a", "namespace": "x", "labels": {"app": "a"},
                "annotations": {"big": "x"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "containers": [
                    {"name": "c", "image": "busybox",
                        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 81}]},
                    {"name": "plain", "image": "busybox"}],
                "initContainers": [{"name": "sidecar", "restartPolicy": "Always",
                    "ports": [{"containerPort": 9090, "name": "metrics", "protocol": "UDP"}]}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5",
                "podIPs": [{"ip": "10.244.1.5"}, {"ip": "fd00::5"}],
                "conditions": [{"type": "Ready", "status": "True"}]}
        }));
        let port = |name: &str, protocol: Option<&str>, container_port| PodPort {
            name: name.into(),
            protocol: protocol.map(Into::into),
            container_port,
        };
        assert_eq!(
            PodRecord::of(&full),
            Some(PodRecord {
                labels: [("app".into(), "a".into())].into(),
                node_name: Some("n1".into()),
                ips: vec!["10.244.1.5".into(), "fd00::5".into()],
                named_ports: vec![port("http", None, 80), port("metrics", Some("UDP"), 9090)],
            })
        );
    }

    #[test]
    fn the_single_pod_ip_stands_in_for_a_missing_list() {
        let old = pod(json!({"metadata": {"name": "a"}, "status": {"podIP": "10.244.1.5"}}));
        assert_eq!(PodRecord::of(&old).unwrap().ips, ["10.244.1.5"]);
        let unwired = pod(json!({"metadata": {"name": "a"}}));
        assert_eq!(PodRecord::of(&unwired), Some(PodRecord::default()));
    }

    #[test]
    fn host_network_and_finished_pods_are_not_kept() {
        let host = pod(
            json!({"metadata": {"name": "p"}, "spec": {"hostNetwork": true, "containers": []}}),
        );
        assert_eq!(PodRecord::of(&host), None);
        for phase in ["Succeeded", "Failed"] {
            let done = pod(json!({"metadata": {"name": "p"}, "status": {"phase": phase}}));
            assert_eq!(PodRecord::of(&done), None, "{phase}");
        }
        let pending = pod(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}}));
        assert!(PodRecord::of(&pending).is_some());
    }
}
