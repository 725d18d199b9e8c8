//! How a conntrack entry follows its flow, per protocol: the TCP state a
//! packet moves it to (a RST ends it, FIN both ways closes it) and how long
//! an entry lives without packets in each state. Pure functions: the
//! programs apply them to `WEFT_CONNTRACK` entries and unit tests check
//! them here.
//!
//! Lifetimes are Cilium's (bpf/lib/conntrack.h), except ICMP echo, which
//! gets the Linux conntrack's 30 s.

use crate::FlowValue;

/// `FlowValue::layout` of entries with a lifetime. Entries an older weftd
/// wrote (0 there, their first field the time they were allowed) are
/// adopted as established flows rather than expired, so an upgrade keeps
/// every flow.
pub const FLOW_LAYOUT_LIFETIME: u8 = 1;

/// `FlowValue::state`: a packet of the reverse direction passed.
pub const FLOW_SEEN_REPLY: u8 = 1;
/// `FlowValue::state`: the flow's own direction sent a FIN.
pub const FLOW_FIN_ORIGINAL: u8 = 2;
/// `FlowValue::state`: the reverse direction sent a FIN.
pub const FLOW_FIN_REPLY: u8 = 4;

const SECOND: u64 = 1_000_000_000;
/// A TCP connection no reply has been seen for yet (a SYN sent).
pub const TCP_OPENING_LIFETIME_NS: u64 = 60 * SECOND;
/// An established TCP connection, idle.
pub const TCP_ESTABLISHED_LIFETIME_NS: u64 = 6 * 3600 * SECOND;
/// A TCP connection closed both ways: time for the last ACK.
pub const TCP_CLOSING_LIFETIME_NS: u64 = 10 * SECOND;
/// UDP and every other protocol but ICMP echo.
pub const DATAGRAM_LIFETIME_NS: u64 = 60 * SECOND;
/// An ICMP or ICMPv6 echo exchange (keyed by its identifier).
pub const ECHO_LIFETIME_NS: u64 = 30 * SECOND;
/// A live entry's expiry is rewritten only when it moves by more than this,
/// so established flows do not write their entry on every packet.
pub const EXPIRY_SLACK_NS: u64 = SECOND;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The state an entry moves to when a packet with `tcp_flags` (0 for other
/// protocols) passes in its flow's own direction or, with `reply`, the
/// reverse one; `None` when the packet ends the entry.
#[inline(always)]
pub fn next_state(state: u8, protocol: u8, tcp_flags: u8, reply: bool) -> Option<u8> {
    let mut state = state;
    if protocol == IPPROTO_TCP {
        if tcp_flags & TCP_RST != 0 {
            return None;
        }
        // A new connection on the ports of an old one starts afresh.
        if !reply && tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN {
            state = 0;
        }
        if tcp_flags & TCP_FIN != 0 {
            state |= if reply {
                FLOW_FIN_REPLY
            } else {
                FLOW_FIN_ORIGINAL
            };
        }
    }
    if reply {
        state |= FLOW_SEEN_REPLY;
    }
    Some(state)
}

/// How long an entry in `state` lives without packets. `echo`: the flow is
/// an ICMP echo exchange.
#[inline(always)]
pub fn lifetime_ns(protocol: u8, state: u8, echo: bool) -> u64 {
    if protocol == IPPROTO_TCP {
        let closed = FLOW_FIN_ORIGINAL | FLOW_FIN_REPLY;
        if state & closed == closed {
            TCP_CLOSING_LIFETIME_NS
        } else if state & FLOW_SEEN_REPLY != 0 {
            TCP_ESTABLISHED_LIFETIME_NS
        } else {
            TCP_OPENING_LIFETIME_NS
        }
    } else if echo {
        ECHO_LIFETIME_NS
    } else {
        DATAGRAM_LIFETIME_NS
    }
}

/// `entry` is alive at `now_ns` (an entry of the older layout always is).
#[inline(always)]
pub fn is_alive(entry: &FlowValue, now_ns: u64) -> bool {
    entry.layout != FLOW_LAYOUT_LIFETIME || now_ns <= entry.expires_ns
}

/// What a packet does to a live entry: `None` ends it, else the entry to
/// write, or `Some(None)` when nothing changed enough to be worth a write.
#[inline(always)]
pub fn advance(
    entry: &FlowValue,
    packet: &FlowPacket,
    reply: bool,
    now_ns: u64,
) -> Option<Option<FlowValue>> {
    // An older layout's entry is an established flow of unknown TCP state.
    let state = if entry.layout == FLOW_LAYOUT_LIFETIME {
        entry.state
    } else {
        FLOW_SEEN_REPLY
    };
    let state = next_state(state, packet.protocol, packet.tcp_flags, reply)?;
    let expires_ns = now_ns + lifetime_ns(packet.protocol, state, packet.echo);
    let unchanged = entry.layout == FLOW_LAYOUT_LIFETIME
        && state == entry.state
        && expires_ns <= entry.expires_ns + EXPIRY_SLACK_NS;
    if unchanged {
        return Some(None);
    }
    Some(Some(FlowValue {
        expires_ns,
        state,
        layout: FLOW_LAYOUT_LIFETIME,
        ..*entry
    }))
}

/// The entry a packet policy allowed starts, in its flow's own direction
/// (`None`: the packet ends its flow, a RST, and starts nothing), on the
/// stack path (the caller sets another).
#[inline(always)]
pub fn start(packet: &FlowPacket, generation: u32, now_ns: u64) -> Option<FlowValue> {
    let state = next_state(0, packet.protocol, packet.tcp_flags, false)?;
    Some(FlowValue {
        expires_ns: now_ns + lifetime_ns(packet.protocol, state, packet.echo),
        generation,
        state,
        layout: FLOW_LAYOUT_LIFETIME,
        path: crate::FLOW_PATH_STACK,
        reserved: 0,
    })
}

/// What conntrack needs of a packet besides its flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPacket {
    pub protocol: u8,
    /// The TCP flags byte (0 for other protocols).
    pub tcp_flags: u8,
    /// An ICMP or ICMPv6 echo request or reply.
    pub echo: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000 * SECOND;

    fn tcp(tcp_flags: u8) -> FlowPacket {
        FlowPacket {
            protocol: IPPROTO_TCP,
            tcp_flags,
            echo: false,
        }
    }

    fn lifetime(entry: &FlowValue) -> u64 {
        entry.expires_ns - NOW
    }

    #[test]
    fn a_tcp_entry_opens_establishes_closes_after_fin_both_ways() {
        let opened = start(&tcp(TCP_SYN), 7, NOW).unwrap();
        assert_eq!(lifetime(&opened), TCP_OPENING_LIFETIME_NS);
        assert_eq!(opened.generation, 7);
        let established = advance(&opened, &tcp(TCP_SYN | TCP_ACK), true, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(lifetime(&established), TCP_ESTABLISHED_LIFETIME_NS);
        assert_eq!(advance(&established, &tcp(TCP_ACK), false, NOW), Some(None));
        let half = advance(&established, &tcp(TCP_FIN | TCP_ACK), false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(lifetime(&half), TCP_ESTABLISHED_LIFETIME_NS);
        let closed = advance(&half, &tcp(TCP_FIN | TCP_ACK), true, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(lifetime(&closed), TCP_CLOSING_LIFETIME_NS);
        assert!(is_alive(&closed, NOW + TCP_CLOSING_LIFETIME_NS));
        assert!(!is_alive(&closed, NOW + TCP_CLOSING_LIFETIME_NS + 1));
    }

    #[test]
    fn an_entry_keeps_its_path_whatever_its_packets_do() {
        let redirected = FlowValue {
            path: crate::FLOW_PATH_REDIRECT,
            ..start(&tcp(TCP_SYN), 1, NOW).unwrap()
        };
        let established = advance(&redirected, &tcp(TCP_SYN | TCP_ACK), true, NOW)
            .unwrap()
            .unwrap();
        let reopened = advance(&established, &tcp(TCP_SYN), false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(established.path, crate::FLOW_PATH_REDIRECT);
        assert_eq!(reopened.path, crate::FLOW_PATH_REDIRECT);
        assert_eq!(
            start(&tcp(TCP_SYN), 1, NOW).unwrap().path,
            crate::FLOW_PATH_STACK
        );
    }

    #[test]
    fn a_rst_either_way_ends_the_entry_and_starts_none() {
        let entry = start(&tcp(TCP_SYN), 1, NOW).unwrap();
        for reply in [false, true] {
            assert_eq!(advance(&entry, &tcp(TCP_RST | TCP_ACK), reply, NOW), None);
        }
        assert_eq!(start(&tcp(TCP_RST), 1, NOW), None);
    }

    #[test]
    fn a_syn_on_a_closed_connections_ports_starts_afresh() {
        let closed = FlowValue {
            state: FLOW_SEEN_REPLY | FLOW_FIN_ORIGINAL | FLOW_FIN_REPLY,
            layout: FLOW_LAYOUT_LIFETIME,
            expires_ns: NOW,
            ..FlowValue::default()
        };
        let reopened = advance(&closed, &tcp(TCP_SYN), false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(reopened.state, 0);
        assert_eq!(lifetime(&reopened), TCP_OPENING_LIFETIME_NS);
    }

    #[test]
    fn datagrams_and_echo_have_their_own_lifetimes() {
        let udp = FlowPacket {
            protocol: IPPROTO_UDP,
            tcp_flags: 0,
            echo: false,
        };
        assert_eq!(
            lifetime(&start(&udp, 1, NOW).unwrap()),
            DATAGRAM_LIFETIME_NS
        );
        let echo = FlowPacket {
            protocol: IPPROTO_ICMP,
            tcp_flags: 0,
            echo: true,
        };
        let entry = start(&echo, 1, NOW).unwrap();
        assert_eq!(lifetime(&entry), ECHO_LIFETIME_NS);
        let later = NOW + 10 * SECOND;
        let replied = advance(&entry, &echo, true, later).unwrap().unwrap();
        assert_eq!(replied.expires_ns, later + ECHO_LIFETIME_NS);
    }

    #[test]
    fn an_entry_of_the_older_layout_is_adopted_as_established() {
        let old = FlowValue {
            expires_ns: 5,
            generation: 3,
            ..FlowValue::default()
        };
        assert!(is_alive(&old, NOW));
        let adopted = advance(&old, &tcp(TCP_ACK), true, NOW).unwrap().unwrap();
        assert_eq!(adopted.layout, FLOW_LAYOUT_LIFETIME);
        assert_eq!(adopted.generation, 3);
        assert_eq!(lifetime(&adopted), TCP_ESTABLISHED_LIFETIME_NS);
    }
}
