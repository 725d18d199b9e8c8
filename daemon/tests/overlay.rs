//! The node network across real namespaces (root): "node" namespaces joined
//! by a "fabric" namespace's bridges (and a router between two subnets for
//! `auto`), one pod per node wired like the CNI plugin wires it, and a
//! "world" host outside the cluster. `reconcile` runs for each node on a
//! fresh thread that entered that node's namespace. Nothing is connected to
//! the root namespace and no route leads out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use ipnet::IpNet;
use weft_tests::Netns;
use weftd::overlay::masquerade::apply_masquerade;
use weftd::overlay::{
    DeviceAction, NetworkMode, OverlaySettings, PeerNode, PlanSummary, format_mac,
    local_node_from_interface, reconcile, vtep_mac,
};

const CLUSTER_CIDR: &str = "10.244.0.0/16";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A node namespace with its one pod.
struct Node {
    name: String,
    ns: Netns,
    pod: Netns,
    pod_ip: Ipv4Addr,
    pod_cidr: IpNet,
    underlay_ip: Ipv4Addr,
}

struct Cluster {
    nodes: Vec<Node>,
    world: Netns,
    world_ip: Ipv4Addr,
    _router: Option<Netns>,
    _fabric: Netns,
}

impl Cluster {
    /// Three nodes and the world on one bridge, 198.18.0.0/24.
    fn flat() -> Self {
        let fabric = fabric(&["br0"]);
        let nodes = (1..=3)
            .map(|i| Node::new(&fabric, "br0", i, &format!("198.18.0.1{i}/24"), &[]))
            .collect();
        let world = attach(&fabric, "br0", "w", &[("eth0", "198.18.0.200/24")]);
        Cluster {
            nodes,
            world,
            world_ip: Ipv4Addr::new(198, 18, 0, 200),
            _router: None,
            _fabric: fabric,
        }
    }

    /// n1, n2 and the world on 198.18.1.0/24, n3 on 198.18.2.0/24, a router between.
    fn two_subnets() -> Self {
        let fabric = fabric(&["br0", "br1"]);
        let router = attach(&fabric, "br0", "r", &[("eth0", "198.18.1.1/24")]);
        wire(&fabric, "br1", "r1", &router, "eth1", "198.18.2.1/24");
        router.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let to_b = [("198.18.2.0/24", "198.18.1.1")];
        let to_a = [("198.18.1.0/24", "198.18.2.1")];
        let nodes = vec![
            Node::new(&fabric, "br0", 1, "198.18.1.11/24", &to_b),
            Node::new(&fabric, "br0", 2, "198.18.1.12/24", &to_b),
            Node::new(&fabric, "br1", 3, "198.18.2.13/24", &to_a),
        ];
        let world = attach(&fabric, "br0", "w", &[("eth0", "198.18.1.200/24")]);
        world.exec_ok(&["ip", "route", "add", "198.18.2.0/24", "via", "198.18.1.1"]);
        Cluster {
            nodes,
            world,
            world_ip: Ipv4Addr::new(198, 18, 1, 200),
            _router: Some(router),
            _fabric: fabric,
        }
    }

    /// Every node as it publishes itself (the node itself included: a
    /// node must not take itself for a peer).
    fn peers(&self) -> Vec<PeerNode> {
        self.nodes.iter().map(Node::as_peer).collect()
    }
}

fn fabric(bridges: &[&str]) -> Netns {
    let fabric = Netns::new("fab");
    for bridge in bridges {
        fabric.exec_ok(&["ip", "link", "add", bridge, "type", "bridge"]);
        fabric.exec_ok(&["ip", "link", "set", bridge, "up"]);
    }
    fabric
}

/// A new namespace with one veth leg per address on the fabric's bridge.
fn attach(fabric: &Netns, bridge: &str, tag: &str, legs: &[(&str, &str)]) -> Netns {
    let ns = Netns::new(tag);
    for (ifname, address) in legs {
        wire(
            fabric,
            bridge,
            &format!("{tag}-{ifname}"),
            &ns,
            ifname,
            address,
        );
    }
    ns
}

/// A veth from the fabric's bridge (port `port`) to `ifname` in `ns`, with `address`.
fn wire(fabric: &Netns, bridge: &str, port: &str, ns: &Netns, ifname: &str, address: &str) {
    fabric.exec_ok(&[
        "ip", "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", &ns.name,
    ]);
    fabric.exec_ok(&["ip", "link", "set", port, "master", bridge, "up"]);
    ns.exec_ok(&["ip", "addr", "add", address, "dev", ifname]);
    ns.exec_ok(&["ip", "link", "set", ifname, "up"]);
}

fn mac_of(ns: &Netns, ifname: &str) -> String {
    ns.exec_ok(&["cat", &format!("/sys/class/net/{ifname}/address")])
        .trim()
        .to_owned()
}

impl Node {
    /// Node `i` with underlay `underlay` on `bridge` and pod 10.244.i.5 wired
    /// like the CNI plugin does: /32 address, default route via 169.254.1.1
    /// answered by a permanent neighbour; on the node a /32 route and a
    /// permanent neighbour to the pod.
    fn new(fabric: &Netns, bridge: &str, i: u8, underlay: &str, routes: &[(&str, &str)]) -> Self {
        let name = format!("n{i}");
        let ns = attach(fabric, bridge, &name, &[("eth0", underlay)]);
        // Off, so that the test sees reconcile turn it on.
        ns.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
        for (destination, gateway) in routes {
            ns.exec_ok(&["ip", "route", "add", destination, "via", gateway]);
        }

        let pod = Netns::new(&format!("p{i}"));
        let pod_ip = Ipv4Addr::new(10, 244, i, 5);
        let pod_address = format!("{pod_ip}/32");
        ns.exec_ok(&[
            "ip", "link", "add", "vpod", "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
        ]);
        ns.exec_ok(&["ip", "link", "set", "vpod", "up"]);
        let host_mac = mac_of(&ns, "vpod");
        pod.exec_ok(&["ip", "addr", "add", &pod_address, "dev", "eth0"]);
        pod.exec_ok(&["ip", "link", "set", "eth0", "up"]);
        pod.exec_ok(&[
            "ip",
            "route",
            "add",
            "169.254.1.1",
            "dev",
            "eth0",
            "scope",
            "link",
        ]);
        pod.exec_ok(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            "169.254.1.1",
            "dev",
            "eth0",
        ]);
        pod.exec_ok(&[
            "ip",
            "neigh",
            "add",
            "169.254.1.1",
            "lladdr",
            &host_mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ]);
        let pod_mac = mac_of(&pod, "eth0");
        ns.exec_ok(&[
            "ip",
            "route",
            "add",
            &pod_address,
            "dev",
            "vpod",
            "scope",
            "link",
        ]);
        ns.exec_ok(&[
            "ip",
            "neigh",
            "add",
            &pod_ip.to_string(),
            "lladdr",
            &pod_mac,
            "dev",
            "vpod",
            "nud",
            "permanent",
        ]);

        Node {
            name,
            ns,
            pod,
            pod_ip,
            pod_cidr: format!("10.244.{i}.0/24").parse().unwrap(),
            underlay_ip: underlay.split('/').next().unwrap().parse().unwrap(),
        }
    }

    fn as_peer(&self) -> PeerNode {
        PeerNode {
            name: self.name.clone(),
            pod_cidrs: vec![self.pod_cidr],
            underlay_ips: vec![IpAddr::V4(self.underlay_ip)],
            vtep_mac: Some(vtep_mac(&self.name)),
        }
    }

    /// One overlay and one masquerade pass inside this node's namespace, on
    /// a thread of its own (setns moves only the calling thread) with its
    /// own rtnetlink connection; the underlay is discovered there, as weftd
    /// would.
    fn reconcile(&self, peers: &[PeerNode], mode: NetworkMode) -> PlanSummary {
        let (name, cidrs, peers) = (self.name.clone(), vec![self.pod_cidr], peers.to_vec());
        let settings = OverlaySettings::new(mode, vec![CLUSTER_CIDR.parse().unwrap()]);
        self.ns.run(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (connection, handle, _) = rtnetlink::new_connection().unwrap();
                tokio::spawn(connection);
                let local = local_node_from_interface(&handle, &name, cidrs, None)
                    .await
                    .unwrap();
                assert_eq!(local.underlay_ifname, "eth0");
                let summary = reconcile(&handle, &local, &peers, &settings)
                    .await
                    .unwrap_or_else(|e| panic!("reconcile on {name}: {e}"));
                apply_masquerade(&settings.cluster_cidrs, &[], settings.vxlan_port())
                    .await
                    .unwrap_or_else(|e| panic!("masquerade on {name}: {e}"));
                summary
            })
        })
    }

    fn weft_routes(&self) -> String {
        self.ns.exec_ok(&["ip", "route", "show", "proto", "87"])
    }
}

fn reconcile_all(cluster: &Cluster, peers: &[PeerNode], mode: NetworkMode) -> Vec<PlanSummary> {
    cluster
        .nodes
        .iter()
        .map(|node| node.reconcile(peers, mode))
        .collect()
}

/// The source address a TCP server in `server` sees for a connection from
/// `client` to `server_ip`.
fn seen_source(client: &Netns, server: &Netns, server_ip: Ipv4Addr) -> IpAddr {
    let (bound, port) = mpsc::channel();
    let accepted = server.spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0))
                .await
                .unwrap();
            bound.send(listener.local_addr().unwrap().port()).unwrap();
            let (_, peer) = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept())
                .await
                .expect("a connection arrives")
                .unwrap();
            peer.ip()
        })
    });
    let port = port.recv().expect("the server is listening");
    let target = SocketAddr::from((server_ip, port));
    let connected =
        client.run(move || TcpStream::connect_timeout(&target, CONNECT_TIMEOUT).map(drop));
    if let Err(e) = connected {
        panic!("connecting from {} to {target}: {e}", client.name);
    }
    accepted.join().expect("the server thread")
}

fn ping(from: &Netns, to: Ipv4Addr) -> bool {
    from.exec(&["busybox", "ping", "-c", "1", "-W", "3", &to.to_string()])
        .status
        .success()
}

/// Every pod pings every other pod, and a TCP server in each pod sees the
/// other pod's own address: no NAT between pods.
fn assert_pods_reach_each_other(nodes: &[&Node]) {
    for from in nodes {
        for to in nodes.iter().filter(|to| to.name != from.name) {
            assert!(
                ping(&from.pod, to.pod_ip),
                "{} pings {}",
                from.name,
                to.name
            );
            assert_eq!(
                seen_source(&from.pod, &to.pod, to.pod_ip),
                IpAddr::V4(from.pod_ip),
                "{}'s pod reaches {}'s pod without NAT",
                from.name,
                to.name
            );
        }
    }
}

/// Pods reach the world host, which sees their node's underlay IP.
fn assert_world_sees_node_ips(cluster: &Cluster) {
    for node in &cluster.nodes {
        assert_eq!(
            seen_source(&node.pod, &cluster.world, cluster.world_ip),
            IpAddr::V4(node.underlay_ip),
            "{}'s pod is masqueraded to the node IP",
            node.name
        );
    }
}

fn assert_all_empty(summaries: &[PlanSummary]) {
    for summary in summaries {
        assert!(
            summary.is_empty(),
            "a second pass changes nothing: {summary}"
        );
    }
}

fn assert_node_state(node: &Node) {
    assert_eq!(
        node.ns
            .exec_ok(&["cat", "/proc/sys/net/ipv4/ip_forward"])
            .trim(),
        "1",
        "{} forwards",
        node.name
    );
    let table = node.ns.exec_ok(&["nft", "list", "table", "inet", "weft"]);
    assert!(
        table.contains("ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16")
            && table.contains("masquerade"),
        "{table}"
    );
    assert!(
        node.weft_routes()
            .contains(&format!("unreachable {}", node.pod_cidr)),
        "{}",
        node.weft_routes()
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn vxlan_mode_connects_every_pod_without_nat_and_follows_membership() {
    let mut cluster = Cluster::flat();
    let peers = cluster.peers();
    for summary in reconcile_all(&cluster, &peers, NetworkMode::Vxlan) {
        assert_eq!(summary.device, Some(DeviceAction::Created));
        assert_eq!(
            (
                summary.routes_added,
                summary.neighbours_added,
                summary.fdb_added
            ),
            (3, 2, 2)
        );
    }
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    assert_pods_reach_each_other(&nodes);
    assert_world_sees_node_ips(&cluster);

    let n1 = &cluster.nodes[0];
    for node in &cluster.nodes {
        assert_node_state(node);
        // The pod flows crossed this node's forward path and are tracked;
        // the VXLAN packets that carried them are not.
        let tracked = node.ns.exec_ok(&["cat", "/proc/net/nf_conntrack"]);
        assert!(tracked.contains("src=10.244."), "{tracked}");
        assert!(!tracked.contains("dport=4789"), "{tracked}");
    }
    let device = n1.ns.exec_ok(&["ip", "-d", "link", "show", "weft.vxlan"]);
    for expected in [
        "mtu 1450",
        "vxlan id 1 ",
        "local 198.18.0.11 dev eth0",
        "dstport 4789",
        "nolearning",
    ] {
        assert!(device.contains(expected), "{expected:?} in {device}");
    }
    assert!(device.contains(&format_mac(&vtep_mac("n1"))), "{device}");
    let routes = n1.weft_routes();
    assert!(
        routes.contains("10.244.2.0/24 via 10.244.2.0 dev weft.vxlan onlink"),
        "{routes}"
    );

    // Weft's entries are the only ones it touches.
    n1.ns
        .exec_ok(&["ip", "route", "add", "10.99.0.0/24", "via", "198.18.0.12"]);
    assert_all_empty(&reconcile_all(&cluster, &peers, NetworkMode::Vxlan));
    assert!(
        n1.ns
            .exec_ok(&["ip", "route"])
            .contains("10.99.0.0/24 via 198.18.0.12")
    );

    // n3 leaves: its route, neighbour and FDB entry go from the others.
    let without_n3: Vec<PeerNode> = peers[..2].to_vec();
    for node in &cluster.nodes[..2] {
        let summary = node.reconcile(&without_n3, NetworkMode::Vxlan);
        assert_eq!(
            summary,
            PlanSummary {
                routes_deleted: 1,
                neighbours_deleted: 1,
                fdb_deleted: 1,
                ..PlanSummary::default()
            }
        );
        assert!(!node.weft_routes().contains("10.244.3.0/24"));
        let neighbours = node
            .ns
            .exec_ok(&["ip", "neigh", "show", "dev", "weft.vxlan"]);
        assert!(!neighbours.contains("10.244.3.0 "), "{neighbours}");
        let fdb = node
            .ns
            .exec_ok(&["bridge", "fdb", "show", "dev", "weft.vxlan"]);
        assert!(!fdb.contains(&format_mac(&vtep_mac("n3"))), "{fdb}");
        assert!(
            fdb.contains(&format_mac(&vtep_mac(if node.name == "n1" {
                "n2"
            } else {
                "n1"
            }))),
            "{fdb}"
        );
    }

    // n2 moves to another underlay IP: its device follows, n1's FDB entry too.
    let n2 = &mut cluster.nodes[1];
    n2.ns
        .exec_ok(&["ip", "addr", "del", "198.18.0.12/24", "dev", "eth0"]);
    n2.ns
        .exec_ok(&["ip", "addr", "add", "198.18.0.22/24", "dev", "eth0"]);
    n2.underlay_ip = Ipv4Addr::new(198, 18, 0, 22);
    let moved: Vec<PeerNode> = cluster.nodes[..2].iter().map(Node::as_peer).collect();
    let n2_summary = cluster.nodes[1].reconcile(&moved, NetworkMode::Vxlan);
    assert_eq!(n2_summary.device, Some(DeviceAction::Recreated));
    let n1_summary = cluster.nodes[0].reconcile(&moved, NetworkMode::Vxlan);
    assert_eq!(
        n1_summary,
        PlanSummary {
            fdb_added: 1,
            fdb_deleted: 1,
            ..PlanSummary::default()
        }
    );
    let fdb = cluster.nodes[0]
        .ns
        .exec_ok(&["bridge", "fdb", "show", "dev", "weft.vxlan"]);
    assert!(fdb.contains("dst 198.18.0.22"), "{fdb}");
    assert_pods_reach_each_other(&[&cluster.nodes[0], &cluster.nodes[1]]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn direct_mode_routes_via_node_ips_and_removes_the_vxlan_device() {
    let cluster = Cluster::flat();
    let peers = cluster.peers();
    reconcile_all(&cluster, &peers, NetworkMode::Vxlan);
    for summary in reconcile_all(&cluster, &peers, NetworkMode::Direct) {
        assert_eq!(summary.device, Some(DeviceAction::Deleted));
    }
    for node in &cluster.nodes {
        assert!(!node.ns.links().contains(&"weft.vxlan".to_owned()));
        assert_node_state(node);
    }
    let routes = cluster.nodes[0].weft_routes();
    assert!(
        routes.contains("10.244.2.0/24 via 198.18.0.12 dev eth0")
            && routes.contains("10.244.3.0/24 via 198.18.0.13 dev eth0"),
        "{routes}"
    );
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    assert_pods_reach_each_other(&nodes);
    assert_world_sees_node_ips(&cluster);
    assert_all_empty(&reconcile_all(&cluster, &peers, NetworkMode::Direct));
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn auto_mode_goes_direct_within_a_subnet_and_vxlan_across_the_router() {
    let cluster = Cluster::two_subnets();
    let peers = cluster.peers();
    reconcile_all(&cluster, &peers, NetworkMode::Auto);

    let n1_routes = cluster.nodes[0].weft_routes();
    assert!(
        n1_routes.contains("10.244.2.0/24 via 198.18.1.12 dev eth0")
            && n1_routes.contains("10.244.3.0/24 via 10.244.3.0 dev weft.vxlan onlink"),
        "{n1_routes}"
    );
    let n3_routes = cluster.nodes[2].weft_routes();
    assert!(
        n3_routes.contains("10.244.1.0/24 via 10.244.1.0 dev weft.vxlan onlink")
            && n3_routes.contains("10.244.2.0/24 via 10.244.2.0 dev weft.vxlan onlink"),
        "{n3_routes}"
    );
    for node in &cluster.nodes {
        assert_node_state(node);
    }
    let nodes: Vec<&Node> = cluster.nodes.iter().collect();
    assert_pods_reach_each_other(&nodes);
    assert_world_sees_node_ips(&cluster);
    assert_all_empty(&reconcile_all(&cluster, &peers, NetworkMode::Auto));
}
