//! The desired node network (pure): from this node, its peers and the
//! settings, the VXLAN device, routes, neighbours and FDB entries that make
//! every remote pod CIDR reachable, flannel-like with no flooding and no
//! learning. Each family of pod CIDRs is planned on its own: a peer's IPv6
//! pod CIDR goes through the tunnel (over whichever underlay family the
//! tunnel uses) or directly via the peer's IPv6 underlay address, whatever
//! its IPv4 one does.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{LocalNode, NetworkMode, OverlaySettings, PeerNode};
use super::state::{FdbEntry, Neighbour, NextHop, Route, VxlanDevice, VxlanParams};
use super::vtep::{vtep_address, vtep_mac};
use crate::node::mtu::vxlan_overhead;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredNetwork {
    /// `None` in `direct` mode: nothing is encapsulated, so no device.
    pub device: Option<VxlanDevice>,
    pub routes: Vec<Route>,
    /// On the VXLAN device.
    pub neighbours: Vec<Neighbour>,
    /// On the VXLAN device.
    pub fdb: Vec<FdbEntry>,
    /// Peers, or pod CIDRs of peers, left out, and why.
    pub skipped: Vec<SkippedPeer>,
    /// Each peer with at least one pod CIDR planned, with the entries
    /// above that reach it.
    pub peers: Vec<PlannedPeer>,
}

/// One peer and how this node reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPeer {
    pub name: String,
    /// Its primary underlay address.
    pub underlay_ip: IpAddr,
    /// One per pod CIDR planned.
    pub routes: Vec<PeerRoute>,
    /// Its VTEP address per family tunnelled, with its VTEP MAC.
    pub neighbours: Vec<Neighbour>,
    /// Where its VTEP MAC is, when anything is tunnelled to it.
    pub fdb: Option<FdbEntry>,
}

/// The route to one pod CIDR of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoute {
    pub route: Route,
    /// Through the VXLAN device (else routed to its underlay IP).
    pub encapsulated: bool,
}

/// A peer left out, or one pod CIDR of it (`cidr`), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPeer {
    pub name: String,
    pub cidr: Option<IpNet>,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NoPodCidr,
    NoUnderlayIp,
    /// It has no underlay IP of the tunnel's family (this node's primary).
    UnderlayFamily,
    /// Direct mode, and it or this node has no underlay IP of the pod
    /// CIDR's family to route through.
    NoDirectPath,
    NoVtepMac,
    /// Its pod CIDR overlaps this node's or that of the named node.
    PodCidrOverlaps(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPodCidr => f.write_str("no pod CIDR published"),
            Self::NoUnderlayIp => f.write_str("no underlay IP published"),
            Self::UnderlayFamily => {
                f.write_str("no underlay IP of the family the VXLAN tunnel uses")
            }
            Self::NoDirectPath => {
                f.write_str("no underlay IP of the pod CIDR's family on both nodes (direct mode)")
            }
            Self::NoVtepMac => f.write_str("no VTEP MAC published"),
            Self::PodCidrOverlaps(node) => write!(f, "pod CIDR overlaps that of {node}"),
        }
    }
}

impl fmt::Display for SkippedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cidr {
            Some(cidr) => write!(f, "{cidr}: {}", self.reason),
            None => self.reason.fmt(f),
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
    let local_cidrs = family_cidrs(&local.pod_cidrs);
    let mut desired = DesiredNetwork {
        device: (settings.mode != NetworkMode::Direct).then(|| vxlan_device(local, settings)),
        ..DesiredNetwork::default()
    };
    for cidr in &local_cidrs {
        desired.routes.push(Route {
            destination: *cidr,
            next_hop: NextHop::Unreachable,
        });
    }

    let mut claimed: Vec<(&str, IpNet)> = local_cidrs
        .iter()
        .map(|cidr| (local.name.as_str(), *cidr))
        .collect();
    let mut sorted: Vec<&PeerNode> = peers.iter().filter(|p| p.name != local.name).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for peer in sorted {
        match plan_peer(local, peer, settings, &mut claimed) {
            Ok((planned, skipped)) => {
                desired.skipped.extend(skipped);
                if planned.routes.is_empty() {
                    continue;
                }
                desired
                    .routes
                    .extend(planned.routes.iter().map(|r| r.route.clone()));
                desired
                    .neighbours
                    .extend(planned.neighbours.iter().cloned());
                desired.fdb.extend(planned.fdb.clone());
                desired.peers.push(planned);
            }
            Err(reason) => desired.skipped.push(SkippedPeer {
                name: peer.name.clone(),
                cidr: None,
                reason,
            }),
        }
    }
    desired.routes.sort();
    desired.neighbours.sort();
    desired.fdb.sort();
    desired
}

/// The pod CIDRs a node's network carries: its first of each family.
fn family_cidrs(cidrs: &[IpNet]) -> Vec<IpNet> {
    let v4 = cidrs.iter().find(|cidr| matches!(cidr, IpNet::V4(_)));
    let v6 = cidrs.iter().find(|cidr| matches!(cidr, IpNet::V6(_)));
    v4.into_iter().chain(v6).copied().collect()
}

fn vxlan_device(local: &LocalNode, settings: &OverlaySettings) -> VxlanDevice {
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
        mtu: local
            .underlay_mtu
            .saturating_sub(vxlan_overhead(local.underlay_ip)),
        addresses: family_cidrs(&local.pod_cidrs)
            .into_iter()
            .map(|cidr| IpNet::from(vtep_address(cidr)))
            .collect(),
    }
}

/// A peer's routes, one per pod CIDR family it has, with the pod CIDRs
/// left out and why; the whole peer is left out only when it published
/// no pod CIDR or no underlay IP at all.
fn plan_peer<'a>(
    local: &LocalNode,
    peer: &'a PeerNode,
    settings: &OverlaySettings,
    claimed: &mut Vec<(&'a str, IpNet)>,
) -> Result<(PlannedPeer, Vec<SkippedPeer>), SkipReason> {
    let cidrs = family_cidrs(&peer.pod_cidrs);
    if cidrs.is_empty() {
        return Err(SkipReason::NoPodCidr);
    }
    let primary = peer
        .underlay_ips
        .iter()
        .copied()
        .find(|ip| !ip.is_unspecified())
        .ok_or(SkipReason::NoUnderlayIp)?;
    let mut planned = PlannedPeer {
        name: peer.name.clone(),
        underlay_ip: primary,
        routes: Vec::new(),
        neighbours: Vec::new(),
        fdb: None,
    };
    let mut skipped = Vec::new();
    for cidr in cidrs {
        let outcome = match claimed.iter().find(|(_, other)| overlaps(cidr, *other)) {
            Some((owner, _)) => Err(SkipReason::PodCidrOverlaps((*owner).to_owned())),
            None => plan_cidr(local, peer, cidr, settings, &mut planned),
        };
        match outcome {
            Ok(()) => claimed.push((&peer.name, cidr)),
            Err(reason) => skipped.push(SkippedPeer {
                name: peer.name.clone(),
                cidr: Some(cidr),
                reason,
            }),
        }
    }
    Ok((planned, skipped))
}

/// Adds the route (and for the tunnel, the neighbour and FDB entries)
/// that reach `cidr` of `peer` to `planned`.
fn plan_cidr(
    local: &LocalNode,
    peer: &PeerNode,
    cidr: IpNet,
    settings: &OverlaySettings,
    planned: &mut PlannedPeer,
) -> Result<(), SkipReason> {
    let ipv4 = cidr.addr().is_ipv4();
    if let Some(next_hop) = direct_next_hop(settings.mode, local, peer, ipv4)? {
        planned.routes.push(PeerRoute {
            route: Route {
                destination: cidr,
                next_hop: NextHop::Gateway {
                    address: next_hop,
                    device: local.underlay_ifname.clone(),
                    onlink: false,
                },
            },
            encapsulated: false,
        });
        return Ok(());
    }

    let remote = peer
        .underlay_ip(local.underlay_ip.is_ipv4())
        .ok_or(SkipReason::UnderlayFamily)?;
    let mac = peer.vtep_mac.ok_or(SkipReason::NoVtepMac)?;
    let vtep = vtep_address(cidr);
    planned.routes.push(PeerRoute {
        route: Route {
            destination: cidr,
            next_hop: NextHop::Gateway {
                address: vtep,
                device: settings.device.clone(),
                onlink: true,
            },
        },
        encapsulated: true,
    });
    planned.neighbours.push(Neighbour { address: vtep, mac });
    planned.fdb = Some(FdbEntry { mac, remote });
    Ok(())
}

/// The peer's underlay IP to route a pod CIDR of one family to, when it
/// goes direct: always in `direct` mode (an error when either node lacks
/// an underlay IP of the family), never in `vxlan`, and in `auto` when
/// the peer's address of the family is in this node's subnet of it.
fn direct_next_hop(
    mode: NetworkMode,
    local: &LocalNode,
    peer: &PeerNode,
    ipv4: bool,
) -> Result<Option<IpAddr>, SkipReason> {
    let path = local
        .underlay(ipv4)
        .zip(peer.underlay_ip(ipv4))
        .filter(|(_, peer_ip)| !peer_ip.is_unspecified());
    match mode {
        NetworkMode::Vxlan => Ok(None),
        NetworkMode::Direct => path
            .map(|(_, peer_ip)| Some(peer_ip))
            .ok_or(SkipReason::NoDirectPath),
        NetworkMode::Auto => Ok(path
            .filter(|(net, peer_ip)| net.trunc().contains(peer_ip))
            .map(|(_, peer_ip)| peer_ip)),
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
        no_ip.underlay_ips = vec![];
        let mut no_mac = peer("n3", "10.244.3.0/24", "198.19.0.13");
        no_mac.vtep_mac = None;
        let mut no_cidr = peer("n4", "10.244.4.0/24", "198.18.0.14");
        no_cidr.pod_cidrs = vec![];
        let mut no_mac_but_direct = peer("n5", "10.244.5.0/24", "198.18.0.15");
        no_mac_but_direct.vtep_mac = None;
        let overlapping = peer("n6", "10.244.1.128/25", "198.18.0.16");
        let v6_underlay = peer("n7", "10.244.7.0/24", "fd00::17");
        let mut unspecified = peer("n8", "10.244.8.0/24", "198.18.0.18");
        unspecified.underlay_ips = vec!["0.0.0.0".parse().unwrap()];

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
                cidr: Some(net("10.244.2.0/24")),
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

    fn dual_stack_local(second_underlay: Option<&str>) -> LocalNode {
        LocalNode {
            pod_cidrs: vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")],
            second_underlay: second_underlay.map(net),
            ..local()
        }
    }

    fn dual_stack_peer(name: &str, n: u8, underlay_v6: Option<&str>) -> PeerNode {
        let mut peer = peer(name, &format!("10.244.{n}.0/24"), &format!("198.18.0.1{n}"));
        peer.pod_cidrs.push(net(&format!("fd00:10:244:{n}::/64")));
        peer.underlay_ips
            .extend(underlay_v6.map(|ip| ip.parse::<IpAddr>().unwrap()));
        peer
    }

    #[test]
    fn vxlan_carries_each_family_to_its_vtep_through_one_tunnel() {
        let peers = [dual_stack_peer("n2", 2, None)];
        let desired = desired_network(
            &dual_stack_local(None),
            &peers,
            &settings(NetworkMode::Vxlan),
        );
        assert_eq!(
            desired.device.unwrap().addresses,
            [net("10.244.1.0/32"), net("fd00:10:244:1::/128")]
        );
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("10.244.2.0", "weft.vxlan", true)),
                route("fd00:10:244:1::/64", NextHop::Unreachable),
                route(
                    "fd00:10:244:2::/64",
                    gateway("fd00:10:244:2::", "weft.vxlan", true)
                ),
            ]
        );
        let vteps: Vec<String> = desired
            .neighbours
            .iter()
            .map(|n| format!("{} {:?}", n.address, n.mac == vtep_mac("n2")))
            .collect();
        assert_eq!(vteps, ["10.244.2.0 true", "fd00:10:244:2:: true"]);
        assert_eq!(
            desired.fdb,
            vec![FdbEntry {
                mac: vtep_mac("n2"),
                remote: "198.18.0.12".parse().unwrap(),
            }],
            "one tunnel endpoint per peer, whatever the families inside"
        );
    }

    #[test]
    fn direct_routes_each_family_via_the_peers_address_of_that_family() {
        let local = dual_stack_local(Some("fd00:198:18::11/64"));
        let peers = [
            dual_stack_peer("n2", 2, Some("fd00:198:18::12")),
            dual_stack_peer("n3", 3, None),
        ];
        let desired = desired_network(&local, &peers, &settings(NetworkMode::Direct));
        assert_eq!(
            desired.routes,
            vec![
                route("10.244.1.0/24", NextHop::Unreachable),
                route("10.244.2.0/24", gateway("198.18.0.12", "eth0", false)),
                route("10.244.3.0/24", gateway("198.18.0.13", "eth0", false)),
                route("fd00:10:244:1::/64", NextHop::Unreachable),
                route(
                    "fd00:10:244:2::/64",
                    gateway("fd00:198:18::12", "eth0", false)
                ),
            ]
        );
        assert_eq!(
            desired.skipped,
            vec![SkippedPeer {
                name: "n3".into(),
                cidr: Some(net("fd00:10:244:3::/64")),
                reason: SkipReason::NoDirectPath,
            }],
            "its IPv4 pods are still reached"
        );
    }

    #[test]
    fn auto_decides_per_family_by_that_familys_underlay_subnet() {
        let local = dual_stack_local(Some("fd00:198:18::11/64"));
        let peers = [dual_stack_peer("n2", 2, Some("fd00:198:19::12"))];
        let desired = desired_network(&local, &peers, &settings(NetworkMode::Auto));
        assert_eq!(
            desired.routes[1],
            route("10.244.2.0/24", gateway("198.18.0.12", "eth0", false))
        );
        assert_eq!(
            desired.routes[3],
            route(
                "fd00:10:244:2::/64",
                gateway("fd00:10:244:2::", "weft.vxlan", true)
            ),
            "another IPv6 subnet: tunnelled"
        );
        assert_eq!(desired.peers[0].routes.len(), 2);
    }

    #[test]
    fn an_ipv6_only_cluster_tunnels_over_the_ipv6_underlay() {
        let node = LocalNode {
            pod_cidrs: vec![net("fd00:10:244:1::/64")],
            underlay_ip: "fd00:198:18::11".parse().unwrap(),
            underlay_net: net("fd00:198:18::/64"),
            ..local()
        };
        let mut n2 = peer("n2", "fd00:10:244:2::/64", "fd00:198:18::12");
        n2.pod_cidrs = vec![net("fd00:10:244:2::/64")];
        let desired = desired_network(&node, &[n2], &settings(NetworkMode::Vxlan));
        let device = desired.device.unwrap();
        assert_eq!(device.mtu, 1430);
        assert_eq!(device.addresses, [net("fd00:10:244:1::/128")]);
        assert_eq!(
            desired.fdb,
            vec![FdbEntry {
                mac: vtep_mac("n2"),
                remote: "fd00:198:18::12".parse().unwrap(),
            }]
        );
    }
}
