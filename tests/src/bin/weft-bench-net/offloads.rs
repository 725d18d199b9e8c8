//! The offload settings that decide VXLAN and veth performance, read with
//! `ethtool -k` from each interface on the measured path.

use std::collections::BTreeMap;

use crate::netns::NsPath;

/// The features the report shows, in this order.
pub const SHOWN: [&str; 8] = [
    "tcp-segmentation-offload",
    "generic-segmentation-offload",
    "generic-receive-offload",
    "tx-udp_tnl-segmentation",
    "tx-udp_tnl-csum-segmentation",
    "rx-udp-gro-forwarding",
    "rx-gro-list",
    "tx-checksumming",
];

/// One interface's features: name -> "on", "off" or "off [fixed]".
pub fn read(netns: &NsPath, device: &str) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(parse(&netns.run("ethtool", &["-k", device])?))
}

/// Parses `ethtool -k` output ("feature: on [fixed]" lines).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect()
}

/// The host-side interface the node routes `pod_ip` to.
pub fn host_interface(node: &NsPath, pod_ip: &str) -> anyhow::Result<String> {
    let route: serde_json::Value =
        serde_json::from_str(&node.run("ip", &["-j", "route", "get", pod_ip])?)?;
    route[0]["dev"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no route to {pod_ip} in {}", node.0.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_feature_lines() {
        let text = "Features for eth0:\nrx-checksumming: on\n\ttx-checksum-ipv4: off [fixed]\ngeneric-receive-offload: off\n";
        let features = parse(text);
        assert_eq!(features["rx-checksumming"], "on");
        assert_eq!(features["tx-checksum-ipv4"], "off [fixed]");
        assert_eq!(features["generic-receive-offload"], "off");
        assert!(!features.contains_key("Features for eth0"));
    }
}
