//! Compiles a 10,000-pod, 1,000-policy cluster and prints time, peak memory
//! and map sizes: `cargo run --release -p weft-policy --example compile_bench`.
//! Goal: under 1 s and 100 MiB.

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use weft_policy::{ClusterInputs, compile, diff};

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let snapshot = synthetic::cluster(100, 100, 10);
    let before = peak_rss_kib().unwrap_or(0);
    let started = Instant::now();
    let compiled = compile(&ClusterInputs::new(&snapshot));
    let compile_time = started.elapsed();
    let maps = compiled.map_contents();
    let total_time = started.elapsed();
    let after = peak_rss_kib().unwrap_or(0);
    let changes = diff(&Default::default(), &maps);
    println!(
        "pods {} policies {}: compile {compile_time:?}, compile+encode {total_time:?}, \
         peak RSS {} MiB (inputs {} MiB); identities {}, profiles {}, entries: identity {}, endpoint {}, policy {} ({} writes from empty)",
        snapshot.pods.len(),
        snapshot.policies.len(),
        after / 1024,
        before / 1024,
        compiled.identities.len(),
        compiled.profiles.len(),
        maps.identities.len(),
        maps.endpoints.len(),
        maps.policy.len(),
        changes.policy.upsert.len(),
    );
}
