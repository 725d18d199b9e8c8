//! The policy reconciler: on every snapshot, the node programs on every
//! exit of the node (egress policy is decided where a packet leaves, after
//! kube-proxy's DNAT), then the snapshot's NetworkPolicies in the maps. It
//! publishes the exits it has hooked, for the masquerade table's guard.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use weft_datastore::{ClusterSnapshot, Revisions};

use super::PolicyEnforcer;
use crate::overlay::{HookedExits, current_node_exits};
use crate::reconcile::Reconciler;

pub struct PolicyReconciler {
    pub enforcer: Arc<PolicyEnforcer>,
    pub hooked_exits: watch::Sender<Arc<HookedExits>>,
}

impl Reconciler for PolicyReconciler {
    type Input = ClusterSnapshot;

    fn name(&self) -> &'static str {
        "policy"
    }

    fn revision(&self, snapshot: &ClusterSnapshot) -> Option<Revisions> {
        Some(snapshot.revisions())
    }

    async fn reconcile(&mut self, snapshot: Arc<ClusterSnapshot>) -> anyhow::Result<()> {
        let enforcer = self.enforcer.clone();
        let (hooked, outcome) = tokio::task::spawn_blocking(move || pass(&enforcer, snapshot))
            .await
            .context("the policy pass panicked")?;
        self.hooked_exits.send_if_modified(|published| {
            let changed = **published != hooked;
            if changed {
                *published = Arc::new(hooked);
            }
            changed
        });
        outcome
    }
}

/// Hooks every exit it can, then syncs the maps even if one exit failed:
/// the exits that did get their programs are returned either way.
fn pass(
    enforcer: &PolicyEnforcer,
    snapshot: Arc<ClusterSnapshot>,
) -> (HookedExits, anyhow::Result<()>) {
    let exits = match current_node_exits().context("listing the node's interfaces") {
        Ok(exits) => exits,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut hooked = Vec::new();
    let mut failures = Vec::new();
    for exit in exits {
        match enforcer.attach_node_device(&exit) {
            Ok(()) => hooked.push(exit),
            Err(e) => failures.push(format!("{exit}: {e}")),
        }
    }
    let synced = enforcer
        .sync(snapshot)
        .context("programming the policy maps");
    // The pass dropped the previous compile: tens of MB at 10,000 pods.
    crate::memory::return_free_memory();
    let outcome = if failures.is_empty() {
        synced
    } else {
        let attach = anyhow::anyhow!(
            "attaching the node programs failed on {}",
            failures.join("; ")
        );
        synced.and(Err(attach))
    };
    (hooked, outcome)
}
