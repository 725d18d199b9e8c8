//! Turns a `Topology` into the iproute2 batches and sysctls that build it,
//! so the shell only replays a computed plan: bridges in the fabric netns,
//! one veth per host attachment, addresses, routes between subnets.

use crate::topology::{Host, IpFamily, Topology};

/// `ip -n NETNS -batch -` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBatch {
    pub netns: String,
    pub lines: Vec<String>,
}

/// A sysctl (path under /proc/sys) set inside one netns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub netns: String,
    pub key: &'static str,
    pub value: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnderlayPlan {
    /// Netns to create, in order.
    pub netns: Vec<String>,
    /// Batches to run after the netns exist, in order (the fabric's first:
    /// it creates the veth pairs whose other ends the hosts configure).
    pub batches: Vec<IpBatch>,
    /// Set once the netns exist, before the batches make any interface.
    pub early_sysctls: Vec<Sysctl>,
    pub sysctls: Vec<Sysctl>,
}

const IP_FORWARD: &str = "net/ipv4/ip_forward";
const IPV6_FORWARD: &str = "net/ipv6/conf/all/forwarding";
/// Duplicate address detection for the interfaces a netns gets from now
/// on: the lab's link-local addresses would stay tentative, unusable for
/// neighbour discovery, for the first second, when a node of a real
/// cluster has long finished it.
const IPV6_DEFAULT_DAD: &str = "net/ipv6/conf/default/accept_dad";

pub fn underlay_plan(topo: &Topology) -> UnderlayPlan {
    let mut fabric = vec!["link set lo up".to_owned()];
    for subnet in &topo.subnets {
        fabric.push(format!("link add {} type bridge", subnet.bridge));
        fabric.push(format!("link set {} up", subnet.bridge));
    }
    for host in topo.hosts() {
        for att in &host.attachments {
            let bridge = &topo.subnets[att.subnet].bridge;
            fabric.push(format!(
                "link add {} type veth peer name {} netns {}",
                att.fabric_ifname, att.ifname, host.netns
            ));
            fabric.push(format!("link set {} master {bridge}", att.fabric_ifname));
            fabric.push(format!("link set {} up", att.fabric_ifname));
        }
    }
    let mut batches = vec![IpBatch {
        netns: topo.fabric_netns.clone(),
        lines: fabric,
    }];
    batches.extend(topo.hosts().map(|host| host_batch(topo, host)));
    let forward_keys: &[&'static str] = if topo.family.has_ipv6() {
        &[IP_FORWARD, IPV6_FORWARD]
    } else {
        &[IP_FORWARD]
    };
    let sysctls = topo
        .hosts()
        .filter(|h| h.forwards)
        .flat_map(|h| {
            forward_keys.iter().map(|key| Sysctl {
                netns: h.netns.clone(),
                key,
                value: "1",
            })
        })
        .collect();
    let early_sysctls = if topo.family.has_ipv6() {
        topo.netns_names()
            .into_iter()
            .map(|netns| Sysctl {
                netns,
                key: IPV6_DEFAULT_DAD,
                value: "0",
            })
            .collect()
    } else {
        Vec::new()
    };
    UnderlayPlan {
        netns: topo.netns_names(),
        batches,
        early_sysctls,
        sysctls,
    }
}

fn host_batch(topo: &Topology, host: &Host) -> IpBatch {
    let mut lines = vec!["link set lo up".to_owned()];
    let ipv4 = topo.family != IpFamily::Ipv6;
    for att in &host.attachments {
        if ipv4 {
            let prefix = topo.subnets[att.subnet].cidr.prefix_len();
            lines.push(format!("addr add {}/{prefix} dev {}", att.ip, att.ifname));
        }
        if let (Some(ip6), Some(cidr6)) = (att.ip6, topo.subnets[att.subnet].cidr6) {
            // nodad: the plan gives out each address once, and a tentative
            // address cannot be a source for the seconds DAD takes.
            let prefix6 = cidr6.prefix_len();
            lines.push(format!("addr add {ip6}/{prefix6} dev {} nodad", att.ifname));
        }
        lines.push(format!("link set {} up", att.ifname));
    }
    for (destination, gateway) in host.routes.iter().filter(|_| ipv4) {
        lines.push(format!("route add {destination} via {gateway}"));
    }
    for (destination, gateway) in &host.routes6 {
        lines.push(format!("route add {destination} via {gateway}"));
    }
    IpBatch {
        netns: host.netns.clone(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Mode;

    fn plan(nodes: usize, mode: Mode) -> UnderlayPlan {
        underlay_plan(&Topology::plan(&"t1".parse().unwrap(), nodes, mode).unwrap())
    }

    #[test]
    fn fabric_bridges_every_host_veth() {
        let plan = plan(2, Mode::Vxlan);
        assert_eq!(plan.netns, vec!["t1-fabric", "t1-n1", "t1-n2", "t1-world"]);
        let fabric = &plan.batches[0];
        assert_eq!(fabric.netns, "t1-fabric");
        assert_eq!(
            fabric.lines,
            vec![
                "link set lo up",
                "link add br0 type bridge",
                "link set br0 up",
                "link add v-n1 type veth peer name eth0 netns t1-n1",
                "link set v-n1 master br0",
                "link set v-n1 up",
                "link add v-n2 type veth peer name eth0 netns t1-n2",
                "link set v-n2 master br0",
                "link set v-n2 up",
                "link add v-world type veth peer name eth0 netns t1-world",
                "link set v-world master br0",
                "link set v-world up",
            ]
        );
    }

    #[test]
    fn hosts_get_addresses_and_routes_to_the_other_subnet() {
        let plan = plan(2, Mode::Auto);
        let n2 = plan.batches.iter().find(|b| b.netns == "t1-n2").unwrap();
        assert_eq!(
            n2.lines,
            vec![
                "link set lo up",
                "addr add 198.18.1.12/24 dev eth0",
                "link set eth0 up",
                "route add 198.18.0.0/24 via 198.18.1.1",
            ]
        );
        let router = plan
            .batches
            .iter()
            .find(|b| b.netns == "t1-router")
            .unwrap();
        assert!(
            router
                .lines
                .contains(&"addr add 198.18.1.1/24 dev eth1".to_string())
        );
        let fabric = &plan.batches[0];
        assert!(
            fabric
                .lines
                .contains(&"link set v-router1 master br1".to_string())
        );
    }

    #[test]
    fn a_dual_stack_lab_mirrors_every_address_and_route_in_ipv6() {
        let topo = Topology::plan(&"t1".parse().unwrap(), 2, Mode::Auto)
            .unwrap()
            .with_family(IpFamily::Dual);
        let plan = underlay_plan(&topo);
        let n2 = plan.batches.iter().find(|b| b.netns == "t1-n2").unwrap();
        assert_eq!(
            n2.lines,
            vec![
                "link set lo up",
                "addr add 198.18.1.12/24 dev eth0",
                "addr add 2001:2:0:1::c/64 dev eth0 nodad",
                "link set eth0 up",
                "route add 198.18.0.0/24 via 198.18.1.1",
                "route add 2001:2::/64 via 2001:2:0:1::1",
            ]
        );
        let router6: Vec<_> = plan
            .sysctls
            .iter()
            .filter(|s| s.key == IPV6_FORWARD)
            .map(|s| s.netns.as_str())
            .collect();
        assert_eq!(router6, ["t1-n1", "t1-n2", "t1-router"]);
        assert!(
            plan.early_sysctls
                .iter()
                .all(|s| s.key == IPV6_DEFAULT_DAD && s.value == "0")
        );
        assert_eq!(plan.early_sysctls.len(), plan.netns.len());
    }

    #[test]
    fn an_ipv6_lab_gives_its_hosts_no_ipv4_address() {
        let topo = Topology::plan(&"t1".parse().unwrap(), 2, Mode::Auto)
            .unwrap()
            .with_family(IpFamily::Ipv6);
        let plan = underlay_plan(&topo);
        let n2 = plan.batches.iter().find(|b| b.netns == "t1-n2").unwrap();
        assert_eq!(
            n2.lines,
            vec![
                "link set lo up",
                "addr add 2001:2:0:1::c/64 dev eth0 nodad",
                "link set eth0 up",
                "route add 2001:2::/64 via 2001:2:0:1::1",
            ]
        );
    }

    #[test]
    fn nodes_and_router_forward_but_the_world_does_not() {
        let plan = plan(2, Mode::Auto);
        let forwarding: Vec<_> = plan.sysctls.iter().map(|s| s.netns.as_str()).collect();
        assert_eq!(forwarding, vec!["t1-n1", "t1-n2", "t1-router"]);
        assert!(
            plan.sysctls
                .iter()
                .all(|s| s.key == IP_FORWARD && s.value == "1")
        );
    }
}
