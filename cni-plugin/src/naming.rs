//! Deterministic per-attachment names: the host-side veth name and the MAC
//! addresses of both veth ends, all derived from (container ID, ifname) so
//! every verb finds the same objects without storing them.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use weft_ipam::AttachmentKey;

pub use weft_api::HOST_VETH_PREFIX;
/// Hex digits of the hash after the prefix: 4 + 11 = 15 = IFNAMSIZ - 1.
const HOST_VETH_HASH_DIGITS: usize = 11;

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address like 02:00:00:00:00:01")]
pub struct MacParseError(String);

impl Mac {
    /// Unicast, not all-zero: usable as an interface address.
    pub fn is_assignable(self) -> bool {
        self.0[0] & 0x01 == 0 && self.0 != [0; 6]
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for Mac {
    type Err = MacParseError;

    fn from_str(text: &str) -> Result<Mac, MacParseError> {
        let error = || MacParseError(text.to_string());
        let mut bytes = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut bytes {
            let part = parts.next().filter(|p| p.len() == 2).ok_or_else(error)?;
            *byte = u8::from_str_radix(part, 16).map_err(|_| error())?;
        }
        match parts.next() {
            None => Ok(Mac(bytes)),
            Some(_) => Err(error()),
        }
    }
}

/// The names and addresses of one attachment's veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethNames {
    pub host_ifname: String,
    pub host_mac: Mac,
    pub pod_mac: Mac,
}

impl VethNames {
    /// `weft` + 11 hex digits of sha256(containerID + "/" + ifname); the
    /// MACs come from other bytes of the same hash and are locally
    /// administered unicast, with different first octets so the two ends
    /// never share a MAC.
    pub fn derive(key: &AttachmentKey) -> VethNames {
        let digest = Sha256::new()
            .chain_update(key.container_id.as_bytes())
            .chain_update(b"/")
            .chain_update(key.ifname.as_bytes())
            .finalize();
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        let mac = |first: u8, tail: &[u8]| {
            let mut bytes = [first; 6];
            bytes[1..].copy_from_slice(tail);
            Mac(bytes)
        };
        VethNames {
            host_ifname: format!("{HOST_VETH_PREFIX}{}", &hex[..HOST_VETH_HASH_DIGITS]),
            host_mac: mac(0x02, &digest[16..21]),
            pod_mac: mac(0x06, &digest[21..26]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(container_id: &str, ifname: &str) -> AttachmentKey {
        AttachmentKey {
            container_id: container_id.into(),
            ifname: ifname.into(),
        }
    }

    #[test]
    fn host_name_is_weft_plus_11_hex_digits_of_the_hash() {
        // sha256("abc/eth0") starts with these hex digits.
        let expected: String = Sha256::digest(b"abc/eth0")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let names = VethNames::derive(&key("abc", "eth0"));
        assert_eq!(names.host_ifname, format!("weft{}", &expected[..11]));
        assert_eq!(names.host_ifname.len(), 15);
    }

    #[test]
    fn names_are_stable_and_differ_per_attachment() {
        let a = VethNames::derive(&key("abc", "eth0"));
        assert_eq!(a, VethNames::derive(&key("abc", "eth0")));
        assert_ne!(
            a.host_ifname,
            VethNames::derive(&key("abc", "net1")).host_ifname
        );
        assert_ne!(
            a.host_ifname,
            VethNames::derive(&key("abd", "eth0")).host_ifname
        );
    }

    #[test]
    fn macs_are_locally_administered_unicast_and_distinct() {
        let names = VethNames::derive(&key("abc", "eth0"));
        for mac in [names.host_mac, names.pod_mac] {
            assert!(mac.is_assignable());
            assert_eq!(mac.0[0] & 0x02, 0x02, "locally administered");
        }
        assert_ne!(names.host_mac, names.pod_mac);
    }

    #[test]
    fn mac_round_trips_through_text() {
        let mac: Mac = "02:ab:cd:EF:00:09".parse().unwrap();
        assert_eq!(mac, Mac([0x02, 0xab, 0xcd, 0xef, 0x00, 0x09]));
        assert_eq!(mac.to_string(), "02:ab:cd:ef:00:09");
    }

    #[test]
    fn rejects_malformed_macs() {
        for text in [
            "",
            "02:ab:cd:ef:00",
            "02:ab:cd:ef:00:09:10",
            "02-ab-cd-ef-00-09",
            "0g:00:00:00:00:00",
        ] {
            assert!(text.parse::<Mac>().is_err(), "{text}");
        }
    }

    #[test]
    fn multicast_and_zero_macs_are_not_assignable() {
        assert!(!Mac([0x01, 0, 0, 0, 0, 1]).is_assignable());
        assert!(!Mac([0; 6]).is_assignable());
    }
}
