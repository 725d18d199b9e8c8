//! Finding this node's underlay: the named interface, else the one of the
//! default route (IPv4's, else IPv6's), else the first interface with a
//! global address; and its addresses (IPv4 first: the primary, and IPv6),
//! subnets and MTU. The choice is pure; one function asks the kernel.

use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::address::{AddressHeaderFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkFlags, LinkMessage};
use netlink_packet_route::route::RouteMessage;
use rtnetlink::{Handle, RouteMessageBuilder};
use weft_netlink::{default_route_ifindex, link_mtu};

use super::error::{OverlayError, netlink};
use super::model::LocalNode;
use super::observe::list_links;
use super::parse::{address_net, link_name};

/// The interface the node reaches other nodes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underlay {
    pub ifname: String,
    /// Its primary address with the subnet's prefix length, e.g.
    /// 198.18.0.11/24: IPv4 when it has one.
    pub address: IpNet,
    /// Its IPv6 address beside an IPv4 primary one.
    pub second: Option<IpNet>,
    pub mtu: u32,
}

/// This node as the overlay sees it, its underlay found in the calling
/// thread's network namespace (see `choose_underlay`).
pub async fn local_node_from_interface(
    handle: &Handle,
    node_name: &str,
    pod_cidrs: Vec<IpNet>,
    underlay_ifname: Option<&str>,
) -> Result<LocalNode, OverlayError> {
    let links = list_links(handle).await?;
    let addresses: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(netlink("listing addresses"))?;
    let mut routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(netlink("listing IPv4 routes"))?;
    let v6_routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(netlink("listing IPv6 routes"))?;
    // IPv4's default route first: it names the underlay when both exist.
    routes.extend(v6_routes);
    let underlay = choose_underlay(&links, &addresses, &routes, underlay_ifname)?;
    Ok(LocalNode {
        name: node_name.to_owned(),
        pod_cidrs,
        underlay_ip: underlay.address.addr(),
        underlay_net: underlay.address.trunc(),
        second_underlay: underlay.second,
        underlay_ifname: underlay.ifname,
        underlay_mtu: underlay.mtu,
    })
}

/// The underlay among these links: `wanted` if given, else the interface of
/// the first default route in `routes`, else the non-loopback interface
/// with the lowest index that has a global address.
pub fn choose_underlay(
    links: &[LinkMessage],
    addresses: &[AddressMessage],
    routes: &[RouteMessage],
    wanted: Option<&str>,
) -> Result<Underlay, OverlayError> {
    let link = match wanted {
        Some(name) => links
            .iter()
            .find(|link| link_name(link) == Some(name))
            .ok_or_else(|| OverlayError::NoSuchInterface(name.to_owned()))?,
        None => default_route_link(links, routes)
            .or_else(|| first_link_with_address(links, addresses))
            .ok_or(OverlayError::NoUnderlayInterface)?,
    };
    let ifname = link_name(link).unwrap_or_default().to_owned();
    let v4 = global_address(addresses, link.header.index, true);
    let v6 = global_address(addresses, link.header.index, false);
    let (address, second) = match (v4, v6) {
        (Some(v4), v6) => (v4, v6),
        (None, Some(v6)) => (v6, None),
        (None, None) => return Err(OverlayError::NoUnderlayAddress(ifname)),
    };
    let mtu = link_mtu(link).ok_or_else(|| OverlayError::NoUnderlayMtu(ifname.clone()))?;
    Ok(Underlay {
        ifname,
        address,
        second,
        mtu,
    })
}

fn default_route_link<'a>(
    links: &'a [LinkMessage],
    routes: &[RouteMessage],
) -> Option<&'a LinkMessage> {
    let index = default_route_ifindex(routes)?;
    links.iter().find(|link| link.header.index == index)
}

fn first_link_with_address<'a>(
    links: &'a [LinkMessage],
    addresses: &[AddressMessage],
) -> Option<&'a LinkMessage> {
    links
        .iter()
        .filter(|link| !link.header.flags.contains(LinkFlags::Loopback))
        .filter(|link| {
            global_address(addresses, link.header.index, true).is_some()
                || global_address(addresses, link.header.index, false).is_some()
        })
        .min_by_key(|link| link.header.index)
}

/// The interface's first global address of one family: not secondary
/// (for IPv6, the same bit: not temporary), not deprecated.
fn global_address(addresses: &[AddressMessage], index: u32, ipv4: bool) -> Option<IpNet> {
    addresses
        .iter()
        .filter(|address| {
            address.header.index == index
                && address.header.scope == AddressScope::Universe
                && !address.header.flags.contains(AddressHeaderFlags::Secondary)
                && !address
                    .header
                    .flags
                    .contains(AddressHeaderFlags::Deprecated)
        })
        .filter_map(address_net)
        .find(|net| net.addr().is_ipv4() == ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::address::AddressAttribute;
    use netlink_packet_route::link::LinkAttribute;
    use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteType};

    fn link(index: u32, name: &str, mtu: u32) -> LinkMessage {
        let mut link = LinkMessage::default();
        link.header.index = index;
        if name == "lo" {
            link.header.flags = LinkFlags::Loopback;
        }
        link.attributes = vec![LinkAttribute::IfName(name.into()), LinkAttribute::Mtu(mtu)];
        link
    }

    fn address(index: u32, net: &str, scope: AddressScope) -> AddressMessage {
        let net: IpNet = net.parse().unwrap();
        let mut message = AddressMessage::default();
        message.header.family = match net {
            IpNet::V4(_) => AddressFamily::Inet,
            IpNet::V6(_) => AddressFamily::Inet6,
        };
        message.header.index = index;
        message.header.prefix_len = net.prefix_len();
        message.header.scope = scope;
        message.attributes = vec![AddressAttribute::Local(net.addr())];
        message
    }

    fn default_route(oif: u32) -> RouteMessage {
        let mut route = RouteMessage::default();
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.kind = RouteType::Unicast;
        route.attributes = vec![RouteAttribute::Oif(oif)];
        route
    }

    fn node() -> (Vec<LinkMessage>, Vec<AddressMessage>) {
        (
            vec![
                link(1, "lo", 65536),
                link(2, "eth0", 1500),
                link(3, "eth1", 9000),
            ],
            vec![
                address(1, "127.0.0.1/8", AddressScope::Host),
                address(2, "fd00::2/64", AddressScope::Universe),
                address(2, "198.18.0.11/24", AddressScope::Universe),
                address(3, "198.19.0.11/16", AddressScope::Universe),
            ],
        )
    }

    #[test]
    fn a_named_interface_wins() {
        let (links, addresses) = node();
        let underlay =
            choose_underlay(&links, &addresses, &[default_route(2)], Some("eth1")).unwrap();
        assert_eq!(
            underlay,
            Underlay {
                ifname: "eth1".into(),
                address: "198.19.0.11/16".parse().unwrap(),
                second: None,
                mtu: 9000,
            }
        );
    }

    #[test]
    fn else_the_default_route_interface() {
        let (links, addresses) = node();
        let underlay = choose_underlay(&links, &addresses, &[default_route(3)], None).unwrap();
        assert_eq!(underlay.ifname, "eth1");
    }

    #[test]
    fn else_the_first_interface_with_a_global_address_ipv4_as_primary() {
        let (links, addresses) = node();
        let underlay = choose_underlay(&links, &addresses, &[], None).unwrap();
        assert_eq!(underlay.ifname, "eth0");
        assert_eq!(underlay.address, "198.18.0.11/24".parse::<IpNet>().unwrap());
        assert_eq!(underlay.second, Some("fd00::2/64".parse().unwrap()));
        assert_eq!(underlay.mtu, 1500);
    }

    #[test]
    fn an_ipv6_only_underlay_has_its_ipv6_address_as_primary() {
        let links = vec![link(1, "lo", 65536), link(2, "eth0", 1500)];
        let addresses = [
            address(2, "fe80::1/64", AddressScope::Link),
            address(2, "fd00:198:18::11/64", AddressScope::Universe),
        ];
        let underlay = choose_underlay(&links, &addresses, &[], None).unwrap();
        assert_eq!(
            underlay.address,
            "fd00:198:18::11/64".parse::<IpNet>().unwrap()
        );
        assert_eq!(underlay.second, None);
    }

    #[test]
    fn no_candidate_or_no_address_is_an_error() {
        let links = vec![link(1, "lo", 65536), link(2, "eth0", 1500)];
        let loopback_only = [address(1, "127.0.0.1/8", AddressScope::Host)];
        assert!(matches!(
            choose_underlay(&links, &loopback_only, &[], None),
            Err(OverlayError::NoUnderlayInterface)
        ));
        assert!(matches!(
            choose_underlay(&links, &loopback_only, &[], Some("eth0")),
            Err(OverlayError::NoUnderlayAddress(name)) if name == "eth0"
        ));
        assert!(matches!(
            choose_underlay(&links, &loopback_only, &[], Some("eth7")),
            Err(OverlayError::NoSuchInterface(name)) if name == "eth7"
        ));
    }
}
