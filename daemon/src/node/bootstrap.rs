//! Joining the cluster through the datastore: claim the node's pod CIDRs
//! (when nobody allocated them) and publish its underlay IP and VTEP MAC on
//! its Node object; and releasing the claims of deleted Nodes. All are
//! compare-and-swap loops that re-read and retry on a conflict, so
//! concurrent weftds and edits never lose a write.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use weft_datastore::{ConfigMap, DirStore, Kind, Object, ObjectKey, StoreError};

use crate::node::claim_release::{stale_claimants, without_claims};
use crate::node::node_object::{NodePublication, format_cidr_list, parse_cidr_list, publish_on};
use crate::node::subnet_claim::{ClaimDecision, ClaimError, SubnetClaims, decide_claim};

/// The shared record of claimed node subnets: data maps node name to
/// "CIDR[,CIDR6]". One object, so one CAS serializes all claimers.
pub const CLAIMS_NAMESPACE: &str = "kube-system";
pub const CLAIMS_NAME: &str = "weft-pod-cidrs";

/// Conflicts are resolved by re-reading; this only bounds a pathological storm.
pub const MAX_ATTEMPTS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("node {0} is not in the datastore")]
    NodeMissing(String),
    #[error("gave up after {MAX_ATTEMPTS} conflicting writes of {0}")]
    TooManyConflicts(ObjectKey),
    #[error("{0} holds a {1:?}, not the expected kind")]
    WrongKind(ObjectKey, Kind),
}

pub fn claims_key() -> ObjectKey {
    ObjectKey::new(Kind::ConfigMap, Some(CLAIMS_NAMESPACE), CLAIMS_NAME)
}

/// Every node's claimed subnets, keyed by subnet.
pub fn claims_of(record: Option<&ConfigMap>) -> SubnetClaims {
    record
        .and_then(|cm| cm.data.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|(node, cidrs)| {
            parse_cidr_list(cidrs)
                .into_iter()
                .map(move |cidr| (cidr, node.clone()))
        })
        .collect()
}

/// What `node` holds or must claim: one subnet per cluster CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPlan {
    pub subnets: Vec<IpNet>,
    /// Some subnet is new: the record must be written.
    pub changed: bool,
}

/// Decides `node`'s subnets against the current claims (pure).
pub fn plan_claim(
    node: &str,
    cluster_cidrs: &[IpNet],
    mask_v4: u8,
    mask_v6: u8,
    claims: &SubnetClaims,
) -> Result<ClaimPlan, ClaimError> {
    let mut plan = ClaimPlan {
        subnets: Vec::new(),
        changed: false,
    };
    for cluster in cluster_cidrs {
        let mask = match cluster {
            IpNet::V4(_) => mask_v4,
            IpNet::V6(_) => mask_v6,
        };
        match decide_claim(*cluster, mask, node, claims)? {
            ClaimDecision::Holds(subnet) => plan.subnets.push(subnet),
            ClaimDecision::Claim(subnet) => {
                plan.subnets.push(subnet);
                plan.changed = true;
            }
        }
    }
    Ok(plan)
}

/// The claims record with `node` holding `subnets` (created if absent).
pub fn record_claim(record: Option<ConfigMap>, node: &str, subnets: &[IpNet]) -> ConfigMap {
    let mut updated = record.unwrap_or_else(|| {
        let mut cm = ConfigMap::default();
        cm.metadata.namespace = Some(CLAIMS_NAMESPACE.into());
        cm.metadata.name = Some(CLAIMS_NAME.into());
        cm
    });
    updated
        .data
        .get_or_insert_with(BTreeMap::new)
        .insert(node.to_owned(), format_cidr_list(subnets));
    updated
}

/// One subnet per cluster CIDR for `node`, claimed in the shared record.
pub fn claim_pod_cidrs(
    store: &DirStore,
    node: &str,
    cluster_cidrs: &[IpNet],
    mask_v4: u8,
    mask_v6: u8,
) -> Result<Vec<IpNet>, BootstrapError> {
    let key = claims_key();
    for _ in 0..MAX_ATTEMPTS {
        let record = match store.get(&key)? {
            Some(Object::ConfigMap(cm)) => Some(cm),
            Some(other) => return Err(BootstrapError::WrongKind(key, other.kind())),
            None => None,
        };
        let claims = claims_of(record.as_ref());
        let plan = plan_claim(node, cluster_cidrs, mask_v4, mask_v6, &claims)?;
        if !plan.changed {
            return Ok(plan.subnets);
        }
        let exists = record.is_some();
        let updated = record_claim(record, node, &plan.subnets);
        let written = if exists {
            store.replace(&Object::ConfigMap(updated))
        } else {
            store.create(&Object::ConfigMap(updated))
        };
        match written {
            Ok(_) => return Ok(plan.subnets),
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BootstrapError::TooManyConflicts(key))
}

/// Removes from the shared record the claims of the nodes not among
/// `nodes` (the Nodes as watched) that have no Node in the store, as the
/// watch may lag one created since; returns those released.
pub fn release_claims(
    store: &DirStore,
    nodes: &BTreeSet<String>,
) -> Result<BTreeSet<String>, BootstrapError> {
    let key = claims_key();
    for _ in 0..MAX_ATTEMPTS {
        let record = match store.get(&key)? {
            Some(Object::ConfigMap(cm)) => cm,
            Some(other) => return Err(BootstrapError::WrongKind(key, other.kind())),
            None => return Ok(BTreeSet::new()),
        };
        let mut gone = BTreeSet::new();
        for claimant in stale_claimants(Some(&record), nodes) {
            if store
                .get(&ObjectKey::new(Kind::Node, None, &claimant))?
                .is_none()
            {
                gone.insert(claimant);
            }
        }
        let Some(updated) = without_claims(&record, &gone) else {
            return Ok(BTreeSet::new());
        };
        match store.replace(&Object::ConfigMap(updated)) {
            Ok(_) => return Ok(gone),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BootstrapError::TooManyConflicts(key))
}

/// Writes the publication's annotations on the node's own Node object.
pub fn publish_node(
    store: &DirStore,
    node: &str,
    publication: &NodePublication,
) -> Result<(), BootstrapError> {
    let key = ObjectKey::new(Kind::Node, None, node);
    for _ in 0..MAX_ATTEMPTS {
        let current = match store.get(&key)? {
            Some(Object::Node(n)) => n,
            Some(other) => return Err(BootstrapError::WrongKind(key, other.kind())),
            None => return Err(BootstrapError::NodeMissing(node.to_owned())),
        };
        let Some(updated) = publish_on(&current, publication) else {
            return Ok(());
        };
        match store.replace(&Object::Node(updated)) {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(BootstrapError::TooManyConflicts(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::Node;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn store_with_nodes(names: &[&str]) -> (tempfile::TempDir, DirStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let nodes: Vec<Object> = names
            .iter()
            .map(|n| {
                let mut node = Node::default();
                node.metadata.name = Some(n.to_string());
                Object::Node(node)
            })
            .collect();
        store.apply(&nodes).unwrap();
        (dir, store)
    }

    #[test]
    fn claims_are_stable_and_distinct() {
        let (_dir, store) = store_with_nodes(&["n1", "n2"]);
        let cluster = [net("10.244.0.0/16"), net("fd00:10:244::/56")];
        let n1 = claim_pod_cidrs(&store, "n1", &cluster, 24, 64).unwrap();
        let n2 = claim_pod_cidrs(&store, "n2", &cluster, 24, 64).unwrap();
        assert_eq!(n1, vec![net("10.244.0.0/24"), net("fd00:10:244::/64")]);
        assert_eq!(n2, vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")]);
        assert_eq!(claim_pod_cidrs(&store, "n1", &cluster, 24, 64).unwrap(), n1);
    }

    #[test]
    fn racing_claimers_never_share_a_subnet() {
        let names: Vec<String> = (0..16).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (_dir, store) = store_with_nodes(&refs);
        let root = store.root().to_path_buf();
        let claimed: Vec<IpNet> = std::thread::scope(|s| {
            let handles: Vec<_> = names
                .iter()
                .map(|name| {
                    let root = root.clone();
                    s.spawn(move || {
                        let store = DirStore::open(&root).unwrap();
                        claim_pod_cidrs(&store, name, &[net("10.244.0.0/16")], 24, 64).unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: std::collections::BTreeSet<_> = claimed.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{claimed:?}");
    }

    #[test]
    fn the_claims_of_deleted_nodes_are_released_once() {
        let (_dir, store) = store_with_nodes(&["n1", "n2", "n3"]);
        let cluster = [net("10.244.0.0/16")];
        for node in ["n1", "n2", "n3"] {
            claim_pod_cidrs(&store, node, &cluster, 24, 64).unwrap();
        }
        let names =
            |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
        // Nothing is stale while every claimant has a Node.
        assert!(
            release_claims(&store, &names(&["n1", "n2", "n3"]))
                .unwrap()
                .is_empty()
        );
        // A watch that has not seen n3 yet does not release n3's claim.
        assert!(
            release_claims(&store, &names(&["n1", "n2"]))
                .unwrap()
                .is_empty()
        );
        store
            .delete(&[ObjectKey::new(Kind::Node, None, "n3")], false)
            .unwrap();
        assert_eq!(
            release_claims(&store, &names(&["n1", "n2"])).unwrap(),
            names(&["n3"])
        );
        let record = match store.get(&claims_key()).unwrap() {
            Some(Object::ConfigMap(cm)) => cm,
            other => panic!("{other:?}"),
        };
        let claimants: Vec<&String> = record.data.as_ref().unwrap().keys().collect();
        assert_eq!(claimants, ["n1", "n2"]);
        let revision = store.snapshot().unwrap().revision;
        assert!(
            release_claims(&store, &names(&["n1", "n2"]))
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.snapshot().unwrap().revision, revision, "no rewrite");
        // n3's subnet is free again: a new node takes it.
        let n4 = claim_pod_cidrs(&store, "n4", &cluster, 24, 64).unwrap();
        assert_eq!(n4, vec![net("10.244.2.0/24")]);
    }

    #[test]
    fn no_record_means_nothing_to_release() {
        let (_dir, store) = store_with_nodes(&["n1"]);
        assert!(release_claims(&store, &BTreeSet::new()).unwrap().is_empty());
    }

    #[test]
    fn publishing_annotates_the_node_once() {
        let (_dir, store) = store_with_nodes(&["n1"]);
        let publication = NodePublication {
            claimed_pod_cidrs: Some(vec![net("10.244.0.0/24")]),
            underlay_ips: vec!["198.18.0.11".parse().unwrap()],
            vtep_mac: [0x0e, 0, 0, 0, 0, 1],
        };
        publish_node(&store, "n1", &publication).unwrap();
        let revision = store.snapshot().unwrap().revision;
        publish_node(&store, "n1", &publication).unwrap();
        assert_eq!(
            store.snapshot().unwrap().revision,
            revision,
            "no rewrite when unchanged"
        );
        assert!(matches!(
            publish_node(&store, "n9", &publication),
            Err(BootstrapError::NodeMissing(_))
        ));
    }
}
