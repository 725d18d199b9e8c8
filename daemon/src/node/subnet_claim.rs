//! Choosing a node's pod CIDR from the cluster CIDR when the controller
//! manager does not allocate one. Claims live in one shared record (subnet ->
//! node) written with compare-and-swap, so two nodes racing for the same
//! subnet cannot both win: the loser's write conflicts, it re-reads and picks
//! again. A CAS on each node's own Node object could not exclude the others.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// subnet -> the node that holds it.
pub type SubnetClaims = BTreeMap<IpNet, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("cluster CIDR {cluster} has no free /{prefix_len} left for node {node}")]
    Exhausted {
        cluster: IpNet,
        prefix_len: u8,
        node: String,
    },
    #[error("a /{prefix_len} node subnet does not fit in cluster CIDR {cluster}")]
    BadPrefix { cluster: IpNet, prefix_len: u8 },
}

/// What the node should do with the shared claims record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimDecision {
    /// The node already holds this subnet: nothing to write.
    Holds(IpNet),
    /// Write the record with this subnet added for the node.
    Claim(IpNet),
}

/// The node keeps a subnet it already holds inside `cluster`, else takes the
/// lowest free `/prefix_len` that overlaps no claimed subnet.
pub fn decide_claim(
    cluster: IpNet,
    prefix_len: u8,
    node: &str,
    claims: &SubnetClaims,
) -> Result<ClaimDecision, ClaimError> {
    if let Some(held) = claims
        .iter()
        .find(|(subnet, holder)| holder.as_str() == node && cluster.contains(*subnet))
        .map(|(subnet, _)| *subnet)
    {
        return Ok(ClaimDecision::Holds(held));
    }
    let overlaps = |candidate: &IpNet| {
        claims
            .keys()
            .any(|c| c.contains(candidate) || candidate.contains(c))
    };
    subnets(cluster, prefix_len)?
        .find(|candidate| !overlaps(candidate))
        .map(ClaimDecision::Claim)
        .ok_or_else(|| ClaimError::Exhausted {
            cluster,
            prefix_len,
            node: node.to_owned(),
        })
}

fn subnets(cluster: IpNet, prefix_len: u8) -> Result<Box<dyn Iterator<Item = IpNet>>, ClaimError> {
    let bad = || ClaimError::BadPrefix {
        cluster,
        prefix_len,
    };
    match cluster {
        IpNet::V4(net) => Ok(Box::new(
            Ipv4Net::subnets(&net, prefix_len)
                .map_err(|_| bad())?
                .map(IpNet::V4),
        )),
        IpNet::V6(net) => Ok(Box::new(
            Ipv6Net::subnets(&net, prefix_len)
                .map_err(|_| bad())?
                .map(IpNet::V6),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn claims(entries: &[(&str, &str)]) -> SubnetClaims {
        entries
            .iter()
            .map(|(s, n)| (net(s), n.to_string()))
            .collect()
    }

    #[test]
    fn first_claimer_gets_the_lowest_subnet() {
        let d = decide_claim(net("10.244.0.0/16"), 24, "n1", &SubnetClaims::new()).unwrap();
        assert_eq!(d, ClaimDecision::Claim(net("10.244.0.0/24")));
    }

    #[test]
    fn a_node_keeps_what_it_holds() {
        let c = claims(&[("10.244.0.0/24", "n1"), ("10.244.1.0/24", "n2")]);
        let d = decide_claim(net("10.244.0.0/16"), 24, "n2", &c).unwrap();
        assert_eq!(d, ClaimDecision::Holds(net("10.244.1.0/24")));
    }

    #[test]
    fn claimed_and_overlapping_subnets_are_skipped() {
        let c = claims(&[("10.244.0.0/24", "n1"), ("10.244.1.128/25", "old")]);
        let d = decide_claim(net("10.244.0.0/16"), 24, "n3", &c).unwrap();
        assert_eq!(d, ClaimDecision::Claim(net("10.244.2.0/24")));
    }

    #[test]
    fn conflicting_claimers_resolve_through_the_shared_record() {
        // n1 and n2 both read an empty record and both want 10.244.0.0/24.
        let empty = SubnetClaims::new();
        let cluster = net("10.244.0.0/16");
        let want1 = decide_claim(cluster, 24, "n1", &empty).unwrap();
        let want2 = decide_claim(cluster, 24, "n2", &empty).unwrap();
        assert_eq!(want1, want2);
        // n1's CAS write lands first; n2's conflicts, so n2 re-reads and decides again.
        let after_n1 = claims(&[("10.244.0.0/24", "n1")]);
        let retry2 = decide_claim(cluster, 24, "n2", &after_n1).unwrap();
        assert_eq!(retry2, ClaimDecision::Claim(net("10.244.1.0/24")));
    }

    #[test]
    fn a_full_cluster_cidr_is_an_error() {
        let c = claims(&[("10.0.0.0/25", "a"), ("10.0.0.128/25", "b")]);
        let e = decide_claim(net("10.0.0.0/24"), 25, "c", &c).unwrap_err();
        assert!(matches!(e, ClaimError::Exhausted { .. }));
    }

    #[test]
    fn a_node_subnet_larger_than_the_cluster_is_rejected() {
        let e = decide_claim(net("10.0.0.0/24"), 16, "n1", &SubnetClaims::new()).unwrap_err();
        assert!(matches!(e, ClaimError::BadPrefix { .. }));
    }

    #[test]
    fn ipv6_cluster_cidrs_are_divided_too() {
        let c = claims(&[("fd00:10:244::/64", "n1")]);
        let d = decide_claim(net("fd00:10:244::/56"), 64, "n2", &c).unwrap();
        assert_eq!(d, ClaimDecision::Claim(net("fd00:10:244:1::/64")));
    }
}
