//! The masquerade reconciler: Weft's nft table for the cluster CIDRs and
//! the node exits that carry Weft's node programs. Its input is the set of
//! hooked exits the policy reconciler publishes, so the table's guard never
//! lets a pending flow out by an exit whose programs are not attached yet.

use std::sync::Arc;

use ipnet::IpNet;
use weft_datastore::Revisions;

use super::masquerade::apply_masquerade;
use crate::reconcile::Reconciler;

/// Node exits whose node programs are attached, sorted.
pub type HookedExits = Vec<String>;

pub struct MasqueradeReconciler {
    pub cluster_cidrs: Vec<IpNet>,
    /// The VXLAN port, when the mode may send VXLAN (its packets go untracked).
    pub vxlan_port: Option<u16>,
}

impl Reconciler for MasqueradeReconciler {
    type Input = HookedExits;

    fn name(&self) -> &'static str {
        "masquerade"
    }

    fn revision(&self, _: &HookedExits) -> Option<Revisions> {
        None
    }

    async fn reconcile(&mut self, exits: Arc<HookedExits>) -> anyhow::Result<()> {
        apply_masquerade(&self.cluster_cidrs, &exits, self.vxlan_port).await?;
        Ok(())
    }
}
