//! Paths measured side by side in one run: servers on each, then every
//! workload in rounds that rotate which path goes first, so drift and
//! noise on this shared machine hit them all alike.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;

use crate::iperf::{self, IperfServer};
use crate::netns::NsPath;
use crate::ns_thread::run_job;
use crate::stats::{median, micros, percentile};
use crate::tcp::{self, EchoServer};

const IPERF_PORT: u16 = 5201;
const ECHO_PORT: u16 = 7007;
/// Untimed round trips before each timed series.
const WARMUP_ROUND_TRIPS: usize = 1000;

/// One measured path: a client netns and a server address in another.
pub struct Path {
    pub label: String,
    pub client: NsPath,
    pub server: NsPath,
    pub server_ip: IpAddr,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub rounds: usize,
    pub iperf_seconds: u32,
    /// Timed round trips per path, spread over the rounds.
    pub round_trips: usize,
    pub connect_seconds: f64,
}

/// Everything measured on one path.
#[derive(Debug, Default)]
pub struct Figures {
    pub bits_per_second: Vec<f64>,
    pub retransmits: Vec<u64>,
    pub round_trips: Vec<Duration>,
    pub connections_per_second: Vec<f64>,
}

impl Figures {
    pub fn gbits(&self) -> f64 {
        median(&self.bits_per_second) / 1e9
    }

    pub fn rtt_us(&self, p: f64) -> f64 {
        micros(percentile(&self.round_trips, p))
    }

    pub fn conn_rate(&self) -> f64 {
        median(&self.connections_per_second)
    }
}

/// Measures throughput, round trips and connection rate on every path.
/// Paths may share a server netns (its servers listen on both families).
pub fn measure_paths<const N: usize>(
    paths: [&Path; N],
    settings: &Settings,
) -> anyhow::Result<[Figures; N]> {
    for path in paths {
        prepare_client(&path.client)?;
    }
    let mut servers: Vec<&NsPath> = Vec::new();
    for path in paths {
        if !servers.iter().any(|s| s.0 == path.server.0) {
            servers.push(&path.server);
        }
    }
    let _iperf = servers
        .iter()
        .map(|netns| IperfServer::start(netns, IPERF_PORT))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let _echo = servers
        .iter()
        .map(|netns| EchoServer::start(netns, ECHO_PORT))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut figures: [Figures; N] = std::array::from_fn(|_| Figures::default());
    let per_round = settings.round_trips.div_ceil(settings.rounds);
    let connect_for = Duration::from_secs_f64(settings.connect_seconds);
    for_each_rotating(settings.rounds, N, |i| {
        let path = paths[i];
        eprintln!("  iperf3 {}", path.label);
        let t = iperf::measure(
            &path.client,
            path.server_ip,
            IPERF_PORT,
            settings.iperf_seconds,
        )
        .with_context(|| format!("iperf3 on {}", path.label))?;
        figures[i].bits_per_second.push(t.bits_per_second);
        figures[i].retransmits.push(t.retransmits);
        Ok(())
    })?;
    for_each_rotating(settings.rounds, N, |i| {
        let path = paths[i];
        eprintln!("  round trips {}", path.label);
        let ip = path.server_ip;
        let samples = run_job(&path.client, move || {
            tcp::round_trips(ip, ECHO_PORT, WARMUP_ROUND_TRIPS, per_round)
        })
        .with_context(|| format!("round trips on {}", path.label))?;
        figures[i].round_trips.extend(samples);
        Ok(())
    })?;
    for_each_rotating(settings.rounds, N, |i| {
        let path = paths[i];
        eprintln!("  connections {}", path.label);
        let ip = path.server_ip;
        let rate = run_job(&path.client, move || {
            tcp::connection_rate(ip, ECHO_PORT, connect_for)
        })
        .with_context(|| format!("connection rate on {}", path.label))?;
        figures[i].connections_per_second.push(rate);
        Ok(())
    })?;
    Ok(figures)
}

/// Runs `measure(0..paths)` `rounds` times, each round starting one path
/// further on, so every path goes first as often as the others.
pub fn for_each_rotating(
    rounds: usize,
    paths: usize,
    mut measure: impl FnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for round in 0..rounds {
        for step in 0..paths {
            measure((round + step) % paths)?;
        }
    }
    Ok(())
}

/// Lets a client open connections back to back without running out of
/// ports: TIME_WAIT ports are reused, and the port range is wide. Both
/// sysctls are per netns and set alike on both paths.
fn prepare_client(netns: &NsPath) -> anyhow::Result<()> {
    netns.run(
        "sysctl",
        &[
            "-qw",
            "net.ipv4.tcp_tw_reuse=1",
            "net.ipv4.ip_local_port_range=1024 65000",
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_which_path_goes_first() {
        let mut order = Vec::new();
        for_each_rotating(3, 2, |i| {
            order.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 1, 0, 0, 1]);
        order.clear();
        for_each_rotating(4, 4, |i| {
            order.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 2, 3, 1, 2, 3, 0, 2, 3, 0, 1, 3, 0, 1, 2]);
    }
}
