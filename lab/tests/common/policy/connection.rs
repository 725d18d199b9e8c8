//! A long-lived TCP connection between two pods, both ends held by the test
//! (the sockets are made on threads inside the pods' netns and stay
//! there), to show that established flows keep carrying data.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use weft_lab::netns::run_in;

use crate::common::TestLab;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Connection {
    client: TcpStream,
    client_lines: BufReader<TcpStream>,
    server: TcpStream,
    server_lines: BufReader<TcpStream>,
}

impl Connection {
    /// Connects pod `from` to a listener made for this on `port` in pod
    /// `to` (at `to_ip`); returns the peer address the server saw.
    pub fn open(
        lab: &TestLab,
        from: &str,
        to: &str,
        to_ip: IpAddr,
        port: u16,
    ) -> (Self, SocketAddr) {
        let listener = run_in(&lab.pod_netns(to), move || {
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        })
        .expect("entering the server pod")
        .expect("listening in the server pod");
        let dest = SocketAddr::new(to_ip, port);
        let client = run_in(&lab.pod_netns(from), move || {
            TcpStream::connect_timeout(&dest, IO_TIMEOUT)
        })
        .expect("entering the client pod")
        .expect("connecting to the server pod");
        let (server, peer) = listener.accept().expect("the connection is accepted");
        for stream in [&client, &server] {
            stream
                .set_read_timeout(Some(IO_TIMEOUT))
                .expect("a read timeout");
            stream
                .set_write_timeout(Some(IO_TIMEOUT))
                .expect("a write timeout");
        }
        let connection = Connection {
            client_lines: BufReader::new(client.try_clone().expect("a second handle")),
            client,
            server_lines: BufReader::new(server.try_clone().expect("a second handle")),
            server,
        };
        (connection, peer)
    }

    /// Sends `text` client to server and gets it echoed back.
    pub fn carries(&mut self, text: &str) {
        let line = format!("{text}\n");
        self.client
            .write_all(line.as_bytes())
            .expect("client sends");
        let mut got = String::new();
        self.server_lines
            .read_line(&mut got)
            .unwrap_or_else(|e| panic!("server reads {text:?}: {e}"));
        assert_eq!(got, line);
        self.server
            .write_all(got.as_bytes())
            .expect("server echoes");
        got.clear();
        self.client_lines
            .read_line(&mut got)
            .unwrap_or_else(|e| panic!("client reads the echo of {text:?}: {e}"));
        assert_eq!(got, line);
    }
}
