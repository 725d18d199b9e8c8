//! `make bench` for weftd's memory on the kubernetes datastore: a
//! kubernetes weft-lab whose API server is made to hold 10,000 pods, 1,000
//! NetworkPolicies and 100 Nodes (the lab's and fake ones that exist only
//! as objects), written through the API as the admin; each weftd's RSS
//! (VmRSS, and the peak, VmHWM) measured after each step once every weftd
//! has put it in effect, settled, and after a restart into the full
//! cluster. Prints a Markdown report. `--smoke` runs a tiny cluster, as
//! `make test` does (root).

mod api;
mod cluster;
mod lab;
mod report;
mod rss;
mod run;
#[path = "../../../../policy/tests/support/synthetic.rs"]
mod synthetic;
mod wait;

use std::time::Duration;

use clap::Parser;

use crate::cluster::Shape;
use crate::run::{Settings, run};

#[derive(Debug, Parser)]
#[command(
    about = "weftd memory benchmark (root): 10,000 pods, 1,000 policies, 100 nodes in the API"
)]
struct Args {
    /// Node objects in the API, the lab's own included (the rest are fake).
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Nodes of the lab, each running a weftd that is measured.
    #[arg(long, default_value_t = 1)]
    lab_nodes: usize,
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    #[arg(long, default_value_t = 100)]
    pods_per_namespace: usize,
    /// At most 10.
    #[arg(long, default_value_t = 10)]
    policies_per_namespace: usize,
    /// Bind every pod to a fake node; by default the lab's nodes get their
    /// share, wired for real, so each weftd compiles policy for local pods.
    #[arg(long)]
    no_local_pods: bool,
    /// Seconds weftd is left alone before the settled figure.
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
    /// Skip restarting the weftds into the full cluster.
    #[arg(long)]
    no_restart: bool,
    /// Seconds a step may take to be in effect on every weftd.
    #[arg(long, default_value_t = 1200)]
    timeout_seconds: u64,
    /// A tiny cluster (5 nodes, 100 pods, 10 policies), to check the
    /// benchmark itself works.
    #[arg(long)]
    smoke: bool,
}

impl Args {
    fn settings(&self) -> Settings {
        if self.smoke {
            return smoke();
        }
        Settings {
            shape: Shape {
                nodes: self.nodes,
                namespaces: self.namespaces,
                pods_per_namespace: self.pods_per_namespace,
                policies_per_namespace: self.policies_per_namespace,
                local_pods: !self.no_local_pods,
            },
            lab_nodes: self.lab_nodes,
            settle: Duration::from_secs(self.settle_seconds),
            restart: !self.no_restart,
            timeout: Duration::from_secs(self.timeout_seconds),
        }
    }
}

fn smoke() -> Settings {
    Settings {
        shape: Shape {
            nodes: 5,
            namespaces: 10,
            pods_per_namespace: 10,
            policies_per_namespace: 1,
            local_pods: true,
        },
        lab_nodes: 1,
        settle: Duration::from_secs(1),
        restart: true,
        timeout: Duration::from_secs(60),
    }
}

fn main() -> anyhow::Result<()> {
    let settings = Args::parse().settings();
    let report = run(&settings)?;
    println!("## weftd memory on the kubernetes datastore\n");
    print!("{}", report.render());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs root: run by `make test` as root"]
    fn the_benchmark_measures_every_step_of_a_small_cluster() {
        let report = run(&smoke()).unwrap();
        let labels: Vec<&str> = report.phases.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels.len(), 7, "{labels:?}");
        for phase in &report.phases {
            let memory = &phase.memory["n1"];
            assert!(memory.rss > 0 && memory.peak >= memory.anon, "{phase:?}");
        }
        assert_eq!(report.local_pods["n1"], 20);
        assert_eq!(report.pods_not_running, 0);
        // n1's own pod CIDR and one route per fake peer.
        assert_eq!(report.routes["n1"], 5, "{}", report.render());
    }
}
