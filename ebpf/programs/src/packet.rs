//! What the programs read of a frame: the Ethernet header, the ARP sender,
//! IPv4/IPv6 addresses and the L4 ports. Reads go through
//! `bpf_skb_load_bytes` (`TcContext::load`), which bounds-checks for us.

use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    FAMILY_IPV4, FAMILY_IPV6, FlowPacket, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, TCP_ACK, TCP_SYN,
};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
/// Offset of the flags byte (CWR..FIN) in the TCP header.
const TCP_FLAGS_OFFSET: usize = 13;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

#[repr(C)]
struct EthHeader {
    dst: [u8; 6],
    src: [u8; 6],
    ethertype: [u8; 2],
}

#[repr(C)]
struct Ipv4Header {
    version_ihl: u8,
    tos: u8,
    total_len: [u8; 2],
    id: [u8; 2],
    flags_fragment: [u8; 2],
    ttl: u8,
    protocol: u8,
    checksum: [u8; 2],
    src: [u8; 4],
    dst: [u8; 4],
}

#[repr(C)]
struct Ipv6Header {
    version_class_flow: [u8; 4],
    payload_len: [u8; 2],
    next_header: u8,
    hop_limit: u8,
    src: [u8; 16],
    dst: [u8; 16],
}

/// IPv4-over-Ethernet ARP, up to the sender's addresses.
#[repr(C)]
struct ArpHeader {
    hardware_type: [u8; 2],
    protocol_type: [u8; 2],
    hardware_len: u8,
    protocol_len: u8,
    operation: [u8; 2],
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
}

/// An IP packet's flow fields. IPv4 addresses fill the first 4 bytes.
/// An ICMP echo's identifier is its flow's port: the destination port of a
/// request, the source port of a reply, so a reply is its request reversed.
#[derive(Clone, Copy)]
pub struct IpPacket {
    pub family: u8,
    pub protocol: u8,
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// The TCP flags byte (0 for other protocols).
    pub tcp_flags: u8,
    /// An ICMP or ICMPv6 echo request or reply.
    pub echo: bool,
}

pub enum Payload {
    Ip(IpPacket),
    /// IPv4-over-Ethernet ARP: the sender's MAC and IPv4 address.
    Arp {
        sender_mac: [u8; 6],
        sender_ip: [u8; 4],
    },
    /// An IP or ARP frame too short or malformed to read.
    Malformed,
    Other,
}

pub struct Frame {
    pub src_mac: [u8; 6],
    pub payload: Payload,
}

#[inline(always)]
pub fn parse(ctx: &TcContext) -> Option<Frame> {
    let eth: EthHeader = ctx.load(0).ok()?;
    let payload = match u16::from_be_bytes(eth.ethertype) {
        ETH_P_IP => ipv4(ctx).map_or(Payload::Malformed, Payload::Ip),
        ETH_P_IPV6 => ipv6(ctx).map_or(Payload::Malformed, Payload::Ip),
        ETH_P_ARP => arp(ctx).unwrap_or(Payload::Malformed),
        _ => Payload::Other,
    };
    Some(Frame {
        src_mac: eth.src,
        payload,
    })
}

#[inline(always)]
fn ipv4(ctx: &TcContext) -> Option<IpPacket> {
    let header: Ipv4Header = ctx.load(ETH_HLEN).ok()?;
    let header_len = usize::from(header.version_ihl & 0x0f) * 4;
    if header.version_ihl >> 4 != 4 || header_len < size_of::<Ipv4Header>() {
        return None;
    }
    // Only the first fragment carries the L4 header.
    let fragment_offset = u16::from_be_bytes(header.flags_fragment) & 0x1fff;
    let (ports, tcp_flags, echo) = if fragment_offset == 0 {
        l4(ctx, ETH_HLEN + header_len, header.protocol, FAMILY_IPV4)?
    } else {
        ([0; 4], 0, false)
    };
    Some(IpPacket {
        family: FAMILY_IPV4,
        protocol: header.protocol,
        src_port: [ports[0], ports[1]],
        dst_port: [ports[2], ports[3]],
        src: widen(header.src),
        dst: widen(header.dst),
        tcp_flags,
        echo,
    })
}

#[inline(always)]
fn ipv6(ctx: &TcContext) -> Option<IpPacket> {
    let header: Ipv6Header = ctx.load(ETH_HLEN).ok()?;
    if header.version_class_flow[0] >> 4 != 6 {
        return None;
    }
    let offset = ETH_HLEN + size_of::<Ipv6Header>();
    let (ports, tcp_flags, echo) = l4(ctx, offset, header.next_header, FAMILY_IPV6)?;
    Some(IpPacket {
        family: FAMILY_IPV6,
        protocol: header.next_header,
        src_port: [ports[0], ports[1]],
        dst_port: [ports[2], ports[3]],
        src: header.src,
        dst: header.dst,
        tcp_flags,
        echo,
    })
}

/// Source and destination port (TCP, UDP and SCTP put them at the same
/// offsets; an ICMP echo's identifier, see [`IpPacket`]; zeros for other
/// protocols), TCP's flags byte and whether it is an ICMP echo of `family`.
#[inline(always)]
fn l4(ctx: &TcContext, offset: usize, protocol: u8, family: u8) -> Option<([u8; 4], u8, bool)> {
    match protocol {
        IPPROTO_TCP => {
            let header: [u8; TCP_FLAGS_OFFSET + 1] = ctx.load(offset).ok()?;
            let ports = [header[0], header[1], header[2], header[3]];
            Some((ports, header[TCP_FLAGS_OFFSET], false))
        }
        IPPROTO_UDP | IPPROTO_SCTP => Some((ctx.load(offset).ok()?, 0, false)),
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            // Type, code, checksum, identifier.
            let header: [u8; 6] = ctx.load(offset).ok()?;
            let (request, reply) = match (family, protocol) {
                (FAMILY_IPV4, IPPROTO_ICMP) => (ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY),
                (FAMILY_IPV6, IPPROTO_ICMPV6) => (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY),
                _ => return Some(([0; 4], 0, false)),
            };
            let (id0, id1) = (header[4], header[5]);
            if header[0] == request {
                Some(([0, 0, id0, id1], 0, true))
            } else if header[0] == reply {
                Some(([id0, id1, 0, 0], 0, true))
            } else {
                Some(([0; 4], 0, false))
            }
        }
        _ => Some(([0; 4], 0, false)),
    }
}

impl IpPacket {
    /// A TCP SYN without ACK: a connection's first packet.
    #[inline(always)]
    pub fn opens_connection(&self) -> bool {
        self.protocol == IPPROTO_TCP && self.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
    }

    /// TCP, UDP and SCTP: what policy matches ports on (an echo's
    /// identifier is a port only to conntrack).
    #[inline(always)]
    pub fn has_ports(&self) -> bool {
        matches!(self.protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
    }

    #[inline(always)]
    pub fn flow_packet(&self) -> FlowPacket {
        FlowPacket {
            protocol: self.protocol,
            tcp_flags: self.tcp_flags,
            echo: self.echo,
        }
    }
}

#[inline(always)]
fn arp(ctx: &TcContext) -> Option<Payload> {
    let header: ArpHeader = ctx.load(ETH_HLEN).ok()?;
    let ipv4_over_ethernet = u16::from_be_bytes(header.hardware_type) == 1
        && u16::from_be_bytes(header.protocol_type) == ETH_P_IP
        && header.hardware_len == 6
        && header.protocol_len == 4;
    ipv4_over_ethernet.then_some(Payload::Arp {
        sender_mac: header.sender_mac,
        sender_ip: header.sender_ip,
    })
}

#[inline(always)]
pub fn widen(v4: [u8; 4]) -> [u8; 16] {
    let mut addr = [0; 16];
    addr[0] = v4[0];
    addr[1] = v4[1];
    addr[2] = v4[2];
    addr[3] = v4[3];
    addr
}
