//! Starts this node's reconcilers once it has joined the cluster: the
//! overlay, the node's publication and policy on every datastore snapshot,
//! and the masquerade table on the exits policy has hooked. Each runs on
//! its own task and netlink socket, so one failing never stalls another.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rtnetlink::Handle;
use tokio::sync::watch;
use weft_datastore::ClusterSnapshot;

use crate::config::ClusterConfig;
use crate::node::cluster_store::ClusterStore;
use crate::node::join::JoinedNode;
use crate::node::publication::PublicationReconciler;
use crate::overlay::{
    HookedExits, MasqueradeReconciler, OverlayReconciler, OverlaySettings, OverlayView,
};
use crate::policy::{PolicyEnforcer, PolicyReconciler};
use crate::reconcile::{RunnerSettings, spawn_reconciler, spawn_reconciler_on_first_news};

/// Converge again now and then, so hand-made changes to the node heal.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// What the node's reconcilers work from.
pub struct NodeReconcilers {
    pub node_name: String,
    pub joined: JoinedNode,
    pub cluster: ClusterConfig,
    pub store: ClusterStore,
    pub enforcer: Arc<PolicyEnforcer>,
    /// Where the overlay reconciler shows its inputs to `weftctl status`.
    pub overlay_view: OverlayView,
}

/// Spawns every reconciler; they run until the snapshot watch ends.
pub fn start_node_reconcilers(
    node: NodeReconcilers,
    snapshots: &watch::Receiver<Arc<ClusterSnapshot>>,
    settings: &RunnerSettings,
) -> anyhow::Result<()> {
    let NodeReconcilers {
        node_name,
        joined,
        cluster,
        store,
        enforcer,
        overlay_view,
    } = node;
    let (hooked_exits, hooked_news) = watch::channel(Arc::new(HookedExits::new()));
    spawn_reconciler(
        PolicyReconciler {
            enforcer,
            hooked_exits,
        },
        snapshots.clone(),
        settings.clone(),
    );
    let overlay_settings = OverlaySettings::new(cluster.mode, cluster.cluster_cidrs.clone());
    spawn_reconciler_on_first_news(
        MasqueradeReconciler {
            cluster_cidrs: cluster.cluster_cidrs.clone(),
            vxlan_port: overlay_settings.vxlan_port(),
        },
        hooked_news,
        settings.clone(),
    );
    spawn_reconciler(
        OverlayReconciler {
            node_name: node_name.clone(),
            pod_cidrs: joined.pod_cidrs.clone(),
            settings: overlay_settings,
            cluster: cluster.clone(),
            handle: netlink_handle("the overlay")?,
            view: overlay_view,
        },
        snapshots.clone(),
        settings.clone(),
    );
    spawn_reconciler(
        PublicationReconciler {
            node_name,
            pod_cidrs: joined.pod_cidrs,
            claimed_pod_cidrs: joined.claimed_pod_cidrs,
            cluster,
            store,
            handle: netlink_handle("the node's publication")?,
        },
        snapshots.clone(),
        settings.clone(),
    );
    Ok(())
}

/// A netlink socket of its own: a socket runs one dump at a time, and a
/// second one at once gets EBUSY.
fn netlink_handle(user: &str) -> anyhow::Result<Handle> {
    let (connection, handle, _) = rtnetlink::new_connection()
        .with_context(|| format!("opening a netlink connection for {user}"))?;
    tokio::spawn(connection);
    Ok(handle)
}
