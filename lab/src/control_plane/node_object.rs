//! The Node object the lab registers for each of its nodes, as kubelet
//! would: hostname and OS labels, its underlay address as InternalIP, the
//! machine's capacity, and a Ready condition that turns True only once the
//! node's weftd is ready. Pure: objects and patches out.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use weft_datastore::Node;

/// The label every node carries, as kubelet sets it.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const OS_LABEL: &str = "kubernetes.io/os";
/// Pods per node, kubelet's default.
pub const MAX_PODS: u32 = 110;
const READY: &str = "Ready";

/// What a node offers the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpus: usize,
    pub memory_kib: u64,
    pub pods: u32,
}

/// What `kubectl get nodes -o wide` shows of a lab node's software: the
/// pinned Kubernetes release as kubelet's and kube-proxy's version, the
/// machine's kernel, and the lab as OS image and runtime.
pub fn lab_node_info(kubernetes_version: &str, kernel_version: &str) -> NodeSystemInfo {
    NodeSystemInfo {
        architecture: std::env::consts::ARCH.replace("x86_64", "amd64"),
        operating_system: "linux".into(),
        os_image: "weft-lab".into(),
        kernel_version: kernel_version.to_owned(),
        kubelet_version: kubernetes_version.to_owned(),
        kube_proxy_version: kubernetes_version.to_owned(),
        container_runtime_version: format!("weft-lab://{}", env!("CARGO_PKG_VERSION")),
        ..NodeSystemInfo::default()
    }
}

/// The Node as a kubelet registers it: not Ready yet.
pub fn registered_node(
    name: &str,
    ip: IpAddr,
    capacity: NodeCapacity,
    info: NodeSystemInfo,
    now: Timestamp,
) -> Node {
    let resources = [
        ("cpu".to_owned(), Quantity(capacity.cpus.to_string())),
        (
            "memory".to_owned(),
            Quantity(format!("{}Ki", capacity.memory_kib)),
        ),
        ("pods".to_owned(), Quantity(capacity.pods.to_string())),
    ];
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                [
                    (HOSTNAME_LABEL.to_owned(), name.to_owned()),
                    (OS_LABEL.to_owned(), "linux".to_owned()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.to_string(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name.to_owned(),
                },
            ]),
            capacity: Some(resources.clone().into()),
            allocatable: Some(resources.into()),
            conditions: Some(vec![ready_condition(false, now)]),
            node_info: Some(info),
            ..NodeStatus::default()
        }),
        ..Node::default()
    }
}

/// `node` with one more InternalIP (a dual-stack node's second family),
/// as kubelet's `--node-ip=IPV4,IPV6` registers it.
pub fn with_internal_ip(mut node: Node, ip: IpAddr) -> Node {
    let addresses = node
        .status
        .get_or_insert_with(NodeStatus::default)
        .addresses
        .get_or_insert_with(Vec::new);
    let after_internal = addresses
        .iter()
        .rposition(|a| a.type_ == "InternalIP")
        .map_or(0, |at| at + 1);
    addresses.insert(
        after_internal,
        NodeAddress {
            type_: "InternalIP".into(),
            address: ip.to_string(),
        },
    );
    node
}

/// The Ready condition, with kubelet's reasons.
pub fn ready_condition(ready: bool, now: Timestamp) -> NodeCondition {
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "weftd is ready")
    } else {
        ("False", "KubeletNotReady", "weftd is not ready yet")
    };
    NodeCondition {
        type_: READY.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// A strategic merge patch of the Node's status that sets Ready: the
/// conditions merge by type, so the others (weftd's NetworkUnavailable)
/// stay. On a Node that is Ready already only the heartbeat moves: its
/// transition time says since when it is Ready.
pub fn ready_patch(current: Option<&Node>, now: Timestamp) -> serde_json::Value {
    let mut condition = serde_json::json!(ready_condition(true, now));
    if is_ready(current)
        && let Some(fields) = condition.as_object_mut()
    {
        fields.remove("lastTransitionTime");
    }
    serde_json::json!({"status": {"conditions": [condition]}})
}

/// Whether the Node's Ready condition is True.
fn is_ready(node: Option<&Node>) -> bool {
    node.and_then(|n| n.status.as_ref())
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == READY && c.status == "True")
        })
}

/// Whether the controller-manager has given the Node its pod CIDRs.
pub fn has_pod_cidrs(node: Option<&Node>) -> bool {
    node.and_then(|n| n.spec.as_ref())
        .and_then(|spec| spec.pod_cidrs.as_ref())
        .is_some_and(|cidrs| !cidrs.is_empty())
}

/// MemTotal of /proc/meminfo, in KiB.
pub fn meminfo_total_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;

    fn capacity() -> NodeCapacity {
        NodeCapacity {
            cpus: 2,
            memory_kib: 4_000_000,
            pods: MAX_PODS,
        }
    }

    #[test]
    fn a_node_registers_like_kubelet_not_ready_yet() {
        let now = Timestamp::UNIX_EPOCH;
        let node = registered_node(
            "n2",
            "198.18.0.12".parse().unwrap(),
            capacity(),
            lab_node_info("v1.37.2", "6.18.0"),
            now,
        );
        let info = node.status.as_ref().unwrap().node_info.as_ref().unwrap();
        assert_eq!(
            (info.kubelet_version.as_str(), info.kernel_version.as_str()),
            ("v1.37.2", "6.18.0")
        );
        let value = serde_json::to_value(&node).unwrap();
        assert_eq!(value["metadata"]["name"], "n2");
        assert_eq!(value["metadata"]["labels"][HOSTNAME_LABEL], "n2");
        assert_eq!(value["metadata"]["labels"]["kubernetes.io/os"], "linux");
        assert_eq!(
            value["status"]["addresses"],
            serde_json::json!([
                {"type": "InternalIP", "address": "198.18.0.12"},
                {"type": "Hostname", "address": "n2"}
            ])
        );
        assert_eq!(
            value["status"]["capacity"],
            serde_json::json!({"cpu": "2", "memory": "4000000Ki", "pods": "110"})
        );
        assert_eq!(value["status"]["allocatable"], value["status"]["capacity"]);
        let conditions = value["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(conditions[0]["status"], "False");
        assert!(
            node.spec.is_none(),
            "pod CIDRs are the controller-manager's to set"
        );
    }

    #[test]
    fn a_dual_stack_node_lists_its_ipv6_internal_ip_after_its_ipv4_one() {
        let node = registered_node(
            "n2",
            "198.18.0.12".parse().unwrap(),
            capacity(),
            lab_node_info("v1.37.2", "6.18"),
            Timestamp::UNIX_EPOCH,
        );
        let node = with_internal_ip(node, "2001:2::c".parse().unwrap());
        let addresses: Vec<(String, String)> = node
            .status
            .unwrap()
            .addresses
            .unwrap()
            .into_iter()
            .map(|a| (a.type_, a.address))
            .collect();
        assert_eq!(
            addresses,
            [
                ("InternalIP".to_owned(), "198.18.0.12".to_owned()),
                ("InternalIP".to_owned(), "2001:2::c".to_owned()),
                ("Hostname".to_owned(), "n2".to_owned()),
            ]
        );
    }

    #[test]
    fn the_ready_patch_sets_only_the_ready_condition() {
        let patch = ready_patch(None, Timestamp::UNIX_EPOCH);
        let conditions = patch["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(conditions[0]["status"], "True");
        assert_eq!(conditions[0]["reason"], "KubeletReady");
        assert_eq!(conditions[0]["lastHeartbeatTime"], "1970-01-01T00:00:00Z");
        assert_eq!(conditions[0]["lastTransitionTime"], "1970-01-01T00:00:00Z");
        assert_eq!(patch.as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_node_ready_already_keeps_its_transition_time() {
        let registered = registered_node(
            "n1",
            "198.18.0.11".parse().unwrap(),
            capacity(),
            lab_node_info("v1.37.2", "6.18.0"),
            Timestamp::UNIX_EPOCH,
        );
        let patch = ready_patch(Some(&registered), Timestamp::UNIX_EPOCH);
        assert!(!patch["status"]["conditions"][0]["lastTransitionTime"].is_null());
        let mut ready = registered.clone();
        ready.status.as_mut().unwrap().conditions =
            Some(vec![ready_condition(true, Timestamp::UNIX_EPOCH)]);
        let patch = ready_patch(Some(&ready), Timestamp::UNIX_EPOCH);
        let condition = &patch["status"]["conditions"][0];
        assert!(condition["lastTransitionTime"].is_null(), "{patch}");
        assert_eq!(condition["status"], "True");
        assert_eq!(condition["lastHeartbeatTime"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn pod_cidrs_count_once_set() {
        let mut node = Node::default();
        assert!(!has_pod_cidrs(None));
        assert!(!has_pod_cidrs(Some(&node)));
        node.spec = Some(NodeSpec {
            pod_cidrs: Some(vec![]),
            ..NodeSpec::default()
        });
        assert!(!has_pod_cidrs(Some(&node)));
        node.spec = Some(NodeSpec {
            pod_cidrs: Some(vec!["10.244.1.0/24".into()]),
            ..NodeSpec::default()
        });
        assert!(has_pod_cidrs(Some(&node)));
    }

    #[test]
    fn memory_comes_from_meminfo() {
        let meminfo = "MemTotal:        8049108 kB\nMemFree:          123 kB\n";
        assert_eq!(meminfo_total_kib(meminfo), Some(8_049_108));
        assert_eq!(meminfo_total_kib("MemFree: 1 kB\n"), None);
    }
}
