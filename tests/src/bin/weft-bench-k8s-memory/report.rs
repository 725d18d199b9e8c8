//! The benchmark's Markdown report (pure): per phase, how long the writes
//! took and when every weftd had them in effect, and each weftd's RSS
//! after the phase and its peak during it; then the goal.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::cluster::Shape;
use crate::rss::{Memory, mib};
use weft_tests::thousands;

/// RSS goal for weftd with the whole cluster in the API.
pub const GOAL_MIB: u64 = 100;

/// One step of the run and what it did to each weftd.
#[derive(Debug, Clone)]
pub struct PhaseFigures {
    pub label: String,
    /// Time the API writes took; `None` for a step that writes nothing.
    pub written: Option<Duration>,
    /// From the step's start until every weftd had it in effect.
    pub in_effect: Duration,
    /// Per lab node: its weftd's memory after the step, with the peak
    /// during it.
    pub memory: BTreeMap<String, Memory>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub shape: Shape,
    pub lab_nodes: Vec<String>,
    /// Pods on each lab node.
    pub local_pods: BTreeMap<String, usize>,
    pub phases: Vec<PhaseFigures>,
    /// Pods the API holds that do not run (Running, Ready, with an IP) at
    /// the end: none, or the cluster is not what it claims.
    pub pods_not_running: usize,
    /// Weft's routes (proto 87) on each lab node at the end.
    pub routes: BTreeMap<String, usize>,
}

impl Report {
    /// The highest RSS any weftd reached in any phase, in KiB.
    pub fn peak(&self) -> u64 {
        self.memory().map(|m| m.peak).max().unwrap_or(0)
    }

    /// The highest RSS any weftd had at the end of the last phase.
    pub fn last(&self) -> u64 {
        self.phases
            .last()
            .into_iter()
            .flat_map(|p| p.memory.values())
            .map(|m| m.rss)
            .max()
            .unwrap_or(0)
    }

    fn memory(&self) -> impl Iterator<Item = &Memory> {
        self.phases.iter().flat_map(|p| p.memory.values())
    }

    pub fn render(&self) -> String {
        let shape = &self.shape;
        let fake = shape.nodes - self.lab_nodes.len();
        let local: usize = self.local_pods.values().sum();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "weftd on the kubernetes datastore with {} Node objects, {} pods and {} \
             NetworkPolicies in the API: a {}-node lab ({}, vxlan) and {fake} fake Nodes \
             (pod CIDR, weftd's underlay-IP and VTEP-MAC annotations, Ready); pods in {} \
             namespaces, {local} of them on the lab's nodes (wired by its kubelet stand-in), \
             the rest bound to fake nodes with a kubelet-shaped status written through the \
             status subresource; policies of the policy compiler's benchmark cluster.",
            shape.nodes,
            thousands(shape.pods()),
            thousands(shape.policies()),
            self.lab_nodes.len(),
            self.lab_nodes.join(", "),
            shape.namespaces,
        );
        out.push('\n');
        out.push_str(
            "| step | API writes | in effect on every weftd after | node | weftd RSS after (MiB) | \
             anonymous / file-backed | peak RSS during the step |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|\n");
        for phase in &self.phases {
            for (node, memory) in &phase.memory {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {node} | {} | {} / {} | {} |",
                    phase.label,
                    phase.written.map_or("-".into(), seconds),
                    seconds(phase.in_effect),
                    mib(memory.rss),
                    mib(memory.anon),
                    mib(memory.file),
                    mib(memory.peak),
                );
            }
        }
        out.push('\n');
        let _ = writeln!(
            out,
            "Pods in the API not running at the end: {}.",
            self.pods_not_running
        );
        for (node, routes) in &self.routes {
            let _ = writeln!(
                out,
                "weftd on {node} has {routes} routes of its own (proto 87): its pod CIDR and \
                 one per peer whose Node it accepted (fake ones over VXLAN to their \
                 underlay IPs, which nothing answers)."
            );
        }
        out.push('\n');
        let verdict = |kib: u64| {
            if kib < GOAL_MIB * 1024 {
                "met"
            } else {
                "missed"
            }
        };
        let _ = writeln!(out, "| weftd RSS | measured | goal |");
        let _ = writeln!(out, "|---|---|---|");
        let _ = writeln!(
            out,
            "| at the end, the whole cluster in the API | {} MiB | < {GOAL_MIB} MiB, {} |",
            mib(self.last()),
            verdict(self.last())
        );
        let _ = writeln!(
            out,
            "| peak over the run | {} MiB | < {GOAL_MIB} MiB, {} |",
            mib(self.peak()),
            verdict(self.peak())
        );
        out
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(rss: u64, peak: u64) -> Memory {
        Memory {
            rss,
            anon: rss - 1024,
            file: 1024,
            peak,
        }
    }

    fn report() -> Report {
        let phase = |label: &str, rss, peak| PhaseFigures {
            label: label.into(),
            written: Some(Duration::from_millis(1500)),
            in_effect: Duration::from_secs(3),
            memory: BTreeMap::from([("n1".to_owned(), memory(rss, peak))]),
        };
        Report {
            shape: Shape {
                nodes: 100,
                namespaces: 100,
                pods_per_namespace: 100,
                policies_per_namespace: 10,
                local_pods: true,
            },
            lab_nodes: vec!["n1".into()],
            local_pods: BTreeMap::from([("n1".to_owned(), 100)]),
            phases: vec![
                phase("empty lab", 30 * 1024, 31 * 1024),
                phase("+ pods", 80 * 1024, 120 * 1024),
                phase("settled", 70 * 1024, 71 * 1024),
            ],
            pods_not_running: 0,
            routes: BTreeMap::from([("n1".to_owned(), 100)]),
        }
    }

    #[test]
    fn the_goal_is_judged_on_the_last_rss_and_the_peak() {
        let report = report();
        assert_eq!(report.last(), 70 * 1024);
        assert_eq!(report.peak(), 120 * 1024);
        let text = report.render();
        assert!(
            text.contains("10,000 pods and 1,000 NetworkPolicies"),
            "{text}"
        );
        assert!(text.contains("99 fake Nodes"), "{text}");
        assert!(
            text.contains("| + pods | 1.5 s | 3.0 s | n1 | 80.0 | 79.0 / 1.0 | 120.0 |"),
            "{text}"
        );
        assert!(text.contains("| 70.0 MiB | < 100 MiB, met |"), "{text}");
        assert!(text.contains("| 120.0 MiB | < 100 MiB, missed |"), "{text}");
    }
}
