//! The peer nodes that appear at once (pure): Node objects carrying what
//! a weftd publishes about its node, each with its own pod CIDR, underlay
//! IP and VTEP MAC.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use weft_datastore::{Node, Object};

// weftd's Node annotations (daemon/src/cluster_nodes.rs).
const POD_CIDRS: &str = "weft.dev/pod-cidrs";
const UNDERLAY_IP: &str = "weft.dev/underlay-ip";
const VTEP_MAC: &str = "weft.dev/vtep-mac";

/// The benchmark node's own underlay address; peers share its /15.
pub const LOCAL_UNDERLAY: &str = "198.18.0.1/15";
/// The cluster CIDR; the benchmark node claims its first /24 (10.0.0.0/24),
/// peers get /24s from 10.1.0.0 on.
pub const CLUSTER_CIDR: &str = "10.0.0.0/8";

/// Peer `i` (0-based): its name, pod CIDR, underlay IP and VTEP MAC.
pub fn peer(i: usize) -> (String, String, Ipv4Addr, String) {
    let cidr = format!("10.{}.{}.0/24", 1 + i / 256, i % 256);
    let underlay = Ipv4Addr::new(198, 18, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
    let n = i + 1;
    let mac = format!("0e:00:00:00:{:02x}:{:02x}", n >> 8, n & 0xff);
    (format!("peer{n:04}"), cidr, underlay, mac)
}

/// `count` peer Node objects.
pub fn peer_nodes(count: usize) -> Vec<Object> {
    (0..count)
        .map(|i| {
            let (name, cidr, underlay, mac) = peer(i);
            let mut node = Node::default();
            node.metadata.name = Some(name);
            node.metadata.annotations = Some(BTreeMap::from([
                (POD_CIDRS.to_owned(), cidr),
                (UNDERLAY_IP.to_owned(), underlay.to_string()),
                (VTEP_MAC.to_owned(), mac),
            ]));
            Object::Node(node)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_thousand_peers_are_distinct_and_in_range() {
        let peers: Vec<_> = (0..1000).map(peer).collect();
        let names: BTreeSet<_> = peers.iter().map(|p| &p.0).collect();
        let cidrs: BTreeSet<_> = peers.iter().map(|p| &p.1).collect();
        let ips: BTreeSet<_> = peers.iter().map(|p| p.2).collect();
        let macs: BTreeSet<_> = peers.iter().map(|p| &p.3).collect();
        assert_eq!([names.len(), cidrs.len(), ips.len(), macs.len()], [1000; 4]);
        assert!(!cidrs.contains(&"10.0.0.0/24".to_owned()), "n1's own");
        assert_eq!(peers[999].1, "10.4.231.0/24");
        let local: Ipv4Addr = "198.18.0.1".parse().unwrap();
        for ip in &ips {
            let o = ip.octets();
            assert!(
                o[0] == 198 && o[1] == 18 && o[3] != 0 && *ip != local,
                "{ip}"
            );
        }
        assert_eq!(peers[0].3, "0e:00:00:00:00:01");
        assert_eq!(peers[999].3, "0e:00:00:00:03:e8");
    }

    #[test]
    fn peer_nodes_carry_the_three_annotations() {
        let nodes = peer_nodes(2);
        let Object::Node(node) = &nodes[1] else {
            panic!("a Node")
        };
        assert_eq!(node.metadata.name.as_deref(), Some("peer0002"));
        let annotations = node.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[POD_CIDRS], "10.1.1.0/24");
        assert_eq!(annotations[UNDERLAY_IP], "198.18.1.2");
        assert_eq!(annotations[VTEP_MAC], "0e:00:00:00:00:02");
    }
}
