//! Where a lab's API server is reached and what it serves: its port, the
//! URLs for clients on the fabric and beside it, and the Service network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The Service network of every lab (the API server's own Service gets
/// its first address).
pub const SERVICE_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 96, 0, 0), 16);
/// The IPv6 Service network of a dual-stack lab (the API server takes at
/// most 20 bits of Service addresses per family, so a /108 or longer).
pub const SERVICE_CIDR6: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0), 112);
/// The API server's port, on every address of the control-plane host.
pub const API_PORT: u16 = 6443;

/// The URL nodes and the admin reach the API server at.
pub fn api_server_url(ip: IpAddr) -> String {
    format!("https://{}", SocketAddr::new(ip, API_PORT))
}

/// The URL the other components, beside it, reach the API server at.
pub fn local_api_server_url() -> String {
    api_server_url(Ipv4Addr::LOCALHOST.into())
}

/// The API server's own Service IP: the address after the network
/// address of the first Service network, IPv6's in an IPv6-only lab.
pub fn kubernetes_service_ip(ipv6_only: bool) -> IpAddr {
    if ipv6_only {
        Ipv6Addr::from(u128::from(SERVICE_CIDR6.network()) + 1).into()
    } else {
        Ipv4Addr::from(u32::from(SERVICE_CIDR.network()) + 1).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_urls() {
        assert_eq!(
            api_server_url("198.18.0.2".parse().unwrap()),
            "https://198.18.0.2:6443"
        );
        assert_eq!(local_api_server_url(), "https://127.0.0.1:6443");
        assert_eq!(
            api_server_url("2001:2::2".parse().unwrap()),
            "https://[2001:2::2]:6443"
        );
        assert_eq!(kubernetes_service_ip(false).to_string(), "10.96.0.1");
        assert_eq!(kubernetes_service_ip(true).to_string(), "fd00:10:96::1");
    }
}
