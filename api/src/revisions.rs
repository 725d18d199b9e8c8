//! The datastore revisions a weftd has put in effect, per kind it watches,
//! as its Status reply carries them: on the `kubernetes` datastore each
//! kind is watched in a stream of its own and only a revision per kind says
//! whether an object written at some resourceVersion is in effect.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds weftd reports a revision for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RevisionKind {
    Nodes,
    Namespaces,
    Pods,
    NetworkPolicies,
}

impl RevisionKind {
    /// The kind's field in [`AppliedRevisions`]' JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionKind::Nodes => "nodes",
            RevisionKind::Namespaces => "namespaces",
            RevisionKind::Pods => "pods",
            RevisionKind::NetworkPolicies => "networkPolicies",
        }
    }
}

impl fmt::Display for RevisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per kind, the datastore revision a node has put in effect: objects of
/// that kind written at revision R are in effect once it is >= R.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRevisions {
    pub nodes: u64,
    pub namespaces: u64,
    pub pods: u64,
    pub network_policies: u64,
}

impl AppliedRevisions {
    /// The revision applied of `kind`.
    pub fn get(&self, kind: RevisionKind) -> u64 {
        match kind {
            RevisionKind::Nodes => self.nodes,
            RevisionKind::Namespaces => self.namespaces,
            RevisionKind::Pods => self.pods,
            RevisionKind::NetworkPolicies => self.network_policies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_its_own_json_field_and_named_alike() {
        let applied = AppliedRevisions {
            nodes: 1,
            namespaces: 2,
            pods: 3,
            network_policies: 4,
        };
        let json = serde_json::to_value(applied).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"nodes": 1, "namespaces": 2, "pods": 3, "networkPolicies": 4})
        );
        for (kind, value) in [
            (RevisionKind::Nodes, 1),
            (RevisionKind::Namespaces, 2),
            (RevisionKind::Pods, 3),
            (RevisionKind::NetworkPolicies, 4),
        ] {
            assert_eq!(applied.get(kind), value);
            assert_eq!(json[kind.to_string()], value, "{kind}");
        }
    }
}
