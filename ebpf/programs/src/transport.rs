//! What the programs read past the IP header: ports (TCP, UDP, SCTP), an
//! ICMP echo's identifier, TCP's flags, and, for an ICMP error, the flow of
//! the packet it quotes (conntrack lets an error about an allowed flow
//! through: path-MTU discovery needs "fragmentation needed" and "packet too
//! big" to reach isolated pods).

use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    FAMILY_IPV4, FAMILY_IPV6, FlowKey, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP,
};

use crate::packet::{Ipv4Header, Ipv6Header, widen};

/// Offset of the flags byte (CWR..FIN) in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;
/// Every ICMP and ICMPv6 message starts with 8 bytes (type, code,
/// checksum, 4 bytes of the type's) before what an error quotes.
const ICMP_HEADER_LEN: usize = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_DEST_UNREACHABLE: u8 = 3;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_TIME_EXCEEDED: u8 = 11;
const ICMP_PARAMETER_PROBLEM: u8 = 12;
const ICMPV6_DEST_UNREACHABLE: u8 = 1;
const ICMPV6_PARAMETER_PROBLEM: u8 = 4;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
const ICMPV6_ROUTER_ADVERT: u8 = 134;
const ICMPV6_NEIGHBOUR_ADVERT: u8 = 136;
const ICMPV6_REDIRECT: u8 = 137;

/// What kind of ICMP message a packet is (not ICMP: `Other`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Icmp {
    Other,
    Echo,
    /// Destination unreachable (with fragmentation needed), packet too big
    /// (ICMPv6), time exceeded, parameter problem: about another packet.
    Error,
    /// A neighbour discovery message that claims something for others:
    /// a neighbour advertisement, a router advertisement or a redirect.
    Claim,
}

/// The transport fields of a packet.
#[derive(Clone, Copy)]
pub struct Transport {
    /// Source and destination port; an echo request's identifier is its
    /// destination port and a reply's its source port, so that a reply is
    /// its request reversed. Zeros for protocols without ports.
    pub ports: [u8; 4],
    /// The TCP flags byte (0 for other protocols).
    pub tcp_flags: u8,
    pub icmp: Icmp,
}

impl Transport {
    /// A non-first fragment's: it carries no transport header.
    pub const NONE: Self = Self {
        ports: [0; 4],
        tcp_flags: 0,
        icmp: Icmp::Other,
    };
}

/// The transport header of `protocol` at `offset`, in a packet of `family`.
#[inline(always)]
pub fn transport(ctx: &TcContext, offset: usize, protocol: u8, family: u8) -> Option<Transport> {
    if protocol == IPPROTO_TCP {
        // Ports and flags in one load.
        let header: [u8; TCP_FLAGS_OFFSET + 1] = ctx.load(offset).ok()?;
        return Some(Transport {
            ports: [header[0], header[1], header[2], header[3]],
            tcp_flags: header[TCP_FLAGS_OFFSET],
            icmp: Icmp::Other,
        });
    }
    let (ports, icmp) = ports(ctx, offset, protocol, family)?;
    Some(Transport {
        ports,
        tcp_flags: 0,
        icmp,
    })
}

/// Ports and ICMP kind from the first 8 bytes of a transport header: all
/// an ICMP error is sure to quote.
#[inline(always)]
fn ports(ctx: &TcContext, offset: usize, protocol: u8, family: u8) -> Option<([u8; 4], Icmp)> {
    let (request, reply) = match (family, protocol) {
        (_, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) => {
            return Some((ctx.load(offset).ok()?, Icmp::Other));
        }
        (FAMILY_IPV4, IPPROTO_ICMP) => (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY),
        (FAMILY_IPV6, IPPROTO_ICMPV6) => (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY),
        _ => return Some(([0; 4], Icmp::Other)),
    };
    // Type, code, checksum, identifier.
    let header: [u8; 6] = ctx.load(offset).ok()?;
    let (kind, id0, id1) = (header[0], header[4], header[5]);
    let error = if family == FAMILY_IPV4 {
        matches!(
            kind,
            ICMP_DEST_UNREACHABLE | ICMP_TIME_EXCEEDED | ICMP_PARAMETER_PROBLEM
        )
    } else {
        (ICMPV6_DEST_UNREACHABLE..=ICMPV6_PARAMETER_PROBLEM).contains(&kind)
    };
    let claim = family == FAMILY_IPV6
        && matches!(
            kind,
            ICMPV6_ROUTER_ADVERT | ICMPV6_NEIGHBOUR_ADVERT | ICMPV6_REDIRECT
        );
    Some(if kind == request {
        ([0, 0, id0, id1], Icmp::Echo)
    } else if kind == reply {
        ([id0, id1, 0, 0], Icmp::Echo)
    } else if error {
        ([0; 4], Icmp::Error)
    } else if claim {
        ([0; 4], Icmp::Claim)
    } else {
        ([0; 4], Icmp::Other)
    })
}

/// The flow of the packet an ICMP error at `offset` quotes, as that packet
/// carried it (`None` if the quote is cut short or malformed, or is a
/// non-first fragment, which has no ports).
#[inline(always)]
pub fn quoted_flow(ctx: &TcContext, offset: usize, family: u8) -> Option<FlowKey> {
    let offset = offset + ICMP_HEADER_LEN;
    let (protocol, src, dst, transport_offset) = if family == FAMILY_IPV4 {
        let header: Ipv4Header = ctx.load(offset).ok()?;
        let header_len = usize::from(header.version_ihl & 0x0f) * 4;
        let fragment_offset = u16::from_be_bytes(header.flags_fragment) & 0x1fff;
        if header.version_ihl >> 4 != 4 || header_len < size_of::<Ipv4Header>() {
            return None;
        }
        if fragment_offset != 0 {
            return None;
        }
        let (src, dst) = (widen(header.src), widen(header.dst));
        (header.protocol, src, dst, offset + header_len)
    } else {
        let header: Ipv6Header = ctx.load(offset).ok()?;
        if header.version_class_flow[0] >> 4 != 6 {
            return None;
        }
        let transport_offset = offset + size_of::<Ipv6Header>();
        (header.next_header, header.src, header.dst, transport_offset)
    };
    let (ports, _) = ports(ctx, transport_offset, protocol, family)?;
    Some(FlowKey {
        family,
        protocol,
        src_port: [ports[0], ports[1]],
        dst_port: [ports[2], ports[3]],
        reserved: [0; 2],
        src,
        dst,
    })
}
