//! What the node network is computed from: this node, the other nodes as
//! they publish themselves, and the cluster-wide overlay settings.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// How pod traffic reaches the pods of another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkMode {
    /// Always through the VXLAN device.
    Vxlan,
    /// Plain routes via the other node's underlay IP (one L2 segment).
    Direct,
    /// Direct to nodes in this node's underlay subnet, VXLAN to the rest.
    Auto,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a network mode; use vxlan, direct or auto")]
pub struct UnknownNetworkMode(pub String);

impl FromStr for NetworkMode {
    type Err = UnknownNetworkMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "vxlan" => Ok(Self::Vxlan),
            "direct" => Ok(Self::Direct),
            "auto" => Ok(Self::Auto),
            other => Err(UnknownNetworkMode(other.to_owned())),
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vxlan => "vxlan",
            Self::Direct => "direct",
            Self::Auto => "auto",
        })
    }
}

/// Another node, as far as it has published itself. A peer whose underlay IP
/// or (where VXLAN is needed) VTEP MAC is not known yet is left out until it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerNode {
    pub name: String,
    pub pod_cidrs: Vec<IpNet>,
    /// Its underlay addresses, at most one per family; the first is its
    /// primary one (its VXLAN tunnel's source).
    pub underlay_ips: Vec<IpAddr>,
    pub vtep_mac: Option<[u8; 6]>,
}

impl PeerNode {
    /// Its underlay address of one family (an unspecified one is none).
    pub fn underlay_ip(&self, ipv4: bool) -> Option<IpAddr> {
        self.underlay_ips
            .iter()
            .copied()
            .find(|ip| ip.is_ipv4() == ipv4 && !ip.is_unspecified())
    }
}

/// This node: its pod CIDRs and the underlay interface it reaches the others through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    pub name: String,
    pub pod_cidrs: Vec<IpNet>,
    /// The primary underlay address: IPv4 when the interface has one. The
    /// VXLAN tunnel's source.
    pub underlay_ip: IpAddr,
    /// The subnet of the underlay interface (`auto` goes direct inside it).
    pub underlay_net: IpNet,
    /// The underlay interface's address of the other family, with its
    /// subnet: direct routes of that family's pod CIDRs go through it.
    pub second_underlay: Option<IpNet>,
    pub underlay_ifname: String,
    pub underlay_mtu: u32,
}

impl LocalNode {
    /// Its underlay address of one family, with its subnet.
    pub fn underlay(&self, ipv4: bool) -> Option<IpNet> {
        let primary = IpNet::new(self.underlay_ip, self.underlay_net.prefix_len()).ok();
        primary
            .into_iter()
            .chain(self.second_underlay)
            .find(|net| net.addr().is_ipv4() == ipv4)
    }

    /// Every underlay address, the primary first (what it publishes).
    pub fn underlay_ips(&self) -> Vec<IpAddr> {
        std::iter::once(self.underlay_ip)
            .chain(self.second_underlay.map(|net| net.addr()))
            .collect()
    }
}

pub const DEFAULT_VNI: u32 = 1;
/// The IANA VXLAN port (the kernel's own default, 8472, is Linux-only).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
pub const DEFAULT_VXLAN_DEVICE: &str = "weft.vxlan";

/// Cluster-wide settings of the node network; every node must use the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySettings {
    pub mode: NetworkMode,
    pub vni: u32,
    /// UDP destination port of the VXLAN packets.
    pub port: u16,
    /// Name of the VXLAN device; Weft owns every neighbour and FDB entry on it.
    pub device: String,
    /// Traffic from these to anything outside them is masqueraded.
    pub cluster_cidrs: Vec<IpNet>,
}

impl OverlaySettings {
    /// The defaults (VNI 1, port 4789, device `weft.vxlan`) for a mode and cluster CIDRs.
    pub fn new(mode: NetworkMode, cluster_cidrs: Vec<IpNet>) -> Self {
        Self {
            mode,
            vni: DEFAULT_VNI,
            port: DEFAULT_VXLAN_PORT,
            device: DEFAULT_VXLAN_DEVICE.to_owned(),
            cluster_cidrs,
        }
    }

    /// The UDP port this node's VXLAN packets use, unless the mode never
    /// sends VXLAN.
    pub fn vxlan_port(&self) -> Option<u16> {
        match self.mode {
            NetworkMode::Direct => None,
            NetworkMode::Vxlan | NetworkMode::Auto => Some(self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_their_names() {
        for mode in [NetworkMode::Vxlan, NetworkMode::Direct, NetworkMode::Auto] {
            assert_eq!(mode.to_string().parse::<NetworkMode>(), Ok(mode));
        }
        assert_eq!(
            "VXLAN".parse::<NetworkMode>(),
            Err(UnknownNetworkMode("VXLAN".into()))
        );
    }

    #[test]
    fn only_direct_mode_has_no_vxlan_port() {
        let port = |mode| OverlaySettings::new(mode, vec![]).vxlan_port();
        assert_eq!(port(NetworkMode::Vxlan), Some(4789));
        assert_eq!(port(NetworkMode::Auto), Some(4789));
        assert_eq!(port(NetworkMode::Direct), None);
    }

    #[test]
    fn settings_default_to_vni_1_port_4789_and_weft_vxlan() {
        let settings = OverlaySettings::new(NetworkMode::Auto, vec![]);
        assert_eq!(
            (settings.vni, settings.port, settings.device.as_str()),
            (1, 4789, "weft.vxlan")
        );
    }
}
