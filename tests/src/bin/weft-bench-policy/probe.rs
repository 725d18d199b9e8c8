//! One reachability probe from a pod: a TCP connection to a lab pod's
//! port server that is accepted and answers within a timeout. A dropped
//! SYN (policy) shows as no answer.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::netns::NsPath;
use crate::ns_thread::run_job;

/// Whether `client` gets an answer from `server:port` within `timeout`.
pub fn reaches(
    client: &NsPath,
    server: IpAddr,
    port: u16,
    timeout: Duration,
) -> anyhow::Result<bool> {
    run_job(client, move || {
        Ok(answers(SocketAddr::new(server, port), timeout))
    })
}

fn answers(target: SocketAddr, timeout: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&target, timeout) else {
        return false;
    };
    let mut line = [0u8; 64];
    stream.set_read_timeout(Some(timeout)).is_ok() && stream.read(&mut line).is_ok_and(|n| n > 0)
}
