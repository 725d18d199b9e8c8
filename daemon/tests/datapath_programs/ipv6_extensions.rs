//! IPv6 extension headers: the programs walk hop-by-hop, routing,
//! destination options, fragment and authentication headers to the
//! transport header and decide on its ports; an unknown extension header
//! or a longer chain than they walk is dropped with its own reason.

use weft_ebpf_common::{
    ENFORCE_EGRESS, ENFORCE_INGRESS, FROM_POD_PROGRAM, NODE_EXIT_PROGRAM, REASON_ALLOWED_BY_POLICY,
    REASON_DROPPED_BY_POLICY, REASON_DROPPED_IPV6_EXTENSIONS, TO_POD_PROGRAM,
};

use crate::a_serves_r_on_80;
use crate::support::frames::{
    AUTHENTICATION, DESTINATION_OPTIONS, FRAGMENT, Flow, HOP_BY_HOP, MOBILITY, ROUTING, SYN, TCP,
    ip_frame, ipv6_authentication, ipv6_extension, ipv6_fragment, tcp,
};
use crate::support::programs::{
    A, FROM_A, Family, Programs, R, TC_ACT_OK, TC_ACT_SHOT, TO_A, WORLD,
};

/// `flow`'s TCP SYN behind the extension headers `chain` builds around
/// the TCP header (given the header's protocol number, it returns the
/// first next-header value and the bytes).
fn behind(flow: &Flow, macs: ([u8; 6], [u8; 6]), chain: fn(&[u8]) -> (u8, Vec<u8>)) -> Vec<u8> {
    let segment = tcp(flow.src.port(), flow.dst.port(), SYN);
    let (first, payload) = chain(&segment);
    ip_frame(macs, flow.src.ip(), flow.dst.ip(), first, &payload)
}

fn every_kind(segment: &[u8]) -> (u8, Vec<u8>) {
    let fragment = ipv6_fragment(TCP, 0, true, 77, segment);
    let authentication = ipv6_authentication(FRAGMENT, &fragment);
    let options = ipv6_extension(AUTHENTICATION, &authentication);
    let routing = ipv6_extension(DESTINATION_OPTIONS, &options);
    (HOP_BY_HOP, ipv6_extension(ROUTING, &routing))
}

fn unknown(segment: &[u8]) -> (u8, Vec<u8>) {
    (
        HOP_BY_HOP,
        ipv6_extension(MOBILITY, &ipv6_extension(TCP, segment)),
    )
}

fn too_many(segment: &[u8]) -> (u8, Vec<u8>) {
    let mut payload = ipv6_extension(TCP, segment);
    for _ in 0..6 {
        payload = ipv6_extension(DESTINATION_OPTIONS, &payload);
    }
    (DESTINATION_OPTIONS, payload)
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_transport_header_is_found_behind_every_walked_extension_header() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    programs.counted();
    let allowed = Flow::tcp(R.at(Family::V6, 40000), A.at(Family::V6, 80));
    let run = programs.run(TO_POD_PROGRAM, &behind(&allowed, TO_A, every_kind), 0);
    assert_eq!(run.action, TC_ACT_OK);
    assert_eq!(programs.counted(), [REASON_ALLOWED_BY_POLICY]);
    assert!(
        programs.remembered(&allowed).is_some(),
        "keyed by its ports"
    );

    let denied = Flow::tcp(R.at(Family::V6, 40000), A.at(Family::V6, 81));
    let run = programs.run(TO_POD_PROGRAM, &behind(&denied, TO_A, every_kind), 0);
    assert_eq!(run.action, TC_ACT_SHOT);
    assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_unknown_extension_header_or_too_many_are_dropped_with_their_reason() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_EGRESS);
    let to_a = Flow::tcp(R.at(Family::V6, 40000), A.at(Family::V6, 80));
    let from_a = Flow::tcp(A.at(Family::V6, 50000), WORLD.at(Family::V6, 80));
    for chain in [unknown as fn(&[u8]) -> (u8, Vec<u8>), too_many] {
        // Ingress is not even enforced: without ports nothing is decided.
        let run = programs.run(TO_POD_PROGRAM, &behind(&to_a, TO_A, chain), 0);
        assert_eq!(run.action, TC_ACT_SHOT);
        let frame = behind(&from_a, FROM_A, chain);
        assert_eq!(
            programs.run(FROM_POD_PROGRAM, &frame, 0).action,
            TC_ACT_SHOT
        );
        let left = programs.run(NODE_EXIT_PROGRAM, &frame, A.pending_mark());
        assert_eq!(left.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_IPV6_EXTENSIONS; 3]);
        let events = programs.events();
        assert_eq!(events.len(), 3);
        assert!(
            events
                .iter()
                .all(|event| event.reason == REASON_DROPPED_IPV6_EXTENSIONS)
        );
        assert_eq!(events[0].src, to_a.key().src, "the event names the peer");
    }
}
