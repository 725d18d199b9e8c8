//! CHECK's comparisons, pure: what prevResult, the IPAM reservation and the
//! observed interfaces must agree on. Each returns human-readable problems.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::naming::Mac;
use crate::result::CniResult;

/// The pod interface as read back from the pod netns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInterface {
    pub mac: Option<Mac>,
    pub up: bool,
    pub addresses: Vec<IpNet>,
}

/// What prevResult says about our pod interface, for the kernel checks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    pub mac: Option<Mac>,
}

/// prevResult must list `ifname` in `netns` with exactly the reserved IPs.
pub fn prev_result_problems(
    prev: &CniResult,
    ifname: &str,
    netns: &str,
    reserved: &[IpAddr],
) -> (Expected, Vec<String>) {
    let Some((index, interface)) = prev
        .interfaces
        .iter()
        .enumerate()
        .find(|(_, i)| i.name == ifname && i.sandbox.as_deref() == Some(netns))
    else {
        return (
            Expected::default(),
            vec![format!("prevResult has no interface {ifname} in {netns}")],
        );
    };
    let listed: Vec<IpAddr> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(index))
        .map(|ip| ip.address.addr())
        .collect();
    let mut problems = Vec::new();
    for ip in reserved.iter().filter(|ip| !listed.contains(ip)) {
        problems.push(format!("reserved IP {ip} is missing from prevResult"));
    }
    for ip in listed.iter().filter(|ip| !reserved.contains(ip)) {
        problems.push(format!(
            "prevResult IP {ip} is not reserved for this attachment"
        ));
    }
    let mac = match interface.mac.as_deref().map(str::parse::<Mac>) {
        None => None,
        Some(Ok(mac)) => Some(mac),
        Some(Err(err)) => {
            problems.push(format!("prevResult: {err}"));
            None
        }
    };
    (Expected { mac }, problems)
}

/// The host veth must exist and be up.
pub fn host_problems(host_ifname: &str, observed_up: Option<bool>) -> Vec<String> {
    match observed_up {
        None => vec![format!("host veth {host_ifname} does not exist")],
        Some(false) => vec![format!("host veth {host_ifname} is down")],
        Some(true) => Vec::new(),
    }
}

/// The pod interface must exist, be up, carry every reserved IP as /32 or
/// /128, and have the MAC prevResult reported.
pub fn pod_problems(
    ifname: &str,
    observed: Option<&ObservedInterface>,
    reserved: &[IpAddr],
    expected: &Expected,
) -> Vec<String> {
    let Some(observed) = observed else {
        return vec![format!(
            "interface {ifname} does not exist in the pod netns"
        )];
    };
    let mut problems = Vec::new();
    if !observed.up {
        problems.push(format!("interface {ifname} is down"));
    }
    for address in reserved.iter().map(|ip| IpNet::from(*ip)) {
        if !observed.addresses.contains(&address) {
            problems.push(format!("address {address} is missing on {ifname}"));
        }
    }
    if let Some(mac) = expected.mac.filter(|mac| observed.mac != Some(*mac)) {
        problems.push(format!(
            "{ifname} has MAC {}, prevResult says {mac}",
            observed
                .mac
                .map_or_else(|| "none".into(), |m| m.to_string())
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NETNS: &str = "/run/netns/p";

    fn prev() -> CniResult {
        serde_json::from_value(json!({
            "interfaces": [
                {"name": "weftabc", "mac": "02:00:00:00:00:01"},
                {"name": "eth0", "mac": "06:00:00:00:00:02", "sandbox": NETNS}
            ],
            "ips": [{"address": "10.1.0.5/32", "interface": 1}]
        }))
        .unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn matching_prev_result_has_no_problems_and_yields_the_mac() {
        let (expected, problems) = prev_result_problems(&prev(), "eth0", NETNS, &[ip("10.1.0.5")]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(expected.mac, Some(Mac([6, 0, 0, 0, 0, 2])));
    }

    #[test]
    fn prev_result_without_our_interface_is_a_problem() {
        let (_, problems) = prev_result_problems(&prev(), "eth1", NETNS, &[ip("10.1.0.5")]);
        assert_eq!(
            problems,
            ["prevResult has no interface eth1 in /run/netns/p"]
        );
        let (_, problems) =
            prev_result_problems(&prev(), "eth0", "/run/netns/q", &[ip("10.1.0.5")]);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn ip_mismatch_in_either_direction_is_reported() {
        let (_, problems) = prev_result_problems(&prev(), "eth0", NETNS, &[ip("10.1.0.6")]);
        assert_eq!(
            problems,
            [
                "reserved IP 10.1.0.6 is missing from prevResult",
                "prevResult IP 10.1.0.5 is not reserved for this attachment"
            ]
        );
    }

    #[test]
    fn host_veth_must_exist_and_be_up() {
        assert!(host_problems("weftabc", Some(true)).is_empty());
        assert_eq!(
            host_problems("weftabc", Some(false)),
            ["host veth weftabc is down"]
        );
        assert_eq!(
            host_problems("weftabc", None),
            ["host veth weftabc does not exist"]
        );
    }

    fn observed() -> ObservedInterface {
        ObservedInterface {
            mac: Some(Mac([6, 0, 0, 0, 0, 2])),
            up: true,
            addresses: vec![
                "10.1.0.5/32".parse().unwrap(),
                "fe80::1234/64".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn healthy_pod_interface_has_no_problems() {
        let expected = Expected {
            mac: Some(Mac([6, 0, 0, 0, 0, 2])),
        };
        assert!(pod_problems("eth0", Some(&observed()), &[ip("10.1.0.5")], &expected).is_empty());
    }

    #[test]
    fn pod_interface_problems_are_all_reported() {
        let mut broken = observed();
        broken.up = false;
        broken.addresses.clear();
        broken.mac = Some(Mac([6, 0, 0, 0, 0, 9]));
        let expected = Expected {
            mac: Some(Mac([6, 0, 0, 0, 0, 2])),
        };
        let problems = pod_problems("eth0", Some(&broken), &[ip("10.1.0.5")], &expected);
        assert_eq!(
            problems,
            [
                "interface eth0 is down",
                "address 10.1.0.5/32 is missing on eth0",
                "eth0 has MAC 06:00:00:00:00:09, prevResult says 06:00:00:00:00:02"
            ]
        );
        assert_eq!(
            pod_problems("eth0", None, &[], &Expected::default()),
            ["interface eth0 does not exist in the pod netns"]
        );
    }
}
