//! The entries Weft manages on a node (the VXLAN device, routes, neighbours,
//! FDB entries), in the one shape both the desired state and the state read
//! from the kernel take, so that comparing them is plain equality.

use std::net::IpAddr;

use ipnet::IpNet;

/// The route protocol (`RTPROT_*`) of every route Weft installs, and how it
/// recognises its own routes: `ip route show proto 87`. 87 is ASCII 'W'; it is
/// not in iproute2's rt_protos and no routing daemon we know of uses it.
pub const ROUTE_PROTOCOL: u8 = 87;

/// The settings that fix a VXLAN device at creation; changing one means
/// recreating the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanParams {
    pub vni: u32,
    pub port: u16,
    /// Source address of the encapsulated packets.
    pub local: IpAddr,
    /// The interface the encapsulated packets leave through.
    pub underlay_ifname: String,
    pub learning: bool,
}

/// The VXLAN device as Weft wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanDevice {
    pub name: String,
    pub params: VxlanParams,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub addresses: Vec<IpNet>,
}

/// The device found under the VXLAN device's name. `params` is `None` when it
/// is not a VXLAN device or lacks one of the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDevice {
    pub name: String,
    pub params: Option<VxlanParams>,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    pub up: bool,
    /// Its addresses, IPv6 link-local ones left out (the kernel owns those).
    pub addresses: Vec<IpNet>,
}

/// A route of Weft's protocol in the main table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub destination: IpNet,
    pub next_hop: NextHop,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NextHop {
    /// `via ADDRESS dev DEVICE [onlink]`.
    Gateway {
        address: IpAddr,
        device: String,
        onlink: bool,
    },
    /// `unreachable`: answered with an ICMP error instead of leaving the node.
    Unreachable,
    /// A route of Weft's protocol that Weft never makes (multipath, blackhole, ...).
    Unrecognised,
}

impl NextHop {
    /// The device the route sends through, if any.
    pub fn device(&self) -> Option<&str> {
        match self {
            Self::Gateway { device, .. } => Some(device),
            Self::Unreachable | Self::Unrecognised => None,
        }
    }
}

/// A permanent neighbour entry on the VXLAN device: a peer's VTEP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Neighbour {
    pub address: IpAddr,
    pub mac: [u8; 6],
}

/// A neighbour entry found on the VXLAN device, in whatever state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNeighbour {
    pub address: IpAddr,
    pub mac: Option<[u8; 6]>,
    pub permanent: bool,
}

/// A forwarding entry on the VXLAN device: frames for `mac` are sent to `remote`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbEntry {
    pub mac: [u8; 6],
    pub remote: IpAddr,
}

/// What the kernel holds of Weft's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedNetwork {
    pub device: Option<ObservedDevice>,
    pub routes: Vec<Route>,
    pub neighbours: Vec<ObservedNeighbour>,
    pub fdb: Vec<FdbEntry>,
}
