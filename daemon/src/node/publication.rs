//! The publication reconciler: keeps this node's Node object carrying its
//! underlay IP, VTEP MAC and claimed pod CIDRs (the annotations every peer
//! builds its routes from), also when the underlay address changes or
//! someone strips them. Reads the snapshot first, so a node already right
//! is never rewritten.

use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use rtnetlink::Handle;
use weft_datastore::{ClusterSnapshot, DirStore};

use crate::config::ClusterConfig;
use crate::node::bootstrap::publish_node;
use crate::node::join::discover_local_node;
use crate::node::node_object::{NodePublication, publish_on};
use crate::overlay::vtep_mac;
use crate::reconcile::Reconciler;

pub struct PublicationReconciler {
    pub node_name: String,
    pub pod_cidrs: Vec<IpNet>,
    pub claimed_pod_cidrs: Option<Vec<IpNet>>,
    pub cluster: ClusterConfig,
    /// Its own netlink socket: a socket runs one dump at a time.
    pub handle: Handle,
}

impl Reconciler for PublicationReconciler {
    type Input = ClusterSnapshot;

    fn name(&self) -> &'static str {
        "publication"
    }

    fn revision(&self, snapshot: &ClusterSnapshot) -> Option<u64> {
        Some(snapshot.revision)
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
            underlay_ip: local.underlay_ip,
            vtep_mac: vtep_mac(&self.node_name),
        };
        let current = snapshot.nodes.get(&self.node_name);
        if current.is_some_and(|node| publish_on(node, &publication).is_none()) {
            return Ok(());
        }
        let store = DirStore::open(&self.cluster.datastore_dir)?;
        let name = self.node_name.clone();
        tokio::task::spawn_blocking(move || publish_node(&store, &name, &publication))
            .await?
            .context("publishing this node's underlay IP and VTEP MAC")?;
        tracing::info!(underlay_ip = %local.underlay_ip, "published this node on its Node object");
        Ok(())
    }
}
