//! Reading rtnetlink answers into the overlay's own entries (pure): which
//! routes, neighbours and FDB entries are Weft's, and what the VXLAN device
//! looks like.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use weft_netlink::{link_mtu, table_of};

use super::state::{
    FdbEntry, NextHop, ObservedDevice, ObservedNeighbour, ROUTE_PROTOCOL, Route, VxlanParams,
};

/// Interface index -> name, for every link in a dump.
pub fn link_names(links: &[LinkMessage]) -> HashMap<u32, String> {
    links
        .iter()
        .filter_map(|link| Some((link.header.index, link_name(link)?.to_owned())))
        .collect()
}

pub fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// The device as found; `addresses` may hold any link's addresses.
pub fn observed_device(
    link: &LinkMessage,
    names: &HashMap<u32, String>,
    addresses: &[AddressMessage],
) -> ObservedDevice {
    let mac = link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    });
    let mut owned: Vec<IpNet> = addresses
        .iter()
        .filter(|address| address.header.index == link.header.index)
        .filter_map(address_net)
        .filter(|net| !is_ipv6_link_local(net))
        .collect();
    owned.sort();
    ObservedDevice {
        name: link_name(link).unwrap_or_default().to_owned(),
        params: vxlan_params(link, names),
        mac,
        mtu: link_mtu(link),
        up: link.header.flags.contains(LinkFlags::Up),
        addresses: owned,
    }
}

/// The creation-time settings of a VXLAN link; `None` for any other kind of
/// link or when one is missing.
fn vxlan_params(link: &LinkMessage, names: &HashMap<u32, String>) -> Option<VxlanParams> {
    let infos = link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::LinkInfo(infos) => Some(infos),
        _ => None,
    })?;
    if !infos.contains(&LinkInfo::Kind(InfoKind::Vxlan)) {
        return None;
    }
    let data = infos.iter().find_map(|info| match info {
        LinkInfo::Data(InfoData::Vxlan(data)) => Some(data),
        _ => None,
    })?;
    let (mut vni, mut port, mut local, mut underlay, mut learning) = (None, None, None, None, None);
    for item in data {
        match item {
            InfoVxlan::Id(id) => vni = Some(*id),
            InfoVxlan::Port(p) => port = Some(*p),
            InfoVxlan::Local(ip) => local = Some(IpAddr::V4(*ip)),
            InfoVxlan::Local6(ip) => local = Some(IpAddr::V6(*ip)),
            InfoVxlan::Link(index) => underlay = names.get(index).cloned(),
            InfoVxlan::Learning(on) => learning = Some(*on),
            _ => {}
        }
    }
    Some(VxlanParams {
        vni: vni?,
        port: port?,
        local: local?,
        underlay_ifname: underlay?,
        learning: learning?,
    })
}

/// The address an address message holds, with its prefix length.
pub fn address_net(address: &AddressMessage) -> Option<IpNet> {
    let ip = address
        .attributes
        .iter()
        .find_map(|attr| match attr {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        })
        .or_else(|| {
            address.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        })?;
    IpNet::new(ip, address.header.prefix_len).ok()
}

fn is_ipv6_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(ip) => ip.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    }
}

/// The route as one of Weft's, or `None` when it is not Weft's (another
/// protocol or table).
pub fn own_route(route: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
    if route.header.protocol != RouteProtocol::Other(ROUTE_PROTOCOL)
        || table_of(route) != u32::from(RouteHeader::RT_TABLE_MAIN)
    {
        return None;
    }
    let destination = route_destination(route)?;
    let next_hop = match route.header.kind {
        RouteType::Unreachable => NextHop::Unreachable,
        RouteType::Unicast => gateway_next_hop(route, names).unwrap_or(NextHop::Unrecognised),
        _ => NextHop::Unrecognised,
    };
    Some(Route {
        destination,
        next_hop,
    })
}

fn route_destination(route: &RouteMessage) -> Option<IpNet> {
    let ip = match route.attributes.iter().find_map(|attr| match attr {
        RouteAttribute::Destination(address) => Some(address),
        _ => None,
    }) {
        Some(address) => route_ip(address)?,
        None => match route.header.address_family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        },
    };
    IpNet::new(ip, route.header.destination_prefix_length).ok()
}

/// `via GATEWAY dev DEVICE [onlink]` with the default metric, the only unicast form Weft makes.
fn gateway_next_hop(route: &RouteMessage, names: &HashMap<u32, String>) -> Option<NextHop> {
    let (mut gateway, mut oif, mut priority) = (None, None, 0);
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Gateway(address) => gateway = route_ip(address),
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Priority(p) => priority = *p,
            RouteAttribute::MultiPath(_) => return None,
            _ => {}
        }
    }
    if priority != default_priority(route.header.address_family) {
        return None;
    }
    Some(NextHop::Gateway {
        address: gateway?,
        device: names.get(&oif?)?.clone(),
        onlink: route.header.flags.contains(RouteFlags::Onlink),
    })
}

/// The metric the kernel gives a route added without one: 0 for IPv4,
/// 1024 (IP6_RT_PRIO_USER) for IPv6.
fn default_priority(family: AddressFamily) -> u32 {
    match family {
        AddressFamily::Inet6 => 1024,
        _ => 0,
    }
}

fn route_ip(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

/// A neighbour entry on the device `ifindex` Weft could own: IPv4, or
/// IPv6 but for the link-local and multicast ones the kernel keeps itself.
pub fn device_neighbour(message: &NeighbourMessage, ifindex: u32) -> Option<ObservedNeighbour> {
    let family = message.header.family;
    if message.header.ifindex != ifindex
        || (family != AddressFamily::Inet && family != AddressFamily::Inet6)
    {
        return None;
    }
    let address = message.attributes.iter().find_map(|attr| match attr {
        NeighbourAttribute::Destination(address) => neighbour_ip(address),
        _ => None,
    })?;
    if let IpAddr::V6(ip) = address
        && (ip.is_unicast_link_local() || ip.is_multicast())
    {
        return None;
    }
    Some(ObservedNeighbour {
        address,
        mac: lladdr(message),
        permanent: message.header.state == NeighbourState::Permanent,
    })
}

/// A unicast FDB entry with a remote on the device `ifindex` (a VXLAN
/// device's FDB holds nothing else Weft could own).
pub fn device_fdb(message: &NeighbourMessage, ifindex: u32) -> Option<FdbEntry> {
    if message.header.ifindex != ifindex || message.header.family != AddressFamily::Bridge {
        return None;
    }
    let remote = message.attributes.iter().find_map(|attr| match attr {
        NeighbourAttribute::Destination(address) => fdb_remote(address),
        _ => None,
    })?;
    Some(FdbEntry {
        mac: lladdr(message)?,
        remote,
    })
}

fn lladdr(message: &NeighbourMessage) -> Option<[u8; 6]> {
    message.attributes.iter().find_map(|attr| match attr {
        NeighbourAttribute::LinkLayerAddress(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    })
}

/// netlink-packet-route leaves the remote of an AF_BRIDGE message as raw
/// bytes; their length tells the family.
fn fdb_remote(address: &NeighbourAddress) -> Option<IpAddr> {
    match address {
        NeighbourAddress::Other(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(bytes.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(bytes.as_slice())
                .ok()
                .map(IpAddr::from),
            _ => None,
        },
        address => neighbour_ip(address),
    }
}

fn neighbour_ip(address: &NeighbourAddress) -> Option<IpAddr> {
    match address {
        NeighbourAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        NeighbourAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::address::AddressHeader;
    use rtnetlink::packet_core::{Emitable, Parseable};

    const WEFT: RouteProtocol = RouteProtocol::Other(ROUTE_PROTOCOL);

    fn names() -> HashMap<u32, String> {
        HashMap::from([(2, "eth0".to_owned()), (5, "weft.vxlan".to_owned())])
    }

    fn route_message(
        protocol: RouteProtocol,
        kind: RouteType,
        attributes: Vec<RouteAttribute>,
    ) -> RouteMessage {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = protocol;
        route.header.kind = kind;
        route.header.destination_prefix_length = 24;
        route.attributes = vec![RouteAttribute::Destination(RouteAddress::Inet(
            "10.244.2.0".parse().unwrap(),
        ))];
        route.attributes.extend(attributes);
        route
    }

    fn gateway(ip: &str) -> RouteAttribute {
        RouteAttribute::Gateway(RouteAddress::Inet(ip.parse().unwrap()))
    }

    #[test]
    fn an_ipv6_route_at_the_kernels_default_metric_is_weft_form() {
        let mut route = route_message(WEFT, RouteType::Unicast, vec![]);
        route.header.address_family = AddressFamily::Inet6;
        route.header.destination_prefix_length = 64;
        route.attributes = vec![
            RouteAttribute::Destination(RouteAddress::Inet6("fd00:10:244:2::".parse().unwrap())),
            RouteAttribute::Gateway(RouteAddress::Inet6("2001:2::c".parse().unwrap())),
            RouteAttribute::Oif(2),
            RouteAttribute::Priority(1024),
        ];
        assert_eq!(
            own_route(&route, &names()).map(|r| r.next_hop),
            Some(NextHop::Gateway {
                address: "2001:2::c".parse().unwrap(),
                device: "eth0".into(),
                onlink: false,
            }),
            "1024 is what the kernel gives an IPv6 route added without a metric"
        );
        route.attributes[3] = RouteAttribute::Priority(100);
        assert_eq!(
            own_route(&route, &names()).map(|r| r.next_hop),
            Some(NextHop::Unrecognised)
        );
    }

    #[test]
    fn routes_of_weft_protocol_in_main_are_read_with_their_next_hop() {
        let mut onlink = route_message(
            WEFT,
            RouteType::Unicast,
            vec![gateway("10.244.2.0"), RouteAttribute::Oif(5)],
        );
        onlink.header.flags = RouteFlags::Onlink;
        assert_eq!(
            own_route(&onlink, &names()),
            Some(Route {
                destination: "10.244.2.0/24".parse().unwrap(),
                next_hop: NextHop::Gateway {
                    address: "10.244.2.0".parse().unwrap(),
                    device: "weft.vxlan".into(),
                    onlink: true,
                },
            })
        );
        let unreachable = route_message(WEFT, RouteType::Unreachable, vec![]);
        assert_eq!(
            own_route(&unreachable, &names()).map(|r| r.next_hop),
            Some(NextHop::Unreachable)
        );
    }

    #[test]
    fn other_protocols_and_tables_are_not_weft_routes() {
        let foreign = route_message(
            RouteProtocol::Static,
            RouteType::Unicast,
            vec![gateway("198.18.0.12"), RouteAttribute::Oif(2)],
        );
        assert_eq!(own_route(&foreign, &names()), None);
        let other_table = route_message(
            WEFT,
            RouteType::Unicast,
            vec![RouteAttribute::Table(100), gateway("198.18.0.12")],
        );
        assert_eq!(own_route(&other_table, &names()), None);
    }

    #[test]
    fn weft_routes_of_a_form_weft_never_makes_are_unrecognised() {
        for route in [
            route_message(WEFT, RouteType::BlackHole, vec![]),
            route_message(WEFT, RouteType::Unicast, vec![RouteAttribute::Oif(2)]),
            route_message(
                WEFT,
                RouteType::Unicast,
                vec![
                    gateway("198.18.0.12"),
                    RouteAttribute::Oif(2),
                    RouteAttribute::Priority(10),
                ],
            ),
            route_message(
                WEFT,
                RouteType::Unicast,
                vec![gateway("198.18.0.12"), RouteAttribute::Oif(99)],
            ),
        ] {
            assert_eq!(
                own_route(&route, &names()).map(|r| r.next_hop),
                Some(NextHop::Unrecognised)
            );
        }
    }

    fn neighbour_message(
        family: AddressFamily,
        ifindex: u32,
        attributes: Vec<NeighbourAttribute>,
    ) -> NeighbourMessage {
        let mut message = NeighbourMessage::default();
        message.header.family = family;
        message.header.ifindex = ifindex;
        message.header.state = NeighbourState::Permanent;
        message.attributes = attributes;
        message
    }

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// The message as the kernel's bytes parse: an AF_BRIDGE message's NDA_DST
    /// comes back as raw bytes.
    fn on_the_wire(message: NeighbourMessage) -> NeighbourMessage {
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        NeighbourMessage::parse(bytes.as_slice()).unwrap()
    }

    #[test]
    fn neighbours_and_fdb_entries_of_the_device_are_read() {
        let dst = |ip: &str| {
            NeighbourAttribute::Destination(match ip.parse().unwrap() {
                IpAddr::V4(ip) => NeighbourAddress::Inet(ip),
                IpAddr::V6(ip) => NeighbourAddress::Inet6(ip),
            })
        };
        let lladdr = NeighbourAttribute::LinkLayerAddress(MAC.to_vec());
        let neighbour = neighbour_message(
            AddressFamily::Inet,
            5,
            vec![dst("10.244.2.0"), lladdr.clone()],
        );
        assert_eq!(
            device_neighbour(&neighbour, 5),
            Some(ObservedNeighbour {
                address: "10.244.2.0".parse().unwrap(),
                mac: Some(MAC),
                permanent: true,
            })
        );
        assert_eq!(device_neighbour(&neighbour, 2), None, "another device");

        for remote in ["198.18.0.12", "fd00::12"] {
            let fdb = on_the_wire(neighbour_message(
                AddressFamily::Bridge,
                5,
                vec![lladdr.clone(), dst(remote)],
            ));
            assert_eq!(
                device_fdb(&fdb, 5),
                Some(FdbEntry {
                    mac: MAC,
                    remote: remote.parse().unwrap(),
                })
            );
        }
        let fdb = on_the_wire(neighbour_message(
            AddressFamily::Bridge,
            5,
            vec![lladdr.clone(), dst("198.18.0.12")],
        ));
        assert_eq!(
            device_neighbour(&fdb, 5),
            None,
            "an FDB entry is no neighbour"
        );
        let multicast = neighbour_message(AddressFamily::Bridge, 5, vec![lladdr]);
        assert_eq!(device_fdb(&multicast, 5), None, "no remote, not Weft's");
    }

    fn vxlan_link(infos: Vec<InfoVxlan>) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.index = 5;
        link.header.flags = LinkFlags::Up;
        link.attributes = vec![
            LinkAttribute::IfName("weft.vxlan".into()),
            LinkAttribute::Mtu(1450),
            LinkAttribute::Address(MAC.to_vec()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(infos)),
            ]),
        ];
        link
    }

    fn address(index: u32, ip: &str, prefix_len: u8) -> AddressMessage {
        let mut message = AddressMessage::default();
        message.header = AddressHeader {
            index,
            prefix_len,
            ..message.header
        };
        message.attributes = vec![AddressAttribute::Local(ip.parse().unwrap())];
        message
    }

    #[test]
    fn a_vxlan_device_is_read_with_its_settings_and_addresses() {
        let link = vxlan_link(vec![
            InfoVxlan::Id(1),
            InfoVxlan::Link(2),
            InfoVxlan::Local("198.18.0.11".parse().unwrap()),
            InfoVxlan::Learning(false),
            InfoVxlan::Port(4789),
        ]);
        let addresses = [
            address(5, "10.244.1.0", 32),
            address(5, "fe80::1", 64),
            address(2, "198.18.0.11", 24),
        ];
        assert_eq!(
            observed_device(&link, &names(), &addresses),
            ObservedDevice {
                name: "weft.vxlan".into(),
                params: Some(VxlanParams {
                    vni: 1,
                    port: 4789,
                    local: "198.18.0.11".parse().unwrap(),
                    underlay_ifname: "eth0".into(),
                    learning: false,
                }),
                mac: Some(MAC),
                mtu: Some(1450),
                up: true,
                addresses: vec!["10.244.1.0/32".parse().unwrap()],
            }
        );
    }

    #[test]
    fn a_device_missing_a_setting_or_of_another_kind_has_no_params() {
        let no_local = vxlan_link(vec![
            InfoVxlan::Id(1),
            InfoVxlan::Link(2),
            InfoVxlan::Learning(false),
            InfoVxlan::Port(4789),
        ]);
        assert_eq!(observed_device(&no_local, &names(), &[]).params, None);
        let mut dummy = vxlan_link(vec![]);
        dummy.attributes[3] = LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Dummy)]);
        assert_eq!(observed_device(&dummy, &names(), &[]).params, None);
    }
}
