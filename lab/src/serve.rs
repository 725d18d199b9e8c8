//! The server inside every lab pod (and the world host): one listener per
//! declared TCP and UDP port. A TCP connection gets one line
//! "<label> saw <peer ip>" and is closed; each UDP datagram gets that line
//! back. Clients thus learn which address the server saw (NAT or not).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// What a server answers a client it sees at `peer` (an IPv4 client of an
/// IPv6 socket as its IPv4 address).
pub fn reply_line(label: &str, peer: IpAddr) -> String {
    format!("{label} saw {}\n", peer.to_canonical())
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listening on {protocol} port {port}: {source}")]
    Bind {
        protocol: &'static str,
        port: u16,
        source: std::io::Error,
    },
    #[error("serving {what}: {source}")]
    Serve {
        what: String,
        source: std::io::Error,
    },
    #[error("a listener thread panicked")]
    Panicked,
}

/// Bound sockets, ready to serve.
pub struct Listeners {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
}

/// A client gets this long to take its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

impl Listeners {
    /// Binds every port on `ip` (port 0 picks a free one, for tests).
    pub fn bind(ip: IpAddr, tcp_ports: &[u16], udp_ports: &[u16]) -> Result<Self, ServeError> {
        let tcp = tcp_ports
            .iter()
            .map(|&port| {
                TcpListener::bind((ip, port)).map_err(|source| ServeError::Bind {
                    protocol: "TCP",
                    port,
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        let udp = udp_ports
            .iter()
            .map(|&port| {
                UdpSocket::bind((ip, port)).map_err(|source| ServeError::Bind {
                    protocol: "UDP",
                    port,
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { tcp, udp })
    }

    /// Bound addresses: TCP first, then UDP, in the order given.
    pub fn local_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.tcp
            .iter()
            .map(TcpListener::local_addr)
            .chain(self.udp.iter().map(UdpSocket::local_addr))
            .collect()
    }

    /// Serves forever, one thread per socket; returns the first failure.
    pub fn run(self, label: &str) -> Result<(), ServeError> {
        let label: Arc<str> = Arc::from(label);
        let (failed, failures) = std::sync::mpsc::channel();
        for listener in self.tcp {
            let (label, failed) = (label.clone(), failed.clone());
            std::thread::spawn(move || {
                let _ = failed.send(serve_tcp(&listener, &label));
            });
        }
        for socket in self.udp {
            let (label, failed) = (label.clone(), failed.clone());
            std::thread::spawn(move || {
                let _ = failed.send(serve_udp(&socket, &label));
            });
        }
        drop(failed);
        match failures.recv() {
            Ok(result) => result,
            // No sockets at all: nothing to serve, so wait for the signal that ends us.
            Err(_) => loop {
                std::thread::park();
            },
        }
    }
}

fn serve_tcp(listener: &TcpListener, label: &str) -> Result<(), ServeError> {
    let what = || format!("TCP {:?}", listener.local_addr().ok());
    loop {
        match listener.accept() {
            Ok((stream, peer)) => answer(stream, &reply_line(label, peer.ip())),
            // A client that gave up before accept is its own business.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionAborted => {}
            Err(source) => {
                return Err(ServeError::Serve {
                    what: what(),
                    source,
                });
            }
        }
    }
}

/// Best effort: a client that vanished does not stop the server.
fn answer(mut stream: TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.write_all(line.as_bytes());
}

fn serve_udp(socket: &UdpSocket, label: &str) -> Result<(), ServeError> {
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((_, peer)) => {
                let _ = socket.send_to(reply_line(label, peer.ip()).as_bytes(), peer);
            }
            // An ICMP error for an earlier reply surfaces here; keep serving.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(source) => {
                return Err(ServeError::Serve {
                    what: format!("UDP {:?}", socket.local_addr().ok()),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Detail, Proto, probe};
    use std::net::Ipv4Addr;

    #[test]
    fn answers_tcp_and_udp_with_the_peer_address() {
        let listeners = Listeners::bind(Ipv4Addr::LOCALHOST.into(), &[0], &[0]).unwrap();
        let addrs = listeners.local_addrs().unwrap();
        std::thread::spawn(move || listeners.run("x/a"));
        for (addr, proto) in [(addrs[0], Proto::Tcp), (addrs[1], Proto::Udp)] {
            for _ in 0..2 {
                let outcome = probe(addr, proto, Duration::from_secs(2));
                assert_eq!(outcome.detail, Detail::Connected, "{proto}");
                assert_eq!(outcome.reply.as_deref(), Some("x/a saw 127.0.0.1"));
            }
        }
    }

    #[test]
    fn a_taken_port_fails_to_bind_with_its_number() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = Listeners::bind(Ipv4Addr::LOCALHOST.into(), &[port], &[])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains(&format!("TCP port {port}")),
            "{err}"
        );
    }

    #[test]
    fn the_reply_names_the_server_and_the_peer() {
        assert_eq!(
            reply_line("shop/web", "10.244.1.5".parse().unwrap()),
            "shop/web saw 10.244.1.5\n"
        );
    }
}
