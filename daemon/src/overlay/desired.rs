//! The desired node network (pure): from this node, its peers and the
//! settings, the VXLAN device, routes, neighbours and FDB entries that make
//! every remote pod CIDR reachable, flannel-like with no flooding and no
//! learning. IPv4 pod CIDRs only for now; the types carry `IpAddr`/`IpNet`
//! so that IPv6 is one more family, not a new shape.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{LocalNode, NetworkMode, OverlaySettings, PeerNode};
use super::state::{FdbEntry, Neighbour, NextHop, Route, VxlanDevice, VxlanParams};
use super::vtep::{vtep_address, vtep_mac};
use crate::node::mtu::VXLAN_OVERHEAD;

/// An IPv6 outer header is 20 bytes longer than an IPv4 one.
const IPV6_EXTRA_OVERHEAD: u32 = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredNetwork {
    /// `None` in `direct` mode: nothing is encapsulated, so no device.
    pub device: Option<VxlanDevice>,
    pub routes: Vec<Route>,
    /// On the VXLAN device.
    pub neighbours: Vec<Neighbour>,
    /// On the VXLAN device.
    pub fdb: Vec<FdbEntry>,
    /// Peers left out, and why (for the log).
    pub skipped: Vec<SkippedPeer>,
    /// Each peer planned, with the entries above that reach it.
    pub peers: Vec<PlannedPeer>,
}

/// One peer and how this node reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPeer {
    pub name: String,
    pub underlay_ip: IpAddr,
    /// Through the VXLAN device (else routed to its underlay IP).
    pub encapsulated: bool,
    pub route: Route,
    pub neighbour: Option<Neighbour>,
    pub fdb: Option<FdbEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPeer {
    pub name: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NoPodCidr,
    NoUnderlayIp,
    /// Its underlay IP is of another family than this node's.
    UnderlayFamily,
    NoVtepMac,
    /// Its pod CIDR overlaps this node's or that of the named node.
    PodCidrOverlaps(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPodCidr => f.write_str("no IPv4 pod CIDR published"),
            Self::NoUnderlayIp => f.write_str("no underlay IP published"),
            Self::UnderlayFamily => f.write_str("underlay IP of another family than ours"),
            Self::NoVtepMac => f.write_str("no VTEP MAC published"),
            Self::PodCidrOverlaps(node) => write!(f, "pod CIDR overlaps that of {node}"),
        }
    }
}

/// The node network this node should have for `peers`. `local` is never
/// treated as a peer even if it is listed among them.
pub fn desired_network(
    local: &LocalNode,
    peers: &[PeerNode],
    settings: &OverlaySettings,
) -> DesiredNetwork {
    let local_cidr = overlay_cidr(&local.pod_cidrs);
    let mut desired = DesiredNetwork {
        device: (settings.mode != NetworkMode::Direct).then(|| vxlan_device(local, settings)),
        ..DesiredNetwork::default()
    };
    if let Some(cidr) = local_cidr {
        desired.routes.push(Route {
            destination: cidr,
            next_hop: NextHop::Unreachable,
        });
    }

    let mut claimed: Vec<(&str, IpNet)> = local_cidr
        .map(|cidr| (local.name.as_str(), cidr))
        .into_iter()
        .collect();
    let mut sorted: Vec<&PeerNode> = peers.iter().filter(|p| p.name != local.name).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for peer in sorted {
        match plan_peer(local, peer, settings, &claimed) {
            Ok(planned) => {
                claimed.push((&peer.name, planned.route.destination));
                desired.routes.push(planned.route.clone());
                desired.neighbours.extend(planned.neighbour.clone());
                desired.fdb.extend(planned.fdb.clone());
                desired.peers.push(planned);
            }
            Err(reason) => desired.skipped.push(SkippedPeer {
                name: peer.name.clone(),
                reason,
            }),
        }
    }
    desired.routes.sort();
    desired.neighbours.sort();
    desired.fdb.sort();
    desired
}

/// The pod CIDR the overlay carries for a node: its IPv4 one.
fn overlay_cidr(cidrs: &[IpNet]) -> Option<IpNet> {
    cidrs
        .iter()
        .copied()
        .find(|cidr| matches!(cidr, IpNet::V4(_)))
}

fn vxlan_device(local: &LocalNode, settings: &OverlaySettings) -> VxlanDevice {
    let overhead = match local.underlay_ip {
        IpAddr::V4(_) => VXLAN_OVERHEAD,
        IpAddr::V6(_) => VXLAN_OVERHEAD + IPV6_EXTRA_OVERHEAD,
    };
    VxlanDevice {
        name: settings.device.clone(),
        params: VxlanParams {
            vni: settings.vni,
            port: settings.port,
            local: local.underlay_ip,
            underlay_ifname: local.underlay_ifname.clone(),
            learning: false,
        },
        mac: vtep_mac(&local.name),
        mtu: local.underlay_mtu.saturating_sub(overhead),
        addresses: overlay_cidr(&local.pod_cidrs)
            .map(|cidr| IpNet::from(vtep_address(cidr)))
            .into_iter()
            .collect(),
    }
}

fn plan_peer(
    local: &LocalNode,
    peer: &PeerNode,
    settings: &OverlaySettings,
    claimed: &[(&str, IpNet)],
) -> Result<PlannedPeer, SkipReason> {
    let cidr = overlay_cidr(&peer.pod_cidrs).ok_or(SkipReason::NoPodCidr)?;
    if let Some((owner, _)) = claimed.iter().find(|(_, other)| overlaps(cidr, *other)) {
        return Err(SkipReason::PodCidrOverlaps((*owner).to_owned()));
    }
    let underlay_ip = peer
        .underlay_ip
        .filter(|ip| !ip.is_unspecified())
        .ok_or(SkipReason::NoUnderlayIp)?;
    if underlay_ip.is_ipv4() != local.underlay_ip.is_ipv4() {
        return Err(SkipReason::UnderlayFamily);
    }

    if goes_direct(settings.mode, local, underlay_ip) {
        if underlay_ip.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(SkipReason::UnderlayFamily);
        }
        return Ok(PlannedPeer {
            name: peer.name.clone(),
            underlay_ip,
            encapsulated: false,
            route: Route {
                destination: cidr,
                next_hop: NextHop::Gateway {
                    address: underlay_ip,
                    device: local.underlay_ifname.clone(),
                    onlink: false,
                },
            },
            neighbour: None,
            fdb: None,
        });
    }

    let mac = peer.vtep_mac.ok_or(SkipReason::NoVtepMac)?;
    let vtep = vtep_address(cidr);
    Ok(PlannedPeer {
        name: peer.name.clone(),
        underlay_ip,
        encapsulated: true,
        route: Route {
            destination: cidr,
            next_hop: NextHop::Gateway {
                address: vtep,
                device: settings.device.clone(),
                onlink: true,
            },
        },
        neighbour: Some(Neighbour { address: vtep, mac }),
        fdb: Some(FdbEntry {
            mac,
            remote: underlay_ip,
        }),
    })
}

fn goes_direct(mode: NetworkMode, local: &LocalNode, peer_underlay: IpAddr) -> bool {
    match mode {
        NetworkMode::Direct => true,
        NetworkMode::Vxlan => false,
        NetworkMode::Auto => local.underlay_net.contains(&peer_underlay),
    }
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::test_support::{local, net, peer, settings};

    fn gateway(address: &str, device: &str, onlink: bool) -> NextHop {
        NextHop::Gateway {
            address: address.parse().unwrap(),
            device: device.into(),
            onlink,
        }
    }

    fn route(destination: &str, next_hop: NextHop) -> Route {
        Route {
            destination: net(destination),
            next_hop,
        }
    }

    #[test]
    fn vxlan_mode_gives_a_device_and_per_peer_route_neighbour_and_fdb() {
        let peers = [peer("n2", "10.244.2.0/24", "198.18.0.12")];
        let desired = desired_network(&local(), &peers, &settings(NetworkMode::Vxlan));

        let device = desired.device.expect("a VXLAN device");
        assert_eq!(device.name, "weft.vxlan");
        assert_eq!(
            device.params,
            VxlanParams {
                vni: 1,
                port: 4789,
                local: "198.18.0.11".parse().unwrap(),
                underlay_ifname: "eth0".into(),
                learning: false,
            }
        );
        assert_eq!(device.mac, vtep_mac("n1"));
        assert_eq!(device.mtu, 1450);
        assert_eq!(device.addresses, vec![net("10.244.1.0/32")]);

        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("10.244.2.0", "weft.vxlan", true)),
            ]
        );
        assert_eq!(
            desired.neighbours,
            vec![Neighbour {
                address: "10.244.2.0".parse().unwrap(),
                mac: vtep_mac("n2"),
            }]
        );
        assert_eq!(
            desired.fdb,
            vec![FdbEntry {
                mac: vtep_mac("n2"),
                remote: "198.18.0.12".parse().unwrap(),
            }]
        );
        assert!(desired.skipped.is_empty());
    }

    #[test]
    fn direct_mode_routes_via_the_peer_underlay_ip_without_a_device() {
        let peers = [peer("n2", "10.244.2.0/24", "198.18.0.12")];
        let desired = desired_network(&local(), &peers, &settings(NetworkMode::Direct));
        assert_eq!(desired.device, None);
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("198.18.0.12", "eth0", false)),
            ]
        );
        assert!(desired.neighbours.is_empty());
        assert!(desired.fdb.is_empty());
    }

    #[test]
    fn auto_mode_goes_direct_inside_the_underlay_subnet_and_vxlan_beyond_it() {
        let peers = [
            peer("n2", "10.244.2.0/24", "198.18.0.12"),
            peer("n3", "10.244.3.0/24", "198.19.0.13"),
        ];
        let desired = desired_network(&local(), &peers, &settings(NetworkMode::Auto));
        assert!(
            desired.device.is_some(),
            "auto keeps the device to receive VXLAN"
        );
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("198.18.0.12", "eth0", false)),
                route("10.244.3.0/24", gateway("10.244.3.0", "weft.vxlan", true)),
            ]
        );
        assert_eq!(desired.neighbours.len(), 1);
        assert_eq!(
            desired.fdb,
            vec![FdbEntry {
                mac: vtep_mac("n3"),
                remote: "198.19.0.13".parse().unwrap(),
            }]
        );
    }

    #[test]
    fn peers_missing_data_are_skipped_with_a_reason() {
        let mut no_ip = peer("n2", "10.244.2.0/24", "198.18.0.12");
        no_ip.underlay_ip = None;
        let mut no_mac = peer("n3", "10.244.3.0/24", "198.19.0.13");
        no_mac.vtep_mac = None;
        let mut no_cidr = peer("n4", "10.244.4.0/24", "198.18.0.14");
        no_cidr.pod_cidrs = vec![net("fd00:10:244:4::/64")];
        let mut no_mac_but_direct = peer("n5", "10.244.5.0/24", "198.18.0.15");
        no_mac_but_direct.vtep_mac = None;
        let overlapping = peer("n6", "10.244.1.128/25", "198.18.0.16");
        let v6_underlay = peer("n7", "10.244.7.0/24", "fd00::17");
        let mut unspecified = peer("n8", "10.244.8.0/24", "198.18.0.18");
        unspecified.underlay_ip = Some("0.0.0.0".parse().unwrap());

        let peers = [
            no_ip,
            no_mac,
            no_cidr,
            no_mac_but_direct,
            overlapping,
            v6_underlay,
            unspecified,
        ];
        let desired = desired_network(&local(), &peers, &settings(NetworkMode::Auto));
        let skipped: Vec<(&str, SkipReason)> = desired
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason.clone()))
            .collect();
        assert_eq!(
            skipped,
            vec![
                ("n2", SkipReason::NoUnderlayIp),
                ("n3", SkipReason::NoVtepMac),
                ("n4", SkipReason::NoPodCidr),
                ("n6", SkipReason::PodCidrOverlaps("n1".into())),
                ("n7", SkipReason::UnderlayFamily),
                ("n8", SkipReason::NoUnderlayIp),
            ]
        );
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.5.0/24", gateway("198.18.0.15", "eth0", false)),
            ],
            "a direct peer needs no VTEP MAC"
        );
    }

    #[test]
    fn the_node_itself_is_never_a_peer_and_a_duplicate_cidr_goes_to_the_first_name() {
        let peers = [
            peer("n3", "10.244.2.0/24", "198.18.0.13"),
            peer("n1", "10.244.1.0/24", "198.18.0.11"),
            peer("n2", "10.244.2.0/24", "198.18.0.12"),
        ];
        let desired = desired_network(&local(), &peers, &settings(NetworkMode::Vxlan));
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("10.244.2.0", "weft.vxlan", true)),
            ]
        );
        assert_eq!(
            desired.skipped,
            vec![SkippedPeer {
                name: "n3".into(),
                reason: SkipReason::PodCidrOverlaps("n2".into()),
            }]
        );
    }

    #[test]
    fn settings_name_the_device_vni_and_port() {
        let mut settings = settings(NetworkMode::Vxlan);
        settings.vni = 42;
        settings.port = 8472;
        settings.device = "flat0".into();
        let peers = [peer("n2", "10.244.2.0/24", "198.18.0.12")];
        let desired = desired_network(&local(), &peers, &settings);
        let device = desired.device.unwrap();
        assert_eq!(
            (device.name.as_str(), device.params.vni, device.params.port),
            ("flat0", 42, 8472)
        );
        assert_eq!(
            desired.routes[1].next_hop,
            gateway("10.244.2.0", "flat0", true)
        );
    }

    #[test]
    fn an_ipv6_underlay_costs_20_more_bytes_of_mtu() {
        let mut node = local();
        node.underlay_ip = "fd00::11".parse().unwrap();
        node.underlay_net = net("fd00::/64");
        let desired = desired_network(&node, &[], &settings(NetworkMode::Vxlan));
        assert_eq!(desired.device.unwrap().mtu, 1430);
    }
}
