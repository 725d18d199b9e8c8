//! Policy peers resolved to the identities they match, once per policy.

use std::collections::{BTreeMap, BTreeSet};

use crate::ipblock::PrefixTable;
use crate::rules::Direction;
use crate::spec::{ParsedPolicy, PeerSpec, PortSpec, Rule};
use crate::universe::Universe;

/// A rule with its peers resolved to identity indices (None: any peer).
pub(crate) struct ResolvedRule<'p> {
    pub peers: Option<Vec<usize>>,
    pub ports: Option<&'p [PortSpec]>,
}

/// Per direction, the rules if the policy isolates that direction.
pub(crate) struct ResolvedPolicy<'p> {
    pub ingress: Option<Vec<ResolvedRule<'p>>>,
    pub egress: Option<Vec<ResolvedRule<'p>>>,
}

impl ResolvedPolicy<'_> {
    pub(crate) fn rules(&self, direction: Direction) -> &[ResolvedRule<'_>] {
        let rules = match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        };
        rules.as_deref().unwrap_or_default()
    }
}

impl Universe {
    /// `policy`'s rules with each peer list turned into identity indices.
    pub(crate) fn resolve<'p>(
        &self,
        policy: &'p ParsedPolicy,
        namespaces: &BTreeMap<String, BTreeMap<String, String>>,
        table: &PrefixTable,
    ) -> ResolvedPolicy<'p> {
        let resolve_rules = |rules: &'p [Rule]| -> Vec<ResolvedRule<'p>> {
            let resolve_rule = |rule: &'p Rule| {
                let peers = rule.peers.as_ref().map(|peers| {
                    let identities = peers.iter().flat_map(|peer| {
                        self.resolve_peer(peer, &policy.name.0, namespaces, table)
                    });
                    let unique: BTreeSet<usize> = identities.collect();
                    unique.into_iter().collect()
                });
                ResolvedRule {
                    peers,
                    ports: rule.ports.as_deref(),
                }
            };
            rules.iter().map(resolve_rule).collect()
        };
        ResolvedPolicy {
            ingress: policy.ingress.as_deref().map(resolve_rules),
            egress: policy.egress.as_deref().map(resolve_rules),
        }
    }

    /// Indices of the identities `peer` matches, for a policy in `namespace`.
    fn resolve_peer(
        &self,
        peer: &PeerSpec,
        namespace: &str,
        namespaces: &BTreeMap<String, BTreeMap<String, String>>,
        table: &PrefixTable,
    ) -> Vec<usize> {
        match peer {
            PeerSpec::Block(group) => match table.groups.binary_search(group) {
                Ok(index) => self.identities_of_group[index].clone(),
                Err(_) => vec![],
            },
            PeerSpec::Pods {
                namespaces: selector,
                pods,
            } => {
                let in_scope: Vec<&str> = match selector {
                    None => vec![namespace],
                    Some(selector) => namespaces
                        .iter()
                        .filter(|(_, labels)| selector.matches(labels))
                        .map(|(name, _)| name.as_str())
                        .collect(),
                };
                let selected = in_scope
                    .into_iter()
                    .flat_map(|ns| self.selected_in(ns, pods));
                let identities = selected.flat_map(|w| &self.identities_of_workload[w]);
                identities.copied().collect()
            }
        }
    }
}
