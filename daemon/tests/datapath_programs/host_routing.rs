//! eBPF host routing on the real programs: with it on, `from_pod` decides a
//! flow to a pod of this node both ways and redirects it into the pod in
//! the frame the host stack would have forwarded; its later packets and
//! replies follow, and whatever was not addressed pod IP to pod IP from its
//! first packet stays on the stack. Across nodes, a flow to R leaves by
//! the node device after A's egress verdict, and one from R enters A after
//! A's ingress verdict in `node_entry`. The programs ask the kernel's FIB,
//! so each case runs in a namespace of its own where A's and B's host
//! veths have the routes and neighbours the plugin writes, and a node
//! device leads to R (as weftd routes other nodes' pods) and the world.
//! A pod of this node is found by its address in `WEFT_LOCAL_PODS`, and
//! by the FIB when it has no entry there (a pod an older weftd wired):
//! each case runs both ways.

use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS, FLOW_PATH_REDIRECT,
    FLOW_PATH_STACK, FROM_POD_PROGRAM, FlowValue, MARK_ALLOWED, NODE_ENTRY_PROGRAM,
    REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_ESTABLISHED, REASON_ALLOWED_NOT_ENFORCED,
    REASON_DROPPED_BY_POLICY,
};
use weft_tests::Netns;

use crate::support::frames::{ACK, FIN, Flow, SYN, TCP, ipv4_checksum};
use crate::support::programs::{
    A, B, FAMILIES, FROM_A, Family, HOST_MAC, Pod, Programs, R, Rule, TC_ACT_OK, TC_ACT_REDIRECT,
    TC_ACT_SHOT, WORLD, port,
};
use crate::{KUBE_PROXY_MARK, a_calls_r_on_443, a_serves_r_on_80};
use weftd::bpf::TEST_RUN_IFINDEX;

/// B's host veth end's MAC (A's is `HOST_MAC`).
const B_HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0d, 2];
/// The node device towards R's node, its MAC and the next hop's there.
const NODE_DEVICE: &str = "weft-test0";
const NODE_DEVICE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0e, 1];
const R_NODE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0e, 2];
const FROM_B: ([u8; 6], [u8; 6]) = (B.mac, B_HOST_MAC);
const ETH_HLEN: usize = 14;

/// A node's namespace with host veths for A and B, as the plugin wires
/// them (a host route and a permanent neighbour per address).
struct Node {
    netns: Netns,
}

impl Node {
    fn new() -> Self {
        let netns = Netns::new("hostrt");
        for (pod, host, host_mac) in [(A, "a-host", HOST_MAC), (B, "b-host", B_HOST_MAC)] {
            let mac = mac_text(host_mac);
            let peer = format!("{}-pod", &host[..1]);
            netns.ip(&[
                "link", "add", host, "address", &mac, "type", "veth", "peer", "name", &peer,
            ]);
            netns.ip(&["link", "set", host, "up"]);
            netns.ip(&["link", "set", &peer, "up"]);
            for family in FAMILIES {
                let ip = pod.ip(family).to_string();
                let prefix = format!("{ip}/{}", if family == Family::V4 { 32 } else { 128 });
                netns.ip(&["route", "add", &prefix, "dev", host]);
                let pod_mac = mac_text(pod.mac);
                netns.ip(&[
                    "neigh",
                    "replace",
                    &ip,
                    "lladdr",
                    &pod_mac,
                    "dev",
                    host,
                    "nud",
                    "permanent",
                ]);
            }
        }
        let device_mac = mac_text(NODE_DEVICE_MAC);
        netns.ip(&[
            "link",
            "add",
            NODE_DEVICE,
            "address",
            &device_mac,
            "type",
            "veth",
            "peer",
            "name",
            "weft-test1",
        ]);
        netns.ip(&["link", "set", NODE_DEVICE, "up"]);
        netns.ip(&["link", "set", "weft-test1", "up"]);
        for pod in [R, WORLD] {
            for family in FAMILIES {
                let ip = pod.ip(family).to_string();
                netns.ip(&["route", "add", &ip, "dev", NODE_DEVICE]);
                let next = mac_text(R_NODE_MAC);
                netns.ip(&[
                    "neigh",
                    "replace",
                    &ip,
                    "lladdr",
                    &next,
                    "dev",
                    NODE_DEVICE,
                    "nud",
                    "permanent",
                ]);
            }
        }
        // Another node's pods behind a gateway no neighbour entry resolves
        // yet (direct mode before the first packet to a peer).
        netns.ip(&[
            "route",
            "add",
            "10.250.2.0/24",
            "via",
            "198.18.5.2",
            "dev",
            NODE_DEVICE,
            "onlink",
        ]);
        netns.ip(&[
            "-6",
            "route",
            "add",
            "fd00:250:2::/64",
            "via",
            "fd00:5::2",
            "dev",
            NODE_DEVICE,
            "onlink",
        ]);
        netns.exec_ok(&[
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.forwarding=1",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        Self { netns }
    }

    fn ifindex(&self, ifname: &str) -> u32 {
        let path = format!("/sys/class/net/{ifname}/ifindex");
        let text = self.netns.exec_ok(&["cat", &path]);
        text.trim().parse().expect("an ifindex")
    }

    /// Runs `case` once per [`Lookup`].
    fn run(&self, case: impl Fn(&mut Programs, &Wiring) + Send + Sync) {
        for lookup in [Lookup::LocalPods, Lookup::Fib] {
            self.run_with(lookup, &case);
        }
    }

    /// Runs `case` in the namespace with the programs loaded, host routing
    /// on and both pods' records at their host veths, found by `lookup`.
    fn run_with(&self, lookup: Lookup, case: impl FnOnce(&mut Programs, &Wiring) + Send) {
        let wiring = Wiring {
            a_host: self.ifindex("a-host"),
            b_host: self.ifindex("b-host"),
        };
        self.netns.run(|| {
            let mut programs = Programs::load();
            for (ifindex, pod, host_mac) in
                [(wiring.a_host, A, HOST_MAC), (wiring.b_host, B, B_HOST_MAC)]
            {
                match lookup {
                    Lookup::LocalPods => programs.wire_local(ifindex, pod, host_mac),
                    Lookup::Fib => programs.wire(ifindex, pod),
                }
            }
            programs.host_routing(true);
            programs.counted();
            case(&mut programs, &wiring);
        });
    }
}

/// How host routing finds a pod of this node.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    /// By its address in `WEFT_LOCAL_PODS`, as weftd writes it.
    LocalPods,
    /// By the FIB: the pod's addresses have no entry there.
    Fib,
}

struct Wiring {
    a_host: u32,
    b_host: u32,
}

/// A pod on a node behind a gateway (in the pod networks, no identity).
const BEHIND_GATEWAY: Pod = Pod {
    ipv4: std::net::Ipv4Addr::new(10, 250, 2, 4),
    ipv6: std::net::Ipv6Addr::new(0xfd00, 0x250, 2, 0, 0, 0, 0, 4),
    ..R
};

/// What a frame leaving for R's node is addressed to: R's node's MAC.
const R_NODE_MAC_POD: Pod = Pod {
    mac: R_NODE_MAC,
    ..R
};

fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|byte| format!("{byte:02x}")).join(":")
}

fn b_serves_a_on_80() -> Rule {
    Rule {
        pod: B,
        direction: DIRECTION_INGRESS,
        peer: A.identity,
        protocol: TCP,
        port: port(80),
    }
}

/// Checks `frame` is on its way from `to`'s host veth (`host_mac`) into
/// `to`, one hop later than it was sent (TTL 64 in every crafted frame).
fn assert_forwarded_into(frame: &[u8], to: Pod, host_mac: [u8; 6], family: Family) {
    assert_eq!(frame[..6], to.mac, "destination MAC: the pod's");
    assert_eq!(frame[6..12], host_mac, "source MAC: its host veth's");
    match family {
        Family::V4 => {
            assert_eq!(frame[ETH_HLEN + 8], 63, "TTL");
            let header = &frame[ETH_HLEN..ETH_HLEN + 20];
            assert_eq!(
                ipv4_checksum(header),
                0,
                "the header checksum follows the TTL"
            );
        }
        Family::V6 => assert_eq!(frame[ETH_HLEN + 7], 63, "hop limit"),
    }
}

fn path_of(programs: &Programs, flow: &Flow) -> Option<u8> {
    programs.remembered(flow).map(|entry| entry.path)
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_flow_to_a_local_pod_is_decided_both_ways_and_delivered_into_it_and_so_are_its_replies() {
    Node::new().run(|programs, _| {
        programs.enforce(B, ENFORCE_INGRESS);
        programs.allow(&[b_serves_a_on_80()]);
        programs.counted();
        for family in FAMILIES {
            let flow = Flow::tcp(A.at(family, 40000), B.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, SYN), KUBE_PROXY_MARK);
            assert_eq!(run.action, TC_ACT_REDIRECT, "{family:?}");
            assert_eq!(
                programs.counted(),
                [REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_NOT_ENFORCED],
                "B's ingress by policy, A's egress not enforced"
            );
            assert_eq!(
                run.mark, KUBE_PROXY_MARK,
                "Weft's bits go, kube-proxy's stay"
            );
            assert_forwarded_into(&run.frame, B, B_HOST_MAC, family);
            assert_eq!(path_of(programs, &flow), Some(FLOW_PATH_REDIRECT));

            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, ACK), 0);
            assert_eq!(run.action, TC_ACT_REDIRECT, "a later packet");
            assert_eq!(programs.counted(), [REASON_ALLOWED_ESTABLISHED]);

            programs.send_from(B);
            let run = programs.run(FROM_POD_PROGRAM, &flow.reply().frame(FROM_B, SYN | ACK), 0);
            assert_eq!(run.action, TC_ACT_REDIRECT, "the reply, from B's veth");
            assert_eq!(programs.counted(), [REASON_ALLOWED_ESTABLISHED]);
            assert_forwarded_into(&run.frame, A, HOST_MAC, family);
            programs.send_from(A);
        }
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_flow_to_a_local_pod_that_either_side_refuses_is_dropped_with_its_reason_and_remembered_nowhere()
 {
    Node::new().run(|programs, wiring| {
        programs.enforce(B, ENFORCE_INGRESS);
        programs.counted();
        programs.events();
        for family in FAMILIES {
            let flow = Flow::tcp(A.at(family, 40001), B.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_SHOT, "B admits nothing");
            assert_eq!(
                programs.counted(),
                [REASON_ALLOWED_NOT_ENFORCED, REASON_DROPPED_BY_POLICY]
            );
            let events = programs.events();
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(
                (events[0].direction, events[0].ifindex),
                (DIRECTION_INGRESS, wiring.b_host),
                "the drop names B's veth"
            );
            assert_eq!(path_of(programs, &flow), None);
        }

        programs.enforce(B, 0);
        programs.enforce(A, ENFORCE_EGRESS);
        programs.counted();
        for family in FAMILIES {
            let flow = Flow::tcp(A.at(family, 40002), B.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_SHOT, "A may send nothing");
            assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
            let events = programs.events();
            assert_eq!(
                (events[0].direction, events[0].ifindex),
                (DIRECTION_EGRESS, TEST_RUN_IFINDEX)
            );
            assert_eq!(path_of(programs, &flow), None);
        }
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn what_is_not_pod_ip_to_pod_ip_from_its_first_packet_stays_on_the_stack() {
    Node::new().run(|programs, _| {
        for family in FAMILIES {
            let pending = A.pending_mark();
            let unrouted = Pod {
                ipv4: "10.250.0.99".parse().expect("an address"),
                ipv6: "fd00:250::99".parse().expect("an address"),
                ..B
            };
            let nowhere = Flow::tcp(A.at(family, 40003), unrouted.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &nowhere.frame(FROM_A, SYN), 0);
            assert_eq!(
                (run.action, run.mark),
                (TC_ACT_OK, pending),
                "no route: the stack's"
            );

            let to_b = Flow::tcp(A.at(family, 40004), B.at(family, 80));
            let mut last_hop = to_b.frame(FROM_A, SYN);
            let hop_field = ETH_HLEN + if family == Family::V4 { 8 } else { 7 };
            last_hop[hop_field] = 1;
            let run = programs.run(FROM_POD_PROGRAM, &last_hop, 0);
            assert_eq!(
                (run.action, run.mark),
                (TC_ACT_OK, pending),
                "the stack answers an expiring TTL"
            );

            // As `to_pod` remembers a flow after kube-proxy's DNAT: its
            // replies need the stack to undo the translation.
            let translated = Flow::tcp(A.at(family, 40005), B.at(family, 8080));
            let entry = FlowValue {
                path: FLOW_PATH_STACK,
                ..entry_allowed_now(programs)
            };
            programs.set_remembered(&translated, entry);
            programs.send_from(B);
            let reply = translated.reply().frame(FROM_B, SYN | ACK);
            let run = programs.run(FROM_POD_PROGRAM, &reply, 0);
            assert_eq!((run.action, run.mark), (TC_ACT_OK, MARK_ALLOWED));
            programs.send_from(A);
        }
        programs.host_routing(false);
        for family in FAMILIES {
            let flow = Flow::tcp(A.at(family, 40006), B.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, SYN), 0);
            assert_eq!((run.action, run.mark), (TC_ACT_OK, A.pending_mark()), "off");
            let redirected = Flow::tcp(A.at(family, 40000), B.at(family, 80));
            let entry = FlowValue {
                path: FLOW_PATH_REDIRECT,
                ..entry_allowed_now(programs)
            };
            programs.set_remembered(&redirected, entry);
            let run = programs.run(FROM_POD_PROGRAM, &redirected.frame(FROM_A, FIN | ACK), 0);
            assert_eq!(
                (run.action, run.mark),
                (TC_ACT_OK, MARK_ALLOWED),
                "a redirected flow goes through the stack once host routing is off"
            );
        }
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_flow_to_another_nodes_pod_leaves_by_the_node_device_after_the_senders_egress_verdict() {
    Node::new().run(|programs, _| {
        programs.enforce(A, ENFORCE_EGRESS);
        programs.allow(&[a_calls_r_on_443()]);
        programs.counted();
        for family in FAMILIES {
            let flow = Flow::tcp(A.at(family, 40010), R.at(family, 443));
            let run = programs.run(FROM_POD_PROGRAM, &flow.frame(FROM_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_REDIRECT, "{family:?}");
            assert_eq!(
                programs.counted(),
                [REASON_ALLOWED_BY_POLICY],
                "only A's verdict: R's is taken on its node"
            );
            assert_eq!(run.mark, 0, "no pending verdict for the node device's exit");
            assert_forwarded_into(&run.frame, R_NODE_MAC_POD, NODE_DEVICE_MAC, family);
            assert_eq!(path_of(programs, &flow), Some(FLOW_PATH_REDIRECT));

            let refused = Flow::tcp(A.at(family, 40011), R.at(family, 80));
            let run = programs.run(FROM_POD_PROGRAM, &refused.frame(FROM_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_SHOT);
            assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);

            // The kernel resolves the gateway and fills the MACs in.
            let unresolved = Flow::tcp(A.at(family, 40013), BEHIND_GATEWAY.at(family, 443));
            let frame = unresolved.frame(FROM_A, SYN);
            programs.enforce(A, 0);
            let run = programs.run(FROM_POD_PROGRAM, &frame, 0);
            programs.enforce(A, ENFORCE_EGRESS);
            assert_eq!(run.action, TC_ACT_REDIRECT, "an unresolved next hop");
            assert_eq!(
                run.frame[..12],
                frame[..12],
                "MACs left to the neighbour code"
            );
            let hop_field = ETH_HLEN + if family == Family::V4 { 8 } else { 7 };
            assert_eq!(run.frame[hop_field], 63);
            programs.counted();

            // Out of the pod networks: masquerade is the stack's.
            let world = Flow::tcp(A.at(family, 40012), WORLD.at(family, 443));
            let run = programs.run(FROM_POD_PROGRAM, &world.frame(FROM_A, SYN), 0);
            assert_eq!((run.action, run.mark), (TC_ACT_OK, A.pending_mark()));
        }
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_flow_from_another_nodes_pod_enters_the_pod_from_the_node_device_after_its_ingress_verdict() {
    Node::new().run(|programs, wiring| {
        programs.enforce(A, ENFORCE_INGRESS);
        programs.allow(&[a_serves_r_on_80()]);
        programs.counted();
        programs.events();
        let from_wire = (R_NODE_MAC, NODE_DEVICE_MAC);
        for family in FAMILIES {
            let flow = Flow::tcp(R.at(family, 40020), A.at(family, 80));
            let run = programs.run(NODE_ENTRY_PROGRAM, &flow.frame(from_wire, SYN), 0);
            assert_eq!(run.action, TC_ACT_REDIRECT, "{family:?}");
            assert_eq!(programs.counted(), [REASON_ALLOWED_BY_POLICY]);
            assert_forwarded_into(&run.frame, A, HOST_MAC, family);
            assert_eq!(path_of(programs, &flow), Some(FLOW_PATH_REDIRECT));

            let run = programs.run(NODE_ENTRY_PROGRAM, &flow.frame(from_wire, ACK), 0);
            assert_eq!(run.action, TC_ACT_REDIRECT, "a later packet");
            assert_eq!(programs.counted(), [REASON_ALLOWED_ESTABLISHED]);
            let run = programs.run(FROM_POD_PROGRAM, &flow.reply().frame(FROM_A, ACK), 0);
            assert_eq!(
                run.action, TC_ACT_REDIRECT,
                "A's reply leaves by the node device"
            );
            assert_eq!(programs.counted(), [REASON_ALLOWED_ESTABLISHED]);

            let refused = Flow::tcp(R.at(family, 40021), A.at(family, 81));
            let run = programs.run(NODE_ENTRY_PROGRAM, &refused.frame(from_wire, SYN), 0);
            assert_eq!(run.action, TC_ACT_SHOT);
            assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
            let events = programs.events();
            let drop = events.last().expect("the drop is reported");
            assert_eq!(
                (drop.direction, drop.ifindex),
                (DIRECTION_INGRESS, wiring.a_host)
            );

            // Not from a pod network (a NodePort client, a node): the stack's.
            let world = Flow::tcp(WORLD.at(family, 40022), A.at(family, 80));
            let run = programs.run(NODE_ENTRY_PROGRAM, &world.frame(from_wire, SYN), 0);
            assert_eq!((run.action, run.mark), (TC_ACT_OK, 0));
            assert_eq!(programs.counted(), Vec::<u32>::new(), "decided in to_pod");
        }
    });
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_local_pod_is_found_by_its_address_without_the_fib_while_its_record_owns_the_address() {
    let node = Node::new();
    for family in FAMILIES {
        node.netns
            .ip(&["route", "del", &B.ip(family).to_string(), "dev", "b-host"]);
    }
    node.run_with(Lookup::LocalPods, |programs, wiring| {
        programs.enforce(B, 0);
        let from_wire = (R_NODE_MAC, NODE_DEVICE_MAC);
        let to_b = |programs: &Programs, family, port| {
            let flow = Flow::tcp(R.at(family, port), B.at(family, 80));
            programs.run(NODE_ENTRY_PROGRAM, &flow.frame(from_wire, SYN), 0)
        };
        for family in FAMILIES {
            let run = to_b(programs, family, 40030);
            assert_eq!(run.action, TC_ACT_REDIRECT, "no route to B: {family:?}");
            assert_forwarded_into(&run.frame, B, B_HOST_MAC, family);
        }

        // B's addresses go to a new pod behind A's veth before the old
        // pod's record goes: the addresses stay the new pod's.
        let new_b = Pod {
            mac: [0x02, 0, 0, 0, 0x0a, 9],
            ..B
        };
        programs.wire_local(wiring.a_host, new_b, HOST_MAC);
        programs.unwire(wiring.b_host);
        for family in FAMILIES {
            let run = to_b(programs, family, 40031);
            assert_eq!(run.action, TC_ACT_REDIRECT, "{family:?}");
            assert_forwarded_into(&run.frame, new_b, HOST_MAC, family);
        }

        // A record that no longer owns the addresses leads nowhere: the
        // stack decides (and finds no route).
        programs.wire(wiring.a_host, A);
        for family in FAMILIES {
            let run = to_b(programs, family, 40032);
            assert_eq!((run.action, run.mark), (TC_ACT_OK, 0), "{family:?}");
        }
    });
}

/// A live entry of a flow allowed under today's policy.
fn entry_allowed_now(programs: &Programs) -> FlowValue {
    FlowValue {
        expires_ns: Programs::kernel_now() + 60_000_000_000,
        generation: programs.generation(),
        state: weft_ebpf_common::FLOW_SEEN_REPLY,
        layout: weft_ebpf_common::FLOW_LAYOUT_LIFETIME,
        ..FlowValue::default()
    }
}
