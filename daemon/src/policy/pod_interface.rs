//! What the datapath checks a pod's packets against (anti-spoofing): the
//! pod interface's MAC and addresses, from the plugin's endpoint.

use std::net::IpAddr;

use weft_api::Endpoint;
use weft_ebpf_common::{POD_HAS_IPV4, POD_HAS_IPV6, PodInterface};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEndpoint {
    #[error("endpoint MAC {0:?} is not of the form aa:bb:cc:dd:ee:ff")]
    Mac(String),
}

/// The interface record of `endpoint` holding `slot`. An endpoint has at
/// most one address per family (the plugin's IPAM gives one of each).
pub fn pod_interface(endpoint: &Endpoint, slot: u32) -> Result<PodInterface, InvalidEndpoint> {
    let mut pod = PodInterface {
        mac: parse_mac(&endpoint.mac)?,
        slot,
        ..PodInterface::default()
    };
    for net in &endpoint.ips {
        match net.addr() {
            IpAddr::V4(v4) if pod.flags & POD_HAS_IPV4 == 0 => {
                pod.ipv4 = v4.octets();
                pod.flags |= POD_HAS_IPV4;
            }
            IpAddr::V6(v6) if pod.flags & POD_HAS_IPV6 == 0 => {
                pod.ipv6 = v6.octets();
                pod.flags |= POD_HAS_IPV6;
            }
            _ => {}
        }
    }
    Ok(pod)
}

/// The host veth's MAC of `endpoint`, if its plugin recorded it.
pub fn host_mac(endpoint: &Endpoint) -> Result<Option<[u8; 6]>, InvalidEndpoint> {
    endpoint.host_mac.as_deref().map(parse_mac).transpose()
}

fn parse_mac(text: &str) -> Result<[u8; 6], InvalidEndpoint> {
    let invalid = || InvalidEndpoint::Mac(text.to_owned());
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(invalid)?;
        if part.len() != 2 {
            return Err(invalid());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
    }
    match parts.next() {
        Some(_) => Err(invalid()),
        None => Ok(mac),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;

    #[test]
    fn carries_mac_slot_and_one_address_per_family() {
        let mut ep = endpoint("a", "10.0.0.2/32");
        ep.mac = "0a:58:0A:f4:01:05".into();
        ep.ips.push("fd00::5/128".parse().unwrap());
        ep.ips.push("10.0.0.9/32".parse().unwrap());
        let pod = pod_interface(&ep, 7).unwrap();
        assert_eq!(pod.mac, [0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x05]);
        assert_eq!(pod.slot, 7);
        assert_eq!(pod.ipv4, [10, 0, 0, 2]);
        assert_eq!(pod.flags, POD_HAS_IPV4 | POD_HAS_IPV6);
        assert_eq!(
            pod.addresses().collect::<Vec<_>>(),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn the_host_mac_is_optional_and_checked() {
        let mut ep = endpoint("a", "10.0.0.2/32");
        ep.host_mac = None;
        assert_eq!(host_mac(&ep), Ok(None), "an older plugin's endpoint");
        ep.host_mac = Some("02:00:0a:f4:01:05".into());
        assert_eq!(host_mac(&ep), Ok(Some([2, 0, 0x0a, 0xf4, 1, 5])));
        ep.host_mac = Some("02:00".into());
        assert_eq!(host_mac(&ep), Err(InvalidEndpoint::Mac("02:00".into())));
    }

    #[test]
    fn malformed_macs_are_rejected() {
        for mac in [
            "",
            "0a:58:0a:f4:01",
            "0a:58:0a:f4:01:05:06",
            "0a:58:0a:f4:01:zz",
            "a:58:0a:f4:01:055",
        ] {
            let mut ep = endpoint("a", "10.0.0.2/32");
            ep.mac = mac.into();
            assert_eq!(
                pod_interface(&ep, 1),
                Err(InvalidEndpoint::Mac(mac.into())),
                "{mac}"
            );
        }
    }
}
