//! Joining the cluster through the datastore: wait for this node's Node
//! object, settle its pod CIDRs (the flag, else `spec.podCIDRs`, else a
//! claim from the cluster CIDR) and the pod MTU. Publishing the node's
//! underlay and VTEP is the publication reconciler's job from then on.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipnet::IpNet;
use rtnetlink::Handle;
use tokio::sync::watch;
use weft_datastore::{ClusterSnapshot, Node};

use crate::config::ClusterConfig;
use crate::node::cluster_store::ClusterStore;
use crate::node::mtu::vxlan_overhead;
use crate::node::node_object::node_pod_cidrs;
use crate::overlay::{LocalNode, NetworkMode, local_node_from_interface};

/// How long a node of the `kubernetes` datastore waits for the controller
/// manager's spec.podCIDRs before it claims a subnet itself.
const ALLOCATOR_GRACE: Duration = Duration::from_secs(30);

/// What joining the cluster decided for this node.
#[derive(Debug, Clone)]
pub struct JoinedNode {
    pub pod_cidrs: Vec<IpNet>,
    /// The CIDRs weftd chose itself (the flag or a claim), which the Node
    /// must carry; `None` when they are the Node's `spec.podCIDRs`.
    pub claimed_pod_cidrs: Option<Vec<IpNet>>,
    /// Pod MTU: the underlay's, less the VXLAN overhead where VXLAN is used.
    pub pod_mtu: u32,
}

/// Waits for the node's own Node object and settles its pod CIDRs and MTU.
pub async fn join_cluster(
    node_name: &str,
    flag_pod_cidrs: &[IpNet],
    cluster: &ClusterConfig,
    store: &ClusterStore,
    handle: &Handle,
    snapshots: &mut watch::Receiver<Arc<ClusterSnapshot>>,
) -> anyhow::Result<JoinedNode> {
    let mut node = loop {
        if let Some(node) = snapshots.borrow_and_update().nodes.get(node_name) {
            break node.clone();
        }
        tracing::info!(node = node_name, "waiting for this node's Node object");
        snapshots
            .changed()
            .await
            .context("the datastore watch ended")?;
    };
    if flag_pod_cidrs.is_empty()
        && !has_spec_cidrs(&node)
        && matches!(store, ClusterStore::Kubernetes(_))
    {
        // A new Node gets its spec.podCIDRs from the controller manager a
        // moment after it registers: claim only when nobody allocates.
        tracing::info!(node = node_name, grace = ?ALLOCATOR_GRACE, "waiting for spec.podCIDRs");
        let allocated = tokio::time::timeout(ALLOCATOR_GRACE, async {
            loop {
                if snapshots.changed().await.is_err() {
                    return None;
                }
                let current = snapshots.borrow_and_update().nodes.get(node_name).cloned();
                if let Some(current) = current.filter(has_spec_cidrs) {
                    return Some(current);
                }
            }
        })
        .await;
        if let Ok(Some(allocated)) = allocated {
            node = allocated;
        }
    }
    let spec_cidrs = has_spec_cidrs(&node);
    let (pod_cidrs, claimed_pod_cidrs) = if !flag_pod_cidrs.is_empty() {
        (flag_pod_cidrs.to_vec(), Some(flag_pod_cidrs.to_vec()))
    } else if spec_cidrs {
        (node_pod_cidrs(&node), None)
    } else {
        let claimed = store
            .claim_pod_cidrs(
                node_name,
                &cluster.cluster_cidrs,
                cluster.node_mask_v4,
                cluster.node_mask_v6,
            )
            .await
            .context("claiming pod CIDRs from the cluster CIDR")?;
        tracing::info!(pod_cidrs = ?claimed, "claimed pod CIDRs from the cluster CIDR");
        (claimed.clone(), Some(claimed))
    };
    let local = discover_local_node(handle, node_name, &pod_cidrs, cluster).await?;
    let pod_mtu = match cluster.mode {
        NetworkMode::Direct => local.underlay_mtu,
        NetworkMode::Vxlan | NetworkMode::Auto => local
            .underlay_mtu
            .saturating_sub(vxlan_overhead(local.underlay_ip)),
    };
    Ok(JoinedNode {
        pod_cidrs,
        claimed_pod_cidrs,
        pod_mtu,
    })
}

/// Does the Node carry pod CIDRs the controller manager allocated?
fn has_spec_cidrs(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.pod_cidrs.as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// This node as the overlay sees it now (its underlay may change).
pub async fn discover_local_node(
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
