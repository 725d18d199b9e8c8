//! What an ADD sets up, decided without touching anything: the pod subnets
//! to reserve from, the MTU, the veth pair with everything that does not
//! depend on the pod IPs (so it can be built while IPAM writes its
//! reservation), and for the reserved IPs the addresses, routes and
//! neighbours on both ends plus the CNI result describing it all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::naming::Mac;
use crate::result::{CniResult, Dns, Interface, IpConfig, Route};

/// The pod's IPv4 next hop: link-local, never on the wire, answered by a
/// permanent neighbour entry for the host veth's MAC.
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The pod's IPv6 next hop, same scheme as IPv4.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// Used when nothing else says what the MTU is.
pub const FALLBACK_MTU: u32 = 1500;

/// The subnets to reserve from: the first of each address family, in the
/// order given (IPAM reserves one address per subnet it is handed).
pub fn one_subnet_per_family(subnets: &[IpNet]) -> Vec<IpNet> {
    let v4 = subnets.iter().find(|s| s.addr().is_ipv4());
    let v6 = subnets.iter().find(|s| s.addr().is_ipv6());
    let mut chosen: Vec<IpNet> = v4.into_iter().chain(v6).copied().collect();
    chosen.sort_by_key(|s| subnets.iter().position(|x| x == s));
    chosen
}

/// Where the pod MTU comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtuChoice {
    Fixed(u32),
    /// Neither the config nor the node network set one: use the MTU of the
    /// host's default-route interface (or [`FALLBACK_MTU`]).
    FromDefaultRoute,
}

/// Precedence: netconf `mtu` > node-network `mtu` > detected.
pub fn choose_mtu(netconf_mtu: Option<u32>, node_network_mtu: Option<u32>) -> MtuChoice {
    netconf_mtu
        .or(node_network_mtu)
        .map_or(MtuChoice::FromDefaultRoute, MtuChoice::Fixed)
}

/// Which address families the pod gets (one IP each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

impl Families {
    pub fn of(subnets: &[IpNet]) -> Families {
        Families {
            v4: subnets.iter().any(|s| s.addr().is_ipv4()),
            v6: subnets.iter().any(|s| s.addr().is_ipv6()),
        }
    }
}

/// The veth pair and what configures it regardless of the pod IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethPlan {
    pub host_ifname: String,
    pub host_mac: Mac,
    pub pod_ifname: String,
    pub pod_mac: Mac,
    pub families: Families,
}

/// A route `dst via gateway dev <pod interface> onlink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayRoute {
    pub dst: IpNet,
    pub gateway: IpAddr,
}

/// A permanent neighbour entry: `ip` is at `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: IpAddr,
    pub mac: Mac,
}

impl VethPlan {
    fn gateways(&self) -> impl Iterator<Item = IpAddr> {
        let v4 = self.families.v4.then_some(IpAddr::V4(GATEWAY_V4));
        let v6 = self.families.v6.then_some(IpAddr::V6(GATEWAY_V6));
        v4.into_iter().chain(v6)
    }

    /// In the pod: the gateway of each family resolves to the host veth.
    pub fn pod_neighbours(&self) -> Vec<Neighbour> {
        self.gateways()
            .map(|ip| Neighbour {
                ip,
                mac: self.host_mac,
            })
            .collect()
    }

    /// In the pod: one default route per family via the gateway.
    pub fn pod_routes(&self) -> Vec<GatewayRoute> {
        self.gateways()
            .map(|gateway| GatewayRoute {
                dst: match gateway {
                    IpAddr::V4(_) => IpNet::V4(Default::default()),
                    IpAddr::V6(_) => IpNet::V6(Default::default()),
                },
                gateway,
            })
            .collect()
    }
}

/// The veth pair with its MTU and the pod's reserved IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiringPlan {
    pub veth: VethPlan,
    pub mtu: u32,
    pub pod_ips: Vec<IpAddr>,
}

impl WiringPlan {
    /// Pod addresses as configured: IPv4 /32, IPv6 /128 (host routes only,
    /// everything goes via the link-local gateway).
    pub fn pod_addresses(&self) -> Vec<IpNet> {
        self.pod_ips.iter().map(|ip| IpNet::from(*ip)).collect()
    }

    /// On the host: each pod address routed to the host veth (scope link).
    pub fn host_routes(&self) -> Vec<IpNet> {
        self.pod_addresses()
    }

    /// On the host: each pod address resolves to the pod's MAC.
    pub fn host_neighbours(&self) -> Vec<Neighbour> {
        self.pod_ips
            .iter()
            .map(|ip| Neighbour {
                ip: *ip,
                mac: self.veth.pod_mac,
            })
            .collect()
    }

    /// Weft's own part of the ADD result: the host veth (no sandbox), the
    /// pod interface (index 1, in `netns`), its addresses and default routes.
    pub fn result(&self, netns: &str, dns: Dns) -> CniResult {
        const POD_INTERFACE_INDEX: usize = 1;
        let veth = &self.veth;
        CniResult {
            interfaces: vec![
                Interface {
                    name: veth.host_ifname.clone(),
                    mac: Some(veth.host_mac.to_string()),
                    ..Interface::default()
                },
                Interface {
                    name: veth.pod_ifname.clone(),
                    mac: Some(veth.pod_mac.to_string()),
                    mtu: Some(self.mtu),
                    sandbox: Some(netns.to_string()),
                    ..Interface::default()
                },
            ],
            ips: self
                .pod_addresses()
                .into_iter()
                .map(|address| IpConfig {
                    address,
                    gateway: Some(match address {
                        IpNet::V4(_) => IpAddr::V4(GATEWAY_V4),
                        IpNet::V6(_) => IpAddr::V6(GATEWAY_V6),
                    }),
                    interface: Some(POD_INTERFACE_INDEX),
                })
                .collect(),
            routes: veth
                .pod_routes()
                .into_iter()
                .map(|route| Route::via(route.dst, route.gateway))
                .collect(),
            dns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn plan(ips: &[&str]) -> WiringPlan {
        let pod_ips: Vec<IpAddr> = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        WiringPlan {
            veth: VethPlan {
                host_ifname: "weft0123456789a".into(),
                host_mac: Mac([2, 0, 0, 0, 0, 1]),
                pod_ifname: "eth0".into(),
                pod_mac: Mac([6, 0, 0, 0, 0, 2]),
                families: Families {
                    v4: pod_ips.iter().any(IpAddr::is_ipv4),
                    v6: pod_ips.iter().any(IpAddr::is_ipv6),
                },
            },
            mtu: 1450,
            pod_ips,
        }
    }

    #[test]
    fn picks_the_first_subnet_of_each_family_in_given_order() {
        let subnets = [net("fd00::/64"), net("10.0.0.0/24"), net("10.1.0.0/24")];
        assert_eq!(
            one_subnet_per_family(&subnets),
            vec![net("fd00::/64"), net("10.0.0.0/24")]
        );
        assert_eq!(
            one_subnet_per_family(&[net("10.0.0.0/24")]),
            vec![net("10.0.0.0/24")]
        );
        assert!(one_subnet_per_family(&[]).is_empty());
    }

    #[test]
    fn families_follow_the_subnets() {
        assert_eq!(
            Families::of(&[net("10.0.0.0/24")]),
            Families {
                v4: true,
                v6: false
            }
        );
        assert_eq!(
            Families::of(&[net("fd00::/64"), net("10.0.0.0/24")]),
            Families { v4: true, v6: true }
        );
    }

    #[test]
    fn mtu_precedence_is_netconf_then_node_network_then_detection() {
        assert_eq!(choose_mtu(Some(1400), Some(1450)), MtuChoice::Fixed(1400));
        assert_eq!(choose_mtu(None, Some(1450)), MtuChoice::Fixed(1450));
        assert_eq!(choose_mtu(None, None), MtuChoice::FromDefaultRoute);
    }

    #[test]
    fn ipv4_only_pod_gets_host_routes_and_a_link_local_gateway() {
        let plan = plan(&["10.1.0.5"]);
        assert_eq!(plan.pod_addresses(), vec![net("10.1.0.5/32")]);
        assert_eq!(
            plan.veth.pod_neighbours(),
            vec![Neighbour {
                ip: IpAddr::V4(GATEWAY_V4),
                mac: plan.veth.host_mac
            }]
        );
        assert_eq!(
            plan.veth.pod_routes(),
            vec![GatewayRoute {
                dst: net("0.0.0.0/0"),
                gateway: IpAddr::V4(GATEWAY_V4)
            }]
        );
        assert_eq!(plan.host_routes(), vec![net("10.1.0.5/32")]);
        assert_eq!(
            plan.host_neighbours(),
            vec![Neighbour {
                ip: "10.1.0.5".parse().unwrap(),
                mac: plan.veth.pod_mac
            }]
        );
    }

    #[test]
    fn dual_stack_pod_gets_both_families() {
        let plan = plan(&["10.1.0.5", "fd00::5"]);
        assert_eq!(
            plan.pod_addresses(),
            vec![net("10.1.0.5/32"), net("fd00::5/128")]
        );
        let gateways: Vec<_> = plan.veth.pod_routes().iter().map(|r| r.gateway).collect();
        assert_eq!(
            gateways,
            vec![IpAddr::V4(GATEWAY_V4), IpAddr::V6(GATEWAY_V6)]
        );
        assert_eq!(plan.veth.pod_neighbours().len(), 2);
        assert_eq!(
            plan.host_routes(),
            vec![net("10.1.0.5/32"), net("fd00::5/128")]
        );
    }

    #[test]
    fn result_lists_host_veth_then_pod_interface_with_ips_on_the_pod_side() {
        let result = plan(&["10.1.0.5", "fd00::5"]).result("/run/netns/p", Dns::default());
        assert_eq!(result.interfaces[0].name, "weft0123456789a");
        assert_eq!(result.interfaces[0].sandbox, None);
        assert_eq!(result.interfaces[1].name, "eth0");
        assert_eq!(
            result.interfaces[1].sandbox.as_deref(),
            Some("/run/netns/p")
        );
        assert_eq!(
            result.interfaces[1].mac.as_deref(),
            Some("06:00:00:00:00:02")
        );
        assert_eq!(result.interfaces[1].mtu, Some(1450));
        assert!(result.ips.iter().all(|ip| ip.interface == Some(1)));
        assert_eq!(result.ips[1].gateway, Some(IpAddr::V6(GATEWAY_V6)));
        assert_eq!(result.routes.len(), 2);
    }
}
