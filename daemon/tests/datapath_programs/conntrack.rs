//! Conntrack per protocol on the real programs: a TCP entry follows its
//! connection (opening, established, closed both ways, ended by a RST),
//! UDP and ICMP echo have their own lifetimes, an expired entry counts as
//! absent and leaves, and an entry an older weftd wrote is adopted.

use std::ops::RangeInclusive;

use weft_ebpf_common::{
    DATAGRAM_LIFETIME_NS, DIRECTION_INGRESS, ECHO_LIFETIME_NS, ENFORCE_INGRESS, FLOW_FIN_ORIGINAL,
    FLOW_FIN_REPLY, FLOW_LAYOUT_LIFETIME, FLOW_SEEN_REPLY, FROM_POD_PROGRAM, FlowValue,
    MARK_ALLOWED, PROTOCOL_ANY, REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_ESTABLISHED,
    TCP_CLOSING_LIFETIME_NS, TCP_ESTABLISHED_LIFETIME_NS, TCP_OPENING_LIFETIME_NS, TO_POD_PROGRAM,
};

use crate::a_serves_r_on_80;
use crate::support::frames::{ACK, ECHO_REPLY, ECHO_REQUEST, FIN, Flow, RST, SYN, UDP, echo};
use crate::support::programs::{
    A, ANY_PORT, FAMILIES, FROM_A, Programs, R, Rule, TC_ACT_OK, TO_A, port,
};

/// Runs `step` and returns when, by the programs' clock, an entry it wrote
/// with `lifetime` must expire.
fn expiry_of(lifetime: u64, step: impl FnOnce()) -> RangeInclusive<u64> {
    let before = Programs::kernel_now();
    step();
    before + lifetime..=Programs::kernel_now() + lifetime
}

fn entry(programs: &Programs, flow: &Flow) -> FlowValue {
    programs.remembered(flow).expect("the flow has an entry")
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_tcp_entry_follows_its_connection_until_fin_both_ways_or_a_rst() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    for family in FAMILIES {
        let flow = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        let to_a = |programs: &Programs, flags| {
            let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, flags), 0);
            assert_eq!(run.action, TC_ACT_OK, "{flags:#x} to A");
        };
        let from_a = |programs: &Programs, flags| {
            let reply = flow.reply().frame(FROM_A, flags);
            programs.run(FROM_POD_PROGRAM, &reply, 0).mark
        };

        let expiry = expiry_of(TCP_OPENING_LIFETIME_NS, || to_a(&programs, SYN));
        let opening = entry(&programs, &flow);
        assert_eq!((opening.state, opening.layout), (0, FLOW_LAYOUT_LIFETIME));
        assert!(expiry.contains(&opening.expires_ns), "{opening:?}");

        let expiry = expiry_of(TCP_ESTABLISHED_LIFETIME_NS, || {
            assert_eq!(from_a(&programs, SYN | ACK), MARK_ALLOWED);
        });
        let established = entry(&programs, &flow);
        assert_eq!(established.state, FLOW_SEEN_REPLY);
        assert!(expiry.contains(&established.expires_ns));

        to_a(&programs, FIN | ACK);
        assert_eq!(
            entry(&programs, &flow).state,
            FLOW_SEEN_REPLY | FLOW_FIN_ORIGINAL
        );
        let expiry = expiry_of(TCP_CLOSING_LIFETIME_NS, || {
            assert_eq!(from_a(&programs, FIN | ACK), MARK_ALLOWED);
        });
        let closed = entry(&programs, &flow);
        assert_eq!(
            closed.state,
            FLOW_SEEN_REPLY | FLOW_FIN_ORIGINAL | FLOW_FIN_REPLY
        );
        assert!(expiry.contains(&closed.expires_ns), "time for the last ACK");
        to_a(&programs, ACK);

        // A RST passes and ends the entry, from either side.
        let reset_by_a = Flow::tcp(R.at(family, 40001), A.at(family, 80));
        let reset_by_r = Flow::tcp(R.at(family, 40002), A.at(family, 80));
        for flow in [reset_by_a, reset_by_r] {
            let run = programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
            assert_eq!(run.action, TC_ACT_OK);
        }
        let rst = reset_by_a.reply().frame(FROM_A, RST | ACK);
        assert_eq!(programs.run(FROM_POD_PROGRAM, &rst, 0).mark, MARK_ALLOWED);
        let rst = reset_by_r.frame(TO_A, RST | ACK);
        assert_eq!(programs.run(TO_POD_PROGRAM, &rst, 0).action, TC_ACT_OK);
        for flow in [reset_by_a, reset_by_r] {
            assert_eq!(programs.remembered(&flow), None, "{flow:?}");
            let late = flow.reply().frame(FROM_A, ACK);
            let sent = programs.run(FROM_POD_PROGRAM, &late, 0);
            assert_eq!(sent.mark, A.pending_mark(), "no longer a known flow");
        }
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_expired_entry_counts_as_absent_and_leaves() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    for family in FAMILIES {
        let flow = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
        let reply = flow.reply().frame(FROM_A, SYN | ACK);
        assert_eq!(programs.run(FROM_POD_PROGRAM, &reply, 0).mark, MARK_ALLOWED);
        let expired = FlowValue {
            expires_ns: Programs::kernel_now() - 1,
            ..entry(&programs, &flow)
        };
        programs.set_remembered(&flow, expired);
        let sent = programs.run(FROM_POD_PROGRAM, &reply, 0);
        assert_eq!(sent.mark, A.pending_mark());
        assert_eq!(programs.remembered(&flow), None);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn udp_and_icmp_echo_entries_have_their_own_lifetimes() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    let from_r = |protocol, port| Rule {
        pod: A,
        direction: DIRECTION_INGRESS,
        peer: R.identity,
        protocol,
        port,
    };
    programs.allow(&[from_r(UDP, port(53)), from_r(PROTOCOL_ANY, ANY_PORT)]);
    programs.counted();
    for family in FAMILIES {
        let query = Flow::udp(R.at(family, 40000), A.at(family, 53));
        let expiry = expiry_of(DATAGRAM_LIFETIME_NS, || {
            let run = programs.run(TO_POD_PROGRAM, &query.frame(TO_A, 0), 0);
            assert_eq!(run.action, TC_ACT_OK);
        });
        assert!(expiry.contains(&entry(&programs, &query).expires_ns));
        let answer = query.reply().frame(FROM_A, 0);
        assert_eq!(
            programs.run(FROM_POD_PROGRAM, &answer, 0).mark,
            MARK_ALLOWED
        );

        // An echo exchange is keyed by its identifier: only its own
        // replies pass.
        let (r, a) = (R.ip(family), A.ip(family));
        let ping = Flow::echo(r, a, 7);
        let request = echo(TO_A, r, a, ECHO_REQUEST, 7);
        let expiry = expiry_of(ECHO_LIFETIME_NS, || {
            let run = programs.run(TO_POD_PROGRAM, &request, 0);
            assert_eq!(run.action, TC_ACT_OK);
        });
        assert!(expiry.contains(&entry(&programs, &ping).expires_ns));
        let reply = echo(FROM_A, a, r, ECHO_REPLY, 7);
        assert_eq!(programs.run(FROM_POD_PROGRAM, &reply, 0).mark, MARK_ALLOWED);
        let other = echo(FROM_A, a, r, ECHO_REPLY, 8);
        let sent = programs.run(FROM_POD_PROGRAM, &other, 0);
        assert_eq!(sent.mark, A.pending_mark(), "another exchange's reply");
        assert_eq!(
            programs.counted(),
            [
                REASON_ALLOWED_BY_POLICY,
                REASON_ALLOWED_BY_POLICY,
                REASON_ALLOWED_ESTABLISHED,
                REASON_ALLOWED_ESTABLISHED
            ]
        );
    }
}

/// weftd adopts the pinned conntrack table on upgrade: an entry of the
/// older layout (the time it was allowed where the expiry is now) is an
/// established flow, not an expired one.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn an_entry_an_older_weftd_wrote_is_adopted_as_established() {
    let mut programs = Programs::load();
    programs.enforce(A, ENFORCE_INGRESS);
    programs.allow(&[a_serves_r_on_80()]);
    for family in FAMILIES {
        let flow = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        let older = FlowValue {
            expires_ns: 12_345,
            generation: programs.generation(),
            ..FlowValue::default()
        };
        programs.set_remembered(&flow, older);
        let expiry = expiry_of(TCP_ESTABLISHED_LIFETIME_NS, || {
            let reply = flow.reply().frame(FROM_A, ACK);
            assert_eq!(programs.run(FROM_POD_PROGRAM, &reply, 0).mark, MARK_ALLOWED);
        });
        let adopted = entry(&programs, &flow);
        assert_eq!(adopted.layout, FLOW_LAYOUT_LIFETIME);
        assert!(expiry.contains(&adopted.expires_ns));
    }
}
