//! Pure address selection: which address of a subnet to hand out next.
//!
//! Assignable addresses of a subnet are everything except the network
//! address, the first address after it (the subnet's gateway/host address by
//! convention) and, for IPv4, the broadcast address. So a /24 has 253, a /30
//! has 1, and /31, /32, /127, /128 have none.
//!
//! Selection is round-robin from a cursor (the last address handed out) so a
//! just-released address is reused as late as possible, which keeps stale
//! conntrack and neighbour entries from hitting a new pod. The search walks
//! the sorted set of used addresses, never the address space, so it costs
//! at most one step per used address whatever the subnet size (an IPv6 /64
//! included) and reports exhaustion exactly.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The next free assignable address of `subnet` after `cursor`, wrapping
/// around; `None` when every assignable address is in `used`. A cursor
/// outside the subnet restarts the search at its first assignable address.
pub fn next_free(subnet: IpNet, used: &BTreeSet<IpAddr>, cursor: Option<IpAddr>) -> Option<IpAddr> {
    let (first, last) = assignable_range(subnet)?;
    let start = match cursor.filter(|c| same_family(subnet, *c)).map(to_u128) {
        Some(c) if c >= first && c < last => c + 1,
        _ => first,
    };
    let found = first_gap(subnet, used, start, last).or_else(|| {
        (start > first)
            .then(|| first_gap(subnet, used, first, start - 1))
            .flatten()
    })?;
    Some(from_u128(subnet, found))
}

/// Inclusive numeric bounds of the assignable addresses, `None` if empty.
fn assignable_range(subnet: IpNet) -> Option<(u128, u128)> {
    let network = to_u128(subnet.network());
    let broadcast = to_u128(subnet.broadcast());
    let last = match subnet {
        IpNet::V4(_) => broadcast.checked_sub(1)?,
        IpNet::V6(_) => broadcast,
    };
    let first = network.checked_add(2)?;
    (first <= last).then_some((first, last))
}

/// The lowest address in `from..=to` not in `used`, stepping only over the
/// used addresses that sit in that range.
fn first_gap(subnet: IpNet, used: &BTreeSet<IpAddr>, from: u128, to: u128) -> Option<u128> {
    let mut candidate = from;
    for taken in used.range(from_u128(subnet, from)..=from_u128(subnet, to)) {
        if to_u128(*taken) != candidate {
            break;
        }
        if candidate == to {
            return None;
        }
        candidate += 1;
    }
    Some(candidate)
}

fn same_family(subnet: IpNet, ip: IpAddr) -> bool {
    matches!(
        (subnet, ip),
        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_))
    )
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Callers only pass values inside the subnet's range, so the IPv4
/// truncation never drops set bits.
fn from_u128(subnet: IpNet, value: u128) -> IpAddr {
    match subnet {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
        ips.iter().map(|s| ip(s)).collect()
    }

    /// Fills the subnet from an empty state, as the store would.
    fn fill(subnet: IpNet) -> Vec<IpAddr> {
        let mut used = BTreeSet::new();
        let mut cursor = None;
        while let Some(next) = next_free(subnet, &used, cursor) {
            assert!(used.insert(next), "{next} handed out twice");
            cursor = Some(next);
        }
        used.into_iter().collect()
    }

    #[test]
    fn starts_after_network_and_gateway_addresses() {
        assert_eq!(
            next_free(net("10.0.0.0/24"), &set(&[]), None),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            next_free(net("fd00::/64"), &set(&[]), None),
            Some(ip("fd00::2"))
        );
    }

    #[test]
    fn a_full_ipv4_slash_24_hands_out_253_addresses_then_is_exhausted() {
        let subnet = net("10.0.0.0/24");
        let all = fill(subnet);
        assert_eq!(all.len(), 253);
        assert_eq!(all.first(), Some(&ip("10.0.0.2")));
        assert_eq!(all.last(), Some(&ip("10.0.0.254")));
        let used: BTreeSet<_> = all.into_iter().collect();
        assert_eq!(next_free(subnet, &used, Some(ip("10.0.0.77"))), None);
    }

    #[test]
    fn round_robin_does_not_reuse_a_just_freed_address() {
        let subnet = net("10.0.0.0/24");
        // .2 and .3 were handed out, .2 was then released.
        let used = set(&["10.0.0.3"]);
        assert_eq!(
            next_free(subnet, &used, Some(ip("10.0.0.3"))),
            Some(ip("10.0.0.4"))
        );
    }

    #[test]
    fn wraps_around_to_reuse_released_addresses() {
        let subnet = net("10.0.0.0/29"); // assignable .2 ..= .6
        let used = set(&["10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
        assert_eq!(
            next_free(subnet, &used, Some(ip("10.0.0.6"))),
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            next_free(subnet, &used, Some(ip("10.0.0.4"))),
            Some(ip("10.0.0.3"))
        );
    }

    #[test]
    fn skips_over_a_run_of_used_addresses() {
        let subnet = net("10.0.0.0/24");
        let used = set(&["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.9"]);
        assert_eq!(
            next_free(subnet, &used, Some(ip("10.0.0.4"))),
            Some(ip("10.0.0.8"))
        );
    }

    #[test]
    fn cursor_outside_the_subnet_restarts_at_the_first_address() {
        let subnet = net("10.0.0.0/24");
        for cursor in ["10.0.1.9", "10.0.0.0", "10.0.0.255", "fd00::9"] {
            assert_eq!(
                next_free(subnet, &set(&[]), Some(ip(cursor))),
                Some(ip("10.0.0.2")),
                "cursor {cursor}"
            );
        }
    }

    #[test]
    fn ignores_used_addresses_outside_the_subnet() {
        let used = set(&["10.0.1.2", "fd00::2"]);
        assert_eq!(
            next_free(net("10.0.0.0/24"), &used, None),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn tiny_ipv4_subnets() {
        assert_eq!(fill(net("10.0.0.0/30")), vec![ip("10.0.0.2")]);
        assert_eq!(fill(net("10.0.0.0/29")).len(), 5);
        assert!(fill(net("10.0.0.0/31")).is_empty());
        assert!(fill(net("10.0.0.0/32")).is_empty());
    }

    #[test]
    fn tiny_ipv6_subnets_keep_their_last_address() {
        assert_eq!(fill(net("fd00::/126")), vec![ip("fd00::2"), ip("fd00::3")]);
        assert!(fill(net("fd00::/127")).is_empty());
        assert!(fill(net("fd00::/128")).is_empty());
    }

    #[test]
    fn whole_address_spaces_do_not_overflow() {
        assert_eq!(
            next_free(net("0.0.0.0/0"), &set(&[]), Some(ip("255.255.255.254"))),
            Some(ip("0.0.0.2"))
        );
        assert_eq!(
            next_free(
                net("::/0"),
                &set(&[]),
                Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
            ),
            Some(ip("::2"))
        );
    }

    #[test]
    fn ipv6_slash_64_wraps_at_the_top() {
        let subnet = net("fd00::/64");
        let top = ip("fd00::ffff:ffff:ffff:ffff");
        assert_eq!(
            next_free(subnet, &set(&[]), Some(ip("fd00::ffff:ffff:ffff:fffe"))),
            Some(top)
        );
        assert_eq!(
            next_free(subnet, &set(&["fd00::2"]), Some(top)),
            Some(ip("fd00::3"))
        );
    }
}
