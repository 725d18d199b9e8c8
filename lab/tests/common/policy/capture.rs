//! What a pod's interfaces receive, seen from inside the pod: a packet
//! socket (every protocol) opened in the pod's netns, read until a marker
//! packet shows that everything sent before it had its chance to arrive.
//! Frames are decoded as Ethernet + IPv4 + TCP/UDP ports.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, SockFlag, SockProtocol, SockType, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use weft_lab::netns::run_in;

const ETHERTYPE_IPV4: u16 = 0x0800;
const TCP: u8 = 6;
const UDP: u8 = 17;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
/// One read waits at most this long, so the overall deadline is kept.
const READ_SLICE: Duration = Duration::from_millis(100);

/// The parts of a frame the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Frame {
    pub src_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// TCP or UDP destination port.
    pub dst_port: Option<u16>,
    /// A TCP SYN without ACK: a new connection attempt.
    pub tcp_syn: bool,
    /// The UDP payload.
    pub udp_payload: Vec<u8>,
}

/// Decodes an Ethernet frame carrying IPv4; anything else is `None`.
pub fn parse_ipv4(frame: &[u8]) -> Option<Ipv4Frame> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let address = |at: usize| -> Option<Ipv4Addr> {
        let bytes: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(bytes))
    };
    let protocol = *ip.get(9)?;
    let l4 = ip.get(header_len..)?;
    let dst_port = match protocol {
        TCP | UDP => Some(u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?])),
        _ => None,
    };
    let tcp_syn = protocol == TCP && l4.get(13).is_some_and(|flags| flags & (SYN | ACK) == SYN);
    let udp_payload = match protocol {
        UDP => l4.get(8..).unwrap_or_default().to_vec(),
        _ => Vec::new(),
    };
    Some(Ipv4Frame {
        src_mac: frame.get(6..12)?.try_into().ok()?,
        src: address(12)?,
        dst: address(16)?,
        protocol,
        dst_port,
        tcp_syn,
        udp_payload,
    })
}

/// A packet socket receiving every frame of one pod's netns.
pub struct Capture {
    socket: File,
}

impl Capture {
    /// Starts capturing in the netns at `netns_path` (the socket stays in
    /// that netns; the thread that made it ends).
    pub fn open(netns_path: &Path) -> Self {
        let fd = run_in(netns_path, || {
            socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            )
        })
        .expect("entering the pod's netns")
        .expect("a packet socket");
        let slice = TimeVal::milliseconds(READ_SLICE.as_millis() as i64);
        setsockopt(&fd, sockopt::ReceiveTimeout, &slice).expect("a receive timeout");
        Self {
            socket: File::from(fd),
        }
    }

    /// Every IPv4 frame received before the first one `is_marker` accepts
    /// (that one excluded); `Err` with what was seen if no marker arrives
    /// within `timeout`.
    pub fn until_marker(
        &mut self,
        timeout: Duration,
        is_marker: impl Fn(&Ipv4Frame) -> bool,
    ) -> Result<Vec<Ipv4Frame>, String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match self.socket.read(&mut buf) {
                Ok(n) => match parse_ipv4(&buf[..n]) {
                    Some(frame) if is_marker(&frame) => return Ok(seen),
                    Some(frame) => seen.push(frame),
                    None => {}
                },
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading the capture: {e}")),
            }
            if Instant::now() >= deadline {
                return Err(format!("no marker within {timeout:?}; captured {seen:?}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 (20 bytes) + UDP to port 7001 with payload "hi".
    fn udp_frame() -> Vec<u8> {
        let mut frame = vec![0xaa; 6];
        frame.extend([0x02, 0, 0, 0, 0, 0x01]);
        frame.extend([0x08, 0x00]);
        frame.extend([0x45, 0, 0, 30, 0, 0, 0, 0, 64, UDP, 0, 0]);
        frame.extend([10, 244, 1, 2, 10, 244, 2, 3]);
        frame.extend([0x9c, 0x40, 0x1b, 0x59, 0, 10, 0, 0]);
        frame.extend(b"hi");
        frame
    }

    #[test]
    fn an_ipv4_udp_frame_is_decoded() {
        assert_eq!(
            parse_ipv4(&udp_frame()),
            Some(Ipv4Frame {
                src_mac: [0x02, 0, 0, 0, 0, 0x01],
                src: Ipv4Addr::new(10, 244, 1, 2),
                dst: Ipv4Addr::new(10, 244, 2, 3),
                protocol: UDP,
                dst_port: Some(7001),
                tcp_syn: false,
                udp_payload: b"hi".to_vec(),
            })
        );
    }

    #[test]
    fn a_tcp_syn_is_a_new_connection_attempt_and_its_answer_is_not() {
        let mut frame = udp_frame()[..34].to_vec();
        frame[23] = TCP;
        frame.extend([
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, SYN, 0xff, 0xff,
        ]);
        frame.extend([0, 0, 0, 0]);
        let syn = parse_ipv4(&frame).unwrap();
        assert_eq!(
            (syn.protocol, syn.dst_port, syn.tcp_syn),
            (TCP, Some(80), true)
        );
        frame[47] = SYN | ACK;
        assert!(!parse_ipv4(&frame).unwrap().tcp_syn);
    }

    #[test]
    fn other_ethertypes_and_truncated_frames_are_not_ipv4() {
        let mut arp = udp_frame();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_ipv4(&arp), None);
        assert_eq!(parse_ipv4(&udp_frame()[..30]), None);
    }
}
