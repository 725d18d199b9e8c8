//! Clients in a pod's netns that choose their source address, as a pod
//! forging another pod's IP would, or their source port, as a client
//! reusing the ports of an earlier connection does: a UDP datagram and a
//! TCP connection attempt, each from a socket bound first.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};
use weft_lab::netns::run_in;

/// Sends one datagram from `src` (any port) to `dest`.
pub fn udp_send_from(netns: &Path, src: Ipv4Addr, dest: SocketAddrV4, payload: &'static [u8]) {
    run_in(netns, move || {
        let socket = UdpSocket::bind((src, 0))?;
        socket.send_to(payload, dest).map(drop)
    })
    .expect("entering the pod's netns")
    .unwrap_or_else(|e| panic!("sending from {src} to {dest}: {e}"));
}

/// Tries a TCP connection from `src` (port 0: any) to `dest`. Once
/// connected it reads the server's answer to its end, so the server closes
/// first and this side leaves no TIME_WAIT that would keep the port from
/// being used again. The socket is closed when this returns, so no SYN of
/// it is sent later.
pub fn tcp_connect_from(
    netns: &Path,
    src: SocketAddrV4,
    dest: SocketAddrV4,
    timeout: Duration,
) -> nix::Result<()> {
    run_in(netns, move || {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        // The port of a connection that just ended may still be in TIME_WAIT.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        bind(fd.as_raw_fd(), &SockaddrIn::from(src))?;
        // connect(2) gives up after SO_SNDTIMEO (with EINPROGRESS).
        let limit = TimeVal::milliseconds(timeout.as_millis() as i64);
        setsockopt(&fd, sockopt::SendTimeout, &limit)?;
        connect(fd.as_raw_fd(), &SockaddrIn::from(dest))?;
        let mut stream = TcpStream::from(fd);
        // Best effort: the connection was made, which is what callers ask.
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.read_to_end(&mut Vec::new());
        Ok(())
    })
    .expect("entering the pod's netns")
}
