//! One pass of the overlay: forwarding on, desired state from all inputs,
//! actual state from the kernel, the difference applied. Level-triggered: a
//! pass after a crash, a restart or a missed event converges all the same.

use rtnetlink::Handle;

use super::apply::apply;
use super::desired::desired_network;
use super::diff::{PlanSummary, diff};
use super::error::OverlayError;
use super::model::{LocalNode, OverlaySettings, PeerNode};
use super::observe::observe;
use super::sysctl::{enable_ipv4_forwarding, enable_ipv6_forwarding};

/// Converges the calling thread's network namespace (weftd runs in the
/// node's) to the node network for `peers`, and returns what it changed.
pub async fn reconcile(
    handle: &Handle,
    local: &LocalNode,
    peers: &[PeerNode],
    settings: &OverlaySettings,
) -> Result<PlanSummary, OverlayError> {
    if enable_ipv4_forwarding()? {
        tracing::info!("turned on IPv4 forwarding");
    }
    if local.pod_cidrs.iter().any(|cidr| cidr.addr().is_ipv6()) && enable_ipv6_forwarding()? {
        tracing::info!("turned on IPv6 forwarding");
    }
    let desired = desired_network(local, peers, settings);
    for skipped in &desired.skipped {
        tracing::debug!(peer = %skipped.name, reason = %skipped.reason, "peer left out of the node network");
    }
    let observation = observe(handle, &settings.device).await?;
    let plan = diff(&desired, &observation.network);
    let summary = plan.summary();
    if !plan.is_empty() {
        tracing::info!(%summary, "changing the node network");
        apply(handle, &plan, &settings.device, observation.ifindexes).await?;
    }
    Ok(summary)
}
