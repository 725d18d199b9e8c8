//! The node in the cluster: join through the datastore (pod CIDRs, the
//! Node's annotations), then keep the node network converged to every
//! snapshot the datastore publishes, and report the revision in effect.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use rtnetlink::Handle;
use tokio::sync::watch;
use weft_datastore::{ClusterSnapshot, DirStore};

use crate::config::ClusterConfig;
use crate::node::bootstrap::{claim_pod_cidrs, publish_node};
use crate::node::mtu::VXLAN_OVERHEAD;
use crate::node::node_object::{NodePublication, node_pod_cidrs, peer_nodes};
use crate::overlay::{
    LocalNode, NetworkMode, OverlaySettings, current_node_exits, local_node_from_interface,
    reconcile, vtep_mac,
};
use crate::policy::PolicyEnforcer;
use crate::readiness::Readiness;

/// A pass that failed is retried after this long even without news.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Converge again now and then, so hand-made changes to the node heal.
const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// What joining the cluster decided for this node.
#[derive(Debug, Clone)]
pub struct JoinedNode {
    pub pod_cidrs: Vec<IpNet>,
    /// Pod MTU: the underlay's, less the VXLAN overhead where VXLAN is used.
    pub pod_mtu: u32,
}

/// Waits for the node's own Node object, settles its pod CIDRs (the flag,
/// else spec.podCIDRs, else a claim) and publishes its underlay and VTEP.
pub async fn join_cluster(
    node_name: &str,
    flag_pod_cidrs: &[IpNet],
    cluster: &ClusterConfig,
    handle: &Handle,
    snapshots: &mut watch::Receiver<Arc<ClusterSnapshot>>,
) -> anyhow::Result<JoinedNode> {
    let node = loop {
        if let Some(node) = snapshots.borrow_and_update().nodes.get(node_name) {
            break node.clone();
        }
        tracing::info!(node = node_name, "waiting for this node's Node object");
        snapshots
            .changed()
            .await
            .context("the datastore watch ended")?;
    };
    let spec_cidrs = node
        .spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_ref())
        .is_some_and(|c| !c.is_empty());
    let (pod_cidrs, claimed) = if !flag_pod_cidrs.is_empty() {
        (flag_pod_cidrs.to_vec(), Some(flag_pod_cidrs.to_vec()))
    } else if spec_cidrs {
        (node_pod_cidrs(&node), None)
    } else {
        let store = DirStore::open(&cluster.datastore_dir)?;
        let (name, cidrs, v4, v6) = (
            node_name.to_owned(),
            cluster.cluster_cidrs.clone(),
            cluster.node_mask_v4,
            cluster.node_mask_v6,
        );
        let claimed =
            tokio::task::spawn_blocking(move || claim_pod_cidrs(&store, &name, &cidrs, v4, v6))
                .await??;
        tracing::info!(pod_cidrs = ?claimed, "claimed pod CIDRs from the cluster CIDR");
        (claimed.clone(), Some(claimed))
    };
    let local = discover(handle, node_name, &pod_cidrs, cluster).await?;
    publish(cluster, node_name, claimed, &local).await?;
    let pod_mtu = match cluster.mode {
        NetworkMode::Direct => local.underlay_mtu,
        NetworkMode::Vxlan | NetworkMode::Auto => local.underlay_mtu - VXLAN_OVERHEAD,
    };
    Ok(JoinedNode { pod_cidrs, pod_mtu })
}

/// What the node network task works with.
pub struct NodeNetworkTask {
    pub node_name: String,
    pub joined: JoinedNode,
    pub cluster: ClusterConfig,
    pub handle: Handle,
    pub readiness: Arc<Readiness>,
    pub enforcer: Arc<PolicyEnforcer>,
}

/// Converges the node network and its policy to every snapshot, forever.
/// Tells `first_pass` once both are in effect for the first time.
pub async fn run_node_network(
    task: NodeNetworkTask,
    mut snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
    first_pass: tokio::sync::oneshot::Sender<()>,
) {
    let NodeNetworkTask {
        node_name,
        joined,
        cluster,
        handle,
        readiness,
        enforcer,
    } = task;
    let settings = OverlaySettings::new(cluster.mode, cluster.cluster_cidrs.clone());
    let mut first_pass = Some(first_pass);
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        for error in &snapshot.errors {
            tracing::warn!(%error, "skipping a datastore object");
        }
        let outcome = pass(&node_name, &joined, &cluster, &settings, &handle, &snapshot).await;
        let outcome = match outcome {
            Ok(()) => enforce_policy(&enforcer, snapshot.clone()).await,
            Err(e) => Err(e),
        };
        let wait = match outcome {
            Ok(()) => {
                readiness.set_applied_revision(snapshot.revision);
                if let Some(tx) = first_pass.take() {
                    let _ = tx.send(());
                }
                RESYNC_EVERY
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "node network pass failed; retrying"
                );
                RETRY_AFTER
            }
        };
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() {
                tracing::error!("the datastore watch ended");
                return;
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn pass(
    node_name: &str,
    joined: &JoinedNode,
    cluster: &ClusterConfig,
    settings: &OverlaySettings,
    handle: &Handle,
    snapshot: &ClusterSnapshot,
) -> anyhow::Result<()> {
    let local = discover(handle, node_name, &joined.pod_cidrs, cluster).await?;
    let peers = peer_nodes(&snapshot.nodes, node_name);
    let summary = reconcile(handle, &local, &peers, settings).await?;
    if !summary.is_empty() {
        tracing::info!(revision = snapshot.revision, %summary, "node network converged");
    }
    Ok(())
}

/// Puts the snapshot's NetworkPolicies in effect, with the node programs on
/// every exit of the node (egress policy is decided where a packet leaves,
/// after kube-proxy's DNAT).
async fn enforce_policy(
    enforcer: &Arc<PolicyEnforcer>,
    snapshot: Arc<ClusterSnapshot>,
) -> anyhow::Result<()> {
    let enforcer = enforcer.clone();
    tokio::task::spawn_blocking(move || {
        let exits = current_node_exits().context("listing the node's interfaces")?;
        for exit in &exits {
            enforcer
                .attach_node_device(exit)
                .with_context(|| format!("attaching the node programs to {exit}"))?;
        }
        enforcer
            .sync(snapshot)
            .context("programming the policy maps")
    })
    .await?
}

async fn discover(
    handle: &Handle,
    node_name: &str,
    pod_cidrs: &[IpNet],
    cluster: &ClusterConfig,
) -> anyhow::Result<LocalNode> {
    local_node_from_interface(
        handle,
        node_name,
        pod_cidrs.to_vec(),
        cluster.underlay_interface.as_deref(),
    )
    .await
    .context("finding the underlay interface")
}

async fn publish(
    cluster: &ClusterConfig,
    node_name: &str,
    claimed_pod_cidrs: Option<Vec<IpNet>>,
    local: &LocalNode,
) -> anyhow::Result<()> {
    let publication = NodePublication {
        claimed_pod_cidrs,
        underlay_ip: local.underlay_ip,
        vtep_mac: vtep_mac(node_name),
    };
    let store = DirStore::open(&cluster.datastore_dir)?;
    let name = node_name.to_owned();
    tokio::task::spawn_blocking(move || publish_node(&store, &name, &publication))
        .await?
        .context("publishing this node's underlay IP and VTEP MAC")
}
