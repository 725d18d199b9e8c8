//! Fixtures shared by the overlay unit tests.

use ipnet::IpNet;

use super::desired::DesiredNetwork;
use super::model::{LocalNode, NetworkMode, OverlaySettings, PeerNode};
use super::state::{ObservedDevice, ObservedNeighbour, ObservedNetwork};
use super::vtep::vtep_mac;

pub fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

/// Node n1: pod CIDR 10.244.1.0/24, underlay 198.18.0.11/24 on eth0, MTU 1500.
pub fn local() -> LocalNode {
    LocalNode {
        name: "n1".into(),
        pod_cidrs: vec![net("10.244.1.0/24")],
        underlay_ip: "198.18.0.11".parse().unwrap(),
        underlay_net: net("198.18.0.0/24"),
        second_underlay: None,
        underlay_ifname: "eth0".into(),
        underlay_mtu: 1500,
    }
}

/// A peer that published everything, its VTEP MAC derived from its name.
pub fn peer(name: &str, pod_cidr: &str, underlay_ip: &str) -> PeerNode {
    PeerNode {
        name: name.into(),
        pod_cidrs: vec![net(pod_cidr)],
        underlay_ips: vec![underlay_ip.parse().unwrap()],
        vtep_mac: Some(vtep_mac(name)),
    }
}

pub fn settings(mode: NetworkMode) -> OverlaySettings {
    OverlaySettings::new(mode, vec![net("10.244.0.0/16")])
}

/// What the kernel reports once `desired` has been applied.
pub fn observed_as_applied(desired: &DesiredNetwork) -> ObservedNetwork {
    ObservedNetwork {
        device: desired.device.as_ref().map(|device| ObservedDevice {
            name: device.name.clone(),
            params: Some(device.params.clone()),
            mac: Some(device.mac),
            mtu: Some(device.mtu),
            up: true,
            addresses: device.addresses.clone(),
        }),
        routes: desired.routes.clone(),
        neighbours: desired
            .neighbours
            .iter()
            .map(|n| ObservedNeighbour {
                address: n.address,
                mac: Some(n.mac),
                permanent: true,
            })
            .collect(),
        fdb: desired.fdb.clone(),
    }
}
