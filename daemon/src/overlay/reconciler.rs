//! The overlay reconciler: on every snapshot, this node's routes,
//! neighbours, FDB entries and VXLAN device for the peers the snapshot
//! holds (see `reconcile`); the masquerade table has a reconciler of its own.

use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use rtnetlink::Handle;
use weft_datastore::{ClusterSnapshot, Revisions};

use super::model::{LocalNode, OverlaySettings, PeerNode};
use super::reconcile::reconcile;
use crate::config::ClusterConfig;
use crate::node::join::discover_local_node;
use crate::node::node_object::peer_nodes;
use crate::reconcile::Reconciler;

pub struct OverlayReconciler {
    pub node_name: String,
    pub pod_cidrs: Vec<IpNet>,
    pub cluster: ClusterConfig,
    pub settings: OverlaySettings,
    /// Its own netlink socket: a socket runs one dump at a time.
    pub handle: Handle,
    /// Where it shows what it plans from, for `weftctl status`.
    pub view: OverlayView,
}

/// What the overlay reconciler last planned the node network from.
#[derive(Debug, Clone)]
pub struct OverlayInputs {
    pub local: LocalNode,
    pub peers: Vec<PeerNode>,
    pub settings: OverlaySettings,
}

/// The overlay reconciler's latest [`OverlayInputs`], shared with the API;
/// empty until its first pass found the local node.
#[derive(Debug, Clone, Default)]
pub struct OverlayView(Arc<Mutex<Option<OverlayInputs>>>);

impl OverlayView {
    pub fn latest(&self) -> Option<OverlayInputs> {
        self.lock().clone()
    }

    fn publish(&self, inputs: OverlayInputs) {
        *self.lock() = Some(inputs);
    }

    fn lock(&self) -> MutexGuard<'_, Option<OverlayInputs>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Reconciler for OverlayReconciler {
    type Input = ClusterSnapshot;

    fn name(&self) -> &'static str {
        "overlay"
    }

    fn revision(&self, snapshot: &ClusterSnapshot) -> Option<Revisions> {
        Some(snapshot.revisions())
    }

    async fn reconcile(&mut self, snapshot: Arc<ClusterSnapshot>) -> anyhow::Result<()> {
        let local = discover_local_node(
            &self.handle,
            &self.node_name,
            &self.pod_cidrs,
            &self.cluster,
        )
        .await?;
        let peers = peer_nodes(&snapshot.nodes, &self.node_name);
        self.view.publish(OverlayInputs {
            local: local.clone(),
            peers: peers.clone(),
            settings: self.settings.clone(),
        });
        let summary = reconcile(&self.handle, &local, &peers, &self.settings).await?;
        if !summary.is_empty() {
            tracing::info!(revision = snapshot.revision, %summary, "node network converged");
        }
        Ok(())
    }
}
