//! `make bench` for the data path: pod-to-pod traffic against the bare
//! underlay, side by side in one run on this machine, reported as ratios.
//! Cross-node (lab pods on n1 and n2 against n1's underlay IP to n2's) in
//! vxlan and direct mode, and same-node (two weft pods on n1 against two
//! pods of the reference bridge plugin): TCP throughput (iperf3), 1-byte
//! request/response latency and new connections per second. Every figure
//! is taken with eBPF host routing (weftd's default) and again on labs
//! whose weftds route through the kernel, so the gain shows. Also records
//! the offloads on the path. The labs are dual-stack: the cross-node
//! pairs are measured over IPv6 too (pods against the nodes' IPv6
//! underlay addresses), with goals, for eBPF host routing, of the IPv4
//! ratios of the same run less 5%. Prints a Markdown report.

mod bridge;
mod compare;
mod iperf;
mod lab;
mod netns;
mod ns_thread;
mod offloads;
mod report;
mod stats;
mod tcp;

use clap::Parser;

use crate::bridge::BridgePods;
use crate::compare::{Figures, Path, Settings, measure_paths};
use crate::lab::{BenchLab, node_ip, pod_ip, pod_ip6};
use crate::netns::NsPath;
use crate::report::{Comparison, Goal, Metric, OffloadRow};

#[derive(Debug, Parser)]
#[command(about = "Weft data-path benchmark (root): pods against the underlay, side by side")]
struct Args {
    /// Rounds per workload; each round measures every path of a comparison, rotating which goes first.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per iperf3 run.
    #[arg(long, default_value_t = 5)]
    iperf_seconds: u32,
    /// Timed 1-byte round trips per path (over all rounds).
    #[arg(long, default_value_t = 20_000)]
    round_trips: usize,
    /// Seconds per connection-rate run.
    #[arg(long, default_value_t = 2.0)]
    connect_seconds: f64,
    /// Overlay modes to measure (a narrower run, to look at one figure again).
    #[arg(long, value_delimiter = ',', default_values_t = ["vxlan".to_owned(), "direct".to_owned()])]
    modes: Vec<String>,
    /// Host routings to measure.
    #[arg(long, value_delimiter = ',', default_values_t = ["ebpf".to_owned(), "kernel".to_owned()])]
    host_routings: Vec<String>,
}

/// Pods a and c on n1, b on n2.
const PODS: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: bench}
spec: {nodeName: n1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: bench}
spec: {nodeName: n2, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: bench}
spec: {nodeName: n1, containers: [{name: c}]}
";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        rounds: args.rounds.max(1),
        iperf_seconds: args.iperf_seconds,
        round_trips: args.round_trips,
        connect_seconds: args.connect_seconds,
    };
    let lab_bin = weft_tests::binary("weft-lab");
    let mut comparisons = Vec::new();
    let mut offload_rows = Vec::new();
    for host_routing in ["ebpf", "kernel"] {
        if !args.host_routings.iter().any(|h| h == host_routing) {
            continue;
        }
        for (mode, throughput_goal) in [("vxlan", 0.93), ("direct", 0.98)] {
            if !args.modes.iter().any(|m| m == mode) {
                continue;
            }
            eprintln!("{mode}, {host_routing} host routing: starting a 2-node lab");
            let tag = format!("{}{}", &mode[..1], &host_routing[..1]);
            let lab = BenchLab::up(lab_bin.clone(), &tag, 2, mode, host_routing)?;
            lab.apply(PODS)?;
            let status = lab.status()?;
            let n1 = lab.netns(&["--node", "n1"])?;
            let n2 = lab.netns(&["--node", "n2"])?;
            let a = lab.netns(&["bench/a"])?;
            let b = lab.netns(&["bench/b"])?;
            let c = lab.netns(&["bench/c"])?;
            let a_ip = pod_ip(&status, "bench", "a")?;

            eprintln!("{mode}, {host_routing} host routing: cross-node");
            let pods = Path {
                label: format!("pod n1 -> pod n2 ({mode}, {host_routing} host routing)"),
                client: a.clone(),
                server: b.clone(),
                server_ip: pod_ip(&status, "bench", "b")?,
            };
            let underlay = Path {
                label: "node n1 -> node n2 (underlay)".into(),
                client: n1.clone(),
                server: n2.clone(),
                server_ip: node_ip(&status, "n2")?,
            };
            let mut goals = vec![Goal::throughput(throughput_goal), Goal::rtt_p50(1.10)];
            if mode == "vxlan" {
                goals.push(Goal::connections(0.75));
            }
            eprintln!("{mode}, {host_routing} host routing: cross-node, and over IPv6");
            let pods6 = Path {
                label: format!("pod n1 -> pod n2 over IPv6 ({mode}, {host_routing} host routing)"),
                client: a.clone(),
                server: b,
                server_ip: pod_ip6(&status, "bench", "b")?,
            };
            let underlay6 = Path {
                label: "node n1 -> node n2 over IPv6 (underlay)".into(),
                client: n1.clone(),
                server: n2,
                server_ip: lab.underlay_ip6("n2")?,
            };
            // One series for both families, so drift cannot open a gap
            // between their ratios.
            let [weft, bare, weft6, bare6] =
                measure_paths([&pods, &underlay, &pods6, &underlay6], &settings)?;
            let ipv4 = Comparison::new(
                format!("Cross-node, {mode} mode, {host_routing} host routing"),
                [pods.label, underlay.label],
                [weft, bare],
                goals,
            );
            // Goal: within 5% of the IPv4 ratios of this run. The kernel's
            // path has none: it shows what IPv6 costs there, for comparison.
            let ipv6_goals = if host_routing == "ebpf" {
                let [throughput, connections] =
                    [Metric::Throughput, Metric::Connections].map(|m| ipv4.ratio(m) * 0.95);
                vec![Goal::throughput(throughput), Goal::connections(connections)]
            } else {
                Vec::new()
            };
            comparisons.push(ipv4);
            comparisons.push(Comparison::new(
                format!("Cross-node over IPv6, {mode} mode, {host_routing} host routing"),
                [pods6.label, underlay6.label],
                [weft6, bare6],
                ipv6_goals,
            ));
            if host_routing == "ebpf" {
                offload_rows.extend(offload_rows_for(mode, &n1, &a, &a_ip.to_string())?);
            }
            if mode == "vxlan" {
                eprintln!("{mode}, {host_routing} host routing: same node");
                let c_ip = pod_ip(&status, "bench", "c")?;
                comparisons.push(same_node(&a, &c, c_ip, host_routing, &settings)?);
            }
        }
    }
    report::print(&settings, &comparisons, &offload_rows);
    Ok(())
}

/// Two weft pods on n1 (whose weftd has `--host-routing host_routing`)
/// against two bridge-plugin pods with the same MTU.
fn same_node(
    client: &NsPath,
    server: &NsPath,
    server_ip: std::net::IpAddr,
    host_routing: &str,
    settings: &Settings,
) -> anyhow::Result<Comparison> {
    let mtu = pod_mtu(client)?;
    let reference = BridgePods::wire(mtu)?;
    let weft = Path {
        label: format!("weft pod -> weft pod, same node ({host_routing} host routing)"),
        client: client.clone(),
        server: server.clone(),
        server_ip,
    };
    let [(ref_client, _), (ref_server, ref_server_ip)] = &reference.pods;
    let bridge = Path {
        label: format!("bridge pod -> bridge pod, same node (MTU {mtu})"),
        client: ref_client.clone(),
        server: ref_server.clone(),
        server_ip: *ref_server_ip,
    };
    let figures: [Figures; 2] = measure_paths([&weft, &bridge], settings)?;
    Ok(Comparison::new(
        format!("Same node, {host_routing} host routing, weft against the bridge plugin"),
        [weft.label, bridge.label],
        figures,
        vec![Goal::throughput(1.10), Goal::connections(1.05)],
    ))
}

/// The MTU of a pod's eth0.
fn pod_mtu(pod: &NsPath) -> anyhow::Result<u32> {
    let links: serde_json::Value =
        serde_json::from_str(&pod.run("ip", &["-j", "link", "show", "eth0"])?)?;
    links[0]["mtu"]
        .as_u64()
        .map(|m| m as u32)
        .ok_or_else(|| anyhow::anyhow!("no MTU on the pod's eth0"))
}

/// The offloads of every interface pod a's traffic crosses on n1.
fn offload_rows_for(
    mode: &str,
    node: &NsPath,
    pod: &NsPath,
    pod_ip: &str,
) -> anyhow::Result<Vec<OffloadRow>> {
    let host_veth = offloads::host_interface(node, pod_ip)?;
    let mut places = vec![
        ("pod eth0".to_owned(), pod.clone(), "eth0".to_owned()),
        (
            format!("n1 {host_veth} (host veth)"),
            node.clone(),
            host_veth,
        ),
    ];
    if mode == "vxlan" {
        places.push(("n1 weft.vxlan".into(), node.clone(), "weft.vxlan".into()));
    }
    places.push(("n1 eth0 (underlay)".into(), node.clone(), "eth0".into()));
    places
        .into_iter()
        .map(|(label, netns, device)| {
            Ok(OffloadRow {
                mode: mode.to_owned(),
                interface: label,
                features: offloads::read(&netns, &device)?,
            })
        })
        .collect()
}
