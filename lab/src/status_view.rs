//! What `status` reports: nodes (underlay IP, pod CIDRs, readiness),
//! namespaces, pods and policies, in LAB.md's JSON shape, or as text.

use std::collections::BTreeMap;

use serde::Serialize;
use weft_datastore::{ClusterSnapshot, Node, Pod};

use crate::pods;
use crate::topology::Topology;

/// Node annotation where weftd records the pod CIDRs it claimed.
pub const POD_CIDRS_ANNOTATION: &str = "weft.dev/pod-cidrs";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabStatus {
    pub nodes: Vec<NodeStatus>,
    pub namespaces: Vec<NamespaceStatus>,
    pub pods: Vec<PodStatus>,
    pub policies: Vec<PolicyStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub name: String,
    #[serde(rename = "underlayIP")]
    pub underlay_ip: String,
    /// Every underlay address, the primary (`underlayIP`) first.
    #[serde(rename = "underlayIPs")]
    pub underlay_ips: Vec<String>,
    #[serde(rename = "podCIDRs")]
    pub pod_cidrs: Vec<String>,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceStatus {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodStatus {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ips: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyStatus {
    pub namespace: String,
    pub name: String,
}

/// Builds the report; `ready` tells whether a node's weftd is ready.
pub fn lab_status(
    topology: &Topology,
    stored: &ClusterSnapshot<Pod>,
    ready: impl Fn(&str) -> bool,
) -> LabStatus {
    let nodes = topology
        .nodes
        .iter()
        .map(|host| NodeStatus {
            name: host.name.clone(),
            underlay_ip: topology
                .primary_ip(host)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            underlay_ips: topology
                .underlay_ips(host)
                .iter()
                .map(ToString::to_string)
                .collect(),
            pod_cidrs: stored
                .nodes
                .get(&host.name)
                .map(pod_cidrs)
                .unwrap_or_default(),
            ready: ready(&host.name),
        })
        .collect();
    let namespaces = stored
        .namespaces
        .iter()
        .map(|(name, ns)| NamespaceStatus {
            name: name.clone(),
            labels: ns.metadata.labels.clone().unwrap_or_default(),
        })
        .collect();
    let pods = stored
        .pods
        .iter()
        .map(|((namespace, name), pod)| PodStatus {
            namespace: namespace.clone(),
            name: name.clone(),
            node: pods::node_name(pod).unwrap_or_default().to_owned(),
            ips: pods::pod_ips(pod).iter().map(ToString::to_string).collect(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
        })
        .collect();
    let policies = stored
        .policies
        .keys()
        .map(|(namespace, name)| PolicyStatus {
            namespace: namespace.clone(),
            name: name.clone(),
        })
        .collect();
    LabStatus {
        nodes,
        namespaces,
        pods,
        policies,
    }
}

/// spec.podCIDRs when the cluster allocates them, else weftd's claim.
pub fn pod_cidrs(node: &Node) -> Vec<String> {
    let allocated = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.clone())
        .unwrap_or_default();
    if !allocated.is_empty() {
        return allocated;
    }
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_CIDRS_ANNOTATION))
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl LabStatus {
    /// Human-readable sections.
    pub fn render_text(&self) -> String {
        let mut out = String::from("NODES\n");
        for n in &self.nodes {
            let cidrs = if n.pod_cidrs.is_empty() {
                "-".to_owned()
            } else {
                n.pod_cidrs.join(",")
            };
            let ready = if n.ready { "ready" } else { "not-ready" };
            out.push_str(&format!(
                "  {:<6} {:<15} {:<18} {ready}\n",
                n.name,
                n.underlay_ips.join(","),
                cidrs
            ));
        }
        out.push_str("NAMESPACES\n");
        for ns in &self.namespaces {
            out.push_str(&format!("  {:<20} {}\n", ns.name, labels_text(&ns.labels)));
        }
        out.push_str("PODS\n");
        for p in &self.pods {
            let ips = if p.ips.is_empty() {
                "-".to_owned()
            } else {
                p.ips.join(",")
            };
            out.push_str(&format!(
                "  {:<30} {:<6} {:<15} {}\n",
                format!("{}/{}", p.namespace, p.name),
                p.node,
                ips,
                labels_text(&p.labels)
            ));
        }
        out.push_str("POLICIES\n");
        for p in &self.policies {
            out.push_str(&format!("  {}/{}\n", p.namespace, p.name));
        }
        out
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{IpFamily, Mode};

    fn stored() -> ClusterSnapshot<Pod> {
        let yaml = r#"
apiVersion: v1
kind: Node
metadata: {name: n1, annotations: {weft.dev/pod-cidrs: "10.244.1.0/24"}}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
spec: {podCIDRs: ["10.244.7.0/24"]}
---
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.244.1.5, podIPs: [{ip: 10.244.1.5}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}}
"#;
        let mut snapshot = ClusterSnapshot::<Pod>::default();
        for object in weft_datastore::parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        snapshot
    }

    #[test]
    fn json_has_the_lab_md_shape() {
        let topology = Topology::plan(&"t1".parse().unwrap(), 2, Mode::Vxlan).unwrap();
        let status = lab_status(&topology, &stored(), |node| node == "n1");
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            serde_json::json!({
                "nodes": [
                    {"name": "n1", "underlayIP": "198.18.0.11", "underlayIPs": ["198.18.0.11"], "podCIDRs": ["10.244.1.0/24"], "ready": true},
                    {"name": "n2", "underlayIP": "198.18.0.12", "underlayIPs": ["198.18.0.12"], "podCIDRs": ["10.244.7.0/24"], "ready": false}
                ],
                "namespaces": [{"name": "x", "labels": {"ns": "x"}}],
                "pods": [{"namespace": "x", "name": "a", "node": "n1", "ips": ["10.244.1.5"], "labels": {"pod": "a"}}],
                "policies": [{"namespace": "x", "name": "deny-all"}]
            })
        );
        let text = status.render_text();
        assert!(text.contains("x/a"), "{text}");
        assert!(text.contains("not-ready"), "{text}");
    }

    #[test]
    fn a_dual_stack_node_shows_both_underlay_addresses_primary_first() {
        let topology = Topology::plan(&"t1".parse().unwrap(), 2, Mode::Vxlan)
            .unwrap()
            .with_family(IpFamily::Dual);
        let status = lab_status(&topology, &stored(), |_| true);
        let ips = &status.nodes[0].underlay_ips;
        assert_eq!(ips, &["198.18.0.11", "2001:2::b"]);
        assert_eq!(status.nodes[0].underlay_ip, ips[0]);
        assert!(status.render_text().contains("198.18.0.11,2001:2::b"));
        let ipv6 = Topology::plan(&"t1".parse().unwrap(), 2, Mode::Vxlan)
            .unwrap()
            .with_family(IpFamily::Ipv6);
        let status = lab_status(&ipv6, &stored(), |_| true);
        assert_eq!(status.nodes[0].underlay_ips, ["2001:2::b"]);
    }

    #[test]
    fn annotation_cidrs_are_comma_separated() {
        let mut node = Node::default();
        node.metadata.annotations = Some(
            [(
                POD_CIDRS_ANNOTATION.into(),
                "10.244.1.0/24, fd00:1::/64".into(),
            )]
            .into(),
        );
        assert_eq!(pod_cidrs(&node), vec!["10.244.1.0/24", "fd00:1::/64"]);
        assert!(pod_cidrs(&Node::default()).is_empty());
    }
}
