//! What the programs read of a frame: the Ethernet header, the ARP sender,
//! IPv4/IPv6 addresses and the L4 ports. Reads go through
//! `bpf_skb_load_bytes` (`TcContext::load`), which bounds-checks for us.

use aya_ebpf::helpers::bpf_skb_load_bytes;
use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    FAMILY_IPV4, FAMILY_IPV6, FlowPacket, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN,
};

use crate::ipv6;
use crate::transport::{Icmp, Transport, transport};

pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_ARP: u16 = 0x0806;
/// IPv4's "more fragments" flag, in the flags and fragment offset field.
const IPV4_MORE_FRAGMENTS: u16 = 0x2000;

#[repr(C)]
struct EthHeader {
    dst: [u8; 6],
    src: [u8; 6],
    ethertype: [u8; 2],
}

#[repr(C)]
pub struct Ipv4Header {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: [u8; 2],
    pub id: [u8; 2],
    pub flags_fragment: [u8; 2],
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: [u8; 2],
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

/// The IPv6 header before its addresses.
#[repr(C)]
struct Ipv6Fixed {
    version_class_flow: [u8; 4],
    payload_len: [u8; 2],
    next_header: u8,
    hop_limit: u8,
}

#[repr(C)]
pub struct Ipv6Header {
    pub version_class_flow: [u8; 4],
    pub payload_len: [u8; 2],
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
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
/// An ICMP echo's identifier is its flow's port (see `Transport`).
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
    /// An ICMP error: where its message starts in the frame (the flow it
    /// is about is read from there only when needed, to spare the stack);
    /// 0 for other packets (see `icmp_error_at()`).
    pub icmp_error_at: [u8; 2],
    /// A neighbour discovery claim (see `transport::Icmp::Claim`): where
    /// its message starts in the frame; 0 for other packets.
    pub ndp_claim_at: [u8; 2],
    /// `FRAGMENT_*`: whether the packet is a fragment, and which.
    pub fragment: u8,
    /// A fragment's IP identification (IPv4's in the first two bytes).
    pub fragment_id: [u8; 4],
}

/// `IpPacket::fragment`: a whole datagram.
pub const FRAGMENT_NONE: u8 = 0;
/// The first fragment: it carries the transport header.
pub const FRAGMENT_FIRST: u8 = 1;
/// A later fragment: no transport header, ports 0 until `fragments` fills them.
pub const FRAGMENT_LATER: u8 = 2;

/// What a frame carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ip,
    /// IPv4-over-Ethernet ARP.
    Arp,
    /// An IP or ARP frame too short or malformed to read.
    Malformed,
    /// IPv6 whose transport header is behind extension headers the
    /// programs do not walk (see `ipv6`); `Frame::ip` has its addresses.
    Ipv6Extensions,
    Other,
}

/// A frame as the programs read it. A plain struct whose fields are all
/// set whatever the kind (zeros where the kind has none), rather than an
/// enum: LLVM moves the undefined bytes of an enum's smaller variants
/// through registers, and the verifier rejects reading them.
#[derive(Clone, Copy)]
pub struct Frame {
    pub src_mac: [u8; 6],
    pub kind: Kind,
    /// [`Kind::Ip`]: the packet.
    pub ip: IpPacket,
    /// [`Kind::Arp`]: the sender's MAC and IPv4 address.
    pub arp_sender_mac: [u8; 6],
    pub arp_sender_ip: [u8; 4],
}

// A call of its own: the header loads' stack is not added to the
// callers' (the verifier gives a call chain 512 bytes in all).
#[inline(never)]
pub fn parse(ctx: &TcContext) -> Frame {
    let mut frame = Frame {
        src_mac: [0; 6],
        kind: Kind::Malformed,
        ip: IpPacket::NONE,
        arp_sender_mac: [0; 6],
        arp_sender_ip: [0; 4],
    };
    let Ok(eth) = ctx.load::<EthHeader>(0) else {
        return frame;
    };
    frame.src_mac = eth.src;
    let read = match u16::from_be_bytes(eth.ethertype) {
        ETH_P_IP => ipv4(ctx, &mut frame.ip).map(|()| Kind::Ip),
        ETH_P_IPV6 => ipv6(ctx, &mut frame.ip),
        ETH_P_ARP => arp(ctx, &mut frame).map(|()| Kind::Arp),
        _ => Some(Kind::Other),
    };
    frame.kind = read.unwrap_or(Kind::Malformed);
    frame
}

#[inline(always)]
fn ipv4(ctx: &TcContext, ip: &mut IpPacket) -> Option<()> {
    let header: Ipv4Header = ctx.load(ETH_HLEN).ok()?;
    let header_len = usize::from(header.version_ihl & 0x0f) * 4;
    if header.version_ihl >> 4 != 4 || header_len < size_of::<Ipv4Header>() {
        return None;
    }
    // Only the first fragment carries the L4 header.
    let fragment_offset = u16::from_be_bytes(header.flags_fragment) & 0x1fff;
    let offset = ETH_HLEN + header_len;
    let transport = if fragment_offset == 0 {
        transport(ctx, offset, header.protocol, FAMILY_IPV4)?
    } else {
        Transport::NONE
    };
    ip.src = widen(header.src);
    ip.dst = widen(header.dst);
    ip.fill(FAMILY_IPV4, header.protocol, &transport, offset);
    let more_fragments = u16::from_be_bytes(header.flags_fragment) & IPV4_MORE_FRAGMENTS != 0;
    ip.fragment = fragment_kind(fragment_offset, more_fragments);
    ip.fragment_id = [header.id[0], header.id[1], 0, 0];
    Some(())
}

#[inline(always)]
fn ipv6(ctx: &TcContext, ip: &mut IpPacket) -> Option<Kind> {
    // The addresses go straight into `ip`: a whole header on the stack
    // would cost parse's frame 40 bytes more.
    let header: Ipv6Fixed = ctx.load(ETH_HLEN).ok()?;
    if header.version_class_flow[0] >> 4 != 6 {
        return None;
    }
    load_into(ctx, ETH_HLEN + size_of::<Ipv6Fixed>(), &mut ip.src)?;
    load_into(ctx, ETH_HLEN + size_of::<Ipv6Fixed>() + 16, &mut ip.dst)?;
    let offset = ETH_HLEN + size_of::<Ipv6Header>();
    let Some(chain) = ipv6::walk(ctx, header.next_header, offset) else {
        // With the addresses, for the drop's event.
        ip.fill(FAMILY_IPV6, header.next_header, &Transport::NONE, 0);
        return Some(Kind::Ipv6Extensions);
    };
    // Only the first fragment carries the transport header.
    let transport = if chain.fragment_offset == 0 {
        transport(ctx, chain.offset, chain.protocol, FAMILY_IPV6)?
    } else {
        Transport::NONE
    };
    ip.fill(FAMILY_IPV6, chain.protocol, &transport, chain.offset);
    ip.fragment = fragment_kind(chain.fragment_offset, chain.more_fragments);
    ip.fragment_id = chain.fragment_id;
    Some(Kind::Ip)
}

impl IpPacket {
    /// What a frame that is not IP holds.
    pub const NONE: Self = Self {
        family: 0,
        protocol: 0,
        src_port: [0; 2],
        dst_port: [0; 2],
        src: [0; 16],
        dst: [0; 16],
        tcp_flags: 0,
        echo: false,
        icmp_error_at: [0; 2],
        ndp_claim_at: [0; 2],
        fragment: FRAGMENT_NONE,
        fragment_id: [0; 4],
    };

    #[inline(always)]
    /// Sets all but the addresses.
    fn fill(&mut self, family: u8, protocol: u8, transport: &Transport, transport_offset: usize) {
        let ports = transport.ports;
        self.family = family;
        self.protocol = protocol;
        self.src_port = [ports[0], ports[1]];
        self.dst_port = [ports[2], ports[3]];
        self.tcp_flags = transport.tcp_flags;
        self.echo = transport.icmp == Icmp::Echo;
        // Frames are far shorter than 64 KiB.
        self.icmp_error_at = if transport.icmp == Icmp::Error {
            (transport_offset as u16).to_ne_bytes()
        } else {
            [0; 2]
        };
        self.ndp_claim_at = if transport.icmp == Icmp::Claim {
            (transport_offset as u16).to_ne_bytes()
        } else {
            [0; 2]
        };
    }

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

    /// Where an ICMP error's message starts in the frame (`None`: not one).
    #[inline(always)]
    pub fn icmp_error_at(&self) -> Option<usize> {
        let at = u16::from_ne_bytes(self.icmp_error_at);
        (at != 0).then_some(usize::from(at))
    }

    /// Where a neighbour discovery claim's message starts, if it is one.
    #[inline(always)]
    pub fn ndp_claim_at(&self) -> Option<usize> {
        let at = u16::from_ne_bytes(self.ndp_claim_at);
        (at != 0).then_some(usize::from(at))
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
fn arp(ctx: &TcContext, frame: &mut Frame) -> Option<()> {
    let header: ArpHeader = ctx.load(ETH_HLEN).ok()?;
    let ipv4_over_ethernet = u16::from_be_bytes(header.hardware_type) == 1
        && u16::from_be_bytes(header.protocol_type) == ETH_P_IP
        && header.hardware_len == 6
        && header.protocol_len == 4;
    if !ipv4_over_ethernet {
        return None;
    }
    frame.arp_sender_mac = header.sender_mac;
    frame.arp_sender_ip = header.sender_ip;
    Some(())
}

#[inline(always)]
fn fragment_kind(offset: u16, more_fragments: bool) -> u8 {
    if offset != 0 {
        FRAGMENT_LATER
    } else if more_fragments {
        FRAGMENT_FIRST
    } else {
        FRAGMENT_NONE
    }
}

/// Loads `size_of::<T>()` bytes at `offset` into `into`, in place.
#[inline(always)]
fn load_into<T>(ctx: &TcContext, offset: usize, into: &mut T) -> Option<()> {
    // SAFETY: `into` is writable memory of exactly the size passed; the
    // helper bounds-checks the packet side.
    let result = unsafe {
        bpf_skb_load_bytes(
            ctx.skb.skb.cast(),
            offset as u32,
            (into as *mut T).cast(),
            size_of::<T>() as u32,
        )
    };
    (result == 0).then_some(())
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
