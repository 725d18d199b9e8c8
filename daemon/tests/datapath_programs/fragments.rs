//! Fragments: later fragments carry no ports, so the programs decide them
//! on their first fragment's (a policy allowing UDP 80 allows a whole
//! fragmented datagram to port 80, and one to port 81 is dropped fragment
//! by fragment as port 81); a later fragment whose first was not seen is
//! dropped with its own reason, never decided as port 0.

use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS, FROM_POD_PROGRAM,
    IDENTITY_WORLD, NODE_EXIT_PROGRAM, REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_ESTABLISHED,
    REASON_DROPPED_BY_POLICY, REASON_DROPPED_FRAGMENT, TO_POD_PROGRAM,
};

use crate::support::frames::{UDP, fragments, udp};
use crate::support::programs::{
    A, FAMILIES, FROM_A, Family, Programs, R, Rule, TC_ACT_OK, TC_ACT_SHOT, TO_A, WORLD, port,
};

/// A 4 KB UDP datagram from R's port 40000 to A's `to_port`, in fragments
/// that fit a 1500-byte MTU.
fn datagram_to_a(family: Family, to_port: u16, id: u32) -> Vec<Vec<u8>> {
    let datagram = udp(40000, to_port, &[7; 4000]);
    let addresses = (R.ip(family), A.ip(family));
    fragments(TO_A, addresses, UDP, id, &datagram, 1448)
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn later_fragments_are_decided_on_their_first_fragments_ports() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[Rule {
        pod: A,
        direction: DIRECTION_INGRESS,
        peer: R.identity,
        protocol: UDP,
        port: port(80),
    }]);
    programs.counted();
    for family in FAMILIES {
        let allowed = datagram_to_a(family, 80, 0x1234);
        assert_eq!(allowed.len(), 3);
        for fragment in &allowed {
            let run = programs.run(TO_POD_PROGRAM, fragment, 0);
            assert_eq!(run.action, TC_ACT_OK, "every fragment of the datagram");
        }
        assert_eq!(
            programs.counted(),
            [
                REASON_ALLOWED_BY_POLICY,
                REASON_ALLOWED_ESTABLISHED,
                REASON_ALLOWED_ESTABLISHED
            ]
        );

        for fragment in &datagram_to_a(family, 81, 0x1235) {
            let run = programs.run(TO_POD_PROGRAM, fragment, 0);
            assert_eq!(run.action, TC_ACT_SHOT);
        }
        assert_eq!(programs.counted(), [REASON_DROPPED_BY_POLICY; 3]);
        let ports: Vec<[u8; 2]> = programs.events().iter().map(|e| e.dst_port).collect();
        assert_eq!(ports, [81u16.to_be_bytes(); 3], "decided as port 81");

        // The first fragment of this one was lost.
        let orphan = &datagram_to_a(family, 80, 0x1236)[1];
        assert_eq!(programs.run(TO_POD_PROGRAM, orphan, 0).action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_FRAGMENT]);
        assert_eq!(programs.events()[0].reason, REASON_DROPPED_FRAGMENT);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_pods_fragments_are_settled_on_their_first_fragments_ports_where_they_leave() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_EGRESS);
    programs.allow(&[Rule {
        pod: A,
        direction: DIRECTION_EGRESS,
        peer: IDENTITY_WORLD,
        protocol: UDP,
        port: port(53),
    }]);
    programs.counted();
    for family in FAMILIES {
        let datagram = udp(50000, 53, &[7; 4000]);
        let addresses = (A.ip(family), WORLD.ip(family));
        let sent = fragments(FROM_A, addresses, UDP, 0x2345, &datagram, 1448);
        // The first settles the flow's egress; the later ones are its.
        for fragment in &sent {
            let from = programs.run(FROM_POD_PROGRAM, fragment, 0);
            let left = programs.run(NODE_EXIT_PROGRAM, fragment, from.mark);
            assert_eq!(left.action, TC_ACT_OK, "every fragment leaves");
        }
        assert_eq!(
            programs.counted(),
            [
                REASON_ALLOWED_BY_POLICY,
                REASON_ALLOWED_ESTABLISHED,
                REASON_ALLOWED_ESTABLISHED
            ]
        );
        let orphan = &fragments(FROM_A, addresses, UDP, 0x2346, &datagram, 1448)[2];
        let left = programs.run(NODE_EXIT_PROGRAM, orphan, A.pending_mark());
        assert_eq!(left.action, TC_ACT_SHOT);
        assert_eq!(programs.counted(), [REASON_DROPPED_FRAGMENT]);
    }
}
