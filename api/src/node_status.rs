//! A node's health as weftd reports it to `weftctl status`: who it is,
//! whether it is ready and why not, each reconciler, the node network the
//! plugin is given, endpoints, host routing and the datapath's drops.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub node: String,
    /// weftd's version.
    pub version: String,
    /// Why weftd is not ready; absent when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ready: Option<String>,
    pub reconcilers: Vec<ReconcilerState>,
    /// The pod CIDRs the plugin allocates from; empty until weftd has them.
    #[serde(default)]
    pub pod_cidrs: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `ebpf` or `kernel` (weftd's `--host-routing`).
    pub host_routing: String,
    pub endpoints: usize,
    /// Endpoints' host veths missing a pod program, and what is missing.
    #[serde(default)]
    pub missing_programs: Vec<String>,
    /// Packets the datapath dropped since its counters began, per reason
    /// that dropped any.
    pub drops: BTreeMap<String, u64>,
}

/// One reconciler of weftd and how its last pass went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilerState {
    pub name: String,
    /// It has succeeded since weftd started.
    pub converged: bool,
    /// Its last failure, until its next success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl NodeStatus {
    /// Ready to serve pods, every pod program in place, and every
    /// reconciler's last pass a success.
    pub fn is_healthy(&self) -> bool {
        self.not_ready.is_none()
            && self.missing_programs.is_empty()
            && self
                .reconcilers
                .iter()
                .all(|r| r.converged && r.error.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> NodeStatus {
        NodeStatus {
            node: "n1".into(),
            version: "0.1.0".into(),
            not_ready: None,
            reconcilers: vec![ReconcilerState {
                name: "overlay".into(),
                converged: true,
                error: None,
            }],
            pod_cidrs: vec!["10.244.1.0/24".parse().unwrap()],
            mtu: Some(1450),
            host_routing: "ebpf".into(),
            endpoints: 2,
            missing_programs: vec![],
            drops: BTreeMap::from([("policy".into(), 3)]),
        }
    }

    #[test]
    fn healthy_means_ready_and_no_reconciler_failing_now() {
        assert!(status().is_healthy());
        let not_ready = NodeStatus {
            not_ready: Some("joining the cluster".into()),
            ..status()
        };
        assert!(!not_ready.is_healthy());
        let mut failing = status();
        failing.reconcilers[0].error = Some("nft: busy".into());
        assert!(!failing.is_healthy(), "converged once, failing now");
        let detached = NodeStatus {
            missing_programs: vec!["weft1234: no ingress program".into()],
            ..status()
        };
        assert!(!detached.is_healthy());
    }

    #[test]
    fn round_trips_through_json() {
        let text = serde_json::to_string(&status()).unwrap();
        assert!(text.contains("\"hostRouting\":\"ebpf\""), "{text}");
        let back: NodeStatus = serde_json::from_str(&text).unwrap();
        assert_eq!(back, status());
    }
}
