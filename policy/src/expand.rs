//! Allow rules of an endpoint class: each selecting policy's rules as
//! peers x ports, named ports resolved, plus the node, normalized.

use crate::identity::NamedPort;
use crate::maps::IDENTITY_HOST;
use crate::resolve::{ResolvedPolicy, ResolvedRule};
use crate::rules::{AllowRule, Direction, Peer, Traffic, normalize};
use crate::spec::PortSpec;
use crate::universe::Universe;

/// Endpoints with equal keys get equal rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey {
    /// Indices of the selecting policies isolating ingress, in order.
    pub ingress: Vec<usize>,
    pub egress: Vec<usize>,
    /// The pod's named ports that ingress rules refer to.
    pub ingress_ports: Vec<NamedPort>,
}

impl Universe {
    pub(crate) fn class_rules(
        &self,
        class: &ClassKey,
        resolved: &[ResolvedPolicy],
    ) -> Vec<AllowRule> {
        let mut rules = Vec::new();
        for direction in Direction::ALL {
            let selecting = match direction {
                Direction::Ingress => &class.ingress,
                Direction::Egress => &class.egress,
            };
            if selecting.is_empty() {
                continue;
            }
            rules.push(AllowRule {
                direction,
                peer: Peer::Identity(IDENTITY_HOST),
                traffic: Traffic::Any,
            });
            for &policy in selecting {
                for rule in resolved[policy].rules(direction) {
                    self.expand(direction, rule, &class.ingress_ports, &mut rules);
                }
            }
        }
        normalize(rules)
    }

    /// Adds the allow rules of `rule` (peers x ports) to `out`.
    fn expand(
        &self,
        direction: Direction,
        rule: &ResolvedRule,
        local_ports: &[NamedPort],
        out: &mut Vec<AllowRule>,
    ) {
        let peers: Vec<Peer> = match &rule.peers {
            None => vec![Peer::Any],
            Some(ids) => ids
                .iter()
                .map(|&i| Peer::Identity(self.numbers[i]))
                .collect(),
        };
        let mut push = |peer, traffic| {
            out.push(AllowRule {
                direction,
                peer,
                traffic,
            })
        };
        let Some(ports) = rule.ports else {
            for &peer in &peers {
                push(peer, Traffic::Any);
            }
            return;
        };
        for port in ports {
            match port {
                PortSpec::Range {
                    protocol,
                    first,
                    last,
                } => {
                    let traffic = Traffic::Ports {
                        protocol: *protocol,
                        first: *first,
                        last: *last,
                    };
                    for &peer in &peers {
                        push(peer, traffic);
                    }
                }
                // Ingress: the name means a port of this endpoint.
                PortSpec::Named { protocol, name } if direction == Direction::Ingress => {
                    let local = local_ports
                        .iter()
                        .filter(|p| p.protocol == *protocol && p.name == *name);
                    for local in local {
                        let traffic = Traffic::Ports {
                            protocol: *protocol,
                            first: local.port,
                            last: local.port,
                        };
                        for &peer in &peers {
                            push(peer, traffic);
                        }
                    }
                }
                // Egress: the name means a port of each peer pod; only pod
                // identities can have it, so "any peer" narrows to those.
                PortSpec::Named { protocol, name } => {
                    let key = (*protocol, name.clone());
                    let having = self.egress_named.get(&key).into_iter().flatten();
                    let wanted = |identity: &usize| match &rule.peers {
                        None => true,
                        Some(ids) => ids.binary_search(identity).is_ok(),
                    };
                    for (identity, number) in having.filter(|(i, _)| wanted(i)) {
                        let traffic = Traffic::Ports {
                            protocol: *protocol,
                            first: *number,
                            last: *number,
                        };
                        push(Peer::Identity(self.numbers[*identity]), traffic);
                    }
                }
            }
        }
    }
}
