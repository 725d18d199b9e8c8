//! The iptables + ipset reference, shaped as iptables-based CNIs (Calico,
//! kube-router) generate policy for a pod: a FORWARD jump for packets to
//! the pod's host veth into a per-pod chain that accepts established flows
//! first, then walks one rule per policy peer (one hash:ip ipset each,
//! the allowed client's set last), then drops. The scripts are pure; the
//! guard loads them with `ipset restore` / `iptables-restore --noflush`
//! in the server's node netns and removes them again when dropped.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;

use anyhow::{Context, bail};

use crate::netns::NsPath;

const CHAIN: &str = "WEFT-BENCH-POLICY";
const SET_PREFIX: &str = "wbp-";

/// One rule per peer address, in order, each allowing TCP to `ports`.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub host_veth: String,
    pub peers: Vec<Ipv4Addr>,
    pub ports: Vec<u16>,
}

impl Ruleset {
    /// `ipset restore` input: one hash:ip set per peer.
    pub fn ipset_script(&self) -> String {
        self.peers
            .iter()
            .enumerate()
            .map(|(k, ip)| format!("create {SET_PREFIX}{k} hash:ip\nadd {SET_PREFIX}{k} {ip}\n"))
            .collect()
    }

    /// `iptables-restore --noflush` input: the jump (first in FORWARD)
    /// and the chain.
    pub fn iptables_script(&self) -> String {
        let ports = self
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut script = format!(
            "*filter\n:{CHAIN} - [0:0]\n-I FORWARD 1 -o {} -j {CHAIN}\n-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n",
            self.host_veth
        );
        for k in 0..self.peers.len() {
            script.push_str(&format!(
                "-A {CHAIN} -p tcp -m set --match-set {SET_PREFIX}{k} src -m multiport --dports {ports} -j ACCEPT\n"
            ));
        }
        script.push_str(&format!("-A {CHAIN} -j DROP\nCOMMIT\n"));
        script
    }

    /// Removes the jump and the chain.
    pub fn iptables_removal(&self) -> String {
        format!(
            "*filter\n-D FORWARD -o {} -j {CHAIN}\n-F {CHAIN}\n-X {CHAIN}\nCOMMIT\n",
            self.host_veth
        )
    }

    /// Destroys the sets (after the rules that use them are gone).
    pub fn ipset_removal(&self) -> String {
        (0..self.peers.len())
            .map(|k| format!("destroy {SET_PREFIX}{k}\n"))
            .collect()
    }
}

/// Which iptables loads the rules: the machine's default or the legacy
/// (x_tables) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    Default,
    Legacy,
}

impl Backend {
    fn restore(self) -> &'static str {
        match self {
            Backend::Default => "iptables-restore",
            Backend::Legacy => "iptables-legacy-restore",
        }
    }

    /// `iptables --version` of this backend, e.g. "iptables v1.8.9 (nf_tables)".
    pub fn version(self, node: &NsPath) -> anyhow::Result<String> {
        let program = match self {
            Backend::Default => "iptables",
            Backend::Legacy => "iptables-legacy",
        };
        Ok(node.run(program, &["--version"])?.trim().to_owned())
    }
}

/// A loaded ruleset; removed when dropped.
pub struct LoadedRules {
    node: NsPath,
    backend: Backend,
    rules: Ruleset,
}

impl LoadedRules {
    pub fn load(node: &NsPath, backend: Backend, rules: Ruleset) -> anyhow::Result<Self> {
        run_with_input(node, "ipset", &["restore"], &rules.ipset_script())?;
        let loaded = LoadedRules {
            node: node.clone(),
            backend,
            rules,
        };
        run_with_input(
            node,
            backend.restore(),
            &["--noflush"],
            &loaded.rules.iptables_script(),
        )?;
        Ok(loaded)
    }

    fn remove(&self) -> anyhow::Result<()> {
        // The sets go even when the chain could not: nothing else uses them.
        let chain = run_with_input(
            &self.node,
            self.backend.restore(),
            &["--noflush"],
            &self.rules.iptables_removal(),
        );
        run_with_input(
            &self.node,
            "ipset",
            &["restore"],
            &self.rules.ipset_removal(),
        )?;
        chain
    }
}

impl Drop for LoadedRules {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("removing the iptables reference rules: {e:#}");
        }
    }
}

/// Runs `program args` in `netns` with `input` on its stdin.
fn run_with_input(netns: &NsPath, program: &str, args: &[&str], input: &str) -> anyhow::Result<()> {
    let mut child = netns
        .command(program, args)?
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    let written = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    written.with_context(|| format!("writing to {program}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_peers() -> Ruleset {
        Ruleset {
            host_veth: "weft1234".into(),
            peers: vec![Ipv4Addr::new(10, 250, 0, 1), Ipv4Addr::new(10, 244, 2, 7)],
            ports: vec![5201, 7007],
        }
    }

    #[test]
    fn one_set_per_peer_in_order() {
        assert_eq!(
            two_peers().ipset_script(),
            "create wbp-0 hash:ip\nadd wbp-0 10.250.0.1\ncreate wbp-1 hash:ip\nadd wbp-1 10.244.2.7\n"
        );
        assert_eq!(
            two_peers().ipset_removal(),
            "destroy wbp-0\ndestroy wbp-1\n"
        );
    }

    #[test]
    fn established_first_then_peers_in_order_then_drop() {
        let script = two_peers().iptables_script();
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(
            lines,
            vec![
                "*filter",
                ":WEFT-BENCH-POLICY - [0:0]",
                "-I FORWARD 1 -o weft1234 -j WEFT-BENCH-POLICY",
                "-A WEFT-BENCH-POLICY -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                "-A WEFT-BENCH-POLICY -p tcp -m set --match-set wbp-0 src -m multiport --dports 5201,7007 -j ACCEPT",
                "-A WEFT-BENCH-POLICY -p tcp -m set --match-set wbp-1 src -m multiport --dports 5201,7007 -j ACCEPT",
                "-A WEFT-BENCH-POLICY -j DROP",
                "COMMIT",
            ]
        );
    }

    #[test]
    fn removal_undoes_the_jump_and_the_chain() {
        assert_eq!(
            two_peers().iptables_removal(),
            "*filter\n-D FORWARD -o weft1234 -j WEFT-BENCH-POLICY\n-F WEFT-BENCH-POLICY\n-X WEFT-BENCH-POLICY\nCOMMIT\n"
        );
    }
}
