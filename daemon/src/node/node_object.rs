//! What weftd reads from and writes to Node objects (pure): a node's pod
//! CIDRs, the underlay IP and VTEP MAC it publishes, and the peers the node
//! network is built for.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use weft_datastore::Node;

use crate::overlay::{PeerNode, format_mac, parse_mac};

/// Pod CIDRs weftd claimed for the node (when `spec.podCIDRs` is empty).
pub const POD_CIDRS_ANNOTATION: &str = "weft.dev/pod-cidrs";
/// The node's primary underlay address, where VXLAN and direct routes point.
pub const UNDERLAY_IP_ANNOTATION: &str = "weft.dev/underlay-ip";
/// Every underlay address of the node, one per family, the primary first:
/// direct routes of a family's pod CIDR point at that family's. A weftd
/// that reads only the single address still finds the primary there.
pub const UNDERLAY_IPS_ANNOTATION: &str = "weft.dev/underlay-ips";
/// The MAC of the node's VXLAN device.
pub const VTEP_MAC_ANNOTATION: &str = "weft.dev/vtep-mac";

/// The node's pod CIDRs: `spec.podCIDRs` (the controller manager's), else
/// the ones weftd claimed and published. Unparsable entries are skipped.
pub fn node_pod_cidrs(node: &Node) -> Vec<IpNet> {
    let from_spec: Vec<IpNet> = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.parse().ok())
        .collect();
    if !from_spec.is_empty() {
        return from_spec;
    }
    annotation(node, POD_CIDRS_ANNOTATION)
        .map(parse_cidr_list)
        .unwrap_or_default()
}

/// "10.244.1.0/24,fd00::/64" -> CIDRs, skipping what does not parse.
pub fn parse_cidr_list(text: &str) -> Vec<IpNet> {
    text.split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect()
}

pub fn format_cidr_list(cidrs: &[IpNet]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Every node but `local` as a peer of the node network.
pub fn peer_nodes(nodes: &BTreeMap<String, Node>, local: &str) -> Vec<PeerNode> {
    nodes
        .iter()
        .filter(|(name, _)| name.as_str() != local)
        .map(|(name, node)| PeerNode {
            name: name.clone(),
            pod_cidrs: node_pod_cidrs(node),
            underlay_ips: underlay_ips(node),
            vtep_mac: annotation(node, VTEP_MAC_ANNOTATION).and_then(|m| parse_mac(m).ok()),
        })
        .collect()
}

/// The node's underlay addresses: the list it publishes, else (a weftd
/// from before the list) its single address. Unparsable entries are skipped.
fn underlay_ips(node: &Node) -> Vec<IpAddr> {
    let listed: Vec<IpAddr> = annotation(node, UNDERLAY_IPS_ANNOTATION)
        .into_iter()
        .flat_map(|list| list.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    annotation(node, UNDERLAY_IP_ANNOTATION)
        .and_then(|ip| ip.parse().ok())
        .into_iter()
        .collect()
}

/// What this node publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePublication {
    /// Only claimed CIDRs are published; `spec.podCIDRs` speak for themselves.
    pub claimed_pod_cidrs: Option<Vec<IpNet>>,
    /// One per family, the primary first.
    pub underlay_ips: Vec<IpAddr>,
    pub vtep_mac: [u8; 6],
}

/// `node` with the publication's annotations, or `None` when it already
/// carries exactly them (so an unchanged node is never rewritten).
pub fn publish_on(node: &Node, publication: &NodePublication) -> Option<Node> {
    let all: Vec<String> = publication
        .underlay_ips
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut wanted = vec![(VTEP_MAC_ANNOTATION, format_mac(&publication.vtep_mac))];
    if let Some(primary) = all.first() {
        wanted.push((UNDERLAY_IP_ANNOTATION, primary.clone()));
        wanted.push((UNDERLAY_IPS_ANNOTATION, all.join(",")));
    }
    if let Some(cidrs) = &publication.claimed_pod_cidrs {
        wanted.push((POD_CIDRS_ANNOTATION, format_cidr_list(cidrs)));
    }
    if wanted
        .iter()
        .all(|(key, value)| annotation(node, key) == Some(value.as_str()))
    {
        return None;
    }
    let mut updated = node.clone();
    let annotations = updated
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    for (key, value) in wanted {
        annotations.insert(key.to_owned(), value);
    }
    Some(updated)
}

fn annotation<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::k8s_openapi::api::core::v1::NodeSpec;

    fn node(name: &str, spec_cidrs: &[&str], annotations: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        if !spec_cidrs.is_empty() {
            n.spec = Some(NodeSpec {
                pod_cidrs: Some(spec_cidrs.iter().map(|c| c.to_string()).collect()),
                ..NodeSpec::default()
            });
        }
        if !annotations.is_empty() {
            n.metadata.annotations = Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        n
    }

    #[test]
    fn spec_pod_cidrs_win_over_the_claim_annotation() {
        let n = node(
            "n1",
            &["10.244.7.0/24"],
            &[(POD_CIDRS_ANNOTATION, "10.244.1.0/24")],
        );
        assert_eq!(
            node_pod_cidrs(&n),
            vec!["10.244.7.0/24".parse::<IpNet>().unwrap()]
        );
        let n = node(
            "n1",
            &[],
            &[(POD_CIDRS_ANNOTATION, "10.244.1.0/24,fd00::/64")],
        );
        assert_eq!(node_pod_cidrs(&n).len(), 2);
    }

    #[test]
    fn peers_exclude_the_local_node_and_read_the_annotations() {
        let nodes: BTreeMap<String, Node> = [
            node("n1", &["10.244.1.0/24"], &[]),
            node(
                "n2",
                &[],
                &[
                    (POD_CIDRS_ANNOTATION, "10.244.2.0/24"),
                    (UNDERLAY_IP_ANNOTATION, "198.18.0.12"),
                    (VTEP_MAC_ANNOTATION, "0e:00:00:00:00:02"),
                ],
            ),
            node("n3", &[], &[(UNDERLAY_IP_ANNOTATION, "not-an-ip")]),
            node(
                "n4",
                &["10.244.4.0/24", "fd00:10:244:4::/64"],
                &[
                    (UNDERLAY_IP_ANNOTATION, "198.18.0.14"),
                    (UNDERLAY_IPS_ANNOTATION, "198.18.0.14,fd00:198:18::14"),
                ],
            ),
        ]
        .into_iter()
        .map(|n| (n.metadata.name.clone().unwrap(), n))
        .collect();
        let peers = peer_nodes(&nodes, "n1");
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[0].name, "n2");
        assert_eq!(
            peers[0].underlay_ips,
            ["198.18.0.12".parse::<IpAddr>().unwrap()],
            "a weftd that published one address"
        );
        assert_eq!(peers[0].vtep_mac, Some([0x0e, 0, 0, 0, 0, 2]));
        assert!(
            peers[1].underlay_ips.is_empty(),
            "unparsable annotations are not published yet"
        );
        assert_eq!(
            peers[2].underlay_ip(false),
            Some("fd00:198:18::14".parse().unwrap())
        );
        assert_eq!(
            peers[2].underlay_ip(true),
            Some("198.18.0.14".parse().unwrap())
        );
    }

    #[test]
    fn publishing_rewrites_only_what_changed() {
        let publication = NodePublication {
            claimed_pod_cidrs: Some(vec!["10.244.1.0/24".parse().unwrap()]),
            underlay_ips: vec![
                "198.18.0.11".parse().unwrap(),
                "fd00:198:18::11".parse().unwrap(),
            ],
            vtep_mac: [0x0e, 1, 2, 3, 4, 5],
        };
        let bare = node("n1", &[], &[("keep", "me")]);
        let published = publish_on(&bare, &publication).expect("annotations added");
        let annotations = published.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations["keep"], "me");
        assert_eq!(annotations[POD_CIDRS_ANNOTATION], "10.244.1.0/24");
        assert_eq!(annotations[VTEP_MAC_ANNOTATION], "0e:01:02:03:04:05");
        assert_eq!(annotations[UNDERLAY_IP_ANNOTATION], "198.18.0.11");
        assert_eq!(
            annotations[UNDERLAY_IPS_ANNOTATION],
            "198.18.0.11,fd00:198:18::11"
        );
        assert_eq!(publish_on(&published, &publication), None);
    }
}
