//! The task that releases the subnet claims of deleted Nodes: on every
//! change of the set of Node names (and once at start, for Nodes deleted
//! while weftd was down), the releasing node (see `claim_release`) removes
//! from the shared record the claims of the Nodes that are gone. It runs
//! beside the reconcilers, not as one, because a failure here (the API
//! server down) must not make the node unready; a failed pass is retried
//! with backoff, or at once on news.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;
use weft_datastore::ClusterSnapshot;

use crate::node::claim_release::releases_claims;
use crate::node::cluster_store::ClusterStore;
use crate::reconcile::Backoff;

/// Runs until the snapshot watch ends.
pub async fn release_claims_of_deleted_nodes(
    store: ClusterStore,
    node_name: String,
    mut snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
) {
    let backoff = Backoff::default();
    let mut failures: u32 = 0;
    // The Node names of the last pass that succeeded (or had nothing to do).
    let mut settled: Option<BTreeSet<String>> = None;
    loop {
        let nodes: BTreeSet<String> = snapshots
            .borrow_and_update()
            .nodes
            .keys()
            .cloned()
            .collect();
        if settled.as_ref() != Some(&nodes) {
            if !releases_claims(&node_name, &nodes) {
                settled = Some(nodes);
            } else {
                match store.release_claims(&nodes).await {
                    Ok(released) => {
                        if !released.is_empty() {
                            tracing::info!(nodes = ?released, "released the pod CIDR claims of deleted Nodes");
                        }
                        failures = 0;
                        settled = Some(nodes);
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let delay = backoff.delay(failures, fastrand::f64());
                        tracing::warn!(
                            error = format!("{error:#}"),
                            retry_in = ?delay,
                            "releasing the claims of deleted Nodes failed"
                        );
                        tokio::select! {
                            changed = snapshots.changed() => if changed.is_err() { return },
                            () = tokio::time::sleep(delay) => {}
                        }
                        continue;
                    }
                }
            }
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}
