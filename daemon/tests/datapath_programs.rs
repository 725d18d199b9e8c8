//! The policy programs themselves on crafted frames (root): each case loads
//! the embedded object with maps of its own, writes them through weftd's
//! writers, runs the programs with BPF_PROG_TEST_RUN and checks the TC
//! action, the mark left for the next hook, the verdict counters, the
//! events and conntrack. No network is involved (see `support::programs`).

#[path = "datapath_programs/conntrack.rs"]
mod conntrack;
#[path = "datapath_programs/fragments.rs"]
mod fragments;
#[path = "datapath_programs/full_maps.rs"]
mod full_maps;
#[path = "datapath_programs/host_routing.rs"]
mod host_routing;
#[path = "datapath_programs/icmp_errors.rs"]
mod icmp_errors;
#[path = "datapath_programs/ipv6_extensions.rs"]
mod ipv6_extensions;
mod support;
#[path = "datapath_programs/upgrade.rs"]
mod upgrade;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS, FROM_POD_PROGRAM,
    FlowKey, FlowValue, IDENTITY_ANY, IDENTITY_WORLD, MARK_ALLOWED, MAX_FLOWS, NODE_ENTRY_PROGRAM,
    NODE_EXIT_PROGRAM, PROTOCOL_ANY, REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_ESTABLISHED,
    REASON_ALLOWED_NOT_ENFORCED, REASON_ALLOWED_OWN_TRAFFIC, REASON_DROPPED_BY_POLICY,
    REASON_DROPPED_SPOOFED_IP, REASON_DROPPED_SPOOFED_MAC, REASON_DROPPED_UNKNOWN_ENDPOINT,
    REASON_DROPPED_UNSUPPORTED, TO_POD_PROGRAM,
};

use support::frames::{
    ACK, Flow, ICMPV6, SYN, TCP, UDP, arp_request, ethernet, icmp, ip_frame, udp,
};
use support::programs::{
    A, ANY_PORT, B, FAMILIES, FROM_A, Family, Pod, Programs, R, Rule, TC_ACT_OK, TC_ACT_SHOT, TO_A,
    WORLD, port,
};
use weft_policy::{Direction, Packet, PortPrefix, Verdict, evaluate};

const ROUTER_ADVERT: u8 = 134;
const NEIGHBOUR_SOLICIT: u8 = 135;
const NEIGHBOUR_ADVERT: u8 = 136;
const REDIRECT: u8 = 137;

/// kube-proxy's masquerade bit: Weft never touches marks outside its own.
const KUBE_PROXY_MARK: u32 = 0x4000;

fn a_serves_r_on_80() -> Rule {
    Rule {
        pod: A,
        direction: DIRECTION_INGRESS,
        peer: R.identity,
        protocol: TCP,
        port: port(80),
    }
}

fn a_calls_r_on_443() -> Rule {
    Rule {
        pod: A,
        direction: DIRECTION_EGRESS,
        peer: R.identity,
        protocol: TCP,
        port: port(443),
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn ingress_policy_passes_allowed_new_flows_remembers_them_and_drops_the_rest() {
    let mut programs = Programs::load();
    for family in FAMILIES {
        let open = Flow::tcp(WORLD.at(family, 40000), A.at(family, 8080));
        let run = programs.run(TO_POD_PROGRAM, &open.frame(TO_A, SYN), 0);
        assert_eq!(run.action, TC_ACT_OK, "nothing isolates A yet");
        assert_eq!(programs.counted(), [REASON_ALLOWED_NOT_ENFORCED]);
        assert!(
            programs.remembered(&open).is_some(),
            "its replies must pass"
        );
    }

    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    programs.counted();
    for family in FAMILIES {
        let allowed = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        let run = programs.run(TO_POD_PROGRAM, &allowed.frame(TO_A, SYN), KUBE_PROXY_MARK);
        assert_eq!((run.action, run.mark), (TC_ACT_OK, KUBE_PROXY_MARK));
        assert_eq!(programs.counted(), [REASON_ALLOWED_BY_POLICY]);
        let entry = programs
            .remembered(&allowed)
            .expect("the flow is remembered");
        assert_eq!(entry.generation, programs.generation());

        let other_port = Flow::tcp(R.at(family, 40000), A.at(family, 81));
        let other_protocol = Flow::udp(R.at(family, 40000), A.at(family, 80));
        let other_peer = Flow::tcp(WORLD.at(family, 40000), A.at(family, 80));
        for denied in [other_port, other_protocol, other_peer] {
            let run = programs.run(TO_POD_PROGRAM, &denied.frame(TO_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_SHOT, "{denied:?}");
            assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
            assert_eq!(programs.remembered(&denied), None);
        }
        let events = programs.events();
        let identities: Vec<u32> = events.iter().map(|e| e.peer_identity).collect();
        assert_eq!(identities, [R.identity, R.identity, IDENTITY_WORLD]);
        for (event, denied) in events.iter().zip([other_port, other_protocol, other_peer]) {
            assert_eq!(event.reason, REASON_DROPPED_BY_POLICY);
            assert_eq!(
                (event.direction, event.profile),
                (DIRECTION_INGRESS, A.profile)
            );
            let key = denied.key();
            let seen = (event.family, event.protocol, event.src, event.dst);
            assert_eq!(seen, (key.family, key.protocol, key.src, key.dst));
            assert_eq!(
                (event.src_port, event.dst_port),
                (key.src_port, key.dst_port)
            );
        }
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_peer_is_the_longest_prefix_and_any_of_four_lookups_on_a_port_prefix_allows() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    let (block, small_block) = (2000, 2001);
    programs.add_prefixes([
        ("203.0.113.0/24".parse().unwrap(), block),
        ("203.0.113.0/28".parse().unwrap(), small_block),
        ("2001:db8::/32".parse().unwrap(), block),
        ("2001:db8::/120".parse().unwrap(), small_block),
    ]);
    let ingress = |peer, protocol, port| Rule {
        pod: A,
        direction: DIRECTION_INGRESS,
        peer,
        protocol,
        port,
    };
    let ports_8000_to_8007 = PortPrefix {
        value: 8000,
        len: 13,
    };
    programs.allow(&[
        ingress(small_block, TCP, ports_8000_to_8007),
        ingress(IDENTITY_ANY, UDP, port(53)),
        ingress(R.identity, PROTOCOL_ANY, ANY_PORT),
    ]);
    programs.counted();
    for family in FAMILIES {
        let cases = [
            (Flow::tcp(WORLD.at(family, 40000), A.at(family, 8000)), true),
            (Flow::tcp(WORLD.at(family, 40000), A.at(family, 8007)), true),
            (
                Flow::tcp(WORLD.at(family, 40000), A.at(family, 8008)),
                false,
            ),
            (Flow::udp(WORLD.at(family, 40000), A.at(family, 53)), true),
            (Flow::udp(WORLD.at(family, 40000), A.at(family, 54)), false),
            (Flow::udp(R.at(family, 40000), A.at(family, 9999)), true),
            (Flow::tcp(R.at(family, 40000), A.at(family, 1)), true),
        ];
        for (flow, allowed) in cases {
            let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
            let (action, reason) = if allowed {
                (TC_ACT_OK, REASON_ALLOWED_BY_POLICY)
            } else {
                (TC_ACT_SHOT, REASON_DROPPED_BY_POLICY)
            };
            assert_eq!(run.action, action, "{flow:?}");
            assert_eq!(programs.counted(), [reason], "{flow:?}");
        }
        let identities: Vec<u32> = programs.events().iter().map(|e| e.peer_identity).collect();
        assert_eq!(identities, [small_block, small_block]);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_packet_for_a_local_address_without_an_endpoint_entry_is_dropped() {
    let mut programs = Programs::load();
    let unknown = [
        IpAddr::from(Ipv4Addr::new(10, 250, 0, 9)),
        IpAddr::from(Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, 9)),
    ];
    for (family, address) in FAMILIES.into_iter().zip(unknown) {
        let flow = Flow::tcp(R.at(family, 40000), SocketAddr::new(address, 80));
        let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
        assert_eq!(run.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_UNKNOWN_ENDPOINT]);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn egress_is_left_pending_where_the_pod_sends_and_settled_where_the_packet_leaves() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_EGRESS);
    programs.allow(&[a_calls_r_on_443()]);
    programs.counted();
    for family in FAMILIES {
        let allowed = Flow::tcp(A.at(family, 50000), R.at(family, 443));
        let frame = allowed.frame(FROM_A, SYN);
        let sent = programs.run(FROM_POD_PROGRAM, &frame, KUBE_PROXY_MARK);
        assert_eq!(sent.action, TC_ACT_OK);
        assert_eq!(sent.mark, A.pending_mark() | KUBE_PROXY_MARK);
        assert!(programs.counted().is_empty(), "nothing is decided yet");
        let left = programs.run(NODE_EXIT_PROGRAM, &frame, sent.mark);
        assert_eq!((left.action, left.mark), (TC_ACT_OK, KUBE_PROXY_MARK));
        assert_eq!(programs.counted(), [REASON_ALLOWED_BY_POLICY]);
        assert!(programs.remembered(&allowed).is_some());

        let denied = Flow::tcp(A.at(family, 50000), R.at(family, 444));
        let frame = denied.frame(FROM_A, SYN);
        let sent = programs.run(FROM_POD_PROGRAM, &frame, 0);
        assert_eq!(sent.mark, A.pending_mark());
        let left = programs.run(NODE_EXIT_PROGRAM, &frame, sent.mark);
        assert_eq!(left.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
        assert_eq!(programs.remembered(&denied), None);
        let event = programs.events().pop().expect("a drop event");
        assert_eq!(
            (event.direction, event.profile),
            (DIRECTION_EGRESS, A.profile)
        );
        assert_eq!(event.peer_identity, R.identity);

        // To a pod of the same node, `weft_to_pod` on B's veth settles A's
        // egress first (the test device stands for B's veth here: the
        // program only checks that it has an interface record).
        let to_b = Flow::tcp(A.at(family, 50000), B.at(family, 443));
        let run = programs.run(TO_POD_PROGRAM, &to_b.frame(FROM_A, SYN), A.pending_mark());
        assert_eq!(run.action, TC_ACT_SHOT, "A may only call R");
        assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);

        // The node's own packets carry no slot: nothing to decide.
        let node = Flow::tcp(B.at(family, 50000), R.at(family, 444));
        let run = programs.run(NODE_EXIT_PROGRAM, &node.frame(FROM_A, SYN), KUBE_PROXY_MARK);
        assert_eq!((run.action, run.mark), (TC_ACT_OK, KUBE_PROXY_MARK));
        assert!(programs.counted().is_empty());
    }
}

/// A neighbour advertisement from a pod for an address it does not own
/// would teach the node a false neighbour; a router advertisement or a
/// redirect would claim the pod routes for others.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_pod_advertises_only_its_own_addresses_and_never_a_router() {
    let mut programs = Programs::load();
    let link_local = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa, 1);
    let all_nodes = IpAddr::from(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    let claim = |kind: u8, target: Ipv6Addr| {
        // Solicited and override flags, then the target address.
        let message = icmp(kind, 0, [0x60, 0, 0, 0], &target.octets());
        ip_frame(
            FROM_A,
            IpAddr::from(link_local),
            all_nodes,
            ICMPV6,
            &message,
        )
    };
    let gateway = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    for (what, kind, target, action) in [
        ("its own address", NEIGHBOUR_ADVERT, A.ipv6, TC_ACT_OK),
        (
            "its link-local address",
            NEIGHBOUR_ADVERT,
            link_local,
            TC_ACT_OK,
        ),
        (
            "another pod's address",
            NEIGHBOUR_ADVERT,
            B.ipv6,
            TC_ACT_SHOT,
        ),
        ("the pods' gateway", NEIGHBOUR_ADVERT, gateway, TC_ACT_SHOT),
        ("a router advertisement", ROUTER_ADVERT, A.ipv6, TC_ACT_SHOT),
        ("a redirect", REDIRECT, A.ipv6, TC_ACT_SHOT),
        (
            "a neighbour solicitation",
            NEIGHBOUR_SOLICIT,
            B.ipv6,
            TC_ACT_OK,
        ),
    ] {
        let run = programs.run(FROM_POD_PROGRAM, &claim(kind, target), 0);
        assert_eq!(run.action, action, "{what}");
        let counted = programs.counted();
        if action == TC_ACT_SHOT {
            assert_eq!(counted, [REASON_DROPPED_SPOOFED_IP], "{what}");
        }
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn anti_spoofing_drops_what_a_pod_sends_from_another_address_or_mac() {
    let mut programs = Programs::load();
    for family in FAMILIES {
        let genuine = Flow::tcp(A.at(family, 50000), WORLD.at(family, 80));
        let run = programs.run(FROM_POD_PROGRAM, &genuine.frame(FROM_A, SYN), 0);
        assert_eq!((run.action, run.mark), (TC_ACT_OK, A.pending_mark()));

        let spoofed_ip = Flow::tcp(B.at(family, 50000), WORLD.at(family, 80));
        let run = programs.run(FROM_POD_PROGRAM, &spoofed_ip.frame(FROM_A, SYN), 0);
        assert_eq!(run.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_SPOOFED_IP]);

        let run = programs.run(FROM_POD_PROGRAM, &genuine.frame((B.mac, A.mac), SYN), 0);
        assert_eq!(run.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_SPOOFED_MAC]);

        let reasons: Vec<u32> = programs.events().iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [REASON_DROPPED_SPOOFED_IP, REASON_DROPPED_SPOOFED_MAC]
        );
    }

    // Neighbour discovery and DAD use link-local and unspecified sources,
    // which the kernel never forwards.
    let all_nodes = IpAddr::from(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1));
    for source in [
        IpAddr::from(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa, 1)),
        IpAddr::from(Ipv6Addr::UNSPECIFIED),
    ] {
        let frame = ip_frame(FROM_A, source, all_nodes, UDP, &udp(546, 547, b"ndp"));
        let run = programs.run(FROM_POD_PROGRAM, &frame, 0);
        assert_eq!(run.action, TC_ACT_OK, "from {source}");
    }

    let gateway = [169, 254, 1, 1];
    let arp = arp_request(A.mac, A.mac, A.ipv4.octets(), gateway);
    let run = programs.run(FROM_POD_PROGRAM, &arp, MARK_ALLOWED);
    assert_eq!(
        (run.action, run.mark),
        (TC_ACT_OK, 0),
        "ARP clears our bits"
    );
    let spoofed = [
        (
            arp_request(A.mac, A.mac, B.ipv4.octets(), gateway),
            REASON_DROPPED_SPOOFED_IP,
        ),
        (
            arp_request(A.mac, B.mac, A.ipv4.octets(), gateway),
            REASON_DROPPED_SPOOFED_MAC,
        ),
        (
            arp_request(B.mac, A.mac, A.ipv4.octets(), gateway),
            REASON_DROPPED_SPOOFED_MAC,
        ),
    ];
    programs.counted();
    for (frame, reason) in spoofed {
        assert_eq!(
            programs.run(FROM_POD_PROGRAM, &frame, 0).action,
            TC_ACT_SHOT
        );
        assert_eq!(programs.counted(), [reason]);
    }

    let lldp = ethernet(A.mac, [0x01, 0x80, 0xc2, 0, 0, 0x0e], 0x88cc, &[0; 46]);
    assert_eq!(programs.run(FROM_POD_PROGRAM, &lldp, 0).action, TC_ACT_SHOT);
    assert_eq!(programs.counted(), [REASON_DROPPED_UNSUPPORTED]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn replies_of_allowed_flows_pass_by_conntrack_and_nothing_else_looks_like_one() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS | ENFORCE_EGRESS);
    programs.allow(&[a_serves_r_on_80(), a_calls_r_on_443()]);
    programs.counted();
    for family in FAMILIES {
        // A serves R: the reply leaves A without meeting its egress policy.
        let request = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        let run = programs.run(TO_POD_PROGRAM, &request.frame(TO_A, SYN), 0);
        assert_eq!(run.action, TC_ACT_OK);
        let reply = request.reply().frame(FROM_A, SYN | ACK);
        let sent = programs.run(FROM_POD_PROGRAM, &reply, 0);
        assert_eq!((sent.action, sent.mark), (TC_ACT_OK, MARK_ALLOWED));
        let left = programs.run(NODE_EXIT_PROGRAM, &reply, sent.mark);
        assert_eq!(left.action, TC_ACT_OK);
        let counted = programs.counted();
        assert_eq!(
            counted,
            [REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_ESTABLISHED]
        );

        // A calls R: the answer comes in through a node device...
        let call = Flow::tcp(A.at(family, 50000), R.at(family, 443));
        let frame = call.frame(FROM_A, SYN);
        let sent = programs.run(FROM_POD_PROGRAM, &frame, 0);
        assert_eq!(
            programs.run(NODE_EXIT_PROGRAM, &frame, sent.mark).action,
            TC_ACT_OK
        );
        let answer = call.reply().frame(TO_A, SYN | ACK);
        let entered = programs.run(NODE_ENTRY_PROGRAM, &answer, 0);
        assert_eq!((entered.action, entered.mark), (TC_ACT_OK, MARK_ALLOWED));
        let delivered = programs.run(TO_POD_PROGRAM, &answer, entered.mark);
        assert_eq!((delivered.action, delivered.mark), (TC_ACT_OK, 0));
        // ... or, from a pod of this node, straight to A's veth.
        assert_eq!(programs.run(TO_POD_PROGRAM, &answer, 0).action, TC_ACT_OK);
        let counted = programs.counted();
        assert_eq!(
            counted,
            [
                REASON_ALLOWED_BY_POLICY,
                REASON_ALLOWED_ESTABLISHED,
                REASON_ALLOWED_ESTABLISHED
            ]
        );

        // What only looks like a reply meets policy, and a packet from
        // outside cannot bring an allowed mark of its own.
        let stray = Flow::tcp(R.at(family, 443), A.at(family, 50001)).frame(TO_A, ACK);
        let entered = programs.run(NODE_ENTRY_PROGRAM, &stray, MARK_ALLOWED | KUBE_PROXY_MARK);
        assert_eq!((entered.action, entered.mark), (TC_ACT_OK, KUBE_PROXY_MARK));
        let delivered = programs.run(TO_POD_PROGRAM, &stray, entered.mark);
        assert_eq!(delivered.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_policy_change_makes_known_flows_meet_policy_again_but_not_their_replies() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS | ENFORCE_EGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    let flows = FAMILIES.map(|family| Flow::tcp(R.at(family, 40000), A.at(family, 80)));
    for flow in flows {
        assert_eq!(
            programs
                .run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0)
                .action,
            TC_ACT_OK
        );
        let next = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, ACK), 0);
        assert_eq!(next.action, TC_ACT_OK);
    }
    programs.counted();

    // A TCP SYN never takes the shortcut: A opening a connection from its
    // port 80 to R's port 40000 looks like a reply of R's flow, yet it is
    // a new connection and its egress verdict stays pending.
    for flow in flows {
        let reuse = flow.reply().frame(FROM_A, SYN);
        let run = programs.run(FROM_POD_PROGRAM, &reuse, 0);
        assert_eq!(run.mark, A.pending_mark());
    }

    programs.revoke(&[a_serves_r_on_80()]);
    for flow in flows {
        let next = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, ACK), 0);
        assert_eq!(next.action, TC_ACT_SHOT, "the flow meets today's policy");
        let reply = programs.run(FROM_POD_PROGRAM, &flow.reply().frame(FROM_A, ACK), 0);
        assert_eq!(reply.mark, MARK_ALLOWED, "its replies still pass");
    }
    let counted = programs.counted();
    assert_eq!(
        counted,
        [
            REASON_ALLOWED_ESTABLISHED,
            REASON_ALLOWED_ESTABLISHED,
            REASON_DROPPED_BY_POLICY,
            REASON_DROPPED_BY_POLICY
        ]
    );
}

/// When the conntrack table is full, the least recently used flows make
/// room: new flows are still allowed and remembered, and a flow that lost
/// its entry meets policy again, so what policy denies is dropped and
/// counted, never allowed.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_full_conntrack_table_makes_room_and_a_flow_it_lost_meets_policy_again() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS | ENFORCE_EGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    let lost = Flow::tcp(R.at(Family::V4, 40000), A.at(Family::V4, 80));
    assert_eq!(
        programs
            .run(TO_POD_PROGRAM, &lost.frame(TO_A, SYN), 0)
            .action,
        TC_ACT_OK
    );
    // Not looked up since: a flow the programs looked up stays on the LRU's
    // active list while idle flows go first.
    assert!(programs.remembered(&lost).is_some());

    let mut conntrack = programs.conntrack();
    let value = FlowValue {
        generation: programs.generation(),
        ..FlowValue::default()
    };
    let mut filled = 0;
    while programs.remembered(&lost).is_some() {
        assert!(
            filled < 4 * MAX_FLOWS,
            "{filled} newer flows never evicted the oldest"
        );
        for n in filled..filled + MAX_FLOWS {
            conntrack
                .insert(filler(n), value, 0)
                .expect("insert a flow");
        }
        filled += MAX_FLOWS;
    }
    programs.counted();

    let newer = Flow::tcp(R.at(Family::V4, 40001), A.at(Family::V4, 80));
    let run = programs.run(TO_POD_PROGRAM, &newer.frame(TO_A, SYN), 0);
    assert_eq!(run.action, TC_ACT_OK, "a full table still takes new flows");
    assert!(programs.remembered(&newer).is_some());
    let newer_reply = newer.reply().frame(FROM_A, ACK);
    assert_eq!(
        programs.run(FROM_POD_PROGRAM, &newer_reply, 0).mark,
        MARK_ALLOWED
    );

    let reply = lost.reply().frame(FROM_A, ACK);
    let sent = programs.run(FROM_POD_PROGRAM, &reply, 0);
    assert_eq!(
        sent.mark,
        A.pending_mark(),
        "the lost flow's reply is new again"
    );
    let left = programs.run(NODE_EXIT_PROGRAM, &reply, sent.mark);
    assert_eq!(left.action, TC_ACT_SHOT, "A's egress allows nothing");
    let counted = programs.counted();
    assert_eq!(
        counted,
        [
            REASON_ALLOWED_BY_POLICY,
            REASON_ALLOWED_ESTABLISHED,
            REASON_DROPPED_BY_POLICY
        ]
    );
}

/// The `n`th of the flows that fill the table: UDP between test addresses.
fn filler(n: u32) -> FlowKey {
    let [a, b, c, d] = n.to_be_bytes();
    let mut src = [0; 16];
    src[..4].copy_from_slice(&[10, 99, a, b]);
    let mut dst = [0; 16];
    dst[..4].copy_from_slice(&[10, 98, 0, 1]);
    FlowKey {
        family: weft_ebpf_common::FAMILY_IPV4,
        protocol: UDP,
        src_port: [c, d],
        dst_port: 53u16.to_be_bytes(),
        reserved: [0; 2],
        src,
        dst,
    }
}

/// weft-policy's `evaluate` runs the programs' own decision on what the
/// maps hold: on every packet of a matrix, the kernel and it agree.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_programs_and_weft_policys_evaluate_decide_alike() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.add_prefixes([
        ("203.0.113.0/28".parse().unwrap(), 2001),
        ("2001:db8::/120".parse().unwrap(), 2001),
    ]);
    let ingress = |peer, protocol, port| Rule {
        pod: A,
        direction: DIRECTION_INGRESS,
        peer,
        protocol,
        port,
    };
    programs.allow(&[
        ingress(R.identity, TCP, port(80)),
        ingress(
            2001,
            TCP,
            PortPrefix {
                value: 8000,
                len: 13,
            },
        ),
        ingress(IDENTITY_ANY, UDP, port(53)),
    ]);
    let maps = programs.datapath.policy_maps().expect("read the maps");
    programs.counted();
    let nobody = Pod {
        ipv4: Ipv4Addr::new(10, 250, 0, 9),
        ipv6: Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, 9),
        ..B
    };
    let mut cases = 0;
    for family in FAMILIES {
        for endpoint in [A, B, nobody] {
            for peer in [A, R, B, WORLD] {
                for protocol in [TCP, UDP] {
                    for port in [53, 80, 81, 8000, 8007, 8008] {
                        let flow = Flow {
                            protocol,
                            src: peer.at(family, 40000),
                            dst: endpoint.at(family, port),
                        };
                        let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
                        let verdict = evaluate(
                            &maps,
                            &Packet {
                                direction: Direction::Ingress,
                                endpoint: endpoint.ip(family),
                                peer: peer.ip(family),
                                protocol,
                                port,
                            },
                        );
                        let action = if verdict.passes() {
                            TC_ACT_OK
                        } else {
                            TC_ACT_SHOT
                        };
                        assert_eq!(run.action, action, "{flow:?}: {verdict:?}");
                        assert_eq!(programs.counted(), [reason(verdict)], "{flow:?}");
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 288);
}

fn reason(verdict: Verdict) -> u32 {
    match verdict {
        Verdict::UnknownEndpoint => REASON_DROPPED_UNKNOWN_ENDPOINT,
        Verdict::OwnTraffic => REASON_ALLOWED_OWN_TRAFFIC,
        Verdict::NotEnforced => REASON_ALLOWED_NOT_ENFORCED,
        Verdict::Allowed(_) => REASON_ALLOWED_BY_POLICY,
        Verdict::Denied { .. } => REASON_DROPPED_BY_POLICY,
    }
}
