//! ICMP errors are related traffic: "fragmentation needed", "packet too
//! big" and "destination unreachable" about a flow in conntrack reach an
//! ingress-isolated pod (path-MTU discovery depends on it); an error about
//! any other flow meets policy like any ICMP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use weft_ebpf_common::{
    ENFORCE_INGRESS, FROM_POD_PROGRAM, MARK_ALLOWED, NODE_ENTRY_PROGRAM, NODE_EXIT_PROGRAM,
    REASON_ALLOWED_ESTABLISHED, REASON_ALLOWED_NOT_ENFORCED, REASON_DROPPED_BY_POLICY,
    TO_POD_PROGRAM,
};

use crate::support::frames::{Flow, SYN, icmp_error};
use crate::support::programs::{
    A, B, FAMILIES, FROM_A, Family, Programs, TC_ACT_OK, TC_ACT_SHOT, TO_A, WORLD,
};

/// A router on the world side of the path.
fn router(family: Family) -> IpAddr {
    match family {
        Family::V4 => Ipv4Addr::new(198, 51, 100, 1).into(),
        Family::V6 => Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1).into(),
    }
}

/// (type, code) and the type's 4 bytes of the errors a path may send: for
/// IPv4 fragmentation needed (next-hop MTU 1280) and port unreachable, for
/// IPv6 packet too big (MTU 1280) and port unreachable.
fn errors(family: Family) -> [((u8, u8), [u8; 4]); 2] {
    match family {
        Family::V4 => [((3, 4), [0, 0, 0x05, 0x00]), ((3, 3), [0; 4])],
        Family::V6 => [((2, 0), [0, 0, 0x05, 0x00]), ((1, 4), [0; 4])],
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_icmp_error_about_an_allowed_flow_reaches_an_isolated_pod_and_others_are_dropped() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.enforce(B, ENFORCE_INGRESS);
    for family in FAMILIES {
        let download = Flow::tcp(A.at(family, 50000), WORLD.at(family, 443));
        let query = Flow::udp(A.at(family, 50001), WORLD.at(family, 53));
        for flow in [download, query] {
            let frame = flow.frame(FROM_A, SYN);
            let sent = programs.run(FROM_POD_PROGRAM, &frame, 0);
            let left = programs.run(NODE_EXIT_PROGRAM, &frame, sent.mark);
            assert_eq!(left.action, TC_ACT_OK, "A's egress is not isolated");
        }
        assert_eq!(
            programs.counted(),
            [REASON_ALLOWED_NOT_ENFORCED, REASON_ALLOWED_NOT_ENFORCED]
        );

        for flow in [download, query] {
            for (kind, rest) in errors(family) {
                let error = icmp_error(TO_A, router(family), &flow, kind, rest);
                let entered = programs.run(NODE_ENTRY_PROGRAM, &error, 0);
                assert_eq!(entered.mark, MARK_ALLOWED, "{kind:?} about {flow:?}");
                let delivered = programs.run(TO_POD_PROGRAM, &error, entered.mark);
                assert_eq!(delivered.action, TC_ACT_OK);
                // From a router on this node, straight to A's veth.
                let delivered = programs.run(TO_POD_PROGRAM, &error, 0);
                assert_eq!(delivered.action, TC_ACT_OK, "{kind:?} about {flow:?}");
                assert_eq!(
                    programs.counted(),
                    [REASON_ALLOWED_ESTABLISHED, REASON_ALLOWED_ESTABLISHED]
                );
            }
        }
        assert!(
            programs.remembered(&download).is_some(),
            "errors leave the entry"
        );

        // An error about a flow conntrack does not know, or sent to
        // another pod than the quoted packet's sender, meets policy.
        let unknown = Flow::tcp(A.at(family, 50000), WORLD.at(family, 444));
        let (kind, rest) = errors(family)[0];
        let about_unknown = icmp_error(TO_A, router(family), &unknown, kind, rest);
        let mut misdirected = icmp_error(TO_A, router(family), &download, kind, rest);
        let dst = match family {
            Family::V4 => 14 + 16..14 + 20,
            Family::V6 => 14 + 24..14 + 40,
        };
        match B.ip(family) {
            IpAddr::V4(b) => misdirected[dst].copy_from_slice(&b.octets()),
            IpAddr::V6(b) => misdirected[dst].copy_from_slice(&b.octets()),
        }
        for error in [about_unknown, misdirected] {
            let entered = programs.run(NODE_ENTRY_PROGRAM, &error, 0);
            assert_eq!(entered.mark, 0);
            let delivered = programs.run(TO_POD_PROGRAM, &error, 0);
            assert_eq!(delivered.action, TC_ACT_SHOT);
            assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY]);
        }
    }
}
