//! A node's VXLAN tunnel endpoint (VTEP): its MAC, derived from the node
//! name so it survives weftd restarts, its address, the network address of
//! the node's pod CIDR, and the MAC's text form for Node annotations.

use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;
use sha2::{Digest, Sha256};

/// The VTEP MAC of a node: the first six bytes of SHA-256 of its name, made
/// a locally administered unicast address.
pub fn vtep_mac(node_name: &str) -> [u8; 6] {
    let digest = Sha256::digest(node_name.as_bytes());
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] | 0b10) & !0b1;
    mac
}

/// The VTEP address of a node with this pod CIDR: its network address, which
/// no pod is given.
pub fn vtep_address(pod_cidr: IpNet) -> IpAddr {
    pod_cidr.network()
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let mut text = String::with_capacity(17);
    for (i, byte) in mac.iter().enumerate() {
        if i > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address like 02:00:5e:10:00:01")]
pub struct BadMac(pub String);

/// Parses six colon-separated hex bytes.
pub fn parse_mac(text: &str) -> Result<[u8; 6], BadMac> {
    let bad = || BadMac(text.to_owned());
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    match parts.next() {
        Some(_) => Err(bad()),
        None => Ok(mac),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtep_mac_is_stable_locally_administered_unicast_and_per_node() {
        let mac = vtep_mac("node-1");
        assert_eq!(mac, vtep_mac("node-1"));
        assert_ne!(mac, vtep_mac("node-2"));
        assert_eq!(mac[0] & 0b10, 0b10, "locally administered");
        assert_eq!(mac[0] & 0b1, 0, "unicast");
    }

    #[test]
    fn vtep_address_is_the_network_address() {
        let cidr: IpNet = "10.244.3.0/24".parse().unwrap();
        assert_eq!(vtep_address(cidr), "10.244.3.0".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn macs_round_trip_through_text() {
        let mac = [0x02, 0x00, 0x5e, 0xab, 0x0c, 0xff];
        assert_eq!(format_mac(&mac), "02:00:5e:ab:0c:ff");
        assert_eq!(parse_mac("02:00:5e:ab:0c:ff"), Ok(mac));
        assert_eq!(parse_mac("02:00:5E:AB:0C:FF"), Ok(mac));
    }

    #[test]
    fn malformed_macs_are_rejected() {
        for text in [
            "",
            "02:00:5e:ab:0c",
            "02:00:5e:ab:0c:ff:01",
            "2:00:5e:ab:0c:ff",
            "zz:00:5e:ab:0c:ff",
            "+f:00:5e:ab:0c:ff",
        ] {
            assert!(parse_mac(text).is_err(), "{text:?}");
        }
    }
}
