//! `probe NS/POD DEST PORT`: prints `connected` (exit 0) or `blocked`
//! (exit 1, with the reason on stderr).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use crate::lab::Lab;
use crate::netns;
use crate::probe::{Proto, probe_from};

pub fn probe(
    lab: &Lab,
    source: &str,
    dest: &str,
    port: u16,
    proto: Proto,
    timeout_ms: u64,
) -> anyhow::Result<ExitCode> {
    let state = lab.state_with_pods()?;
    let from = super::wired_pod(&state, source)?;
    let ip: IpAddr = match dest.parse() {
        Ok(ip) => ip,
        Err(_) => super::wired_pod(&state, dest)?.ips[0],
    };
    let outcome = probe_from(
        &netns::path(&from.netns),
        SocketAddr::new(ip, port),
        proto,
        Duration::from_millis(timeout_ms),
    );
    if outcome.detail.is_connected() {
        println!("connected");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("blocked");
        eprintln!("{source} -> {ip}:{port}/{proto}: {}", outcome.detail);
        Ok(ExitCode::FAILURE)
    }
}
