//! What the lab reads from and writes into Pod objects: declared container
//! ports (what gets a listener), the node and IPs, and the fields the API
//! server and kubelet own (uid, spec.nodeName, status), which survive a
//! re-apply of the pod's YAML.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{HostIP, Pod, PodIP, PodStatus};

/// A container port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortProtocol {
    Tcp,
    Udp,
    /// Parsed and compiled into policy, but nothing listens (no SCTP here).
    Sctp,
}

impl PortProtocol {
    /// Kubernetes' spelling: TCP, UDP, SCTP.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }
}

/// One `containers[].ports[]` entry that is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeclaredPort {
    pub protocol: PortProtocol,
    pub port: u16,
}

/// The pod's valid container ports over all containers, sorted, each once.
pub fn declared_ports(pod: &Pod) -> Vec<DeclaredPort> {
    let mut ports: Vec<DeclaredPort> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            Some(DeclaredPort {
                protocol: PortProtocol::parse(p.protocol.as_deref().unwrap_or("TCP"))?,
                port: u16::try_from(p.container_port).ok().filter(|n| *n > 0)?,
            })
        })
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

/// Ports that get a listener: (TCP ports, UDP ports).
pub fn listener_ports(pod: &Pod) -> (Vec<u16>, Vec<u16>) {
    let ports = declared_ports(pod);
    let of = |protocol| {
        ports
            .iter()
            .filter(|p| p.protocol == protocol)
            .map(|p| p.port)
            .collect()
    };
    (of(PortProtocol::Tcp), of(PortProtocol::Udp))
}

pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

/// status.podIPs (or the older status.podIP).
pub fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    let listed: Vec<IpAddr> = status
        .pod_ips
        .iter()
        .flatten()
        .filter_map(|p| p.ip.parse().ok())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    status
        .pod_ip
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

/// The pod's status has the condition Ready=True (kubelet's readiness,
/// whatever the phase).
pub fn has_ready_condition(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|status| status.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The applied pod with the fields the cluster owns: its uid and status from
/// the stored pod if there is one, and its node.
pub fn with_cluster_fields(mut applied: Pod, stored: Option<&Pod>, node: &str, uid: &str) -> Pod {
    applied.metadata.uid = Some(
        stored
            .and_then(|s| s.metadata.uid.clone())
            .unwrap_or_else(|| uid.to_owned()),
    );
    applied.status = stored.and_then(|s| s.status.clone());
    applied.spec.get_or_insert_with(Default::default).node_name = Some(node.to_owned());
    applied
}

/// The pod as kubelet reports it once its sandbox is wired.
pub fn running(mut pod: Pod, ips: &[IpAddr], host_ip: IpAddr) -> Pod {
    pod.status = Some(PodStatus {
        phase: Some("Running".into()),
        pod_ip: ips.first().map(ToString::to_string),
        pod_ips: Some(ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect()),
        host_ip: Some(host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: host_ip.to_string(),
        }]),
        ..Default::default()
    });
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn only_a_ready_condition_that_is_true_makes_a_pod_ready() {
        let with = |conditions: serde_json::Value| {
            pod(
                serde_json::json!({"metadata": {"name": "a"}, "status": {"conditions": conditions}}),
            )
        };
        assert!(has_ready_condition(&with(serde_json::json!([
            {"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]))));
        assert!(!has_ready_condition(&with(
            serde_json::json!([{"type": "Ready", "status": "False"}])
        )));
        assert!(!has_ready_condition(&with(
            serde_json::json!([{"type": "ContainersReady", "status": "True"}])
        )));
        assert!(!has_ready_condition(&pod(
            serde_json::json!({"metadata": {"name": "a"}})
        )));
    }

    fn web() -> Pod {
        pod(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]},
                {"name": "b", "ports": [{"containerPort": 80, "protocol": "TCP"},
                                        {"containerPort": 9, "protocol": "SCTP"}]}
            ]}
        }))
    }

    #[test]
    fn declared_ports_cover_all_containers_once() {
        let ports = declared_ports(&web());
        assert_eq!(
            ports,
            vec![
                DeclaredPort {
                    protocol: PortProtocol::Tcp,
                    port: 80
                },
                DeclaredPort {
                    protocol: PortProtocol::Udp,
                    port: 53
                },
                DeclaredPort {
                    protocol: PortProtocol::Sctp,
                    port: 9
                },
            ]
        );
        assert_eq!(listener_ports(&web()), (vec![80], vec![53]));
    }

    #[test]
    fn cluster_fields_survive_a_reapply() {
        let stored = running(
            with_cluster_fields(web(), None, "n2", "uid-1"),
            &["10.244.2.5".parse().unwrap()],
            "198.18.0.12".parse().unwrap(),
        );
        assert_eq!(node_name(&stored), Some("n2"));
        assert_eq!(
            pod_ips(&stored),
            vec!["10.244.2.5".parse::<IpAddr>().unwrap()]
        );
        let status = stored.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.host_ip.as_deref(), Some("198.18.0.12"));

        let mut relabelled = web();
        relabelled.metadata.labels = Some([("app".into(), "web2".into())].into());
        let merged = with_cluster_fields(relabelled, Some(&stored), "n2", "uid-2");
        assert_eq!(merged.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(merged.status, stored.status);
        assert_eq!(
            merged.metadata.labels,
            Some([("app".into(), "web2".into())].into())
        );
    }

    #[test]
    fn pod_ip_alone_is_read_too() {
        let mut p = web();
        p.status = Some(PodStatus {
            pod_ip: Some("10.244.1.9".into()),
            ..Default::default()
        });
        assert_eq!(pod_ips(&p), vec!["10.244.1.9".parse::<IpAddr>().unwrap()]);
        assert!(pod_ips(&web()).is_empty());
    }
}
