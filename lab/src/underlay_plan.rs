//! Turns a `Topology` into the iproute2 batches and sysctls that build it,
//! so the shell only replays a computed plan: bridges in the fabric netns,
//! one veth per host attachment, addresses, routes between subnets.

use crate::topology::{Host, Topology};

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
    pub sysctls: Vec<Sysctl>,
}

const IP_FORWARD: &str = "net/ipv4/ip_forward";

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
    let sysctls = topo
        .hosts()
        .filter(|h| h.forwards)
        .map(|h| Sysctl {
            netns: h.netns.clone(),
            key: IP_FORWARD,
            value: "1",
        })
        .collect();
    UnderlayPlan {
        netns: topo.netns_names(),
        batches,
        sysctls,
    }
}

fn host_batch(topo: &Topology, host: &Host) -> IpBatch {
    let mut lines = vec!["link set lo up".to_owned()];
    for att in &host.attachments {
        let prefix = topo.subnets[att.subnet].cidr.prefix_len();
        lines.push(format!("addr add {}/{prefix} dev {}", att.ip, att.ifname));
        lines.push(format!("link set {} up", att.ifname));
    }
    for (destination, gateway) in &host.routes {
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
