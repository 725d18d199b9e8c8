//! How far a view of the datastore has come, per watched kind. The
//! `kubernetes` datastore watches each kind in a stream of its own: each
//! stream is ordered, but nothing orders one against another, so only a
//! revision per kind says what of that kind a view holds.

use serde::Serialize;

/// Per watched kind, the highest revision of it a view holds: every object
/// of that kind written up to it is in the view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindRevisions {
    pub nodes: u64,
    pub namespaces: u64,
    pub pods: u64,
    pub network_policies: u64,
}

impl KindRevisions {
    /// Every kind at `revision`: the `dir` datastore has one ordered
    /// history, so its revision covers every kind.
    pub fn uniform(revision: u64) -> Self {
        Self {
            nodes: revision,
            namespaces: revision,
            pods: revision,
            network_policies: revision,
        }
    }

    /// The highest revision of any kind.
    pub fn highest(&self) -> u64 {
        self.nodes
            .max(self.namespaces)
            .max(self.pods)
            .max(self.network_policies)
    }
}

/// A view's revision and its revision per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revisions {
    pub revision: u64,
    pub kinds: KindRevisions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_puts_every_kind_at_one_revision_and_highest_finds_the_top() {
        assert_eq!(
            KindRevisions::uniform(7),
            KindRevisions {
                nodes: 7,
                namespaces: 7,
                pods: 7,
                network_policies: 7
            }
        );
        let kinds = KindRevisions {
            nodes: 3,
            namespaces: 1,
            pods: 4,
            network_policies: 9,
        };
        assert_eq!(kinds.highest(), 9);
        assert_eq!(KindRevisions::default().highest(), 0);
    }
}
