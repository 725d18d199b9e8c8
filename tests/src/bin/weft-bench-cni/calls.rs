//! One CNI plugin call, timed the way a runtime sees it (a fresh process
//! entering the node namespace), and the statistics the reports use.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_tests::{CniCall, Netns};

/// Sequential calls per measured series.
pub const SEQUENTIAL: usize = 100;

/// Runs `plugin` with `command` for container `id` in `pod` (CNI_ARGS
/// `args`); returns its exit status, wall time and peak RSS (KiB).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its peak RSS"
)]
pub fn call(
    node: &Netns,
    plugin: &Path,
    conf: &Value,
    command: &str,
    id: &str,
    pod: &Netns,
    args: &str,
) -> (i32, Duration, i64) {
    let netns = pod.path();
    let call = CniCall {
        plugin,
        command,
        container_id: id,
        netns: &netns,
        ifname: "eth0",
        args,
        cni_path: "/usr/lib/cni",
    };
    let started = Instant::now();
    let child = call.spawn_in(node, conf);
    let (status, rss) = wait_with_rusage(child.id());
    (status, started.elapsed(), rss)
}

fn wait_with_rusage(pid: u32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers.
    let reaped = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid as i32, "wait4 reaps the plugin");
    (status, usage.ru_maxrss)
}

pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
