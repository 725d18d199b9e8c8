//! What a pod that lies about its IPv6 identity sends: a datagram and a
//! connection attempt from an address bound though not its own, and an
//! unsolicited neighbour advertisement claiming another address.

use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6, bind, connect, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use weft_lab::netns::run_in;

const NEIGHBOUR_ADVERT: u8 = 136;
/// The override flag: replace what the receiver has for the target.
const OVERRIDE: u8 = 0x20;
const TARGET_LINK_LAYER_ADDRESS: u8 = 2;
/// Neighbour discovery is only taken from the link: hop limit 255.
const NDP_HOP_LIMIT: i32 = 255;

/// One datagram from `src` (an address of the pod's, though another's).
pub fn udp_from(netns: &Path, src: Ipv6Addr, dest: SocketAddrV6) {
    run_in(netns, move || {
        let socket = UdpSocket::bind((src, 0))?;
        socket.send_to(b"forged ipv6", dest).map(drop)
    })
    .expect("entering the pod's netns")
    .unwrap_or_else(|e| panic!("sending from {src} to {dest}: {e}"));
}

/// A TCP connection attempt from `src`, given up after `timeout`.
pub fn tcp_from(
    netns: &Path,
    src: Ipv6Addr,
    dest: SocketAddrV6,
    timeout: Duration,
) -> nix::Result<()> {
    run_in(netns, move || {
        let fd = socket(
            AddressFamily::Inet6,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        bind(
            fd.as_raw_fd(),
            &SockaddrIn6::from(SocketAddrV6::new(src, 0, 0, 0)),
        )?;
        let limit = TimeVal::milliseconds(timeout.as_millis() as i64);
        setsockopt(&fd, sockopt::SendTimeout, &limit)?;
        connect(fd.as_raw_fd(), &SockaddrIn6::from(dest))
    })
    .expect("entering the pod's netns")
}

/// An unsolicited neighbour advertisement for `target`, with the override
/// flag, to all nodes on the pod's eth0 (the kernel fills the checksum).
pub fn neighbour_advertisement(netns: &Path, target: Ipv6Addr) {
    run_in(netns, move || -> nix::Result<()> {
        let ifindex = nix::net::if_::if_nametoindex("eth0")?;
        let fd = socket(
            AddressFamily::Inet6,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::IcmpV6,
        )?;
        setsockopt(&fd, sockopt::Ipv6MulticastHops, &NDP_HOP_LIMIT)?;
        let mut message = vec![NEIGHBOUR_ADVERT, 0, 0, 0, OVERRIDE, 0, 0, 0];
        message.extend_from_slice(&target.octets());
        message.extend_from_slice(&[TARGET_LINK_LAYER_ADDRESS, 1, 0x02, 0, 0, 0, 0x66, 0x66]);
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        let to = SockaddrIn6::from(SocketAddrV6::new(all_nodes, 0, 0, ifindex));
        sendto(fd.as_raw_fd(), &message, &to, MsgFlags::empty()).map(drop)
    })
    .expect("entering the pod's netns")
    .unwrap_or_else(|e| panic!("advertising {target}: {e}"));
}
