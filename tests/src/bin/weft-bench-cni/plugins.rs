//! Weft (with a real weftd) against the reference bridge + host-local
//! plugins, side by side in one run on this machine: sequential ADD and DEL
//! latency (p50/p99), ADD throughput at concurrency 8, and the plugin's
//! peak RSS.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_tests::{Netns, Weftd, binary};

use crate::calls::{SEQUENTIAL, call, ms, percentile};

const CONCURRENT: usize = 160;
const THREADS: usize = 8;

struct Plugin {
    label: &'static str,
    path: PathBuf,
    conf: Value,
}

struct Figures {
    add: Vec<Duration>,
    del: Vec<Duration>,
    concurrent_add_per_s: f64,
    peak_rss_kib: i64,
}

pub fn run_and_report() {
    let node = Netns::new("bench");
    node.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let daemon = Weftd::start(&node, "10.96.0.0/16");
    let host_local_dir = tempfile::tempdir().expect("tempdir");
    let mut weft_conf = daemon.plugin_conf();
    weft_conf["cniVersion"] = json!("1.0.0");
    weft_conf["name"] = json!("weft");
    let plugins = [
        Plugin {
            label: "weft + weftd",
            path: binary("weft"),
            conf: weft_conf,
        },
        Plugin {
            label: "bridge + host-local",
            path: PathBuf::from("/usr/lib/cni/bridge"),
            conf: json!({
                "cniVersion": "1.0.0", "name": "ref", "type": "bridge",
                "bridge": "benchbr0", "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "subnet": "10.95.0.0/16",
                         "dataDir": host_local_dir.path()},
            }),
        },
    ];

    let figures: Vec<Figures> = plugins.iter().map(|p| measure(&node, p)).collect();
    let floor = process_start_floor(&node);
    report(&plugins, &figures, floor);
}

/// p50 of starting and reaping a process that does nothing, the same way
/// the plugins are started: the part of every call no plugin can save.
fn process_start_floor(node: &Netns) -> Duration {
    let noop = Plugin {
        label: "/bin/true",
        path: PathBuf::from("/bin/true"),
        conf: json!({}),
    };
    let samples: Vec<Duration> = (0..SEQUENTIAL)
        .map(|_| run(node, &noop, "VERSION", "noop", node).0)
        .collect();
    percentile(&samples, 50.0)
}

fn measure(node: &Netns, plugin: &Plugin) -> Figures {
    let pods: Vec<Netns> = (0..SEQUENTIAL).map(|_| Netns::new("pod")).collect();
    // One untimed ADD/DEL warms caches (binary pages, bridge creation).
    let warm = Netns::new("warm");
    run(node, plugin, "ADD", "warm", &warm);
    run(node, plugin, "DEL", "warm", &warm);

    let mut rss = 0;
    let mut add = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        let (took, peak) = run(node, plugin, "ADD", &format!("seq{i}"), pod);
        add.push(took);
        rss = rss.max(peak);
    }
    let mut del = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        let (took, peak) = run(node, plugin, "DEL", &format!("seq{i}"), pod);
        del.push(took);
        rss = rss.max(peak);
    }

    let pods: Vec<Netns> = (0..CONCURRENT).map(|_| Netns::new("cpod")).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let pods = &pods;
            s.spawn(move || {
                for i in (t..CONCURRENT).step_by(THREADS) {
                    run(node, plugin, "ADD", &format!("con{i}"), &pods[i]);
                }
            });
        }
    });
    let concurrent_add_per_s = CONCURRENT as f64 / started.elapsed().as_secs_f64();
    for (i, pod) in pods.iter().enumerate() {
        run(node, plugin, "DEL", &format!("con{i}"), pod);
    }
    Figures {
        add,
        del,
        concurrent_add_per_s,
        peak_rss_kib: rss,
    }
}

/// One plugin call for pod "bench/p"; returns its wall time and the
/// process's peak RSS (KiB).
fn run(node: &Netns, plugin: &Plugin, command: &str, id: &str, pod: &Netns) -> (Duration, i64) {
    let args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p";
    let (status, took, rss) = call(node, &plugin.path, &plugin.conf, command, id, pod, args);
    assert!(
        status == 0,
        "{} {command} {id} failed (status {status})",
        plugin.label
    );
    (took, rss)
}

fn report(plugins: &[Plugin], figures: &[Figures], floor: Duration) {
    println!(
        "| plugin | ADD p50 | ADD p99 | DEL p50 | DEL p99 | ADD/s at concurrency {THREADS} | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (p, f) in plugins.iter().zip(figures) {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.1} MiB |",
            p.label,
            ms(percentile(&f.add, 50.0)),
            ms(percentile(&f.add, 99.0)),
            ms(percentile(&f.del, 50.0)),
            ms(percentile(&f.del, 99.0)),
            f.concurrent_add_per_s,
            f.peak_rss_kib as f64 / 1024.0
        );
    }
    let (w, r) = (&figures[0], &figures[1]);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!();
    println!("Ratios (weft / reference, same run):");
    println!(
        "- ADD p50: {:.3}x (goal <= 0.25x)",
        ratio(percentile(&w.add, 50.0), percentile(&r.add, 50.0))
    );
    println!(
        "- DEL p50: {:.3}x (goal <= 0.15x)",
        ratio(percentile(&w.del, 50.0), percentile(&r.del, 50.0))
    );
    println!(
        "- ADD throughput at concurrency {THREADS}: {:.2}x (goal >= 4x)",
        w.concurrent_add_per_s / r.concurrent_add_per_s
    );
    println!(
        "- weft peak RSS: {:.1} MiB (goal <= 10 MiB)",
        w.peak_rss_kib as f64 / 1024.0
    );
    let net = |a: Duration, b: Duration| {
        a.saturating_sub(floor).as_secs_f64() / b.saturating_sub(floor).as_secs_f64()
    };
    println!();
    println!(
        "Starting and reaping a process that does nothing takes {} (p50) here; net of that:",
        ms(floor)
    );
    println!(
        "- ADD p50: {:.3}x, DEL p50: {:.3}x",
        net(percentile(&w.add, 50.0), percentile(&r.add, 50.0)),
        net(percentile(&w.del, 50.0), percentile(&r.del, 50.0))
    );
    println!();
    println!(
        "{SEQUENTIAL} sequential ADDs then DELs, {CONCURRENT} ADDs over {THREADS} threads; each call is a fresh process entering a node namespace, as a runtime execs it."
    );
}
