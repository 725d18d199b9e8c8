//! IPv6 labs end to end (root): dual-stack and IPv6-only, each in vxlan,
//! direct and auto modes, a pod on each of 3 nodes with an IPv6 address
//! (and an IPv4 one in dual-stack): every pod reaches every pod over TCP
//! and UDP in each family the lab has; the server sees the
//! client pod's own IPv6 address (no NAT between pods); the world host sees
//! the node's IPv6 underlay address (masquerade); 1 GiB crosses nodes over
//! IPv6 intact, with no node fragmenting a packet; and each node routes a
//! peer's IPv6 pod CIDR as the mode says: via the peer's IPv6 underlay
//! address where it goes direct, to its IPv6 VTEP over weft.vxlan
//! otherwise. A pod that forges another pod's IPv6 address as its source,
//! or advertises itself as the neighbour for another pod's address, has
//! the packets dropped and counted as spoofed on its node.

mod common;

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use common::pod_per_node::{NODES, PODS, PODS_YAML, PROBE_TIMEOUT, TCP_PORT, UDP_PORT, WORLD_PORT};
use common::policy::forge;
use common::transfer::transfer_gib;
use common::{CONVERGE, TestLab, assert_all_connected, pod_entry, reply_from, wait_until};
use serde_json::Value;
use weft_lab::probe::{Proto, probe_from};

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn ipv6_pods_reach_each_other_in_every_mode_dual_stack_and_ipv6_only() {
    for (ip_family, families) in [("dual", &["4", "6"][..]), ("ipv6", &["6"][..])] {
        for mode in ["vxlan", "direct", "auto"] {
            let tag = format!("{}{}", &ip_family[..1], &mode[..1]);
            let lab = TestLab::up(
                &tag,
                &["--nodes", "3", "--mode", mode, "--ip-family", ip_family],
            );
            pods_reach_each_other(&lab, mode, families);
            lab.down_leaves_nothing();
        }
    }
}

/// On the API server, with the lab's control plane dual-stack or
/// IPv6-only: the controller-manager gives every Node a pod CIDR per
/// family, pods get an address of each, every family connects across
/// nodes, and a `PreferDualStack` Service's IPv6 ClusterIP reaches its
/// backend through kube-proxy, which sees the client pod's own IPv6 address.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn kubernetes_labs_route_each_family_and_ipv6_services() {
    for (ip_family, families) in [("dual", &["4", "6"][..]), ("ipv6", &["6"][..])] {
        let tag = format!("k{}", &ip_family[..1]);
        let lab = TestLab::up(
            &tag,
            &[
                "--nodes",
                "3",
                "--mode",
                "vxlan",
                "--ip-family",
                ip_family,
                "--datastore",
                "kubernetes",
            ],
        );
        let nodes: Value =
            serde_json::from_str(&lab.ok(&["kubectl", "--", "get", "nodes", "-o", "json"]))
                .expect("kubectl prints JSON");
        for node in nodes["items"].as_array().expect("Nodes") {
            let cidrs = node["spec"]["podCIDRs"].as_array().expect("spec.podCIDRs");
            let cidr_families: Vec<&str> = cidrs
                .iter()
                .filter_map(|c| c.as_str()?.parse::<ipnet::IpNet>().ok())
                .map(|c| if c.addr().is_ipv6() { "6" } else { "4" })
                .collect();
            assert_eq!(cidr_families, families, "{ip_family}: {node}");
        }
        lab.apply(&PODS_YAML.replace("{name: c, ports", "{name: c, image: serve, ports"));
        let status = lab.status();
        for family in families {
            assert_all_connected(&matrix(&lab, "tcp", TCP_PORT, family), PODS.len());
        }
        an_ipv6_cluster_ip_reaches_its_backend(&lab, &status);
        lab.down_leaves_nothing();
    }
}

fn an_ipv6_cluster_ip_reaches_its_backend(lab: &TestLab, status: &Value) {
    lab.apply(SERVICE_YAML);
    let cluster_ips = lab.ok(&[
        "kubectl",
        "--",
        "-n",
        "x",
        "get",
        "service",
        "web",
        "-o",
        "jsonpath={.spec.clusterIPs}",
    ]);
    let cluster_ips: Vec<IpAddr> = serde_json::from_str(&cluster_ips).expect("a JSON list");
    let cluster_ip6 = *cluster_ips
        .iter()
        .find(|ip| ip.is_ipv6())
        .expect("an IPv6 ClusterIP");
    // kube-proxy programs the Service after the API server has it.
    let reply = wait_until("x/a reaches the IPv6 ClusterIP", CONVERGE, || {
        let outcome = probe_from(
            &lab.pod_netns("x/a"),
            SocketAddr::new(cluster_ip6, SERVICE_PORT),
            Proto::Tcp,
            PROBE_TIMEOUT,
        );
        outcome.reply.ok_or(format!("{:?}", outcome.detail))
    });
    assert_eq!(reply, format!("x/b saw {}", pod_ip6(status, "x/a")));
}

/// A Service in front of pod b with an address of each family the
/// cluster has.
const SERVICE_YAML: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  ipFamilyPolicy: PreferDualStack
  selector: {app: b}
  ports: [{port: 8080, targetPort: 80, protocol: TCP}]
";
const SERVICE_PORT: u16 = 8080;

/// The pods of one lab: matrices in `families`, no NAT, masquerade,
/// routes and a 1 GiB transfer over IPv6.
fn pods_reach_each_other(lab: &TestLab, mode: &str, families: &[&str]) {
    lab.apply(PODS_YAML);
    let status = lab.status();
    for family in families {
        for (proto, port) in [("tcp", TCP_PORT), ("udp", UDP_PORT)] {
            eprintln!("{mode}: the IPv{family} {proto} matrix");
            let matrix = matrix(lab, proto, port, family);
            assert_all_connected(&matrix, PODS.len());
        }
    }
    pods_see_each_others_ipv6_and_the_world_sees_the_nodes(lab, &status);
    peers_are_routed_as_the_mode_says(lab, mode);

    forgeries_are_dropped(lab, &status);

    let frags_before = fragments_created(lab);
    transfer_gib(lab, "x/a", "x/b", pod_ip6(&status, "x/b"));
    assert_eq!(
        fragments_created(lab),
        frags_before,
        "{mode}: a node fragmented packets of the transfer"
    );
}

/// From pod a (on n1): a neighbour advertisement for b's address, then a
/// UDP datagram and a TCP connection from c's IPv6 address (added to a's
/// eth0, as a pod's root can). Each is dropped on n1 as `spoofed-ip`.
fn forgeries_are_dropped(lab: &TestLab, status: &Value) {
    let a = lab.pod_netns("x/a");
    let (b, c) = (pod_ip6(status, "x/b"), pod_ip6(status, "x/c"));
    let (IpAddr::V6(b), IpAddr::V6(c)) = (b, c) else {
        unreachable!("pod_ip6 gives IPv6 addresses")
    };
    let dropped_since = |before: u64, what: &str| {
        wait_until(
            &format!("n1 counted {what} as spoofed-ip"),
            CONVERGE,
            || {
                let now = spoofed_drops(lab, "n1");
                if now > before {
                    Ok(now)
                } else {
                    Err(format!("{now}"))
                }
            },
        )
    };
    // First, while nothing else forged is on its way.
    let before = spoofed_drops(lab, "n1");
    forge::neighbour_advertisement(&a, b);
    let after_advert = dropped_since(before, "the forged neighbour advertisement");

    let victim = format!("{c}/128");
    lab.ok(&[
        "exec", "x/a", "--", "ip", "-6", "addr", "add", &victim, "dev", "eth0", "nodad",
    ]);
    forge::udp_from(&a, c, SocketAddrV6::new(b, UDP_PORT, 0, 0));
    let after_udp = dropped_since(after_advert, "the forged datagram");
    assert!(
        forge::tcp_from(&a, c, SocketAddrV6::new(b, TCP_PORT, 0, 0), PROBE_TIMEOUT).is_err(),
        "x/a connected to x/b with x/c's address as source"
    );
    dropped_since(after_udp, "the forged SYN");
    lab.ok(&[
        "exec", "x/a", "--", "ip", "-6", "addr", "del", &victim, "dev", "eth0",
    ]);
}

/// Packets the node's datapath dropped as `spoofed-ip` (weftctl status).
fn spoofed_drops(lab: &TestLab, node: &str) -> u64 {
    let weftctl = std::path::Path::new(common::LAB_BIN).with_file_name("weftctl");
    let run_dir = lab.dir().join("nodes").join(node).join("run");
    let out = std::process::Command::new(weftctl)
        .arg("--run-dir")
        .arg(run_dir)
        .args(["status", "-o", "json"])
        .output()
        .expect("weftctl runs");
    let status: Value = serde_json::from_slice(&out.stdout).expect("weftctl prints JSON");
    status["drops"]["spoofed-ip"].as_u64().unwrap_or(0)
}

fn matrix(lab: &TestLab, proto: &str, port: u16, family: &str) -> Value {
    let port = port.to_string();
    let out = lab.ok(&[
        "matrix", "--port", &port, "--proto", proto, "--family", family, "-o", "json",
    ]);
    serde_json::from_str(&out).expect("matrix is JSON")
}

fn pod_ip6(status: &Value, pod: &str) -> IpAddr {
    pod_entry(status, pod)["ips"]
        .as_array()
        .expect("ips")
        .iter()
        .filter_map(|ip| ip.as_str()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv6)
        .unwrap_or_else(|| panic!("{pod} has no IPv6 address: {status}"))
}

fn pods_see_each_others_ipv6_and_the_world_sees_the_nodes(lab: &TestLab, status: &Value) {
    for from in PODS {
        for to in PODS.iter().filter(|to| **to != from) {
            for (proto, port) in [(Proto::Tcp, TCP_PORT), (Proto::Udp, UDP_PORT)] {
                let reply = reply_from(lab, from, pod_ip6(status, to), proto, port, PROBE_TIMEOUT);
                assert_eq!(
                    reply,
                    format!("{to} saw {}", pod_ip6(status, from)),
                    "{from} -> {to} over {proto}: the server must see the client pod's IPv6"
                );
            }
        }
    }
    let topology = lab.state().topology;
    let world = topology.world_ip6().expect("the world host has IPv6");
    for (pod, node) in PODS.iter().zip(NODES) {
        let node_ip6 = topology
            .node(node)
            .and_then(|n| n.underlay_ip6())
            .expect("an IPv6 underlay address");
        for proto in [Proto::Tcp, Proto::Udp] {
            let reply = reply_from(
                lab,
                pod,
                IpAddr::V6(world),
                proto,
                WORLD_PORT,
                PROBE_TIMEOUT,
            );
            assert_eq!(
                reply,
                format!("world saw {node_ip6}"),
                "{pod} -> world over {proto}: the world must see the node's IPv6"
            );
        }
    }
}

/// n1's IPv6 routes to n2's and n3's pods: direct via their IPv6 underlay
/// address in `direct` (and in `auto` for n2, on n1's subnet), over
/// weft.vxlan to their VTEP otherwise.
fn peers_are_routed_as_the_mode_says(lab: &TestLab, mode: &str) {
    let topology = lab.state().topology;
    let routes = lab.node_lines("n1", &["ip", "-6", "route", "show", "proto", "87"]);
    for peer in ["n2", "n3"] {
        let host = topology.node(peer).expect("the peer");
        let underlay = host.underlay_ip6().expect("an IPv6 underlay address");
        let direct = match mode {
            "direct" => true,
            "auto" => host.attachments[0].subnet == topology.nodes[0].attachments[0].subnet,
            _ => false,
        };
        let wanted = if direct {
            format!("via {underlay} dev eth0")
        } else {
            "dev weft.vxlan".to_owned()
        };
        let found = routes
            .iter()
            .filter(|route| !route.starts_with("unreachable"))
            .any(|route| route.contains(&wanted));
        assert!(
            found,
            "{mode}: n1 has no route {wanted} for {peer}: {routes:?}"
        );
    }
}

/// Packets the lab's nodes have fragmented, both families (/proc/net/snmp
/// and snmp6).
fn fragments_created(lab: &TestLab) -> u64 {
    NODES
        .iter()
        .map(|node| {
            let v4 = lab.node_lines(node, &["cat", "/proc/net/snmp"]);
            let names: Vec<&str> = v4[0].split_whitespace().collect();
            let ip_lines: Vec<&String> = v4.iter().filter(|l| l.starts_with("Ip:")).collect();
            let at = names
                .iter()
                .position(|name| *name == "FragCreates")
                .expect("FragCreates");
            let v4_count: u64 = ip_lines[1]
                .split_whitespace()
                .nth(at)
                .and_then(|value| value.parse().ok())
                .expect("a count");
            let v6_count: u64 = lab
                .node_lines(node, &["cat", "/proc/net/snmp6"])
                .iter()
                .find_map(|line| line.strip_prefix("Ip6FragCreates"))
                .and_then(|value| value.trim().parse().ok())
                .expect("Ip6FragCreates");
            v4_count + v6_count
        })
        .sum()
}
