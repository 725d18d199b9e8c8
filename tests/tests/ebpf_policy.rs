//! NetworkPolicy in the eBPF datapath, end to end (root): a "node" namespace
//! routes between two "pod" namespaces over veths, weftd's `Datapath` is
//! opened with pins in a per-run bpffs directory, policy maps are written
//! and the programs attached to the host veths; real TCP/UDP traffic shows
//! what passes, what is dropped, the events and the counters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use weft_ebpf_common::{
    CONFIG_MAP, DIRECTION_EGRESS, DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS,
    EndpointValue, FAMILY_IPV4, FAMILY_IPV6, IDENTITY_WORLD, IdentityValue, POD_HAS_IPV4,
    POD_HAS_IPV6, POLICY_ALLOW, PROTOCOL_ANY, PodInterface, PolicyValue,
    REASON_ALLOWED_ESTABLISHED, REASON_ALLOWED_NOT_ENFORCED, REASON_DROPPED_BY_POLICY,
    REASON_DROPPED_SPOOFED_IP, REASON_DROPPED_SPOOFED_MAC, VERDICT_COUNTER_MAP, VerdictEvent,
};
use weft_policy::maps::{endpoint_key, ip_key, policy_key};
use weft_policy::{MapContents, PortPrefix, diff};
use weft_tests::{Netns, unique_name, wait_until};
use weftd::bpf::{BpfError, Datapath, EventRing, remove_pins};

const TCP: u8 = 6;
/// Long enough for a handshake on a busy machine; a dropped SYN never
/// completes, so a blocked connect costs exactly this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The pods' gateway, answered by a permanent neighbour entry (as weft does).
const GATEWAY: &str = "169.254.1.1";
const GATEWAY6: &str = "fe80::1";

/// A program a tc filter runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttachedProgram {
    id: u32,
    name: String,
}

/// A bpffs directory for this run's pins, removed with everything in it.
struct Pins(PathBuf);

impl Pins {
    fn new() -> Self {
        Self(PathBuf::from("/sys/fs/bpf").join(unique_name("pins")))
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = remove_pins(&self.0);
    }
}

struct Pod {
    ns: Netns,
    ip: Ipv4Addr,
    ip6: Ipv6Addr,
    mac: [u8; 6],
    /// The host end in the node namespace.
    host_if: String,
    ifindex: u32,
    slot: u32,
    identity: u32,
    profile: u32,
}

impl Pod {
    fn interface(&self) -> PodInterface {
        PodInterface {
            mac: self.mac,
            flags: POD_HAS_IPV4 | POD_HAS_IPV6,
            slot: self.slot,
            ipv4: self.ip.octets(),
            ipv6: self.ip6.octets(),
        }
    }

    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    fn addr6(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip6, port))
    }

    fn listen(&self, port: u16) -> TcpListener {
        self.listen_at(self.addr(port))
    }

    fn listen_at(&self, addr: SocketAddr) -> TcpListener {
        // The kernel completes handshakes into the backlog: no accept needed.
        self.ns.run(|| TcpListener::bind(addr).expect("listen"))
    }

    fn connects_to(&self, to: SocketAddr) -> bool {
        self.ns
            .run(|| TcpStream::connect_timeout(&to, CONNECT_TIMEOUT).is_ok())
    }

    fn send_udp(&self, from: Ipv4Addr, to: SocketAddr) {
        self.ns.run(|| {
            let socket = UdpSocket::bind((from, 0)).expect("bind the sender");
            socket.send_to(b"weft", to).expect("send");
        });
    }
}

// Field order is drop order: pods and node go before the pins are removed.
struct Lab {
    datapath: Option<Datapath>,
    events: EventRing,
    a: Pod,
    b: Pod,
    node: Netns,
    pins: Pins,
}

impl Lab {
    /// Node and pods A (10.250.0.1, fd00:250::1) and B (.2), the datapath opened
    /// and attached to both host veths, no endpoint enforcing anything.
    fn new() -> Self {
        let pins = Pins::new();
        let node = Netns::new("node");
        run(&node, "sysctl -qw net.ipv4.ip_forward=1");
        run(&node, "sysctl -qw net.ipv6.conf.all.forwarding=1");
        let a = wire_pod(&node, "a", 1);
        let b = wire_pod(&node, "b", 2);
        let mut datapath = Datapath::open(&pins.0).expect("the datapath loads");
        let events = datapath.take_events().expect("the event ring");
        for pod in [&a, &b] {
            datapath
                .set_pod_interface(pod.ifindex, &pod.interface(), None)
                .expect("write the pod interface");
        }
        let mut lab = Self {
            datapath: Some(datapath),
            events,
            a,
            b,
            node,
            pins,
        };
        lab.set_policy(0, 0, &[]);
        lab.attach();
        lab
    }

    fn datapath(&mut self) -> &mut Datapath {
        self.datapath.as_mut().expect("the datapath is open")
    }

    fn attach(&mut self) {
        let datapath = self.datapath.as_mut().expect("the datapath is open");
        let interfaces = [self.a.host_if.as_str(), self.b.host_if.as_str()];
        self.node.run(|| {
            for ifname in interfaces {
                datapath
                    .attach_pod(ifname)
                    .expect("attach to the host veth");
            }
        });
    }

    /// Writes maps where A and B enforce `a_flags`/`b_flags` and `rules`
    /// (profile, peer identity, direction, protocol, port prefix) allow.
    fn set_policy(&mut self, a_flags: u32, b_flags: u32, rules: &[(u32, u32, u8, u8, PortPrefix)]) {
        let wanted = self.contents(a_flags, b_flags, rules);
        let datapath = self.datapath();
        let current = datapath.policy_maps().expect("read the policy maps");
        datapath
            .apply_policy(&diff(&current, &wanted))
            .expect("write the policy maps");
        assert_eq!(datapath.policy_maps().expect("read back"), wanted);
    }

    fn contents(
        &self,
        a_flags: u32,
        b_flags: u32,
        rules: &[(u32, u32, u8, u8, PortPrefix)],
    ) -> MapContents {
        let mut maps = MapContents::default();
        for (pod, flags) in [(&self.a, a_flags), (&self.b, b_flags)] {
            for ip in [IpAddr::from(pod.ip), IpAddr::from(pod.ip6)] {
                let identity = IdentityValue {
                    identity: pod.identity,
                };
                maps.identities.insert(ip_key(ip.into()), identity);
                let endpoint = EndpointValue {
                    profile: pod.profile,
                    flags,
                };
                maps.endpoints.insert(endpoint_key(ip), endpoint);
            }
        }
        for (profile, identity, direction, protocol, port) in rules {
            maps.policy.insert(
                policy_key(*profile, *identity, *direction, *protocol, *port),
                PolicyValue {
                    flags: POLICY_ALLOW,
                },
            );
        }
        maps
    }

    /// The programs of the tc filters on a pod veth: (ingress, egress).
    fn programs_on(&self, ifname: &str) -> (Vec<AttachedProgram>, Vec<AttachedProgram>) {
        let filters = |direction: &str| -> Vec<AttachedProgram> {
            let out = Command::new("tc")
                .args(["-n", &self.node.name, "-j", "filter", "show", "dev", ifname])
                .arg(direction)
                .output()
                .expect("tc runs");
            assert!(out.status.success(), "{out:?}");
            let filters: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("tc prints JSON");
            filters
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|filter| {
                    let program = &filter["options"]["prog"];
                    Some(AttachedProgram {
                        id: u32::try_from(program["id"].as_u64()?).ok()?,
                        name: program["name"].as_str()?.to_owned(),
                    })
                })
                .collect()
        };
        (filters("ingress"), filters("egress"))
    }

    fn counts(&mut self) -> [u64; weft_ebpf_common::REASON_COUNT as usize] {
        self.datapath().verdict_counts().expect("read the counters")
    }

    /// Waits for an event `matches` accepts, skipping others.
    fn expect_event(
        &mut self,
        what: &str,
        matches: impl Fn(&VerdictEvent) -> bool,
    ) -> VerdictEvent {
        let mut found = None;
        wait_until(what, || {
            found = self.events.by_ref().find(|event| matches(event));
            found.is_some()
        });
        found.expect("wait_until returned after a match")
    }
}

/// Runs a command line (split at whitespace) in `ns`.
fn run(ns: &Netns, command: &str) {
    ns.exec_ok(&command.split_whitespace().collect::<Vec<_>>());
}

/// A pod namespace with `eth0` (a /32 and a /128, default routes via
/// link-local gateways) paired with `h<tag>` in the node, which routes the
/// pod's addresses to it. Neighbours are permanent: no ARP or NDP needed.
fn wire_pod(node: &Netns, tag: &str, n: u8) -> Pod {
    let ns = Netns::new(tag);
    let host_if = format!("h{tag}");
    let mac = [0x02, 0, 0, 0, 0x0a, n];
    let pod_mac = mac_text(&mac);
    let host_mac = mac_text(&[0x02, 0, 0, 0, 0x0b, n]);
    let ip = Ipv4Addr::new(10, 250, 0, n);
    let ip6 = Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, u16::from(n));
    let pod_ns = &ns.name;
    run(
        node,
        &format!(
            "ip link add {host_if} address {host_mac} type veth \
             peer name eth0 address {pod_mac} netns {pod_ns}"
        ),
    );
    run(node, &format!("ip link set {host_if} up"));
    run(node, &format!("ip route add {ip}/32 dev {host_if}"));
    run(node, &format!("ip -6 route add {ip6}/128 dev {host_if}"));
    for addr in [ip.to_string(), ip6.to_string()] {
        run(
            node,
            &format!("ip neigh replace {addr} dev {host_if} lladdr {pod_mac} nud permanent"),
        );
    }
    run(&ns, &format!("ip addr add {ip}/32 dev eth0"));
    run(&ns, &format!("ip -6 addr add {ip6}/128 dev eth0 nodad"));
    run(&ns, "ip link set eth0 up");
    run(&ns, &format!("ip route add {GATEWAY} dev eth0"));
    run(&ns, &format!("ip route add default via {GATEWAY} dev eth0"));
    run(
        &ns,
        &format!("ip -6 route add default via {GATEWAY6} dev eth0"),
    );
    for gateway in [GATEWAY, GATEWAY6] {
        run(
            &ns,
            &format!("ip neigh replace {gateway} dev eth0 lladdr {host_mac} nud permanent"),
        );
    }
    let ifindex = node
        .exec_ok(&["cat", &format!("/sys/class/net/{host_if}/ifindex")])
        .trim()
        .parse()
        .expect("an ifindex");
    Pod {
        ns,
        ip,
        ip6,
        mac,
        host_if,
        ifindex,
        slot: u32::from(n),
        identity: 1000 + u32::from(n),
        profile: 10 + u32::from(n),
    }
}

/// A "world" namespace behind the node's uplink `up0` (10.251.0.1/24), to
/// which the node masquerades pod traffic like a cluster's egress; the
/// node-device programs are attached to `up0`.
fn wire_world(lab: &mut Lab) -> Netns {
    let world = Netns::new("world");
    let node = &lab.node;
    run(
        node,
        &format!(
            "ip link add up0 type veth peer name eth0 netns {}",
            world.name
        ),
    );
    run(node, "ip addr add 10.251.0.1/24 dev up0");
    run(node, "ip link set up0 up");
    run(&world, "ip addr add 10.251.0.2/24 dev eth0");
    run(&world, "ip link set eth0 up");
    node.exec_ok(&[
        "nft",
        "add table ip weft; \
         add chain ip weft post { type nat hook postrouting priority srcnat; }; \
         add rule ip weft post ip saddr 10.250.0.0/24 oifname up0 masquerade",
    ]);
    let datapath = lab.datapath.as_mut().expect("the datapath is open");
    node.run(|| datapath.attach_node_device("up0").expect("attach to up0"));
    world
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn port(event: &VerdictEvent) -> u16 {
    u16::from_be_bytes(event.dst_port)
}

fn ipv4_of(addr: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
}

const ANY_PORT: PortPrefix = PortPrefix { value: 0, len: 0 };

fn tcp_port(port: u16) -> PortPrefix {
    PortPrefix {
        value: port,
        len: 16,
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn default_deny_ingress_blocks_new_flows_to_the_pod_but_not_its_replies() {
    let mut lab = Lab::new();
    let _a80 = lab.a.listen(80);
    let _b80 = lab.b.listen(80);
    assert!(lab.a.connects_to(lab.b.addr(80)), "no policy: A reaches B");
    assert!(lab.b.connects_to(lab.a.addr(80)), "no policy: B reaches A");

    lab.set_policy(0, ENFORCE_INGRESS, &[]);
    let before = lab.counts();
    assert!(!lab.a.connects_to(lab.b.addr(80)), "B denies all ingress");
    assert!(
        lab.b.connects_to(lab.a.addr(80)),
        "B's own connection works: its reply passes by conntrack"
    );
    let (a_ip, b_ip, b_ifindex) = (lab.a.ip, lab.b.ip, lab.b.ifindex);
    let (a_identity, b_profile) = (lab.a.identity, lab.b.profile);
    let event = lab.expect_event("a drop event for A -> B:80", |e| {
        e.reason == REASON_DROPPED_BY_POLICY && port(e) == 80 && ipv4_of(&e.src) == a_ip
    });
    assert_eq!(event.direction, DIRECTION_INGRESS);
    assert_eq!((event.family, event.protocol), (FAMILY_IPV4, TCP));
    assert_eq!(ipv4_of(&event.dst), b_ip);
    assert_eq!(event.ifindex, b_ifindex);
    assert_eq!(
        (event.peer_identity, event.profile),
        (a_identity, b_profile)
    );

    let after = lab.counts();
    let moved = |reason: u32| after[reason as usize] - before[reason as usize];
    assert!(
        moved(REASON_DROPPED_BY_POLICY) >= 1,
        "{before:?} -> {after:?}"
    );
    assert!(
        moved(REASON_ALLOWED_NOT_ENFORCED) >= 1,
        "{before:?} -> {after:?}"
    );
    assert!(
        moved(REASON_ALLOWED_ESTABLISHED) >= 1,
        "{before:?} -> {after:?}"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_allow_rule_opens_only_its_port_to_its_peer() {
    let mut lab = Lab::new();
    let _b80 = lab.b.listen(80);
    let _b81 = lab.b.listen(81);
    let rule = (
        lab.b.profile,
        lab.a.identity,
        DIRECTION_INGRESS,
        TCP,
        tcp_port(80),
    );
    lab.set_policy(0, ENFORCE_INGRESS, &[rule]);
    assert!(lab.a.connects_to(lab.b.addr(80)), "port 80 is allowed");
    assert!(!lab.a.connects_to(lab.b.addr(81)), "port 81 is not");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn egress_deny_blocks_even_when_the_peer_allows() {
    let mut lab = Lab::new();
    let _a80 = lab.a.listen(80);
    let _b80 = lab.b.listen(80);
    let b_allows_a = (
        lab.b.profile,
        lab.a.identity,
        DIRECTION_INGRESS,
        PROTOCOL_ANY,
        ANY_PORT,
    );
    lab.set_policy(ENFORCE_EGRESS, ENFORCE_INGRESS, &[b_allows_a]);
    assert!(!lab.a.connects_to(lab.b.addr(80)), "A may not send");
    assert!(
        lab.b.connects_to(lab.a.addr(80)),
        "A's replies to B pass by conntrack"
    );
    let (a_ip, a_ifindex) = (lab.a.ip, lab.a.ifindex);
    let event = lab.expect_event("an egress drop event for A", |e| {
        e.reason == REASON_DROPPED_BY_POLICY && ipv4_of(&e.src) == a_ip
    });
    assert_eq!(event.direction, DIRECTION_EGRESS);
    assert_eq!(event.ifindex, a_ifindex, "the sender's host veth");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn spoofed_source_addresses_and_macs_are_dropped() {
    let mut lab = Lab::new();
    let target = lab.b.addr(5000);
    let before = lab.counts();
    lab.a
        .ns
        .exec_ok(&["ip", "addr", "add", "10.250.0.99/32", "dev", "eth0"]);
    lab.a.send_udp(Ipv4Addr::new(10, 250, 0, 99), target);
    wait_until("the forged source IP is dropped", || {
        lab.counts()[REASON_DROPPED_SPOOFED_IP as usize]
            > before[REASON_DROPPED_SPOOFED_IP as usize]
    });
    lab.expect_event("a spoofed-IP event", |e| {
        e.reason == REASON_DROPPED_SPOOFED_IP && ipv4_of(&e.src) == Ipv4Addr::new(10, 250, 0, 99)
    });

    let before_arp = lab.counts()[REASON_DROPPED_SPOOFED_IP as usize];
    // An unsolicited ARP claiming the forged address (busybox arping).
    run(
        &lab.a.ns,
        "busybox arping -U -c 1 -I eth0 -s 10.250.0.99 10.250.0.2",
    );
    wait_until("the forged ARP sender is dropped", || {
        lab.counts()[REASON_DROPPED_SPOOFED_IP as usize] > before_arp
    });

    lab.a
        .ns
        .exec_ok(&["ip", "link", "set", "eth0", "address", "02:00:00:00:0a:99"]);
    lab.a.send_udp(lab.a.ip, target);
    wait_until("the forged source MAC is dropped", || {
        lab.counts()[REASON_DROPPED_SPOOFED_MAC as usize]
            > before[REASON_DROPPED_SPOOFED_MAC as usize]
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn pod_filters_keep_enforcing_across_a_restart_and_are_replaced_without_doubles() {
    let mut lab = Lab::new();
    let _a80 = lab.a.listen(80);
    let _b80 = lab.b.listen(80);
    lab.set_policy(0, ENFORCE_INGRESS, &[]);
    let written = lab.datapath().policy_maps().expect("read the maps");
    let interfaces = lab.datapath().pod_interfaces().expect("read interfaces");

    // Attaching again in the same weftd keeps one link per hook.
    lab.attach();
    let host_if = lab.a.host_if.clone();
    let (ingress, egress) = lab.programs_on(&host_if);
    assert_eq!(
        (ingress.len(), egress.len()),
        (1, 1),
        "{ingress:?} {egress:?}"
    );

    lab.datapath = None; // weftd is gone
    assert!(
        !lab.a.connects_to(lab.b.addr(80)),
        "still enforced without weftd"
    );
    assert!(lab.b.connects_to(lab.a.addr(80)), "and replies still pass");

    let mut reopened = Datapath::open(&lab.pins.0).expect("open again");
    assert_eq!(reopened.policy_maps().expect("adopted maps"), written);
    assert_eq!(
        reopened.pod_interfaces().expect("adopted interfaces"),
        interfaces
    );
    let names = reopened.pinned_link_names().expect("list pins");
    assert!(
        names.is_empty(),
        "pod veths hold filters, not pinned links: {names:?}"
    );
    lab.events = reopened.take_events().expect("the adopted ring");
    lab.datapath = Some(reopened);
    lab.attach();
    wait_until("only the new programs run on A's veth", || {
        let (new_ingress, new_egress) = lab.programs_on(&host_if);
        let only_new = |new: &[AttachedProgram], old: &[AttachedProgram]| {
            new.len() == 1 && new[0].id != old[0].id
        };
        only_new(&new_ingress, &ingress) && only_new(&new_egress, &egress)
    });
    assert!(
        !lab.a.connects_to(lab.b.addr(80)),
        "enforced by the new links"
    );
    assert!(
        lab.b.connects_to(lab.a.addr(80)),
        "replies pass the new links"
    );
    lab.expect_event("the adopted ring still reports drops", |e| {
        e.reason == REASON_DROPPED_BY_POLICY && port(e) == 80
    });

    let host_b = lab.b.host_if.clone();
    let datapath = lab.datapath.as_mut().expect("the datapath is open");
    lab.node
        .run(|| datapath.detach_pod(&host_b))
        .expect("detach B");
    let (ingress_b, egress_b) = lab.programs_on(&host_b);
    assert!(
        ingress_b.is_empty() && egress_b.is_empty(),
        "{ingress_b:?} {egress_b:?}"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn egress_is_decided_on_the_node_device_after_masquerade_and_replies_come_back() {
    let mut lab = Lab::new();
    let world = wire_world(&mut lab);
    let world_addr = |port: u16| SocketAddr::from((Ipv4Addr::new(10, 251, 0, 2), port));
    let _w80 = world.run(|| TcpListener::bind(world_addr(80)).expect("listen"));
    let _w81 = world.run(|| TcpListener::bind(world_addr(81)).expect("listen"));
    // A is isolated both ways; only egress to the world on port 80 is allowed.
    let a_to_world_80 = (
        lab.a.profile,
        IDENTITY_WORLD,
        DIRECTION_EGRESS,
        TCP,
        tcp_port(80),
    );
    lab.set_policy(ENFORCE_INGRESS | ENFORCE_EGRESS, 0, &[a_to_world_80]);

    assert!(
        lab.a.connects_to(world_addr(80)),
        "allowed at up0's egress; the reply, marked at up0's ingress before NAT is undone, \
         passes A's isolated ingress"
    );
    assert!(
        !lab.a.connects_to(world_addr(81)),
        "port 81 is denied at up0"
    );
    let (a_ip, a_ifindex) = (lab.a.ip, lab.a.ifindex);
    let event = lab.expect_event("an egress drop at the node device", |e| {
        e.reason == REASON_DROPPED_BY_POLICY && port(e) == 81
    });
    assert_eq!(event.direction, DIRECTION_EGRESS);
    assert_eq!(event.ifindex, a_ifindex, "the sending pod's host veth");
    assert_eq!(event.peer_identity, IDENTITY_WORLD);
    assert_eq!(
        ipv4_of(&event.src),
        Ipv4Addr::new(10, 251, 0, 1),
        "the packet as it leaves: masqueraded, the pod known from its slot ({a_ip})"
    );
    assert!(
        lab.node
            .run(|| TcpStream::connect_timeout(&world_addr(81), CONNECT_TIMEOUT).is_ok()),
        "the node's own traffic carries no slot and passes"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn ipv6_is_enforced_like_ipv4() {
    let mut lab = Lab::new();
    let _a80 = lab.a.listen_at(lab.a.addr6(80));
    let _b80 = lab.b.listen_at(lab.b.addr6(80));
    let _b81 = lab.b.listen_at(lab.b.addr6(81));
    let rule = (
        lab.b.profile,
        lab.a.identity,
        DIRECTION_INGRESS,
        TCP,
        tcp_port(80),
    );
    lab.set_policy(0, ENFORCE_INGRESS, &[rule]);
    assert!(lab.a.connects_to(lab.b.addr6(80)), "port 80 is allowed");
    assert!(!lab.a.connects_to(lab.b.addr6(81)), "port 81 is not");
    assert!(lab.b.connects_to(lab.a.addr6(80)), "B's replies pass");
    let a_ip6 = lab.a.ip6.octets();
    let event = lab.expect_event("an IPv6 drop event", |e| {
        e.reason == REASON_DROPPED_BY_POLICY && port(e) == 81
    });
    assert_eq!((event.family, event.protocol), (FAMILY_IPV6, TCP));
    assert_eq!(event.src, a_ip6);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_pinned_map_of_another_shape_is_refused_not_adopted() {
    let old = Pins::new();
    let _old_datapath = Datapath::open(&old.0).expect("the datapath loads");
    let new = Pins::new();
    std::fs::create_dir_all(&new.0).expect("make the pin directory");
    // bpffs supports hard links: the verdict counters pose as the config array.
    std::fs::hard_link(old.0.join(VERDICT_COUNTER_MAP), new.0.join(CONFIG_MAP))
        .expect("link the pin");
    match Datapath::open(&new.0) {
        Err(BpfError::IncompatiblePin { name, .. }) => assert_eq!(name, CONFIG_MAP),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a map of another shape was adopted"),
    }
}
