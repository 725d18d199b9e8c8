//! Frames as they reach the TC programs, built byte by byte from the
//! Ethernet header on. Each layer takes its payload as bytes, so a case
//! composes what it needs (an ICMP error quoting a packet, an IPv6 header
//! chain, a fragment) from these pieces. Checksums stay zero: the programs
//! never read them, and BPF_PROG_TEST_RUN does not check them.

use std::net::{IpAddr, SocketAddr};

use weft_ebpf_common::{FAMILY_IPV4, FAMILY_IPV6, FlowKey};

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// ICMP and ICMPv6 echo request and reply types.
pub const ECHO_REQUEST: (u8, u8) = (8, 128);
pub const ECHO_REPLY: (u8, u8) = (0, 129);

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86DD;
const DEFAULT_TTL: u8 = 64;

/// An Ethernet II frame.
pub fn ethernet(src: [u8; 6], dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An IPv4 or IPv6 packet in an Ethernet frame (both addresses of one family).
pub fn ip_frame(
    macs: ([u8; 6], [u8; 6]),
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload: &[u8],
) -> Vec<u8> {
    let (ethertype, packet) = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => (
            ETH_P_IP,
            ipv4(src.octets(), dst.octets(), protocol, payload),
        ),
        (IpAddr::V6(src), IpAddr::V6(dst)) => (
            ETH_P_IPV6,
            ipv6(src.octets(), dst.octets(), protocol, payload),
        ),
        _ => panic!("{src} and {dst} are of different families"),
    };
    ethernet(macs.0, macs.1, ethertype, &packet)
}

/// An IPv4 packet without options, not fragmented.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("an IPv4 packet fits 64 KiB");
    let mut packet = vec![0x45, 0];
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x40, 0]); // id 0, don't fragment
    packet.extend_from_slice(&[DEFAULT_TTL, protocol, 0, 0]);
    packet.extend_from_slice(&src);
    packet.extend_from_slice(&dst);
    let checksum = ipv4_checksum(&packet);
    packet[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// The IPv4 header checksum of `header` (its checksum field zero, or a
/// header whose checksum is right: then 0).
pub fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|word| u32::from(u16::from_be_bytes([word[0], word[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `datagram` (a transport header and its payload) of `protocol` from
/// `src` to `dst` as IP fragments of at most `size` bytes of it each (a
/// multiple of 8), with identification `id` (IPv4 takes its low 16 bits).
pub fn fragments(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (IpAddr, IpAddr),
    protocol: u8,
    id: u32,
    datagram: &[u8],
    size: usize,
) -> Vec<Vec<u8>> {
    assert_eq!(size % 8, 0, "fragments start at multiples of 8 bytes");
    let count = datagram.len().div_ceil(size);
    let pieces = datagram.chunks(size).enumerate();
    pieces
        .map(|(n, piece)| {
            let offset = u16::try_from(n * size).expect("a datagram fits 64 KiB");
            let more = n + 1 < count;
            match (src, dst) {
                (IpAddr::V4(src), IpAddr::V4(dst)) => {
                    let mut packet = ipv4(src.octets(), dst.octets(), protocol, piece);
                    let id = (id as u16).to_be_bytes();
                    let field = (offset / 8) | if more { 0x2000 } else { 0 };
                    packet[4..6].copy_from_slice(&id);
                    packet[6..8].copy_from_slice(&field.to_be_bytes());
                    ethernet(macs.0, macs.1, ETH_P_IP, &packet)
                }
                _ => {
                    let fragment = ipv6_fragment(protocol, offset, more, id, piece);
                    ip_frame(macs, src, dst, FRAGMENT, &fragment)
                }
            }
        })
        .collect()
}

/// An IPv6 packet whose first next header is `next_header`.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], next_header: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len()).expect("an IPv6 payload fits 64 KiB");
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&length.to_be_bytes());
    packet.extend_from_slice(&[next_header, DEFAULT_TTL]);
    packet.extend_from_slice(&src);
    packet.extend_from_slice(&dst);
    packet.extend_from_slice(payload);
    packet
}

/// A TCP header without options or payload.
pub fn tcp(src_port: u16, dst_port: u16, flags: u8) -> Vec<u8> {
    let mut header = Vec::with_capacity(20);
    header.extend_from_slice(&src_port.to_be_bytes());
    header.extend_from_slice(&dst_port.to_be_bytes());
    header.extend_from_slice(&[0; 8]); // sequence and acknowledgement numbers
    header.extend_from_slice(&[5 << 4, flags]); // data offset: 5 words
    header.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
    header
}

/// A UDP datagram.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(8 + payload.len()).expect("a UDP datagram fits 64 KiB");
    let mut datagram = Vec::with_capacity(usize::from(length));
    datagram.extend_from_slice(&src_port.to_be_bytes());
    datagram.extend_from_slice(&dst_port.to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

/// IPv6 extension header numbers.
pub const HOP_BY_HOP: u8 = 0;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const AUTHENTICATION: u8 = 51;
pub const DESTINATION_OPTIONS: u8 = 60;
pub const MOBILITY: u8 = 135;

/// An 8-byte IPv6 extension header of the options layout (hop-by-hop,
/// destination options; a routing header with segments left 0 reads the
/// same), then `rest`.
pub fn ipv6_extension(next_header: u8, rest: &[u8]) -> Vec<u8> {
    let mut header = vec![next_header, 0, 1, 4, 0, 0, 0, 0]; // PadN of 4
    header.extend_from_slice(rest);
    header
}

/// An IPv6 authentication header (16 bytes), then `rest`.
pub fn ipv6_authentication(next_header: u8, rest: &[u8]) -> Vec<u8> {
    let mut header = vec![next_header, 2, 0, 0]; // length: (2 + 2) * 4 bytes
    header.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0]); // SPI, sequence, ICV
    header.extend_from_slice(rest);
    header
}

/// An IPv6 fragment header: this fragment's `offset` in bytes (a multiple
/// of 8), whether more follow, the datagram's `id`; then `rest`.
pub fn ipv6_fragment(next_header: u8, offset: u16, more: bool, id: u32, rest: &[u8]) -> Vec<u8> {
    assert_eq!(offset % 8, 0, "fragments start at multiples of 8 bytes");
    let field = offset | u16::from(more);
    let mut header = vec![next_header, 0];
    header.extend_from_slice(&field.to_be_bytes());
    header.extend_from_slice(&id.to_be_bytes());
    header.extend_from_slice(rest);
    header
}

/// An ICMP or ICMPv6 message: type, code, a zero checksum, the 4 bytes
/// that depend on the type, then `body`.
pub fn icmp(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut message = vec![kind, code, 0, 0];
    message.extend_from_slice(&rest);
    message.extend_from_slice(body);
    message
}

/// An echo request or reply (`types`: [`ECHO_REQUEST`] or [`ECHO_REPLY`])
/// from `src` to `dst` with identifier `id`, in the addresses' family.
pub fn echo(
    macs: ([u8; 6], [u8; 6]),
    src: IpAddr,
    dst: IpAddr,
    types: (u8, u8),
    id: u16,
) -> Vec<u8> {
    let [id0, id1] = id.to_be_bytes();
    let (protocol, kind) = match src {
        IpAddr::V4(_) => (ICMP, types.0),
        IpAddr::V6(_) => (ICMPV6, types.1),
    };
    let message = icmp(kind, 0, [id0, id1, 0, 1], b"ping");
    ip_frame(macs, src, dst, protocol, &message)
}

/// An ICMP or ICMPv6 error (`kind`, `code`, the type's 4 bytes `rest`) from
/// `router` to the sender of a packet of `about`, quoting as little of that
/// packet as routers may: its IP header and 8 bytes of transport header.
pub fn icmp_error(
    macs: ([u8; 6], [u8; 6]),
    router: IpAddr,
    about: &Flow,
    (kind, code): (u8, u8),
    rest: [u8; 4],
) -> Vec<u8> {
    let sent = about.frame(macs, ACK);
    let header_len = if about.src.is_ipv4() { 20 } else { 40 };
    let quote = &sent[14..14 + header_len + 8];
    let protocol = if about.src.is_ipv4() { ICMP } else { ICMPV6 };
    let error = icmp(kind, code, rest, quote);
    ip_frame(macs, router, about.src.ip(), protocol, &error)
}

/// An ARP request over Ethernet from `sender_mac`/`sender_ip` for `target_ip`,
/// in a broadcast frame from `frame_src`.
pub fn arp_request(
    frame_src: [u8; 6],
    sender_mac: [u8; 6],
    sender_ip: [u8; 4],
    target_ip: [u8; 4],
) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0, 6, 4, 0, 1]; // Ethernet, IPv4, request
    arp.extend_from_slice(&sender_mac);
    arp.extend_from_slice(&sender_ip);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target_ip);
    ethernet(frame_src, [0xff; 6], ETH_P_ARP, &arp)
}

/// One direction of a TCP or UDP flow between two socket addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub protocol: u8,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl Flow {
    pub fn tcp(src: SocketAddr, dst: SocketAddr) -> Self {
        Self {
            protocol: TCP,
            src,
            dst,
        }
    }

    pub fn udp(src: SocketAddr, dst: SocketAddr) -> Self {
        Self {
            protocol: UDP,
            src,
            dst,
        }
    }

    /// An ICMP echo exchange with identifier `id`, from `src` to `dst`, as
    /// conntrack keys it (the identifier is the request's destination port).
    pub fn echo(src: IpAddr, dst: IpAddr, id: u16) -> Self {
        let protocol = match src {
            IpAddr::V4(_) => ICMP,
            IpAddr::V6(_) => ICMPV6,
        };
        Self {
            protocol,
            src: SocketAddr::new(src, 0),
            dst: SocketAddr::new(dst, id),
        }
    }

    /// The other direction of the flow.
    pub fn reply(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            ..*self
        }
    }

    /// A packet of the flow between `macs` (source, destination): a TCP
    /// segment with `tcp_flags`, or a UDP datagram (flags ignored).
    pub fn frame(&self, macs: ([u8; 6], [u8; 6]), tcp_flags: u8) -> Vec<u8> {
        let (src_port, dst_port) = (self.src.port(), self.dst.port());
        let l4 = match self.protocol {
            TCP => tcp(src_port, dst_port, tcp_flags),
            UDP => udp(src_port, dst_port, b"weft"),
            other => panic!("no frames for protocol {other}"),
        };
        ip_frame(macs, self.src.ip(), self.dst.ip(), self.protocol, &l4)
    }

    /// The flow's conntrack key as the programs write it.
    pub fn key(&self) -> FlowKey {
        let (family, src) = family_and_bytes(self.src.ip());
        let (_, dst) = family_and_bytes(self.dst.ip());
        FlowKey {
            family,
            protocol: self.protocol,
            src_port: self.src.port().to_be_bytes(),
            dst_port: self.dst.port().to_be_bytes(),
            reserved: [0; 2],
            src,
            dst,
        }
    }
}

fn family_and_bytes(address: IpAddr) -> (u8, [u8; 16]) {
    match address {
        IpAddr::V4(v4) => {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&v4.octets());
            (FAMILY_IPV4, bytes)
        }
        IpAddr::V6(v6) => (FAMILY_IPV6, v6.octets()),
    }
}
