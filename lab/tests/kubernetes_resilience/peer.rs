//! What a vxlan node holds for one peer node (its route, neighbour and FDB
//! entry), made from the peer's Node as the API server holds it, and the
//! check that a node holds exactly those, or nothing for that peer.

use std::net::IpAddr;

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::common::{CONVERGE, TestLab, wait_until};

const UNDERLAY_IP_ANNOTATION: &str = "weft.dev/underlay-ip";
const VTEP_MAC_ANNOTATION: &str = "weft.dev/vtep-mac";

#[derive(Debug, Clone)]
pub struct PeerEntries {
    pub cidr: Ipv4Net,
    route: String,
    neighbour: String,
    fdb: String,
    mac: String,
}

impl PeerEntries {
    /// From `kubectl get node NAME -o json`.
    pub fn of_node(node: &Value) -> Self {
        let cidr: Ipv4Net = node["spec"]["podCIDRs"][0]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("a pod CIDR: {node}"));
        let annotations = &node["metadata"]["annotations"];
        let underlay: IpAddr = annotations[UNDERLAY_IP_ANNOTATION]
            .as_str()
            .and_then(|ip| ip.parse().ok())
            .unwrap_or_else(|| panic!("an underlay IP: {node}"));
        let mac = annotations[VTEP_MAC_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("a VTEP MAC: {node}"))
            .to_owned();
        let vtep = cidr.network();
        Self {
            cidr,
            route: format!("{cidr} via {vtep} dev weft.vxlan onlink"),
            neighbour: format!("{vtep} lladdr {mac} PERMANENT"),
            fdb: format!("{mac} dst {underlay} self permanent"),
            mac,
        }
    }

    /// Whether `node` holds exactly these entries (`present`), or nothing
    /// for this peer at all; `Err` says what it holds instead.
    fn check(&self, lab: &TestLab, node: &str, present: bool) -> Result<(), String> {
        let network = lab.node_network(node);
        let vtep = format!("{} ", self.cidr.network());
        let holds = if present {
            network.routes.contains(&self.route)
                && network.neighbours.contains(&self.neighbour)
                && network.fdb.contains(&self.fdb)
        } else {
            !network
                .routes
                .iter()
                .any(|r| r.contains(&self.cidr.to_string()))
                && !network.neighbours.iter().any(|n| n.starts_with(&vtep))
                && !network.fdb.iter().any(|f| f.starts_with(&self.mac))
        };
        if holds {
            Ok(())
        } else {
            Err(format!("{node} holds {network:?}"))
        }
    }

    /// Waits until every one of `nodes` holds these entries, or none.
    pub fn wait_everywhere(&self, lab: &TestLab, nodes: &[&str], present: bool) {
        let what = format!(
            "{} for {} on {nodes:?}",
            if present { "entries" } else { "no entries" },
            self.cidr
        );
        wait_until(&what, CONVERGE, || {
            nodes
                .iter()
                .try_for_each(|node| self.check(lab, node, present))
        });
    }
}
