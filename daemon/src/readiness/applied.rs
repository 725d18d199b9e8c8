//! Which datastore revisions a node has put in effect (pure), overall and
//! per kind: the lowest over the reconcilers whose input is the datastore,
//! raised, where they all hold the latest snapshot, to what the datastore
//! has seen since without anything Weft keeps changing.

use weft_api::AppliedRevisions;
use weft_datastore::{KindRevisions, Revisions};

/// The lower of `a` and `b`, revision by revision.
pub fn lowest(a: Revisions, b: Revisions) -> Revisions {
    Revisions {
        revision: a.revision.min(b.revision),
        kinds: KindRevisions {
            nodes: a.kinds.nodes.min(b.kinds.nodes),
            namespaces: a.kinds.namespaces.min(b.kinds.namespaces),
            pods: a.kinds.pods.min(b.kinds.pods),
            network_policies: a.kinds.network_policies.min(b.kinds.network_policies),
        },
    }
}

/// What is in effect, given what the reconcilers `applied`, the `latest`
/// snapshot's revisions and the revisions the datastore has `seen`, which
/// that snapshot holds. Revision by revision: where the reconcilers are at
/// the latest snapshot, whatever the datastore saw since changed nothing.
pub fn in_effect(applied: Revisions, latest: Revisions, seen: Revisions) -> Revisions {
    let (a, l, s) = (applied.kinds, latest.kinds, seen.kinds);
    Revisions {
        revision: raise(applied.revision, latest.revision, seen.revision),
        kinds: KindRevisions {
            nodes: raise(a.nodes, l.nodes, s.nodes),
            namespaces: raise(a.namespaces, l.namespaces, s.namespaces),
            pods: raise(a.pods, l.pods, s.pods),
            network_policies: raise(a.network_policies, l.network_policies, s.network_policies),
        },
    }
}

fn raise(applied: u64, latest: u64, seen: u64) -> u64 {
    if applied >= latest {
        applied.max(seen)
    } else {
        applied
    }
}

/// The per-kind revisions as the Status reply carries them.
pub fn wire(kinds: KindRevisions) -> AppliedRevisions {
    AppliedRevisions {
        nodes: kinds.nodes,
        namespaces: kinds.namespaces,
        pods: kinds.pods,
        network_policies: kinds.network_policies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revisions(
        revision: u64,
        [nodes, namespaces, pods, network_policies]: [u64; 4],
    ) -> Revisions {
        Revisions {
            revision,
            kinds: KindRevisions {
                nodes,
                namespaces,
                pods,
                network_policies,
            },
        }
    }

    #[test]
    fn the_lowest_is_taken_kind_by_kind() {
        assert_eq!(
            lowest(revisions(9, [1, 8, 9, 3]), revisions(7, [2, 7, 5, 6])),
            revisions(7, [1, 7, 5, 3])
        );
    }

    #[test]
    fn only_kinds_at_the_latest_snapshot_rise_to_what_was_seen_since() {
        // The reconcilers hold a snapshot whose pods are the latest, but
        // whose policies are older than the latest snapshot's.
        let applied = revisions(20, [5, 3, 20, 10]);
        let latest = revisions(26, [5, 3, 20, 26]);
        let seen = revisions(31, [5, 4, 31, 26]);
        assert_eq!(
            in_effect(applied, latest, seen),
            revisions(20, [5, 4, 31, 10]),
            "the pods' 31 and the namespaces' 4 changed nothing kept; policy 26 is not in effect"
        );
        let caught_up = revisions(26, [5, 3, 20, 26]);
        assert_eq!(
            in_effect(caught_up, latest, seen),
            revisions(31, [5, 4, 31, 26])
        );
    }

    #[test]
    fn the_wire_form_keeps_each_kind() {
        let kinds = revisions(0, [1, 2, 3, 4]).kinds;
        assert_eq!(
            wire(kinds),
            AppliedRevisions {
                nodes: 1,
                namespaces: 2,
                pods: 3,
                network_policies: 4
            }
        );
    }
}
