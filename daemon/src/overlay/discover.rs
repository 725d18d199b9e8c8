//! Finding this node's underlay: the named interface, else the one of the
//! default route, else the first interface with a global IPv4 address; and
//! its IPv4 address, subnet and MTU. The choice is pure; one function asks
//! the kernel.

use std::net::{IpAddr, Ipv4Addr};

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
    /// Its address with the subnet's prefix length, e.g. 198.18.0.11/24.
    pub address: IpNet,
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
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(netlink("listing routes"))?;
    let underlay = choose_underlay(&links, &addresses, &routes, underlay_ifname)?;
    Ok(LocalNode {
        name: node_name.to_owned(),
        pod_cidrs,
        underlay_ip: underlay.address.addr(),
        underlay_net: underlay.address.trunc(),
        underlay_ifname: underlay.ifname,
        underlay_mtu: underlay.mtu,
    })
}

/// The underlay among these links: `wanted` if given, else the interface of
/// the default IPv4 route, else the non-loopback interface with the lowest
/// index that has a global IPv4 address.
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
    let address = global_ipv4(addresses, link.header.index)
        .ok_or_else(|| OverlayError::NoUnderlayAddress(ifname.clone()))?;
    let mtu = link_mtu(link).ok_or_else(|| OverlayError::NoUnderlayMtu(ifname.clone()))?;
    Ok(Underlay {
        ifname,
        address,
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
        .filter(|link| global_ipv4(addresses, link.header.index).is_some())
        .min_by_key(|link| link.header.index)
}

/// The first primary, global IPv4 address of the interface.
fn global_ipv4(addresses: &[AddressMessage], index: u32) -> Option<IpNet> {
    addresses
        .iter()
        .filter(|address| {
            address.header.index == index
                && address.header.scope == AddressScope::Universe
                && !address.header.flags.contains(AddressHeaderFlags::Secondary)
        })
        .filter_map(address_net)
        .find(|net| matches!(net.addr(), IpAddr::V4(_)))
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
    fn else_the_first_interface_with_a_global_ipv4_address() {
        let (links, addresses) = node();
        let underlay = choose_underlay(&links, &addresses, &[], None).unwrap();
        assert_eq!(underlay.ifname, "eth0");
        assert_eq!(underlay.address, "198.18.0.11/24".parse::<IpNet>().unwrap());
        assert_eq!(underlay.mtu, 1500);
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
