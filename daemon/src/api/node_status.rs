//! The answer to `Request::NodeStatus`: what weftd knows of its node,
//! gathered from readiness, the node network file it publishes, the
//! endpoint service, the datapath (programs, maps, verdict counters), the
//! datastore and the overlay's peers as the kernel holds them now.

use std::collections::BTreeMap;
use std::path::PathBuf;

use weft_api::{
    DatastoreStatus, Endpoint, MapFill, NetworkStatus, NodeNetwork, NodeStatus, PolicySummary,
    ReconcilerState,
};

use crate::bpf::node_devices_without_programs;
use crate::endpoints::attachments::veths_without_programs;
use crate::node::datastore_health::DatastoreHealth;
use crate::overlay::observe::observe;
use crate::overlay::probe::{probe_peers, probe_targets};
use crate::overlay::report::network_report;
use crate::overlay::{OverlayView, desired_network};
use crate::readiness::Readiness;
use weft_ebpf_common::reason_name;

/// Where weftd's node status comes from, beside what it is asked with.
#[derive(Clone)]
pub struct NodeFacts {
    pub node: String,
    /// `ebpf` or `kernel`.
    pub host_routing: String,
    /// The node network file weftd writes for the plugin.
    pub node_network: PathBuf,
    /// The overlay reconciler's latest inputs.
    pub overlay: OverlayView,
    pub datastore: DatastoreHealth,
}

/// What the node's datapath says: its verdict counters (packets per
/// reason), the maps' fill and the policy in effect.
#[derive(Debug, Default)]
pub struct DatapathState {
    pub verdict_counts: Option<Vec<u64>>,
    pub maps: Vec<MapFill>,
    pub policy: Option<PolicySummary>,
}

/// What is read live from the kernel and the datastore at each request.
#[derive(Debug, Default)]
pub struct LiveState {
    pub missing_programs: Vec<String>,
    pub datastore: Option<DatastoreStatus>,
    pub network: Option<NetworkStatus>,
}

/// Reads the live state: the programs on `endpoints`' veths and on
/// `node_devices`, the datastore (probed), and the node network towards
/// each peer (each probed too when `verbose`).
pub async fn live_state(
    facts: &NodeFacts,
    handle: &rtnetlink::Handle,
    endpoints: &[Endpoint],
    node_devices: &[String],
    verbose: bool,
) -> LiveState {
    let mut missing_programs = veths_without_programs(handle, endpoints).await;
    missing_programs.extend(node_devices_without_programs(node_devices));
    let network = match facts.overlay.latest() {
        Some(inputs) => {
            let desired = desired_network(&inputs.local, &inputs.peers, &inputs.settings);
            let mut report = match observe(handle, &inputs.settings.device).await {
                Ok(observation) => network_report(
                    &inputs.local,
                    inputs.settings.mode,
                    &desired,
                    &observation.network,
                ),
                Err(error) => {
                    let mut report = network_report(
                        &inputs.local,
                        inputs.settings.mode,
                        &desired,
                        &Default::default(),
                    );
                    report.device_problems = vec![format!("cannot read the node network: {error}")];
                    report
                }
            };
            if verbose {
                probe_peers(&mut report.peers, &probe_targets(&desired)).await;
            }
            Some(report)
        }
        None => None,
    };
    LiveState {
        missing_programs,
        datastore: facts.datastore.status().await,
        network,
    }
}

/// The node's status now.
pub fn node_status(
    facts: &NodeFacts,
    readiness: &Readiness,
    endpoints: usize,
    datapath: DatapathState,
    live: LiveState,
) -> NodeStatus {
    let reconcilers = readiness
        .reconcilers()
        .into_iter()
        .map(|(name, status)| ReconcilerState {
            name: name.to_owned(),
            converged: status.converged,
            error: status.error,
        })
        .collect();
    let network = NodeNetwork::load(&facts.node_network).ok();
    NodeStatus {
        node: facts.node.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        not_ready: readiness.reason(),
        reconcilers,
        pod_cidrs: network
            .as_ref()
            .map(|n| n.pod_cidrs.clone())
            .unwrap_or_default(),
        mtu: network.and_then(|n| n.mtu),
        host_routing: facts.host_routing.clone(),
        endpoints,
        missing_programs: live.missing_programs,
        drops: datapath
            .verdict_counts
            .map(|c| drops(&c))
            .unwrap_or_default(),
        maps: datapath.maps,
        datastore: live.datastore,
        network: live.network,
        policy: datapath.policy,
    }
}

/// Dropped packets per reason name, for the reasons that dropped any.
fn drops(counts: &[u64]) -> BTreeMap<String, u64> {
    (0u32..)
        .zip(counts)
        .filter(|(_, count)| **count > 0)
        .filter_map(|(reason, count)| match reason_name(reason) {
            ("dropped", name) => Some((name.to_owned(), *count)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use weft_ebpf_common::{
        REASON_ALLOWED_BY_POLICY, REASON_DROPPED_BY_POLICY, REASON_DROPPED_SPOOFED_IP,
    };

    use super::*;

    #[test]
    fn drops_are_named_and_allowed_or_empty_reasons_left_out() {
        let mut counts = vec![0; 11];
        counts[REASON_ALLOWED_BY_POLICY as usize] = 50;
        counts[REASON_DROPPED_BY_POLICY as usize] = 3;
        counts[REASON_DROPPED_SPOOFED_IP as usize] = 1;
        assert_eq!(
            drops(&counts),
            BTreeMap::from([("policy".into(), 3), ("spoofed-ip".into(), 1)])
        );
    }

    #[test]
    fn a_node_without_its_network_file_yet_has_no_cidrs_and_says_why_it_is_not_ready() {
        let facts = NodeFacts {
            node: "n1".into(),
            host_routing: "ebpf".into(),
            node_network: PathBuf::from("/nonexistent/node-network.json"),
            overlay: OverlayView::default(),
            datastore: DatastoreHealth::default(),
        };
        let readiness = Readiness::new("joining the cluster");
        let status = node_status(
            &facts,
            &readiness,
            0,
            DatapathState::default(),
            LiveState::default(),
        );
        assert_eq!(status.not_ready.as_deref(), Some("joining the cluster"));
        assert!(status.pod_cidrs.is_empty());
        assert!(status.drops.is_empty());
        assert!(status.network.is_none());
        assert!(!status.is_healthy());
    }
}
