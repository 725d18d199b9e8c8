//! Releasing the subnet claims of Nodes that are gone (pure): which
//! claimants of the shared record have no Node, which node releases them
//! (one is enough: the lowest-named Node, as every node sees the same
//! names once its watch has caught up), and the record without them.

use std::collections::BTreeSet;

use weft_datastore::ConfigMap;

/// Does `own` release stale claims, among the Nodes named `nodes`? Only
/// the lowest-named Node does; a node that has no Node (deleted itself)
/// never does.
pub fn releases_claims(own: &str, nodes: &BTreeSet<String>) -> bool {
    nodes.first().is_some_and(|lowest| lowest == own)
}

/// The nodes holding a claim in `record` that are not among `nodes`.
pub fn stale_claimants(record: Option<&ConfigMap>, nodes: &BTreeSet<String>) -> BTreeSet<String> {
    record
        .and_then(|cm| cm.data.as_ref())
        .into_iter()
        .flat_map(|data| data.keys())
        .filter(|claimant| !nodes.contains(*claimant))
        .cloned()
        .collect()
}

/// The record without the claims of `released`; `None` when it holds none
/// of them (nothing to write).
pub fn without_claims(record: &ConfigMap, released: &BTreeSet<String>) -> Option<ConfigMap> {
    let data = record.data.as_ref()?;
    if !data.keys().any(|claimant| released.contains(claimant)) {
        return None;
    }
    let mut updated = record.clone();
    if let Some(data) = updated.data.as_mut() {
        data.retain(|claimant, _| !released.contains(claimant));
    }
    Some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn record(claims: &[(&str, &str)]) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("weft-pod-cidrs".into());
        cm.metadata.resource_version = Some("41".into());
        cm.data = Some(
            claims
                .iter()
                .map(|(node, cidrs)| (node.to_string(), cidrs.to_string()))
                .collect(),
        );
        cm
    }

    #[test]
    fn only_the_lowest_named_node_releases() {
        let nodes = names(&["n1", "n2", "n3"]);
        assert!(releases_claims("n1", &nodes));
        assert!(!releases_claims("n2", &nodes));
        assert!(!releases_claims("n0", &nodes), "a node without a Node");
        assert!(!releases_claims("n1", &BTreeSet::new()));
        // n1 deleted: n2 takes over, and releases n1's claim.
        assert!(releases_claims("n2", &names(&["n2", "n3"])));
    }

    #[test]
    fn claims_of_nodes_without_a_node_are_stale() {
        let claims = record(&[
            ("n1", "10.244.0.0/24"),
            ("n2", "10.244.1.0/24"),
            ("n3", "10.244.2.0/24,fd00:10:244:2::/64"),
        ]);
        assert_eq!(
            stale_claimants(Some(&claims), &names(&["n1", "n2"])),
            names(&["n3"])
        );
        assert!(stale_claimants(Some(&claims), &names(&["n1", "n2", "n3", "n4"])).is_empty());
        assert_eq!(
            stale_claimants(Some(&claims), &BTreeSet::new()),
            names(&["n1", "n2", "n3"])
        );
        assert!(stale_claimants(None, &names(&["n1"])).is_empty());
        assert!(stale_claimants(Some(&ConfigMap::default()), &names(&["n1"])).is_empty());
    }

    #[test]
    fn releasing_drops_only_the_released_claims_and_keeps_the_resource_version() {
        let claims = record(&[("n1", "10.244.0.0/24"), ("n3", "10.244.2.0/24")]);
        let updated = without_claims(&claims, &names(&["n3", "n9"])).expect("n3 is released");
        assert_eq!(
            updated.data,
            record(&[("n1", "10.244.0.0/24")]).data,
            "n1 keeps its claim"
        );
        assert_eq!(
            updated.metadata.resource_version.as_deref(),
            Some("41"),
            "the write is a compare-and-swap on what was read"
        );
        assert_eq!(
            without_claims(&updated, &names(&["n3"])),
            None,
            "idempotent"
        );
        assert_eq!(without_claims(&ConfigMap::default(), &names(&["n3"])), None);
    }
}
