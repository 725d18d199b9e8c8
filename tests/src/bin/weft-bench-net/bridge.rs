//! The same-node reference: two pods wired by the reference `bridge` +
//! `host-local` plugins inside a node netns of this run, invoked the way a
//! runtime invokes them. Everything goes with the namespaces when dropped.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use tempfile::TempDir;
use weft_tests::{CniCall, Netns};

use crate::netns::NsPath;

/// The reference pods' subnet: benchmark addresses, inside this run's own netns.
const SUBNET: &str = "198.19.128.0/24";
const PLUGIN_DIR: &str = "/usr/lib/cni";

pub struct BridgePods {
    pub pods: [(NsPath, IpAddr); 2],
    // Dropped after `_pods`: the node netns holds the bridge the pods hang on.
    _pods: [Netns; 2],
    _node: Netns,
    _ipam: TempDir,
}

impl BridgePods {
    /// Two pods on one bridge, their interfaces with `mtu`.
    pub fn wire(mtu: u32) -> anyhow::Result<Self> {
        let node = Netns::new("brnode");
        let ipam = tempfile::tempdir().context("a host-local data dir")?;
        // ipMasq like weft's masquerade: both nodes then track connections,
        // as every node with kube-proxy does.
        let conf = json!({
            "cniVersion": "1.0.0", "name": "ref", "type": "bridge",
            "bridge": "benchbr0", "isGateway": true, "ipMasq": true, "mtu": mtu,
            "ipam": {"type": "host-local", "subnet": SUBNET, "dataDir": ipam.path()},
        });
        let pods = [Netns::new("brpod"), Netns::new("brpod")];
        let mut wired = Vec::new();
        for (i, pod) in pods.iter().enumerate() {
            let ip = add(&node, pod, &format!("bench{i}"), &conf)?;
            wired.push((NsPath::named(&pod.name), ip));
        }
        let pods_wired: [(NsPath, IpAddr); 2] = wired
            .try_into()
            .map_err(|_| anyhow!("two pods are wired"))?;
        Ok(BridgePods {
            pods: pods_wired,
            _pods: pods,
            _node: node,
            _ipam: ipam,
        })
    }
}

/// CNI ADD of `pod`; its IP from the result.
fn add(node: &Netns, pod: &Netns, id: &str, conf: &Value) -> anyhow::Result<IpAddr> {
    let netns = pod.path();
    let out = CniCall {
        plugin: &Path::new(PLUGIN_DIR).join("bridge"),
        command: "ADD",
        container_id: id,
        netns: &netns,
        ifname: "eth0",
        args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=ref",
        cni_path: PLUGIN_DIR,
    }
    .run_in(node, conf);
    if !out.success {
        bail!("bridge ADD failed: {}{}", out.stdout, out.stderr);
    }
    result_ip(&out.json())
}

/// The first address of a CNI result, without its prefix length.
fn result_ip(result: &Value) -> anyhow::Result<IpAddr> {
    let address = result["ips"][0]["address"]
        .as_str()
        .ok_or_else(|| anyhow!("the CNI result has no ips[0].address: {result}"))?;
    let ip = address.split('/').next().unwrap_or(address);
    ip.parse()
        .with_context(|| format!("{address:?} is not an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_first_result_address() {
        let result = json!({"ips": [{"address": "198.19.128.2/24"}, {"address": "fd00::2/64"}]});
        assert_eq!(result_ip(&result).unwrap().to_string(), "198.19.128.2");
        assert!(result_ip(&json!({"ips": []})).is_err());
    }
}
