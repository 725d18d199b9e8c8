//! `weftctl status --verbose`: one ICMP echo to each planned peer's next
//! hop, all at once: its VTEP in vxlan (through the tunnel, so the route,
//! neighbour and FDB entries are all exercised), its underlay IP in direct.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};
use weft_api::{PeerStatus, Probe};

use super::desired::DesiredNetwork;
use super::state::NextHop;

const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The address probed for each planned peer, by name: the gateway of its
/// first route (IPv4's when it has one).
pub fn probe_targets(desired: &DesiredNetwork) -> BTreeMap<String, IpAddr> {
    desired
        .peers
        .iter()
        .filter_map(|peer| match &peer.routes.first()?.route.next_hop {
            NextHop::Gateway { address, .. } => Some((peer.name.clone(), *address)),
            _ => None,
        })
        .collect()
}

/// Probes the target of each of `peers` in `targets` and records how it went.
pub async fn probe_peers(peers: &mut [PeerStatus], targets: &BTreeMap<String, IpAddr>) {
    let clients =
        [ICMP::V4, ICMP::V6].map(|kind| Client::new(&Config::builder().kind(kind).build()));
    let probes = peers.iter().enumerate().filter_map(|(index, peer)| {
        let target = *targets.get(&peer.name)?;
        let client = clients[usize::from(target.is_ipv6())]
            .as_ref()
            .map(Client::clone)
            .map_err(|error| format!("cannot open an ICMP socket: {error}"));
        // Replies are told apart by identifier: one per peer.
        let ident =
            PingIdentifier(u16::try_from(index).unwrap_or(u16::MAX) ^ std::process::id() as u16);
        Some(async move { (index, probe(client, target, ident).await) })
    });
    for (index, probe) in futures::future::join_all(probes).await {
        peers[index].probe = Some(probe);
    }
}

async fn probe(client: Result<Client, String>, target: IpAddr, ident: PingIdentifier) -> Probe {
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            return Probe {
                target,
                rtt_micros: None,
                error: Some(error),
            };
        }
    };
    let mut pinger = client.pinger(target, ident).await;
    pinger.timeout(PROBE_TIMEOUT);
    match pinger.ping(PingSequence(0), b"weftctl status").await {
        Ok((_, rtt)) => Probe {
            target,
            rtt_micros: Some(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX)),
            error: None,
        },
        Err(error) => Probe {
            target,
            rtt_micros: None,
            error: Some(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::desired::desired_network;
    use crate::overlay::model::NetworkMode;
    use crate::overlay::test_support::{local, peer, settings};

    #[test]
    fn vxlan_peers_are_probed_at_their_vtep_and_direct_ones_at_their_underlay_ip() {
        let peers = [peer("n2", "10.244.2.0/24", "198.18.0.12")];
        let vxlan = desired_network(&local(), &peers, &settings(NetworkMode::Vxlan));
        assert_eq!(
            probe_targets(&vxlan),
            BTreeMap::from([("n2".to_owned(), "10.244.2.0".parse().unwrap())])
        );
        let direct = desired_network(&local(), &peers, &settings(NetworkMode::Direct));
        assert_eq!(
            probe_targets(&direct),
            BTreeMap::from([("n2".to_owned(), "198.18.0.12".parse().unwrap())])
        );
    }
}
