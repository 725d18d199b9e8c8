//! The logical form of what an endpoint may do: allow rules of (direction,
//! peer identity or any, protocol and port range or any), grouped into
//! profiles that endpoints with equal rules share. `weftctl` shows these;
//! the map encoding is derived from them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::identity::IdentityId;
use crate::maps;
use crate::protocol::Protocol;

/// Which way traffic crosses the endpoint: into the pod or out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// The value of `PolicyKey::direction`.
    pub fn code(self) -> u8 {
        match self {
            Direction::Ingress => maps::DIRECTION_INGRESS,
            Direction::Egress => maps::DIRECTION_EGRESS,
        }
    }

    /// The `EndpointValue::flags` bit saying this direction is enforced.
    pub fn enforce_flag(self) -> u32 {
        match self {
            Direction::Ingress => maps::ENFORCE_INGRESS,
            Direction::Egress => maps::ENFORCE_EGRESS,
        }
    }
}

/// Who is on the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Peer {
    /// Any address, in the cluster or not.
    Any,
    Identity(IdentityId),
}

/// Which packets, by protocol and destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Traffic {
    /// Every protocol (also ICMP and others without ports) and port.
    Any,
    /// One protocol, destination ports `first..=last`.
    Ports {
        protocol: Protocol,
        first: u16,
        last: u16,
    },
}

/// Traffic that an endpoint lets through in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AllowRule {
    pub direction: Direction,
    pub peer: Peer,
    pub traffic: Traffic,
}

/// The allow rules of every endpoint that uses this profile, for the
/// directions those endpoints enforce. Sorted and minimal: no rule is covered by
/// another, and touching port ranges are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Profile {
    pub rules: Vec<AllowRule>,
}

/// The same traffic as `rules`, without redundancy: a direction open to any
/// peer and traffic keeps only that rule, a peer allowed any traffic keeps
/// only that, and per (peer, protocol) port ranges are merged.
pub(crate) fn normalize(rules: impl IntoIterator<Item = AllowRule>) -> Vec<AllowRule> {
    let mut by_peer: BTreeMap<(Direction, Peer), Vec<Traffic>> = BTreeMap::new();
    for rule in rules {
        by_peer
            .entry((rule.direction, rule.peer))
            .or_default()
            .push(rule.traffic);
    }
    let open: BTreeSet<Direction> = by_peer
        .iter()
        .filter(|((_, peer), traffic)| *peer == Peer::Any && traffic.contains(&Traffic::Any))
        .map(|((direction, _), _)| *direction)
        .collect();
    let mut normalized = Vec::new();
    for ((direction, peer), traffic) in by_peer {
        if open.contains(&direction) && peer != Peer::Any {
            continue;
        }
        let rule = |traffic| AllowRule {
            direction,
            peer,
            traffic,
        };
        if traffic.contains(&Traffic::Any) {
            normalized.push(rule(Traffic::Any));
            continue;
        }
        let mut ranges: BTreeMap<Protocol, Vec<(u16, u16)>> = BTreeMap::new();
        for t in traffic {
            if let Traffic::Ports {
                protocol,
                first,
                last,
            } = t
            {
                ranges.entry(protocol).or_default().push((first, last));
            }
        }
        for (protocol, ranges) in ranges {
            for (first, last) in merge_ranges(ranges) {
                normalized.push(rule(Traffic::Ports {
                    protocol,
                    first,
                    last,
                }));
            }
        }
    }
    normalized
}

/// Overlapping and adjacent inclusive ranges joined, in order.
fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(current) if u32::from(first) <= u32::from(current.1) + 1 => {
                current.1 = current.1.max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(direction: Direction, peer: Peer, first: u16, last: u16) -> AllowRule {
        AllowRule {
            direction,
            peer,
            traffic: Traffic::Ports {
                protocol: Protocol::Tcp,
                first,
                last,
            },
        }
    }

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        assert_eq!(
            merge_ranges(vec![(90, 95), (80, 80), (81, 85), (84, 88), (65535, 65535)]),
            vec![(80, 88), (90, 95), (65535, 65535)]
        );
    }

    #[test]
    fn any_traffic_and_open_directions_absorb_the_rest() {
        use Direction::*;
        let peer = Peer::Identity(300);
        let any = |direction, peer| AllowRule {
            direction,
            peer,
            traffic: Traffic::Any,
        };
        let rules = vec![
            ports(Ingress, peer, 80, 80),
            any(Ingress, peer),
            ports(Egress, peer, 80, 80),
            ports(Egress, Peer::Identity(301), 81, 81),
            any(Egress, Peer::Any),
        ];
        assert_eq!(
            normalize(rules),
            vec![any(Ingress, peer), any(Egress, Peer::Any)]
        );
    }

    #[test]
    fn protocols_stay_apart() {
        let udp = AllowRule {
            direction: Direction::Ingress,
            peer: Peer::Any,
            traffic: Traffic::Ports {
                protocol: Protocol::Udp,
                first: 81,
                last: 81,
            },
        };
        let rules = vec![ports(Direction::Ingress, Peer::Any, 80, 80), udp];
        assert_eq!(normalize(rules.clone()), rules);
    }
}
