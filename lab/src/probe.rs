//! One reachability probe: a TCP connection that is accepted and answers,
//! or a UDP datagram that is echoed back, within a timeout. `probe_from`
//! runs it from inside a pod's netns on a thread of its own.

use std::fmt;
use std::io::{ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::netns;

/// The protocols a probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Connected,
    Refused,
    Timeout,
    Error(String),
}

impl Detail {
    pub fn is_connected(&self) -> bool {
        *self == Detail::Connected
    }
}

/// "connected", "refused", "timeout" or "error: ...", as the matrix shows it.
impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Connected => f.write_str("connected"),
            Detail::Refused => f.write_str("refused"),
            Detail::Timeout => f.write_str("timeout"),
            Detail::Error(message) => write!(f, "error: {message}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub detail: Detail,
    /// What the server answered (a lab server says "<ns>/<pod> saw <ip>").
    pub reply: Option<String>,
}

impl Outcome {
    fn failed(detail: Detail) -> Self {
        Self {
            detail,
            reply: None,
        }
    }
}

/// What a UDP probe sends.
const UDP_PAYLOAD: &[u8] = b"weft-lab probe\n";
/// Longest reply read.
const MAX_REPLY: usize = 512;

/// Probes from the netns at `netns_path`; the thread that enters it does
/// nothing else and ends with the probe.
pub fn probe_from(netns_path: &Path, dest: SocketAddr, proto: Proto, timeout: Duration) -> Outcome {
    netns::run_in(netns_path, move || probe(dest, proto, timeout))
        .unwrap_or_else(|err| Outcome::failed(Detail::Error(err.to_string())))
}

/// Probes from the calling thread's netns.
pub fn probe(dest: SocketAddr, proto: Proto, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    match proto {
        Proto::Tcp => probe_tcp(dest, timeout, deadline),
        Proto::Udp => probe_udp(dest, deadline),
    }
    .unwrap_or_else(|err| Outcome::failed(classify(&err)))
}

fn probe_tcp(dest: SocketAddr, timeout: Duration, deadline: Instant) -> std::io::Result<Outcome> {
    let mut stream = TcpStream::connect_timeout(&dest, timeout)?;
    stream.set_read_timeout(Some(left(deadline)?))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; MAX_REPLY];
    loop {
        match stream.read(&mut buf)? {
            0 => break,
            n => reply.extend_from_slice(&buf[..n]),
        }
        if reply.contains(&b'\n') || reply.len() >= MAX_REPLY {
            break;
        }
        stream.set_read_timeout(Some(left(deadline)?))?;
    }
    answered(reply)
}

fn probe_udp(dest: SocketAddr, deadline: Instant) -> std::io::Result<Outcome> {
    let any: IpAddr = if dest.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind((any, 0))?;
    // A connected socket reports an ICMP port unreachable as ECONNREFUSED.
    socket.connect(dest)?;
    socket.send(UDP_PAYLOAD)?;
    socket.set_read_timeout(Some(left(deadline)?))?;
    let mut buf = [0u8; MAX_REPLY];
    let n = socket.recv(&mut buf)?;
    answered(buf[..n].to_vec())
}

fn answered(reply: Vec<u8>) -> std::io::Result<Outcome> {
    if reply.is_empty() {
        return Ok(Outcome::failed(Detail::Error(
            "closed without an answer".into(),
        )));
    }
    Ok(Outcome {
        detail: Detail::Connected,
        reply: Some(String::from_utf8_lossy(&reply).trim().to_owned()),
    })
}

/// Time left before the deadline; none left reads as a timeout.
fn left(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

fn classify(err: &std::io::Error) -> Detail {
    match err.kind() {
        ErrorKind::ConnectionRefused => Detail::Refused,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Detail::Timeout,
        _ => Detail::Error(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_tcp_server_that_answers_is_connected() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(b"x/a saw 127.0.0.1\n").unwrap();
        });
        let outcome = probe(addr, Proto::Tcp, SECOND);
        server.join().unwrap();
        assert_eq!(outcome.detail, Detail::Connected);
        assert_eq!(outcome.reply.as_deref(), Some("x/a saw 127.0.0.1"));
    }

    #[test]
    fn a_closed_port_is_refused() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(probe(addr, Proto::Tcp, SECOND).detail, Detail::Refused);
        assert_eq!(probe(addr, Proto::Udp, SECOND).detail, Detail::Refused);
    }

    #[test]
    fn a_silent_server_is_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = listener.local_addr().unwrap();
        let short = Duration::from_millis(200);
        assert_eq!(probe(tcp, Proto::Tcp, short).detail, Detail::Timeout);
        let udp_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = udp_socket.local_addr().unwrap();
        assert_eq!(probe(udp, Proto::Udp, short).detail, Detail::Timeout);
        drop(listener);
    }

    #[test]
    fn a_server_closing_without_answer_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || drop(listener.accept().unwrap()));
        let outcome = probe(addr, Proto::Tcp, SECOND);
        server.join().unwrap();
        assert_eq!(
            outcome.detail.to_string(),
            "error: closed without an answer"
        );
    }

    #[test]
    fn details_print_as_the_matrix_shows_them() {
        assert_eq!(Detail::Connected.to_string(), "connected");
        assert_eq!(Detail::Refused.to_string(), "refused");
        assert_eq!(Detail::Timeout.to_string(), "timeout");
        assert_eq!(Detail::Error("x".into()).to_string(), "error: x");
    }
}
