//! `make bench` for NetworkPolicy: what policy costs on the data path and
//! how fast it takes effect, in one run on a 3-node lab. A client pod on
//! n2 talks to two server pods on n1: one guarded by a policy of N rules
//! (N ghost identities that exist only in the datastore, the client's
//! rule last), one that no policy selects, measured side by side (iperf3
//! throughput, 1-byte request/response latency, new connections/s) with
//! no policy, with N = 100, 1,000 and 10,000, and with the equivalent
//! iptables + ipset rules. Also times apply-to-enforcement on every node.
//! Prints a Markdown report.

mod apply_timing;
mod cluster;
#[path = "../weft-bench-net/compare.rs"]
mod compare;
#[path = "../weft-bench-net/iperf.rs"]
mod iperf;
mod iptables;
#[path = "../weft-bench-net/lab.rs"]
#[allow(dead_code, reason = "shared with weft-bench-net, which uses all of it")]
mod lab;
#[path = "../weft-bench-net/netns.rs"]
mod netns;
mod nodes;
#[path = "../weft-bench-net/ns_thread.rs"]
mod ns_thread;
#[path = "../weft-bench-net/offloads.rs"]
#[allow(dead_code, reason = "shared with weft-bench-net, which uses all of it")]
mod offloads;
mod probe;
mod report;
#[path = "../weft-bench-net/stats.rs"]
mod stats;
#[path = "../weft-bench-net/tcp.rs"]
mod tcp;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use crate::cluster::{
    ALLOWED_PROBE_PORT, BLOCKED_PROBE_PORT, CLIENT, DENY_POLICY, GUARDED, NAMESPACE, OPEN,
    RULE_PORTS, RULES_POLICY,
};
use crate::compare::{Figures, Path, Settings, measure_paths};
use crate::iptables::{Backend, LoadedRules, Ruleset};
use crate::lab::{BenchLab, pod_ip};
use crate::netns::NsPath;
use crate::nodes::LabNodes;
use crate::report::{ApplyRun, Enforcer, Phase, Report, Setup};

#[derive(Debug, Parser)]
#[command(
    about = "Weft NetworkPolicy benchmark (root): policy cost on the data path and apply-to-enforcement"
)]
struct Args {
    /// Rounds per workload; each round measures both servers, alternating which goes first.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Seconds per iperf3 run.
    #[arg(long, default_value_t = 3)]
    iperf_seconds: u32,
    /// Timed 1-byte round trips per server (over all rounds).
    #[arg(long, default_value_t = 20_000)]
    round_trips: usize,
    /// Seconds per connection-rate run.
    #[arg(long, default_value_t = 2.0)]
    connect_seconds: f64,
    /// Weft rule counts to measure (ghost rules ahead of the client's).
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    rules: Vec<usize>,
    /// iptables + ipset rule counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    iptables_rules: Vec<usize>,
    /// Which iptables loads the reference rules.
    #[arg(long, value_enum, default_value_t = Backend::Default)]
    iptables: Backend,
    /// `weft-lab apply` / `delete` rounds of the apply-to-enforcement timing.
    #[arg(long, default_value_t = 50)]
    apply_rounds: usize,
    /// Apply-to-enforcement rounds with the largest rule count in force
    /// (written to the datastore directly: `weft-lab apply` would wire the ghosts).
    #[arg(long, default_value_t = 10)]
    scaled_apply_rounds: usize,
    /// How long a probe waits for an answer before it counts as blocked.
    #[arg(long, default_value_t = 200)]
    probe_timeout_ms: u64,
    /// How long every node may take to apply one datastore write.
    #[arg(long, default_value_t = 120)]
    apply_timeout_seconds: u64,
    /// A smoke run: 1 round of 1 s per workload, 2,000 round trips, 0.5 s
    /// connection loops, 5 apply rounds (3 at scale).
    #[arg(long)]
    quick: bool,
}

impl Args {
    fn settings(&self) -> Settings {
        if self.quick {
            return Settings {
                rounds: 1,
                iperf_seconds: 1,
                round_trips: 2_000,
                connect_seconds: 0.5,
            };
        }
        Settings {
            rounds: self.rounds.max(1),
            iperf_seconds: self.iperf_seconds,
            round_trips: self.round_trips,
            connect_seconds: self.connect_seconds,
        }
    }

    fn apply_rounds(&self) -> (usize, usize) {
        if self.quick {
            (5, 3)
        } else {
            (self.apply_rounds, self.scaled_apply_rounds)
        }
    }
}

/// The lab's pods as the benchmark uses them.
struct Pods {
    client: NsPath,
    client_ip: Ipv4Addr,
    guarded: NsPath,
    guarded_ip: IpAddr,
    open: NsPath,
    open_ip: IpAddr,
}

const NODES: usize = 3;

/// A running benchmark: its lab, pods and limits.
struct Bench {
    lab: BenchLab,
    nodes: LabNodes,
    pods: Pods,
    settings: Settings,
    probe_timeout: Duration,
    apply_timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (apply_rounds, scaled_apply_rounds) = args.apply_rounds();
    let mut rules = args.rules.clone();
    rules.sort_unstable();
    rules.dedup();

    let bench = Bench::start(&args)?;
    let mut applies = vec![bench.time_lab_applies(apply_rounds)?];
    eprintln!("no policy");
    check_reach(&bench.pods, bench.probe_timeout, false)?;
    let mut phases = vec![bench.measure(Enforcer::NoPolicy, 0)?];
    let mut setups = Vec::new();
    let mut ghosts = 0;
    for &n in &rules {
        eprintln!(
            "Weft, {n} rules: writing {} ghost pods and the policy",
            n - ghosts
        );
        setups.push(put_rules_in_force(
            &bench.nodes,
            ghosts,
            n,
            bench.apply_timeout,
        )?);
        ghosts = n;
        check_reach(&bench.pods, bench.probe_timeout, true)
            .map_err(|e| with_store_errors(&bench.nodes, e))?;
        phases.push(bench.measure(Enforcer::Weft, n)?);
    }
    if let Some(&largest) = rules.last() {
        applies.push(bench.time_store_applies(scaled_apply_rounds, largest)?);
        eprintln!("removing the rules and the ghost pods");
        let mut keys = cluster::ghost_keys(0..ghosts);
        keys.push(cluster::policy_key(RULES_POLICY));
        let revision = bench.nodes.store.delete(&keys, false)?;
        bench.nodes.wait_applied(revision, bench.apply_timeout)?;
    }
    let n1 = bench.lab.netns(&["--node", "n1"])?;
    for &n in &args.iptables_rules {
        phases.push(bench.measure_iptables(&n1, args.iptables, n)?);
    }
    report::print(&Report {
        settings: bench.settings,
        nodes: NODES,
        phases,
        setups,
        applies,
        iptables_version: args.iptables.version(&n1)?,
    });
    Ok(())
}

impl Bench {
    /// A lab with the client and both servers.
    fn start(args: &Args) -> anyhow::Result<Self> {
        eprintln!("starting a {NODES}-node vxlan lab");
        let lab = BenchLab::up(weft_tests::binary("weft-lab"), "p", NODES, "vxlan", "ebpf")?;
        lab.apply(&cluster::lab_pods_yaml())?;
        let status = lab.status()?;
        let node_names: Vec<String> = status["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str().map(str::to_owned))
            .collect();
        let nodes = LabNodes::open(&lab.name, &node_names)?;
        let pod = |name: &str| lab.netns(&[&format!("{NAMESPACE}/{name}")]);
        let IpAddr::V4(client_ip) = pod_ip(&status, NAMESPACE, CLIENT)? else {
            bail!("the client pod has no IPv4 address");
        };
        let pods = Pods {
            client: pod(CLIENT)?,
            client_ip,
            guarded: pod(GUARDED)?,
            guarded_ip: pod_ip(&status, NAMESPACE, GUARDED)?,
            open: pod(OPEN)?,
            open_ip: pod_ip(&status, NAMESPACE, OPEN)?,
        };
        Ok(Bench {
            lab,
            nodes,
            pods,
            settings: args.settings(),
            probe_timeout: Duration::from_millis(args.probe_timeout_ms),
            apply_timeout: Duration::from_secs(args.apply_timeout_seconds),
        })
    }

    /// Whether the client gets through to the open server.
    fn reaches_open(&self) -> anyhow::Result<bool> {
        probe::reaches(
            &self.pods.client,
            self.pods.open_ip,
            ALLOWED_PROBE_PORT,
            self.probe_timeout,
        )
    }

    /// The deny policy through `weft-lab apply` and `weft-lab delete`.
    fn time_lab_applies(&self, rounds: usize) -> anyhow::Result<ApplyRun> {
        eprintln!("apply to enforcement: {rounds} rounds of weft-lab apply / delete");
        let deny_yaml = cluster::deny_policy_yaml();
        let deny_ref = format!("{NAMESPACE}/{DENY_POLICY}");
        let timings = apply_timing::measure(
            rounds,
            || self.lab.apply(&deny_yaml),
            || {
                self.lab
                    .run(&["delete", "networkpolicy", &deny_ref], None)
                    .map(drop)
            },
            || self.reaches_open(),
        )?;
        Ok(ApplyRun {
            how: "`weft-lab apply` / `weft-lab delete`, no other policy".into(),
            timings,
            has_goal: true,
        })
    }

    /// The deny policy written to the store directly while `rules` rules
    /// and their ghost pods are in force (`weft-lab apply` would wire the
    /// ghosts), each step waiting until every node has applied it.
    fn time_store_applies(&self, rounds: usize, rules: usize) -> anyhow::Result<ApplyRun> {
        eprintln!("apply to enforcement with {rules} rules in force: {rounds} rounds");
        let deny = cluster::deny_policy()?;
        let deny_key = cluster::policy_key(DENY_POLICY);
        let timings = apply_timing::measure(
            rounds,
            || {
                let revision = self.nodes.store.apply(std::slice::from_ref(&deny))?;
                self.nodes.wait_applied(revision, self.apply_timeout)
            },
            || {
                let revision = self
                    .nodes
                    .store
                    .delete(std::slice::from_ref(&deny_key), false)?;
                self.nodes.wait_applied(revision, self.apply_timeout)
            },
            || self.reaches_open(),
        )?;
        Ok(ApplyRun {
            how: format!(
                "datastore write, {} rules and ghost pods in force",
                weft_tests::thousands(rules)
            ),
            timings,
            has_goal: false,
        })
    }

    /// The guarded server behind `n` iptables + ipset peer rules (the
    /// client's last) on its node `n1`, removed afterwards.
    fn measure_iptables(&self, n1: &NsPath, backend: Backend, n: usize) -> anyhow::Result<Phase> {
        let host_veth = offloads::host_interface(n1, &self.pods.guarded_ip.to_string())?;
        eprintln!("iptables + ipset, {n} rules on {host_veth}");
        let mut peers: Vec<Ipv4Addr> = (0..n).map(cluster::ghost_ip).collect();
        peers.push(self.pods.client_ip);
        let ruleset = Ruleset {
            host_veth,
            peers,
            ports: RULE_PORTS.to_vec(),
        };
        let _loaded = LoadedRules::load(n1, backend, ruleset)?;
        check_reach(&self.pods, self.probe_timeout, true)?;
        self.measure(Enforcer::Iptables, n)
    }

    /// Both servers side by side, guarded first.
    fn measure(&self, enforcer: Enforcer, rules: usize) -> anyhow::Result<Phase> {
        let path = |label: &str, server: &NsPath, server_ip| Path {
            label: label.into(),
            client: self.pods.client.clone(),
            server: server.clone(),
            server_ip,
        };
        let guarded = path("guarded server", &self.pods.guarded, self.pods.guarded_ip);
        let open = path("open server", &self.pods.open, self.pods.open_ip);
        let figures: [Figures; 2] = measure_paths([&guarded, &open], &self.settings)?;
        Ok(Phase {
            enforcer,
            rules,
            figures,
        })
    }
}

/// Writes ghosts `ghosts..n` and the policy with `n` ghost rules, then
/// waits until every node has applied them.
fn put_rules_in_force(
    nodes: &LabNodes,
    ghosts: usize,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Setup> {
    let mut objects = cluster::ghost_pods(ghosts..n)?;
    objects.push(cluster::rules_policy(n)?);
    let started = Instant::now();
    let revision = nodes.store.apply(&objects)?;
    let written = started.elapsed();
    nodes
        .wait_applied(revision, timeout)
        .with_context(|| format!("putting {n} rules in force"))?;
    Ok(Setup {
        rules: n,
        written,
        applied: started.elapsed(),
    })
}

/// The client reaches both servers on the allowed probe port and the open
/// one on the other; the guarded one there only when no rules are in force
/// (`guarded` false).
fn check_reach(pods: &Pods, timeout: Duration, guarded: bool) -> anyhow::Result<()> {
    let checks = [
        (
            "the guarded server",
            pods.guarded_ip,
            ALLOWED_PROBE_PORT,
            true,
        ),
        (
            "the guarded server",
            pods.guarded_ip,
            BLOCKED_PROBE_PORT,
            !guarded,
        ),
        ("the open server", pods.open_ip, BLOCKED_PROBE_PORT, true),
    ];
    for (what, ip, port, expected) in checks {
        if probe::reaches(&pods.client, ip, port, timeout)? != expected {
            let verb = if expected {
                "does not reach"
            } else {
                "still reaches"
            };
            bail!("the client {verb} {what} ({ip}) on port {port}");
        }
    }
    Ok(())
}

/// `error`, and what the datastore skipped when reading itself back: an
/// object the store wrote but cannot read is skipped by every weftd too.
fn with_store_errors(nodes: &LabNodes, error: anyhow::Error) -> anyhow::Error {
    match nodes.store.snapshot() {
        Ok(stored) if !stored.errors.is_empty() => {
            let skipped: Vec<String> = stored.errors.iter().map(ToString::to_string).collect();
            error.context(format!(
                "the lab's datastore skips objects it holds: {}",
                skipped.join("; ")
            ))
        }
        Ok(_) => error,
        Err(read) => error.context(format!("reading the lab's datastore back: {read}")),
    }
}
