//! Compiles a 10,000-pod, 1,000-policy cluster and prints time, peak memory
//! and map sizes: `cargo run --release -p weft-policy --example compile_bench`.
//! Goal: under 1 s and 100 MiB. Then what one node's weftd does with it: the
//! compile per snapshot, the comparison with the maps it has written, and
//! the incremental work of a CNI ADD. Then one policy with 10,000 rules,
//! each selecting one of 10,000 pods by label (the shape of the policy
//! benchmark).

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use weft_datastore::{ClusterSnapshot, parse_objects};
use weft_policy::{ClusterInputs, EndpointScope, ObjectName, compile, diff, prepare};

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let snapshot = synthetic::cluster(100, 100, 10).records();
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
    one_node(&snapshot);
    many_peers();
}

/// Node "node-0" of the synthetic cluster with its pods wired: the compile
/// per snapshot, the diff against unchanged maps (what a sync compares under
/// weftd's lock), and wiring each local pod incrementally.
fn one_node(snapshot: &ClusterSnapshot) {
    let node = "node-0";
    let wired: BTreeMap<ObjectName, Vec<IpAddr>> = snapshot
        .pods
        .iter()
        .filter(|(_, pod)| pod.node_name.as_deref() == Some(node))
        .map(|(name, pod)| {
            let ips = pod.ips.iter().filter_map(|ip| ip.parse().ok());
            (name.clone(), ips.collect())
        })
        .collect();
    let inputs = ClusterInputs::new(snapshot)
        .with_scope(EndpointScope::Node(node))
        .with_wired_ips(&wired);
    let started = Instant::now();
    let prepared = prepare(&inputs);
    let maps = prepared.compiled.map_contents();
    let prepare_time = started.elapsed();
    let applied = maps.clone();
    let started = Instant::now();
    let unchanged = diff(&applied, &maps);
    let diff_time = started.elapsed();
    assert!(unchanged.is_empty());
    let mut adds: Vec<Duration> = wired
        .iter()
        .map(|(pod, ips)| {
            let started = Instant::now();
            let mut touched: BTreeSet<IpAddr> = ips.iter().copied().collect();
            touched.extend(prepared.published_addresses(pod));
            let entries = prepared.address_entries(&touched, &wired);
            let changes = entries.changes(&applied, &prepared.compiled);
            assert!(changes.is_empty(), "{pod:?} is in the maps already");
            started.elapsed()
        })
        .collect();
    adds.sort();
    println!(
        "{node}'s weftd ({} local pods): compile+encode per snapshot {prepare_time:?}, \
         diff against unchanged maps {diff_time:?}; one ADD's entries and writes: \
         p50 {:?}, max {:?}",
        wired.len(),
        adds[adds.len() / 2],
        adds[adds.len() - 1],
    );
}

/// 10,000 pods with a label each and one policy whose rule k selects pod k.
fn many_peers() {
    let pods = 10_000;
    let mut yaml = String::new();
    for k in 0..pods {
        let (third, fourth) = (k / 250, k % 250 + 1);
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: b, name: g{k}, labels: {{id: i{k}}}}}\n\
             spec: {{nodeName: other, containers: [{{name: c}}]}}\n\
             status: {{podIPs: [{{ip: 10.250.{third}.{fourth}}}]}}\n---\n"
        ));
    }
    yaml.push_str(
        "apiVersion: v1\nkind: Pod\nmetadata: {namespace: b, name: server, labels: {app: s}}\n\
         spec: {nodeName: n1, containers: [{name: c}]}\n---\n\
         apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: b, name: p}\n\
         spec:\n  podSelector: {matchLabels: {app: s}}\n  ingress:\n",
    );
    for k in 0..pods {
        yaml.push_str(&format!(
            "  - from: [{{podSelector: {{matchLabels: {{id: i{k}}}}}}}]\n    ports: [{{port: 80}}]\n"
        ));
    }
    let mut snapshot = ClusterSnapshot::default();
    for object in parse_objects(&yaml).expect("the synthetic cluster parses") {
        snapshot.insert(object);
    }
    let started = Instant::now();
    let inputs = ClusterInputs::new(&snapshot).with_scope(EndpointScope::Node("n1"));
    let maps = compile(&inputs).map_contents();
    println!(
        "pods {} and one policy with {pods} rules: compile+encode {:?}; identities {}, policy entries {}",
        snapshot.pods.len(),
        started.elapsed(),
        maps.identities.len(),
        maps.policy.len(),
    );
}
