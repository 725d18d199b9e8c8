//! A node's health as weftd reports it to `weftctl status`: who it is,
//! whether it is ready and why not, each reconciler, the node network the
//! plugin is given, endpoints, host routing and the datapath's drops.

use std::collections::BTreeMap;
use std::net::IpAddr;

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
    /// How full each of the datapath's hash and LPM maps is (weftd samples
    /// them every few seconds); empty until the first sample.
    #[serde(default)]
    pub maps: Vec<MapFill>,
    /// Where weftd learns the cluster from, and how that goes; absent on a
    /// single node without a datastore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datastore: Option<DatastoreStatus>,
    /// The node network towards the other nodes; absent until the overlay
    /// reconciler has run (or on a single node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatus>,
    /// The compiled NetworkPolicy; absent before the first compile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySummary>,
}

/// The datastore and weftd's connection to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatastoreStatus {
    /// `kubernetes` or `directory`.
    pub kind: String,
    /// Whether it answered just now; with the error when it did not.
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds since weftd last took a change from it (none yet: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_seconds_ago: Option<u64>,
    /// The watch's last failure, until it takes an update again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_error: Option<String>,
}

/// This node's side of the pod network between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkStatus {
    /// `vxlan`, `direct` or `auto`.
    pub mode: String,
    pub underlay_device: String,
    pub underlay_ip: IpAddr,
    pub underlay_mtu: u32,
    /// What is wrong with the VXLAN device, when one is needed.
    #[serde(default)]
    pub device_problems: Vec<String>,
    pub peers: Vec<PeerStatus>,
}

/// Another node as this one reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_ip: Option<IpAddr>,
    /// `vxlan` or `direct`; absent for a skipped peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default)]
    pub pod_cidrs: Vec<IpNet>,
    /// Entries this node should hold for it and does not.
    #[serde(default)]
    pub missing: Vec<String>,
    /// Why it is left out of the node network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// With `--verbose`: how its VTEP (vxlan) or underlay IP (direct)
    /// answered an ICMP echo just now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

/// One reachability check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub target: IpAddr,
    /// Round trip in microseconds; absent when nothing answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_micros: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PeerStatus {
    pub fn is_healthy(&self) -> bool {
        self.missing.is_empty()
            && self.skipped.is_none()
            && self.probe.as_ref().is_none_or(|p| p.rtt_micros.is_some())
    }
}

/// The compiled NetworkPolicy, cluster-wide and on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// NetworkPolicies that select at least one pod.
    pub policies: usize,
    pub identities: usize,
    pub profiles: usize,
    /// This node's endpoints some policy isolates.
    pub isolated_endpoints: usize,
}

/// One eBPF map's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MapFill {
    /// Its pinned name (`bpftool map show name ...`).
    pub map: String,
    pub entries: u32,
    pub capacity: u32,
}

/// From this fill on, weftd warns that a map is filling up.
pub const MAP_PRESSURE_PERCENT: u32 = 80;

impl MapFill {
    /// Whole percent of the capacity in use.
    pub fn percent(&self) -> u32 {
        let percent = u64::from(self.entries) * 100 / u64::from(self.capacity.max(1));
        u32::try_from(percent).unwrap_or(u32::MAX)
    }

    /// At or above [`MAP_PRESSURE_PERCENT`].
    pub fn is_under_pressure(&self) -> bool {
        self.percent() >= MAP_PRESSURE_PERCENT
    }
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
    /// Ready to serve pods, every program in place, every reconciler's
    /// last pass a success, the datastore answering, and every peer's
    /// entries in place (and answering, when probed).
    pub fn is_healthy(&self) -> bool {
        self.not_ready.is_none()
            && self.missing_programs.is_empty()
            && self
                .datastore
                .as_ref()
                .is_none_or(|d| d.reachable && d.watch_error.is_none())
            && self.network.as_ref().is_none_or(|n| {
                n.device_problems.is_empty() && n.peers.iter().all(PeerStatus::is_healthy)
            })
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
            maps: vec![MapFill {
                map: "WEFT_CONNTRACK".into(),
                entries: 10,
                capacity: 262_144,
            }],
            datastore: None,
            network: Some(NetworkStatus {
                mode: "vxlan".into(),
                underlay_device: "eth0".into(),
                underlay_ip: "198.18.0.11".parse().unwrap(),
                underlay_mtu: 1500,
                device_problems: vec![],
                peers: vec![PeerStatus {
                    name: "n2".into(),
                    underlay_ip: Some("198.18.0.12".parse().unwrap()),
                    path: Some("vxlan".into()),
                    pod_cidrs: vec!["10.244.2.0/24".parse().unwrap()],
                    missing: vec![],
                    skipped: None,
                    probe: None,
                }],
            }),
            policy: None,
        }
    }

    #[test]
    fn a_peer_missing_an_entry_left_out_or_silent_makes_the_node_unhealthy() {
        let with_peer = |edit: &dyn Fn(&mut PeerStatus)| {
            let mut status = status();
            let network = status.network.as_mut().unwrap();
            edit(&mut network.peers[0]);
            status
        };
        assert!(with_peer(&|_| {}).is_healthy());
        let missing = with_peer(&|p| p.missing = vec!["fdb entry".into()]);
        assert!(!missing.is_healthy());
        let skipped = with_peer(&|p| p.skipped = Some("no VTEP MAC published".into()));
        assert!(!skipped.is_healthy());
        let target = "10.244.2.0".parse().unwrap();
        let silent = with_peer(&|p| {
            p.probe = Some(Probe {
                target,
                rtt_micros: None,
                error: Some("no answer in 1 s".into()),
            })
        });
        assert!(!silent.is_healthy());
        let answered = with_peer(&|p| {
            p.probe = Some(Probe {
                target,
                rtt_micros: Some(80),
                error: None,
            })
        });
        assert!(answered.is_healthy());
        let mut unreachable_store = status();
        unreachable_store.datastore = Some(DatastoreStatus {
            kind: "kubernetes".into(),
            reachable: false,
            error: Some("connection refused".into()),
            last_change_seconds_ago: Some(3),
            watch_error: None,
        });
        assert!(!unreachable_store.is_healthy());
    }

    #[test]
    fn a_map_is_under_pressure_from_eighty_percent() {
        let fill = |entries| MapFill {
            map: "WEFT_POLICY".into(),
            entries,
            capacity: 1000,
        };
        assert_eq!(fill(799).percent(), 79);
        assert!(!fill(799).is_under_pressure());
        assert!(fill(800).is_under_pressure());
        assert_eq!(fill(1000).percent(), 100);
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
