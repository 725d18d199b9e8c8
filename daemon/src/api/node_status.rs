//! The answer to `Request::NodeStatus`: what weftd knows of its node,
//! gathered from readiness, the node network file it publishes, the
//! endpoint service and the datapath's verdict counters.

use std::collections::BTreeMap;
use std::path::PathBuf;

use weft_api::{NodeNetwork, NodeStatus, ReconcilerState};

use crate::policy::observe::reason_name;
use crate::readiness::Readiness;

/// What does not change while weftd runs.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub node: String,
    /// `ebpf` or `kernel`.
    pub host_routing: String,
    /// The node network file weftd writes for the plugin.
    pub node_network: PathBuf,
}

/// What the node's datapath says: its verdict counters (packets per
/// reason), and the host veths that miss a pod program.
#[derive(Debug, Default)]
pub struct DatapathState {
    pub verdict_counts: Option<Vec<u64>>,
    pub missing_programs: Vec<String>,
}

/// The node's status now.
pub fn node_status(
    facts: &NodeFacts,
    readiness: &Readiness,
    endpoints: usize,
    datapath: DatapathState,
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
        missing_programs: datapath.missing_programs,
        drops: datapath
            .verdict_counts
            .map(|c| drops(&c))
            .unwrap_or_default(),
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
        };
        let readiness = Readiness::new("joining the cluster");
        let status = node_status(&facts, &readiness, 0, DatapathState::default());
        assert_eq!(status.not_ready.as_deref(), Some("joining the cluster"));
        assert!(status.pod_cidrs.is_empty());
        assert!(status.drops.is_empty());
        assert!(!status.is_healthy());
    }
}
