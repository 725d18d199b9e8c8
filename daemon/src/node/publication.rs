//! The publication reconciler: keeps this node's Node object carrying its
//! underlay IP, VTEP MAC and claimed pod CIDRs (the annotations every peer
//! builds its routes from), also when the underlay address changes or
//! someone strips them. Reads the snapshot first, so a node already right
//! is never rewritten.

use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use rtnetlink::Handle;
use weft_datastore::{ClusterSnapshot, Revisions};

use crate::config::ClusterConfig;
use crate::node::cluster_store::ClusterStore;
use crate::node::join::discover_local_node;
use crate::node::node_object::NodePublication;
use crate::overlay::vtep_mac;
use crate::reconcile::Reconciler;

pub struct PublicationReconciler {
    pub node_name: String,
    pub pod_cidrs: Vec<IpNet>,
    pub claimed_pod_cidrs: Option<Vec<IpNet>>,
    pub cluster: ClusterConfig,
    pub store: ClusterStore,
    /// Its own netlink socket: a socket runs one dump at a time.
    pub handle: Handle,
}

impl Reconciler for PublicationReconciler {
    type Input = ClusterSnapshot;

    fn name(&self) -> &'static str {
        "publication"
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
        let publication = NodePublication {
            claimed_pod_cidrs: self.claimed_pod_cidrs.clone(),
            underlay_ips: local.underlay_ips(),
            vtep_mac: vtep_mac(&self.node_name),
        };
        let wrote = self
            .store
            .publish_node(&self.node_name, &snapshot, &publication)
            .await
            .context("publishing this node's underlay IP and VTEP MAC")?;
        if !wrote {
            return Ok(());
        }
        tracing::info!(underlay_ips = ?local.underlay_ips(), "published this node on its Node object");
        Ok(())
    }
}
