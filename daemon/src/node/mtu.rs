//! Choosing the pod MTU: the underlay's MTU less the VXLAN overhead, taken
//! from the interface of the default route (pure: netlink answers in, choice out).

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteMessage, RouteType};

/// Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers.
pub const VXLAN_OVERHEAD: u32 = 50;
/// Pod MTU when the underlay's cannot be found: a 1500-byte underlay's.
pub const FALLBACK_POD_MTU: u32 = 1500 - VXLAN_OVERHEAD;

/// The pod MTU for an underlay MTU, if one was found.
pub fn pod_mtu(underlay_mtu: Option<u32>) -> u32 {
    match underlay_mtu {
        Some(mtu) if mtu > VXLAN_OVERHEAD => mtu - VXLAN_OVERHEAD,
        _ => FALLBACK_POD_MTU,
    }
}

/// Interface index of the preferred (lowest metric) default route in the
/// main table, among `routes` of one address family.
pub fn default_route_ifindex(routes: &[RouteMessage]) -> Option<u32> {
    routes
        .iter()
        .filter(|route| {
            route.header.destination_prefix_length == 0
                && route.header.kind == RouteType::Unicast
                && table_of(route) == u32::from(RouteHeader::RT_TABLE_MAIN)
        })
        .filter_map(|route| Some((priority_of(route), output_ifindex(route)?)))
        .min_by_key(|(priority, _)| *priority)
        .map(|(_, ifindex)| ifindex)
}

/// The MTU a link reports.
pub fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    })
}

/// The routing table a route is in (the attribute wins over the header's
/// 8-bit field, which cannot name tables above 255).
pub fn table_of(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|attr| match attr {
            RouteAttribute::Table(table) => Some(*table),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table))
}

fn priority_of(route: &RouteMessage) -> u32 {
    route
        .attributes
        .iter()
        .find_map(|attr| match attr {
            RouteAttribute::Priority(priority) => Some(*priority),
            _ => None,
        })
        .unwrap_or(0)
}

/// The route's output interface, or its first next hop's for a multipath route.
fn output_ifindex(route: &RouteMessage) -> Option<u32> {
    route.attributes.iter().find_map(|attr| match attr {
        RouteAttribute::Oif(ifindex) => Some(*ifindex),
        RouteAttribute::MultiPath(hops) => hops.first().map(|hop| hop.interface_index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteNextHop;

    fn route(prefix_len: u8, table: u8, attributes: Vec<RouteAttribute>) -> RouteMessage {
        let mut route = RouteMessage::default();
        route.header.destination_prefix_length = prefix_len;
        route.header.table = table;
        route.header.kind = RouteType::Unicast;
        route.attributes = attributes;
        route
    }

    const MAIN: u8 = RouteHeader::RT_TABLE_MAIN;

    #[test]
    fn pod_mtu_subtracts_vxlan_overhead_or_falls_back() {
        assert_eq!(pod_mtu(Some(1500)), 1450);
        assert_eq!(pod_mtu(Some(9001)), 8951);
        assert_eq!(pod_mtu(None), 1450);
        assert_eq!(pod_mtu(Some(40)), 1450);
    }

    #[test]
    fn picks_the_lowest_metric_default_route_of_the_main_table() {
        let routes = vec![
            route(24, MAIN, vec![RouteAttribute::Oif(9)]),
            route(
                0,
                MAIN,
                vec![RouteAttribute::Oif(3), RouteAttribute::Priority(200)],
            ),
            route(
                0,
                MAIN,
                vec![RouteAttribute::Oif(2), RouteAttribute::Priority(100)],
            ),
            route(0, 255, vec![RouteAttribute::Oif(7)]),
        ];
        assert_eq!(default_route_ifindex(&routes), Some(2));
    }

    #[test]
    fn table_attribute_overrides_the_header_and_multipath_uses_its_first_hop() {
        let mut hop = RouteNextHop::default();
        hop.interface_index = 5;
        let routes = vec![route(
            0,
            0,
            vec![
                RouteAttribute::Table(u32::from(MAIN)),
                RouteAttribute::MultiPath(vec![hop]),
            ],
        )];
        assert_eq!(default_route_ifindex(&routes), Some(5));
    }

    #[test]
    fn no_default_route_means_no_interface() {
        assert_eq!(
            default_route_ifindex(&[route(8, MAIN, vec![RouteAttribute::Oif(1)])]),
            None
        );
    }

    #[test]
    fn link_mtu_reads_the_attribute() {
        let mut link = LinkMessage::default();
        assert_eq!(link_mtu(&link), None);
        link.attributes.push(LinkAttribute::Mtu(9000));
        assert_eq!(link_mtu(&link), Some(9000));
    }
}
