//! The node network as `weftctl status` shows it (pure): for each peer,
//! how it is reached and which of its entries the kernel lacks, from the
//! desired network and what the kernel holds; and what is wrong with the
//! VXLAN device.

use weft_api::{NetworkStatus, PeerStatus};

use super::desired::{DesiredNetwork, PlannedPeer};
use super::model::{LocalNode, NetworkMode};
use super::state::{NextHop, ObservedNetwork, Route};
use super::vtep::format_mac;

/// The report of the node network `desired` for `local` in `mode`, as
/// the kernel holds it in `observed`. Peers come in name order.
pub fn network_report(
    local: &LocalNode,
    mode: NetworkMode,
    desired: &DesiredNetwork,
    observed: &ObservedNetwork,
) -> NetworkStatus {
    let left_out = |name: &str| -> Option<String> {
        let reasons: Vec<String> = desired
            .skipped
            .iter()
            .filter(|skipped| skipped.name == name)
            .map(ToString::to_string)
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    };
    let mut peers: Vec<PeerStatus> = desired
        .peers
        .iter()
        .map(|peer| PeerStatus {
            name: peer.name.clone(),
            underlay_ip: Some(peer.underlay_ip),
            path: Some(peer_path(peer).to_owned()),
            pod_cidrs: peer.routes.iter().map(|r| r.route.destination).collect(),
            missing: missing_entries(peer, observed),
            skipped: left_out(&peer.name),
            probe: None,
        })
        .collect();
    let planned: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
    let mut wholly_left_out: Vec<&str> = desired
        .skipped
        .iter()
        .map(|skipped| skipped.name.as_str())
        .filter(|name| !planned.contains(name))
        .collect();
    wholly_left_out.dedup();
    let wholly_left_out: Vec<PeerStatus> = wholly_left_out
        .into_iter()
        .map(|name| PeerStatus {
            name: name.to_owned(),
            underlay_ip: None,
            path: None,
            pod_cidrs: vec![],
            missing: vec![],
            skipped: left_out(name),
            probe: None,
        })
        .collect();
    peers.extend(wholly_left_out);
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    NetworkStatus {
        mode: mode.to_string(),
        underlay_device: local.underlay_ifname.clone(),
        underlay_ip: local.underlay_ip,
        underlay_mtu: local.underlay_mtu,
        device_problems: device_problems(desired, observed),
        peers,
    }
}

/// `vxlan` or `direct` when every pod CIDR of the peer goes that way
/// (`auto` may route one family directly and tunnel the other).
fn peer_path(peer: &PlannedPeer) -> &'static str {
    let tunnelled = peer.routes.iter().filter(|r| r.encapsulated).count();
    match tunnelled {
        0 => "direct",
        n if n == peer.routes.len() => "vxlan",
        _ => "vxlan+direct",
    }
}

fn missing_entries(peer: &PlannedPeer, observed: &ObservedNetwork) -> Vec<String> {
    let mut missing = Vec::new();
    for planned in &peer.routes {
        if !observed.routes.contains(&planned.route) {
            missing.push(format!("route {}", route_text(&planned.route)));
        }
    }
    for wanted in &peer.neighbours {
        let held = observed
            .neighbours
            .iter()
            .any(|n| n.address == wanted.address && n.mac == Some(wanted.mac) && n.permanent);
        if !held {
            missing.push(format!(
                "neighbour {} lladdr {}",
                wanted.address,
                format_mac(&wanted.mac)
            ));
        }
    }
    if let Some(wanted) = &peer.fdb
        && !observed.fdb.contains(wanted)
    {
        missing.push(format!(
            "fdb entry {} dst {}",
            format_mac(&wanted.mac),
            wanted.remote
        ));
    }
    missing
}

fn route_text(route: &Route) -> String {
    match &route.next_hop {
        NextHop::Gateway {
            address,
            device,
            onlink,
        } => format!(
            "{} via {address} dev {device}{}",
            route.destination,
            if *onlink { " onlink" } else { "" }
        ),
        other => format!("{} {other:?}", route.destination),
    }
}

fn device_problems(desired: &DesiredNetwork, observed: &ObservedNetwork) -> Vec<String> {
    let Some(wanted) = &desired.device else {
        return vec![];
    };
    let Some(found) = &observed.device else {
        return vec![format!("{} is missing", wanted.name)];
    };
    let mut problems = Vec::new();
    if found.params.as_ref() != Some(&wanted.params) {
        problems.push(format!(
            "{} has other VXLAN settings than {:?}",
            wanted.name, wanted.params
        ));
    }
    if !found.up {
        problems.push(format!("{} is down", wanted.name));
    }
    if found.mtu != Some(wanted.mtu) {
        problems.push(format!(
            "{} has MTU {}, not {}",
            wanted.name,
            found
                .mtu
                .map_or("unknown".to_owned(), |mtu| mtu.to_string()),
            wanted.mtu
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::desired::desired_network;
    use crate::overlay::model::PeerNode;
    use crate::overlay::test_support::{local, observed_as_applied, peer, settings};

    fn peers() -> Vec<PeerNode> {
        let mut silent = peer("n4", "10.244.4.0/24", "198.18.0.14");
        silent.vtep_mac = None;
        vec![
            peer("n3", "10.244.3.0/24", "198.18.0.13"),
            peer("n2", "10.244.2.0/24", "198.18.0.12"),
            silent,
        ]
    }

    #[test]
    fn a_converged_node_lacks_nothing_and_names_each_peers_path() {
        let desired = desired_network(&local(), &peers(), &settings(NetworkMode::Vxlan));
        let report = network_report(
            &local(),
            NetworkMode::Vxlan,
            &desired,
            &observed_as_applied(&desired),
        );
        assert!(report.device_problems.is_empty());
        let names: Vec<_> = report.peers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["n2", "n3", "n4"]);
        assert_eq!(report.peers[0].path.as_deref(), Some("vxlan"));
        assert!(report.peers[0].missing.is_empty());
        assert!(report.peers[0].is_healthy());
        assert_eq!(
            report.peers[2].skipped.as_deref(),
            Some("10.244.4.0/24: no VTEP MAC published")
        );
    }

    #[test]
    fn each_entry_the_kernel_lost_is_named_on_its_peer() {
        let desired = desired_network(&local(), &peers(), &settings(NetworkMode::Vxlan));
        let mut observed = observed_as_applied(&desired);
        observed
            .fdb
            .retain(|entry| entry.remote.to_string() != "198.18.0.12");
        observed
            .routes
            .retain(|route| route.destination.to_string() != "10.244.3.0/24");
        if let Some(device) = observed.device.as_mut() {
            device.up = false;
        }
        let report = network_report(&local(), NetworkMode::Vxlan, &desired, &observed);
        assert_eq!(report.device_problems, ["weft.vxlan is down"]);
        assert_eq!(report.peers[0].missing.len(), 1);
        assert!(
            report.peers[0].missing[0].starts_with("fdb entry ")
                && report.peers[0].missing[0].ends_with(" dst 198.18.0.12"),
            "{:?}",
            report.peers[0].missing
        );
        assert_eq!(
            report.peers[1].missing,
            ["route 10.244.3.0/24 via 10.244.3.0 dev weft.vxlan onlink"]
        );
    }

    #[test]
    fn direct_peers_need_only_their_route_and_no_device() {
        let desired = desired_network(&local(), &peers(), &settings(NetworkMode::Direct));
        let mut observed = observed_as_applied(&desired);
        observed.routes.clear();
        let report = network_report(&local(), NetworkMode::Direct, &desired, &observed);
        assert!(report.device_problems.is_empty());
        assert_eq!(report.peers[0].path.as_deref(), Some("direct"));
        assert_eq!(
            report.peers[0].missing,
            ["route 10.244.2.0/24 via 198.18.0.12 dev eth0"]
        );
    }
}
