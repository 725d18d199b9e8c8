//! The lab's underlay address plan per mode: which nodes share which
//! 198.18.x.0/24 subnet (and bridge), the router joining two subnets in
//! `auto` mode, and the "world" host outside the cluster. A dual-stack lab
//! gives every host an IPv6 address too, from the IPv6 benchmarking range
//! 2001:2::/48 (RFC 5180): 2001:2:0:x::/64 beside 198.18.x.0/24.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::names::{LabName, node_name};

/// How weftd connects nodes (passed to every weftd as `--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Vxlan,
    Direct,
    /// Direct where nodes share a subnet, VXLAN otherwise; the lab puts the
    /// nodes on two subnets joined by a router so both cases occur.
    Auto,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Vxlan => "vxlan",
            Mode::Direct => "direct",
            Mode::Auto => "auto",
        })
    }
}

/// Which address families the lab's underlay, pods and Services have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    #[default]
    Ipv4,
    Ipv6,
    Dual,
}

impl IpFamily {
    pub fn has_ipv6(self) -> bool {
        self != IpFamily::Ipv4
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
            IpFamily::Dual => "dual",
        })
    }
}

/// Every IPv6 underlay address of every lab lies in here (RFC 5180).
pub const UNDERLAY_RANGE6: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48);

/// Most nodes a lab may have (addresses .11 up to .110 of a /24).
pub const MAX_NODES: usize = 100;
/// Host part of node k's underlay address is `NODE_HOST_BASE + k`.
const NODE_HOST_BASE: u8 = 10;
/// The router's host part on every subnet.
const ROUTER_HOST: u8 = 1;
/// The control plane's host part on the first subnet, where every node
/// reaches it (the nodes of the second subnet through the router).
const CONTROL_PLANE_HOST: u8 = 2;
/// The name `exec --node` knows the control-plane host by.
pub const CONTROL_PLANE: &str = "control-plane";
/// The world host's address on the first subnet.
const WORLD_HOST: u8 = 254;
/// The underlay interface inside every lab netns.
pub const UNDERLAY_IFNAME: &str = "eth0";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("--nodes must be between 1 and {MAX_NODES}, got {0}")]
    NodeCount(usize),
    #[error("--cluster-cidr {given} has host bits set; did you mean {network}?")]
    HostBits { given: Ipv4Net, network: Ipv4Net },
    #[error("--cluster-cidr {0} overlaps the lab underlay {UNDERLAY_RANGE}")]
    OverlapsUnderlay(Ipv4Net),
}

/// Every underlay address of every lab lies in here (RFC 2544).
pub const UNDERLAY_RANGE: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(198, 18, 0, 0), 15);

/// A cluster CIDR must be a network address outside the underlay.
pub fn check_cluster_cidr(cidr: Ipv4Net) -> Result<(), TopologyError> {
    if cidr.trunc() != cidr {
        return Err(TopologyError::HostBits {
            given: cidr,
            network: cidr.trunc(),
        });
    }
    if cidr.contains(&UNDERLAY_RANGE) || UNDERLAY_RANGE.contains(&cidr) {
        return Err(TopologyError::OverlapsUnderlay(cidr));
    }
    Ok(())
}

/// One underlay subnet: a bridge in the fabric netns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub cidr: Ipv4Net,
    /// Its IPv6 prefix, in a lab with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr6: Option<Ipv6Net>,
    pub bridge: String,
}

/// A host attached to the fabric: a node, the router or the world host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Index into `Topology::subnets`.
    pub subnet: usize,
    pub ip: Ipv4Addr,
    /// Its IPv6 address, in a lab with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// Interface name inside the host's netns.
    pub ifname: String,
    /// The veth end on the fabric bridge.
    pub fabric_ifname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub name: String,
    pub netns: String,
    pub attachments: Vec<Attachment>,
    /// Routes to other subnets: (destination, gateway).
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// The same for the subnets' IPv6 prefixes, in a lab with IPv6.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes6: Vec<(Ipv6Net, Ipv6Addr)>,
    /// Whether the host forwards packets (nodes and the router do).
    pub forwards: bool,
}

impl Host {
    /// The address on the host's first (for nodes: only) underlay interface.
    pub fn underlay_ip(&self) -> Option<Ipv4Addr> {
        self.attachments.first().map(|a| a.ip)
    }

    /// The IPv6 address on that interface, in a lab with IPv6.
    pub fn underlay_ip6(&self) -> Option<Ipv6Addr> {
        self.attachments.first().and_then(|a| a.ip6)
    }
}

/// The whole underlay of one lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub mode: Mode,
    pub fabric_netns: String,
    pub subnets: Vec<Subnet>,
    pub nodes: Vec<Host>,
    pub router: Option<Host>,
    pub world: Host,
    /// The host of the Kubernetes control plane (kubernetes datastore);
    /// absent from the state of labs made before it existed.
    #[serde(default)]
    pub control_plane: Option<Host>,
    /// Labs made before the choice existed are IPv4 labs.
    #[serde(default)]
    pub family: IpFamily,
}

impl Topology {
    /// Plans `count` nodes for `mode`: one subnet, or for `auto` the first
    /// half of the nodes on 198.18.0.0/24 and the rest on 198.18.1.0/24.
    pub fn plan(name: &LabName, count: usize, mode: Mode) -> Result<Self, TopologyError> {
        if !(1..=MAX_NODES).contains(&count) {
            return Err(TopologyError::NodeCount(count));
        }
        let subnet_count = if mode == Mode::Auto { 2 } else { 1 };
        let subnets: Vec<Subnet> = (0..subnet_count)
            .map(|i| Subnet {
                cidr: subnet_cidr(i),
                cidr6: None,
                bridge: format!("br{i}"),
            })
            .collect();
        let first_half = count.div_ceil(subnet_count);
        let router_ip = |subnet: usize| host_ip(subnet, ROUTER_HOST);
        let routes_from = |subnet: usize| -> Vec<(Ipv4Net, Ipv4Addr)> {
            (0..subnet_count)
                .filter(|other| *other != subnet)
                .map(|other| (subnet_cidr(other), router_ip(subnet)))
                .collect()
        };
        let nodes = (1..=count)
            .map(|k| {
                let subnet = if k <= first_half { 0 } else { 1 };
                let name_k = node_name(k);
                // k <= MAX_NODES keeps the host part below 255.
                let host = NODE_HOST_BASE + k as u8;
                Host {
                    netns: name.node_netns(&name_k),
                    attachments: vec![attachment(subnet, host, UNDERLAY_IFNAME, &name_k)],
                    routes: routes_from(subnet),
                    routes6: Vec::new(),
                    forwards: true,
                    name: name_k,
                }
            })
            .collect();
        let router = (mode == Mode::Auto).then(|| Host {
            name: "router".into(),
            netns: name.router_netns(),
            attachments: (0..subnet_count)
                .map(|s| attachment(s, ROUTER_HOST, &format!("eth{s}"), &format!("router{s}")))
                .collect(),
            routes: Vec::new(),
            routes6: Vec::new(),
            forwards: true,
        });
        let world = Host {
            name: "world".into(),
            netns: name.world_netns(),
            attachments: vec![attachment(0, WORLD_HOST, UNDERLAY_IFNAME, "world")],
            routes: routes_from(0),
            routes6: Vec::new(),
            forwards: false,
        };
        Ok(Topology {
            mode,
            fabric_netns: name.fabric_netns(),
            subnets,
            nodes,
            router,
            world,
            control_plane: None,
            family: IpFamily::Ipv4,
        })
    }

    /// Gives every subnet its IPv6 prefix and every host its IPv6 address
    /// and routes, mirroring the IPv4 plan (call after `with_control_plane`).
    pub fn with_family(mut self, family: IpFamily) -> Self {
        self.family = family;
        if !family.has_ipv6() {
            return self;
        }
        for (index, subnet) in self.subnets.iter_mut().enumerate() {
            subnet.cidr6 = Some(subnet_cidr6(index));
        }
        let subnet_count = self.subnets.len();
        let hosts = self
            .nodes
            .iter_mut()
            .chain(self.router.iter_mut())
            .chain(std::iter::once(&mut self.world))
            .chain(self.control_plane.iter_mut());
        for host in hosts {
            for attachment in &mut host.attachments {
                let host_part = attachment.ip.octets()[3];
                attachment.ip6 = Some(host_ip6(attachment.subnet, host_part));
            }
            host.routes6 = host
                .routes
                .iter()
                .filter_map(|(_, gateway)| {
                    let from = usize::from(gateway.octets()[2]);
                    (0..subnet_count)
                        .find(|other| *other != from)
                        .map(|other| (subnet_cidr6(other), host_ip6(from, gateway.octets()[3])))
                })
                .collect();
        }
        self
    }

    /// Adds the control-plane host on the first subnet, routed to the
    /// others through the router like the world host.
    pub fn with_control_plane(self, name: &LabName) -> Self {
        let control_plane = Host {
            name: CONTROL_PLANE.into(),
            netns: name.control_plane_netns(),
            attachments: vec![attachment(0, CONTROL_PLANE_HOST, UNDERLAY_IFNAME, "cp")],
            routes: self.world.routes.clone(),
            routes6: Vec::new(),
            forwards: false,
        };
        Self {
            control_plane: Some(control_plane),
            ..self
        }
    }

    /// Every host attached to the fabric, nodes first.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.nodes
            .iter()
            .chain(self.router.iter())
            .chain(std::iter::once(&self.world))
            .chain(self.control_plane.iter())
    }

    /// The API server's address on the fabric (kubernetes datastore): its
    /// IPv6 one in an IPv6 lab.
    pub fn control_plane_ip(&self) -> Option<std::net::IpAddr> {
        self.primary_ip(self.control_plane.as_ref()?)
    }

    /// Every netns of the lab's infrastructure, the fabric first.
    pub fn netns_names(&self) -> Vec<String> {
        std::iter::once(self.fabric_netns.clone())
            .chain(self.hosts().map(|h| h.netns.clone()))
            .collect()
    }

    pub fn node(&self, name: &str) -> Option<&Host> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The host `exec --node` means: a node, "world" or "router".
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts().find(|h| h.name == name)
    }

    pub fn world_ip(&self) -> Ipv4Addr {
        host_ip(0, WORLD_HOST)
    }

    /// A host's primary underlay address: its IPv6 one in an IPv6 lab.
    pub fn primary_ip(&self, host: &Host) -> Option<std::net::IpAddr> {
        if self.family == IpFamily::Ipv6 {
            host.underlay_ip6().map(Into::into)
        } else {
            host.underlay_ip().map(Into::into)
        }
    }

    /// A host's underlay addresses, its primary first: both in a
    /// dual-stack lab.
    pub fn underlay_ips(&self, host: &Host) -> Vec<std::net::IpAddr> {
        let mut ips: Vec<std::net::IpAddr> = self.primary_ip(host).into_iter().collect();
        if self.family == IpFamily::Dual {
            ips.extend(host.underlay_ip6().map(std::net::IpAddr::from));
        }
        ips
    }

    /// The world host's IPv6 address, in a lab with IPv6.
    pub fn world_ip6(&self) -> Option<Ipv6Addr> {
        self.world.underlay_ip6()
    }
}

fn subnet_cidr6(index: usize) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 2, 0, index as u16, 0, 0, 0, 0), 64)
}

fn host_ip6(subnet: usize, host: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, subnet as u16, 0, 0, 0, u16::from(host))
}

fn subnet_cidr(index: usize) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(198, 18, index as u8, 0), 24)
}

fn host_ip(subnet: usize, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, subnet as u8, host)
}

fn attachment(subnet: usize, host: u8, ifname: &str, fabric_suffix: &str) -> Attachment {
    Attachment {
        subnet,
        ip: host_ip(subnet, host),
        ip6: None,
        ifname: ifname.to_owned(),
        fabric_ifname: format!("v-{fabric_suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> LabName {
        "t1".parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn vxlan_puts_every_node_on_one_subnet() {
        let topo = Topology::plan(&lab(), 3, Mode::Vxlan).unwrap();
        assert_eq!(topo.subnets.len(), 1);
        assert_eq!(topo.subnets[0].cidr.to_string(), "198.18.0.0/24");
        let ips: Vec<_> = topo.nodes.iter().map(|n| n.underlay_ip()).collect();
        assert_eq!(
            ips,
            vec![
                Some(ip("198.18.0.11")),
                Some(ip("198.18.0.12")),
                Some(ip("198.18.0.13"))
            ]
        );
        assert!(topo.nodes.iter().all(|n| n.routes.is_empty()));
        assert_eq!(topo.node_names(), vec!["n1", "n2", "n3"]);
        assert_eq!(topo.nodes[1].netns, "t1-n2");
        assert_eq!(topo.nodes[1].attachments[0].fabric_ifname, "v-n2");
        assert!(topo.router.is_none());
        assert_eq!(
            topo.netns_names(),
            vec!["t1-fabric", "t1-n1", "t1-n2", "t1-n3", "t1-world"]
        );
    }

    #[test]
    fn auto_splits_nodes_over_two_subnets_joined_by_a_router() {
        let topo = Topology::plan(&lab(), 3, Mode::Auto).unwrap();
        assert_eq!(topo.subnets.len(), 2);
        let ips: Vec<_> = topo.nodes.iter().map(|n| n.underlay_ip()).collect();
        assert_eq!(
            ips,
            vec![
                Some(ip("198.18.0.11")),
                Some(ip("198.18.0.12")),
                Some(ip("198.18.1.13"))
            ]
        );
        let router = topo.router.as_ref().unwrap();
        assert_eq!(router.attachments[0].ip, ip("198.18.0.1"));
        assert_eq!(router.attachments[1].ip, ip("198.18.1.1"));
        assert_eq!(router.attachments[1].ifname, "eth1");
        assert!(router.forwards);
        assert_eq!(
            topo.nodes[0].routes,
            vec![("198.18.1.0/24".parse().unwrap(), ip("198.18.0.1"))]
        );
        assert_eq!(
            topo.nodes[2].routes,
            vec![("198.18.0.0/24".parse().unwrap(), ip("198.18.1.1"))]
        );
        assert_eq!(topo.world.routes, topo.nodes[0].routes);
        assert!(topo.netns_names().contains(&"t1-router".to_string()));
    }

    #[test]
    fn the_world_sits_outside_the_nodes_on_the_first_subnet() {
        let topo = Topology::plan(&lab(), 2, Mode::Direct).unwrap();
        assert_eq!(topo.world.underlay_ip(), Some(ip("198.18.0.254")));
        assert_eq!(topo.world_ip(), ip("198.18.0.254"));
        assert!(!topo.world.forwards);
        assert_eq!(topo.host("world").unwrap().netns, "t1-world");
        assert_eq!(topo.host("n2").unwrap().netns, "t1-n2");
        assert!(topo.host("n3").is_none());
    }

    #[test]
    fn node_count_is_bounded() {
        assert_eq!(
            Topology::plan(&lab(), 0, Mode::Vxlan),
            Err(TopologyError::NodeCount(0))
        );
        assert!(Topology::plan(&lab(), MAX_NODES, Mode::Vxlan).is_ok());
        assert_eq!(
            Topology::plan(&lab(), MAX_NODES + 1, Mode::Auto),
            Err(TopologyError::NodeCount(MAX_NODES + 1))
        );
    }

    #[test]
    fn cluster_cidrs_stay_off_the_underlay() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(check_cluster_cidr(net("10.244.0.0/16")), Ok(()));
        assert_eq!(
            check_cluster_cidr(net("10.244.1.0/16")),
            Err(TopologyError::HostBits {
                given: net("10.244.1.0/16"),
                network: net("10.244.0.0/16")
            })
        );
        for overlapping in ["198.19.0.0/16", "198.0.0.0/8", "198.18.0.0/15"] {
            assert_eq!(
                check_cluster_cidr(net(overlapping)),
                Err(TopologyError::OverlapsUnderlay(net(overlapping)))
            );
        }
    }

    #[test]
    fn the_control_plane_sits_on_the_first_subnet_reachable_from_every_node() {
        let topo = Topology::plan(&lab(), 3, Mode::Auto)
            .unwrap()
            .with_control_plane(&lab());
        let cp = topo.control_plane.as_ref().unwrap();
        assert_eq!(cp.netns, "t1-control-plane");
        assert_eq!(topo.control_plane_ip(), Some(ip("198.18.0.2").into()));
        assert_eq!(cp.attachments[0].fabric_ifname, "v-cp");
        assert_eq!(
            cp.routes,
            vec![("198.18.1.0/24".parse().unwrap(), ip("198.18.0.1"))]
        );
        assert!(!cp.forwards);
        assert_eq!(topo.host(CONTROL_PLANE).unwrap().netns, "t1-control-plane");
        assert_eq!(topo.netns_names().last().unwrap(), "t1-control-plane");
        let every_ip: Vec<_> = topo.hosts().filter_map(Host::underlay_ip).collect();
        let distinct: std::collections::BTreeSet<_> = every_ip.iter().collect();
        assert_eq!(distinct.len(), every_ip.len(), "{every_ip:?}");
        assert_eq!(
            Topology::plan(&lab(), 1, Mode::Vxlan)
                .unwrap()
                .control_plane_ip(),
            None
        );
        let ipv6 = topo.with_family(IpFamily::Ipv6);
        assert_eq!(
            ipv6.control_plane_ip(),
            Some("2001:2::2".parse().unwrap()),
            "an IPv6 lab's API server is reached over IPv6"
        );
    }

    #[test]
    fn one_node_in_auto_mode_stays_on_the_first_subnet() {
        let topo = Topology::plan(&lab(), 1, Mode::Auto).unwrap();
        assert_eq!(topo.nodes[0].underlay_ip(), Some(ip("198.18.0.11")));
    }
}
