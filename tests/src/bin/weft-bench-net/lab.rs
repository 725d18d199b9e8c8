//! A weft-lab for one benchmark run, driven through its command line (the
//! LAB.md contract) and always taken down when dropped.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use crate::netns::NsPath;

pub struct BenchLab {
    bin: PathBuf,
    pub name: String,
}

impl BenchLab {
    /// `weft-lab up --nodes N --mode MODE --host-routing HOST_ROUTING
    /// --ip-family dual` on the `dir` datastore (the datapath is the same
    /// on either; this one starts in a second) under a name unique to this
    /// run: every pair can be measured in both families.
    pub fn up(
        bin: PathBuf,
        tag: &str,
        nodes: usize,
        mode: &str,
        host_routing: &str,
    ) -> anyhow::Result<Self> {
        let lab = BenchLab {
            bin,
            name: format!("bn{}{tag}", std::process::id()),
        };
        lab.run(
            &[
                "up",
                "--nodes",
                &nodes.to_string(),
                "--mode",
                mode,
                "--datastore",
                "dir",
                "--host-routing",
                host_routing,
                "--ip-family",
                "dual",
            ],
            None,
        )?;
        Ok(lab)
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        weft_tests::run_weft_lab(&self.bin, &self.name, args, stdin)
    }

    pub fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        self.run(&["apply", "-f", "-"], Some(yaml)).map(drop)
    }

    /// The netns of a pod (`NS/POD`) or, with `--node`, of a node.
    pub fn netns(&self, place: &[&str]) -> anyhow::Result<NsPath> {
        let mut args = vec!["exec"];
        args.extend_from_slice(place);
        args.extend_from_slice(&["--", "ip", "netns", "identify"]);
        let name = self.run(&args, None)?.trim().to_owned();
        if name.is_empty() {
            bail!("no named netns for {place:?}");
        }
        Ok(NsPath::named(&name))
    }

    /// A node's global IPv6 address on its underlay interface.
    pub fn underlay_ip6(&self, node: &str) -> anyhow::Result<IpAddr> {
        let out = self.run(
            &[
                "exec", "--node", node, "--", "ip", "-6", "-j", "addr", "show", "dev", "eth0",
                "scope", "global",
            ],
            None,
        )?;
        let links: Value = serde_json::from_str(&out).context("ip -j addr is not JSON")?;
        links[0]["addr_info"][0]["local"]
            .as_str()
            .ok_or_else(|| anyhow!("node {node} has no global IPv6 underlay address"))?
            .parse()
            .context("an IPv6 underlay address")
    }

    pub fn status(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.run(&["status", "-o", "json"], None)?)
            .context("weft-lab status -o json is not JSON")
    }
}

impl Drop for BenchLab {
    fn drop(&mut self) {
        if let Err(e) = self.run(&["down"], None) {
            eprintln!("taking lab {} down: {e:#}", self.name);
        }
    }
}

/// A pod's first IP in `status -o json`.
pub fn pod_ip(status: &Value, namespace: &str, name: &str) -> anyhow::Result<IpAddr> {
    status["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
        .and_then(|p| p["ips"][0].as_str())
        .ok_or_else(|| anyhow!("status shows no IP for pod {namespace}/{name}"))?
        .parse()
        .context("a pod IP")
}

/// A pod's IPv6 address in `status -o json`.
pub fn pod_ip6(status: &Value, namespace: &str, name: &str) -> anyhow::Result<IpAddr> {
    status["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["namespace"] == namespace && p["name"] == name)
        .and_then(|p| p["ips"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv6)
        .ok_or_else(|| anyhow!("status shows no IPv6 address for pod {namespace}/{name}"))
}

/// A node's underlay IP in `status -o json`.
pub fn node_ip(status: &Value, node: &str) -> anyhow::Result<IpAddr> {
    status["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == node)
        .and_then(|n| n["underlayIP"].as_str())
        .ok_or_else(|| anyhow!("status shows no underlay IP for node {node}"))?
        .parse()
        .context("an underlay IP")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = r#"{"nodes": [{"name": "n1", "underlayIP": "198.18.0.11"}],
        "pods": [{"namespace": "x", "name": "a", "node": "n1", "ips": ["10.244.1.5"]}]}"#;

    #[test]
    fn finds_pod_and_node_addresses() {
        let status: Value = serde_json::from_str(STATUS).unwrap();
        assert_eq!(pod_ip(&status, "x", "a").unwrap().to_string(), "10.244.1.5");
        assert_eq!(node_ip(&status, "n1").unwrap().to_string(), "198.18.0.11");
        assert!(pod_ip(&status, "x", "b").is_err());
        assert!(node_ip(&status, "n2").is_err());
    }
}
