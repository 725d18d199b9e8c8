//! Bulk TCP throughput with iperf3: a server process inside one netns
//! (killed by its PID when dropped) and a timed client run inside another,
//! read from iperf3's JSON report.

use std::net::IpAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::netns::NsPath;

/// How long an iperf3 server may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

pub struct IperfServer {
    child: Child,
}

impl IperfServer {
    /// Starts `iperf3 -s -p PORT` in `netns` and returns once it listens.
    pub fn start(netns: &NsPath, port: u16) -> anyhow::Result<Self> {
        let child = netns
            .command("iperf3", &["-s", "-p", &port.to_string()])?
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -s")?;
        let server = IperfServer { child };
        let filter = format!("sport = :{port}");
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        while netns.run("ss", &["-Hltn", &filter])?.trim().is_empty() {
            if Instant::now() > deadline {
                bail!("iperf3 did not listen on port {port} within {LISTEN_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(server)
    }
}

impl Drop for IperfServer {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// What one iperf3 run measured.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub bits_per_second: f64,
    pub retransmits: u64,
}

/// One `iperf3 -c SERVER -t SECONDS` run from inside `netns`.
pub fn measure(
    netns: &NsPath,
    server: IpAddr,
    port: u16,
    seconds: u32,
) -> anyhow::Result<Throughput> {
    let report = netns.run(
        "iperf3",
        &[
            "-c",
            &server.to_string(),
            "-p",
            &port.to_string(),
            "-t",
            &seconds.to_string(),
            "-J",
        ],
    )?;
    parse_report(&report)
}

/// Received bits/s and sender retransmits from iperf3's `-J` output.
pub fn parse_report(json: &str) -> anyhow::Result<Throughput> {
    let report: Value = serde_json::from_str(json).context("iperf3 -J output is not JSON")?;
    if let Some(error) = report["error"].as_str() {
        bail!("iperf3: {error}");
    }
    let bits_per_second = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .ok_or_else(|| anyhow!("iperf3 report has no end.sum_received.bits_per_second"))?;
    Ok(Throughput {
        bits_per_second,
        retransmits: report["end"]["sum_sent"]["retransmits"]
            .as_u64()
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_received_rate_and_retransmits() {
        let json = r#"{"end": {"sum_sent": {"bits_per_second": 2e9, "retransmits": 7},
                       "sum_received": {"bits_per_second": 1.5e9}}}"#;
        let t = parse_report(json).unwrap();
        assert_eq!(t.bits_per_second, 1.5e9);
        assert_eq!(t.retransmits, 7);
    }

    #[test]
    fn an_iperf_error_is_an_error() {
        let json = r#"{"start": {}, "end": {}, "error": "unable to connect to server"}"#;
        let err = parse_report(json).unwrap_err().to_string();
        assert!(err.contains("unable to connect"), "{err}");
    }
}
