//! The node's own addresses: they get the host identity, which policy always
//! allows (Kubernetes: traffic between a pod and its node always passes).

use std::net::IpAddr;

/// Every address configured in weftd's network namespace.
pub fn host_addresses() -> std::io::Result<Vec<IpAddr>> {
    let mut addresses: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
        .map_err(std::io::Error::from)?
        .filter_map(|ifaddr| ifaddr.address)
        .filter_map(|address| {
            if let Some(v4) = address.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect();
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_loopback() {
        let addresses = host_addresses().unwrap();
        assert!(
            addresses.contains(&"127.0.0.1".parse().unwrap()),
            "{addresses:?}"
        );
    }
}
