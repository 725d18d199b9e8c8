//! Choosing the pod MTU: the underlay's MTU less the VXLAN overhead (pure;
//! the underlay's MTU comes from `weft_netlink`).

/// Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers.
pub const VXLAN_OVERHEAD: u32 = 50;
/// An outer IPv6 header is 20 bytes longer than an IPv4 one.
const IPV6_EXTRA_OVERHEAD: u32 = 20;

/// What VXLAN adds to a packet whose tunnel runs from `underlay_ip`.
pub fn vxlan_overhead(underlay_ip: std::net::IpAddr) -> u32 {
    match underlay_ip {
        std::net::IpAddr::V4(_) => VXLAN_OVERHEAD,
        std::net::IpAddr::V6(_) => VXLAN_OVERHEAD + IPV6_EXTRA_OVERHEAD,
    }
}
/// Pod MTU when the underlay's cannot be found: a 1500-byte underlay's.
pub const FALLBACK_POD_MTU: u32 = 1500 - VXLAN_OVERHEAD;

/// The pod MTU for an underlay MTU, if one was found.
pub fn pod_mtu(underlay_mtu: Option<u32>) -> u32 {
    match underlay_mtu {
        Some(mtu) if mtu > VXLAN_OVERHEAD => mtu - VXLAN_OVERHEAD,
        _ => FALLBACK_POD_MTU,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_tunnel_costs_70_bytes_and_an_ipv4_one_50() {
        assert_eq!(vxlan_overhead("198.18.0.11".parse().unwrap()), 50);
        assert_eq!(vxlan_overhead("fd00:198:18::11".parse().unwrap()), 70);
    }

    #[test]
    fn pod_mtu_subtracts_vxlan_overhead_or_falls_back() {
        assert_eq!(pod_mtu(Some(1500)), 1450);
        assert_eq!(pod_mtu(Some(9001)), 8951);
        assert_eq!(pod_mtu(None), 1450);
        assert_eq!(pod_mtu(Some(40)), 1450);
    }
}
