//! Picking the default route among a route dump (pure): the interface it
//! leaves by, and which routing table a route is in.

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteMessage, RouteType};

/// Interface index of the preferred default route of the main table, among
/// `routes` of any address family: IPv4 before IPv6 (the pod MTU must suit
/// the family every cluster has), then the lowest metric. A multipath route
/// counts with its first next hop.
pub fn default_route_ifindex(routes: &[RouteMessage]) -> Option<u32> {
    routes
        .iter()
        .filter(|route| {
            route.header.destination_prefix_length == 0
                && route.header.kind == RouteType::Unicast
                && table_of(route) == u32::from(RouteHeader::RT_TABLE_MAIN)
        })
        .filter_map(|route| {
            let is_ipv6 = route.header.address_family == AddressFamily::Inet6;
            Some(((is_ipv6, priority_of(route)), output_ifindex(route)?))
        })
        .min_by_key(|(preference, _)| *preference)
        .map(|(_, ifindex)| ifindex)
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

    const MAIN: u8 = RouteHeader::RT_TABLE_MAIN;

    fn route(prefix_len: u8, table: u8, attributes: Vec<RouteAttribute>) -> RouteMessage {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.destination_prefix_length = prefix_len;
        route.header.table = table;
        route.header.kind = RouteType::Unicast;
        route.attributes = attributes;
        route
    }

    fn ipv6(mut route: RouteMessage) -> RouteMessage {
        route.header.address_family = AddressFamily::Inet6;
        route
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
    fn prefers_ipv4_over_a_lower_metric_ipv6_default_route() {
        let routes = vec![
            ipv6(route(0, MAIN, vec![RouteAttribute::Oif(7)])),
            route(
                0,
                MAIN,
                vec![RouteAttribute::Oif(4), RouteAttribute::Priority(100)],
            ),
        ];
        assert_eq!(default_route_ifindex(&routes), Some(4));
    }

    #[test]
    fn falls_back_to_the_ipv6_default_route() {
        let routes = vec![
            route(24, MAIN, vec![RouteAttribute::Oif(9)]),
            ipv6(route(0, MAIN, vec![RouteAttribute::Oif(7)])),
        ];
        assert_eq!(default_route_ifindex(&routes), Some(7));
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
    fn a_table_above_255_is_not_main_whatever_the_header_says() {
        let routes = vec![route(
            0,
            MAIN,
            vec![RouteAttribute::Table(1000), RouteAttribute::Oif(5)],
        )];
        assert_eq!(table_of(&routes[0]), 1000);
        assert_eq!(default_route_ifindex(&routes), None);
    }

    #[test]
    fn no_default_route_means_no_interface() {
        assert_eq!(
            default_route_ifindex(&[route(8, MAIN, vec![RouteAttribute::Oif(1)])]),
            None
        );
        assert_eq!(default_route_ifindex(&[]), None);
    }
}
