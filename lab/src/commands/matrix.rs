//! `matrix`: every wired pod probes every wired pod's own IP of one family
//! (`--family 4|6`; pods without one are left out), at most
//! `PARALLEL` probes at a time, each on its own thread in the source netns.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::cli::Output;
use crate::lab::Lab;
use crate::matrix::MatrixReport;
use crate::netns;
use crate::probe::{Detail, Proto, probe_from};
use crate::state::PodRecord;
use crate::topology::IpFamily;

/// Probes in flight at once.
const PARALLEL: usize = 32;

pub fn matrix(
    lab: &Lab,
    port: u16,
    proto: Proto,
    family: Option<String>,
    timeout_ms: u64,
    output: Output,
) -> anyhow::Result<()> {
    let state = lab.state_with_pods()?;
    let ipv6 = match family.as_deref() {
        Some("6") => true,
        Some(_) => false,
        None => state.topology.family == IpFamily::Ipv6,
    };
    let address = |pod: &PodRecord| pod.ips.iter().copied().find(|ip| ip.is_ipv6() == ipv6);
    let pods: Vec<_> = state
        .pods
        .values()
        .filter(|p| address(p).is_some())
        .collect();
    let jobs: Vec<(PathBuf, SocketAddr)> = pods
        .iter()
        .flat_map(|from| {
            pods.iter().filter_map(|to| {
                Some((
                    netns::path(&from.netns),
                    SocketAddr::new(address(to)?, port),
                ))
            })
        })
        .collect();
    let details = probe_all(&jobs, proto, Duration::from_millis(timeout_ms));
    let rows: Vec<Vec<Detail>> = details
        .chunks(pods.len().max(1))
        .map(<[Detail]>::to_vec)
        .collect();
    let report = MatrixReport::new(port, proto, pods.iter().map(|p| p.key()).collect(), &rows);
    match output {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Text => print!("{}", report.render_table()),
    }
    Ok(())
}

/// Runs every probe, `PARALLEL` at a time; results in job order.
fn probe_all(jobs: &[(PathBuf, SocketAddr)], proto: Proto, timeout: Duration) -> Vec<Detail> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Detail>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(jobs.len()) {
            scope.spawn(|| {
                // This worker never enters a netns: probe_from uses a thread of its own.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((netns_path, dest)) = jobs.get(i) else {
                        break;
                    };
                    let detail = probe_from(netns_path, *dest, proto, timeout).detail;
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(detail);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Detail::Error("probe did not run".into()))
        })
        .collect()
}
