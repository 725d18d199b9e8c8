//! The cluster the benchmark writes to the API server (pure): the policy
//! compiler's benchmark cluster (namespaces of 10-replica apps, default
//! deny, DNS and internet egress, ipBlock ingress, pod and namespace
//! selectors, named ports), its pods spread evenly over the lab's nodes and
//! fake Node objects. A fake Node looks like one weftd and kubelet keep:
//! pod CIDRs, weftd's underlay-IP and VTEP-MAC annotations, Ready and
//! NetworkUnavailable=False, so every weftd takes it for a peer. Pods on a
//! fake node get a kubelet-shaped status with an IP in its CIDR; pods on a
//! lab node are left to the lab's kubelet stand-in, which wires them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::{bail, ensure};
use ipnet::Ipv4Net;
use serde_json::Value;
use weft_datastore::k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeSystemInfo};
use weft_datastore::k8s_openapi::jiff::Timestamp;
use weft_datastore::{Namespace, NetworkPolicy, Node, Pod};
use weft_lab::control_plane::node_object::{
    MAX_PODS, NodeCapacity, ready_condition, registered_node,
};
use weft_lab::kubelet::status::running_patch;

use crate::synthetic;

/// The annotations weftd publishes on its Node.
const UNDERLAY_IP_ANNOTATION: &str = "weft.dev/underlay-ip";
const VTEP_MAC_ANNOTATION: &str = "weft.dev/vtep-mac";
/// Fake nodes' underlay addresses come from here: the lab's underlay range
/// (198.18.0.0/15), upper half, where no lab host lives.
const FAKE_UNDERLAY: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 0);
/// Host addresses of a fake node's pods start here: .0 is the network, .1
/// the node's VTEP address.
const FIRST_POD_HOST: u32 = 2;
/// Containers need an image to be valid; nothing ever pulls it.
const IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The capacity fake nodes claim (a small worker).
const FAKE_CAPACITY: NodeCapacity = NodeCapacity {
    cpus: 4,
    memory_kib: 16 * 1024 * 1024,
    pods: MAX_PODS,
};

/// How big a cluster to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Node objects in the API, the lab's own included.
    pub nodes: usize,
    pub namespaces: usize,
    pub pods_per_namespace: usize,
    /// At most 10 (the benchmark cluster's policies per namespace).
    pub policies_per_namespace: usize,
    /// Whether the lab's nodes get their share of the pods (wired for
    /// real) or every pod goes to a fake node.
    pub local_pods: bool,
}

impl Shape {
    pub fn pods(&self) -> usize {
        self.namespaces * self.pods_per_namespace
    }

    pub fn policies(&self) -> usize {
        self.namespaces * self.policies_per_namespace.min(10)
    }
}

/// A Node that only exists as an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeNode {
    pub name: String,
    pub cidr: Ipv4Net,
    pub underlay_ip: Ipv4Addr,
    pub vtep_mac: [u8; 6],
}

/// A pod's status as a kubelet would write it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPatch {
    pub namespace: String,
    pub name: String,
    pub patch: Value,
}

/// Everything to create, in the order it is created.
#[derive(Debug, Clone)]
pub struct Plan {
    pub fake_nodes: Vec<FakeNode>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    /// For the pods on fake nodes only.
    pub statuses: Vec<StatusPatch>,
    pub policies: Vec<NetworkPolicy>,
    /// Pods bound to each lab node.
    pub local_pods: BTreeMap<String, usize>,
}

/// What the lab already holds that the fake nodes must not collide with.
#[derive(Debug, Clone, Default)]
pub struct LabFacts {
    pub cluster_cidr: Ipv4Net,
    /// The lab's nodes, by name.
    pub lab_nodes: Vec<String>,
    /// Pod CIDRs the controller-manager gave the lab's nodes.
    pub taken_cidrs: Vec<Ipv4Net>,
    /// The lab's underlay subnets.
    pub underlay_subnets: Vec<Ipv4Net>,
}

pub fn plan(shape: &Shape, lab: &LabFacts, now: Timestamp) -> anyhow::Result<Plan> {
    ensure!(
        shape.nodes > lab.lab_nodes.len(),
        "{} Node objects leave none to fake beside the lab's {}",
        shape.nodes,
        lab.lab_nodes.len()
    );
    let fake_nodes = fake_nodes(shape.nodes - lab.lab_nodes.len(), lab)?;
    let cluster = synthetic::cluster(
        shape.namespaces,
        shape.pods_per_namespace,
        shape.policies_per_namespace,
    );
    let targets: Vec<Target> = lab
        .lab_nodes
        .iter()
        .filter(|_| shape.local_pods)
        .map(|name| Target::Lab(name.clone()))
        .chain(fake_nodes.iter().map(Target::Fake))
        .collect();
    let per_node = cluster.pods.len().div_ceil(targets.len());
    ensure!(
        FIRST_POD_HOST as usize + per_node < 255,
        "{per_node} pods per node do not fit a /24"
    );
    let mut plan = Plan {
        nodes: fake_nodes
            .iter()
            .map(|n| fake_node_object(n, now))
            .collect(),
        namespaces: cluster.namespaces.into_values().collect(),
        pods: Vec::with_capacity(cluster.pods.len()),
        statuses: Vec::new(),
        policies: cluster.policies.into_values().collect(),
        local_pods: BTreeMap::new(),
        fake_nodes: Vec::new(),
    };
    for (index, pod) in cluster
        .pods
        .into_values()
        .map(Arc::unwrap_or_clone)
        .enumerate()
    {
        let target = &targets[index % targets.len()];
        // Round robin: each node's pods are numbered by the lap.
        let host = FIRST_POD_HOST + (index / targets.len()) as u32;
        let pod = bound_pod(pod, target.name());
        match target {
            Target::Lab(name) => *plan.local_pods.entry(name.clone()).or_default() += 1,
            Target::Fake(node) => {
                let ip = IpAddr::V4(Ipv4Addr::from(u32::from(node.cidr.network()) + host));
                let patch =
                    running_patch(&pod, &[ip], IpAddr::V4(node.underlay_ip), &now.to_string());
                plan.statuses.push(StatusPatch {
                    namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    patch,
                });
            }
        }
        plan.pods.push(pod);
    }
    plan.fake_nodes = fake_nodes;
    Ok(plan)
}

enum Target<'a> {
    Lab(String),
    Fake(&'a FakeNode),
}

impl Target<'_> {
    fn name(&self) -> &str {
        match self {
            Target::Lab(name) => name,
            Target::Fake(node) => &node.name,
        }
    }
}

/// `count` fake nodes: /24s of the cluster CIDR from its top down (the
/// controller-manager hands out from the bottom), skipping the lab's, and
/// underlay addresses outside every lab subnet.
pub fn fake_nodes(count: usize, lab: &LabFacts) -> anyhow::Result<Vec<FakeNode>> {
    let Ok(subnets) = lab.cluster_cidr.subnets(24) else {
        bail!("cluster CIDR {} is narrower than a /24", lab.cluster_cidr);
    };
    let cidrs: Vec<Ipv4Net> = subnets
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter(|cidr| {
            !lab.taken_cidrs
                .iter()
                .any(|t| t.contains(cidr) || cidr.contains(t))
        })
        .take(count)
        .collect();
    ensure!(
        cidrs.len() == count,
        "cluster CIDR {} has {} free /24s, {count} wanted",
        lab.cluster_cidr,
        cidrs.len()
    );
    let mut addresses = (1..u32::from(u16::MAX))
        .map(|k| Ipv4Addr::from(u32::from(FAKE_UNDERLAY) + k))
        .filter(|ip| {
            let last = ip.octets()[3];
            last != 0 && last != 255 && !lab.underlay_subnets.iter().any(|net| net.contains(ip))
        });
    cidrs
        .into_iter()
        .enumerate()
        .map(|(k, cidr)| {
            let Some(underlay_ip) = addresses.next() else {
                bail!("no free underlay address for fake node {k}");
            };
            let [_, _, a, b] = (k as u32).to_be_bytes();
            Ok(FakeNode {
                name: format!("fake-{}", k + 1),
                cidr,
                underlay_ip,
                // Locally administered, unicast.
                vtep_mac: [0x0e, 0x57, 0xfa, 0x4e, a, b],
            })
        })
        .collect()
}

/// The Node as it looks once its kubelet registered it, the controller
/// manager gave it its CIDR and its weftd published itself.
fn fake_node_object(node: &FakeNode, now: Timestamp) -> Node {
    let info = NodeSystemInfo {
        architecture: "amd64".into(),
        operating_system: "linux".into(),
        os_image: "weft-bench fake node".into(),
        kubelet_version: "v1.37.2".into(),
        ..NodeSystemInfo::default()
    };
    let mut object = registered_node(
        &node.name,
        node.underlay_ip.into(),
        FAKE_CAPACITY,
        info,
        now,
    );
    let cidr = node.cidr.to_string();
    object.spec = Some(NodeSpec {
        pod_cidr: Some(cidr.clone()),
        pod_cidrs: Some(vec![cidr]),
        ..NodeSpec::default()
    });
    object.metadata.annotations = Some(
        [
            (UNDERLAY_IP_ANNOTATION, node.underlay_ip.to_string()),
            (VTEP_MAC_ANNOTATION, format_mac(&node.vtep_mac)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    );
    if let Some(status) = object.status.as_mut() {
        // Ready, so the node lifecycle controller neither taints it nor
        // evicts its pods; NetworkUnavailable as weftd sets it.
        status.conditions = Some(vec![
            ready_condition(true, now),
            NodeCondition {
                type_: "NetworkUnavailable".into(),
                status: "False".into(),
                reason: Some("WeftIsUp".into()),
                message: Some("weftd programmed the node network".into()),
                ..ready_condition(true, now)
            },
        ]);
    }
    object
}

fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The benchmark cluster's pod, bound to `node`, with an image per
/// container and no status (the API server makes its own on create).
fn bound_pod(mut pod: Pod, node: &str) -> Pod {
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node.to_owned());
        for container in &mut spec.containers {
            container.image = Some(IMAGE.to_owned());
        }
    }
    pod.status = None;
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn lab() -> LabFacts {
        LabFacts {
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            lab_nodes: vec!["n1".into()],
            taken_cidrs: vec!["10.244.0.0/24".parse().unwrap()],
            underlay_subnets: vec![
                "198.18.0.0/24".parse().unwrap(),
                "198.19.0.0/24".parse().unwrap(),
            ],
        }
    }

    fn shape(local_pods: bool) -> Shape {
        Shape {
            nodes: 10,
            namespaces: 6,
            pods_per_namespace: 30,
            policies_per_namespace: 10,
            local_pods,
        }
    }

    #[test]
    fn fake_nodes_take_free_cidrs_and_underlay_addresses_of_their_own() {
        let mut facts = lab();
        facts.taken_cidrs.push("10.244.255.0/24".parse().unwrap());
        let nodes = fake_nodes(200, &facts).unwrap();
        assert_eq!(nodes.len(), 200);
        assert_eq!(nodes[0].cidr.to_string(), "10.244.254.0/24");
        let underlay: Ipv4Net = "198.18.0.0/15".parse().unwrap();
        for node in &nodes {
            assert!(facts.cluster_cidr.contains(&node.cidr));
            assert!(!facts.taken_cidrs.iter().any(|t| t.contains(&node.cidr)));
            assert!(underlay.contains(&node.underlay_ip), "{node:?}");
            assert!(
                !facts
                    .underlay_subnets
                    .iter()
                    .any(|s| s.contains(&node.underlay_ip))
            );
            assert_eq!(node.vtep_mac[0] & 0b11, 0b10, "local unicast");
        }
        let distinct =
            |f: fn(&FakeNode) -> String| nodes.iter().map(f).collect::<BTreeSet<_>>().len();
        assert_eq!(distinct(|n| n.cidr.to_string()), 200);
        assert_eq!(distinct(|n| n.underlay_ip.to_string()), 200);
        assert_eq!(distinct(|n| format_mac(&n.vtep_mac)), 200);
        assert_eq!(distinct(|n| n.name.clone()), 200);
        assert!(fake_nodes(255, &facts).is_err(), "only 254 /24s are free");
    }

    #[test]
    fn a_fake_node_looks_like_a_peer_weftd_published() {
        let node = &fake_nodes(1, &lab()).unwrap()[0];
        let value = serde_json::to_value(fake_node_object(node, Timestamp::UNIX_EPOCH)).unwrap();
        assert_eq!(value["metadata"]["name"], "fake-1");
        assert_eq!(
            value["metadata"]["annotations"][UNDERLAY_IP_ANNOTATION],
            "198.19.1.1"
        );
        assert_eq!(
            value["metadata"]["annotations"][VTEP_MAC_ANNOTATION],
            "0e:57:fa:4e:00:00"
        );
        assert_eq!(value["spec"]["podCIDRs"][0], "10.244.255.0/24");
        let conditions = value["status"]["conditions"].as_array().unwrap();
        let status_of = |kind: &str| {
            conditions
                .iter()
                .find(|c| c["type"] == kind)
                .map(|c| c["status"].clone())
        };
        assert_eq!(status_of("Ready"), Some("True".into()));
        assert_eq!(status_of("NetworkUnavailable"), Some("False".into()));
    }

    #[test]
    fn pods_spread_over_every_node_with_addresses_in_their_cidrs() {
        let plan = plan(&shape(true), &lab(), Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(plan.nodes.len(), 9);
        assert_eq!(plan.namespaces.len(), 6);
        assert_eq!(plan.pods.len(), 180);
        assert_eq!(plan.policies.len(), 60);
        assert_eq!(plan.local_pods, BTreeMap::from([("n1".to_owned(), 18)]));
        assert_eq!(plan.statuses.len(), 180 - 18);
        let cidr_of: BTreeMap<&str, Ipv4Net> = plan
            .fake_nodes
            .iter()
            .map(|n| (n.name.as_str(), n.cidr))
            .collect();
        let node_of: BTreeMap<(String, String), String> = plan
            .pods
            .iter()
            .map(|p| {
                let key = (
                    p.metadata.namespace.clone().unwrap(),
                    p.metadata.name.clone().unwrap(),
                );
                (key, p.spec.as_ref().unwrap().node_name.clone().unwrap())
            })
            .collect();
        let mut ips = BTreeSet::new();
        for status in &plan.statuses {
            let node = &node_of[&(status.namespace.clone(), status.name.clone())];
            let ip: Ipv4Addr = status.patch["status"]["podIPs"][0]["ip"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(cidr_of[node.as_str()].contains(&ip), "{ip} on {node}");
            assert!(ip.octets()[3] >= 2);
            assert_eq!(status.patch["status"]["phase"], "Running");
            assert!(ips.insert(ip), "{ip} twice");
        }
        for pod in &plan.pods {
            assert!(pod.status.is_none());
            let containers = &pod.spec.as_ref().unwrap().containers;
            assert!(containers.iter().all(|c| c.image.as_deref() == Some(IMAGE)));
        }
    }

    #[test]
    fn without_local_pods_every_pod_is_on_a_fake_node() {
        let plan = plan(&shape(false), &lab(), Timestamp::UNIX_EPOCH).unwrap();
        assert!(plan.local_pods.is_empty());
        assert_eq!(plan.statuses.len(), 180);
    }

    #[test]
    fn a_cluster_too_big_for_its_nodes_is_refused() {
        let mut big = shape(true);
        big.nodes = 2;
        big.pods_per_namespace = 100;
        assert!(plan(&big, &lab(), Timestamp::UNIX_EPOCH).is_err());
        big.nodes = 1;
        assert!(plan(&big, &lab(), Timestamp::UNIX_EPOCH).is_err());
    }
}
