//! The Markdown report: per phase the guarded and the open server's
//! figures and their ratios against the goals, Weft against iptables +
//! ipset, how long the policy took to reach every node, and the
//! apply-to-enforcement times.

use std::time::Duration;

use crate::apply_timing::ApplyTimings;
use crate::compare::{Figures, Settings};
use crate::stats::percentile;
use weft_tests::thousands;

/// Rules in force at which the goals apply.
pub const GOAL_RULES: usize = 10_000;
/// Guarded / open at least this for throughput and connections/s
/// ("within 5 %").
const RATE_GOAL: f64 = 0.95;
/// Guarded / open RTT p50 at most this ("within 5 %").
const RTT_GOAL: f64 = 1.05;
const APPLY_P99_GOAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcer {
    NoPolicy,
    Weft,
    Iptables,
}

/// One measured state of the cluster: guarded server first, open second.
pub struct Phase {
    pub enforcer: Enforcer,
    /// Peer rules ahead of the client's rule.
    pub rules: usize,
    pub figures: [Figures; 2],
}

impl Phase {
    fn label(&self) -> String {
        match self.enforcer {
            Enforcer::NoPolicy => "no policy".into(),
            Enforcer::Weft => format!("Weft, {} rules", thousands(self.rules)),
            Enforcer::Iptables => format!("iptables + ipset, {} rules", thousands(self.rules)),
        }
    }

    fn ratios(&self) -> Ratios {
        Ratios::of(&self.figures)
    }

    fn has_goals(&self) -> bool {
        self.enforcer == Enforcer::Weft && self.rules == GOAL_RULES
    }
}

/// Guarded / open, same phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratios {
    pub throughput: f64,
    pub rtt_p50: f64,
    pub rtt_p99: f64,
    pub connections: f64,
}

impl Ratios {
    pub fn of([guarded, open]: &[Figures; 2]) -> Self {
        Ratios {
            throughput: guarded.gbits() / open.gbits(),
            rtt_p50: guarded.rtt_us(50.0) / open.rtt_us(50.0),
            rtt_p99: guarded.rtt_us(99.0) / open.rtt_us(99.0),
            connections: guarded.conn_rate() / open.conn_rate(),
        }
    }
}

/// How long the store write of one scale step took, and until every node
/// had applied it.
pub struct Setup {
    pub rules: usize,
    pub written: Duration,
    pub applied: Duration,
}

/// Apply-to-enforcement rounds, and how the policy was applied.
pub struct ApplyRun {
    pub how: String,
    pub timings: ApplyTimings,
    pub has_goal: bool,
}

pub struct Report {
    pub settings: Settings,
    pub nodes: usize,
    pub phases: Vec<Phase>,
    pub setups: Vec<Setup>,
    pub applies: Vec<ApplyRun>,
    pub iptables_version: String,
}

pub fn print(report: &Report) {
    print_phases(report);
    print_iptables(report);
    print_setups(report);
    print_applies(report);
    let s = &report.settings;
    println!(
        "Client pod on n2, both servers on n1 of a {}-node vxlan lab; the guarded server is the one the rules select, the open one is selected by no policy, and every ratio is guarded / open from the same phase. Each workload ran {} round(s) per server, alternating which went first: iperf3 -t {} (median), {} timed 1-byte round trips over one TCP connection after 1000 untimed ones per round (percentiles over all), and a connect/send/receive/close loop for {} s (median connections/s). Ghost pods exist only in the datastore (one identity each, addresses in 10.250.0.0/16, on a node no weftd runs); each rule allows one ghost on the three benchmark ports, and the client's rule comes last.",
        report.nodes, s.rounds, s.iperf_seconds, s.round_trips, s.connect_seconds
    );
    println!();
    println!(
        "weftd compile time and RSS for 10,000 pods x 1,000 policies: `cargo run --release -p weft-policy --example compile_bench` (its own `make bench` step)."
    );
}

fn print_phases(report: &Report) {
    println!("## Policy on the data path");
    println!();
    println!(
        "| policy in force | server | throughput (per run) | RTT p50 | RTT p99 | connections/s |"
    );
    println!("|---|---|---|---|---|---|");
    for phase in &report.phases {
        for (server, f) in ["guarded", "open"].iter().zip(&phase.figures) {
            println!(
                "| {} | {server} | {:.2} Gbit/s ({}) | {:.1} us | {:.1} us | {:.0} |",
                phase.label(),
                f.gbits(),
                f.bits_per_second
                    .iter()
                    .map(|b| format!("{:.2}", b / 1e9))
                    .collect::<Vec<_>>()
                    .join(", "),
                f.rtt_us(50.0),
                f.rtt_us(99.0),
                f.conn_rate()
            );
        }
    }
    println!();
    println!(
        "| policy in force | throughput | RTT p50 (lower is better) | RTT p99 | connections/s |"
    );
    println!("|---|---|---|---|---|");
    for phase in &report.phases {
        let r = phase.ratios();
        let goals = phase.has_goals();
        println!(
            "| {} | {} | {} | {:.3} | {} |",
            phase.label(),
            at_least(r.throughput, RATE_GOAL, goals),
            at_most(r.rtt_p50, RTT_GOAL, goals),
            r.rtt_p99,
            at_least(r.connections, RATE_GOAL, goals)
        );
    }
    println!();
}

fn print_iptables(report: &Report) {
    let at = |enforcer| {
        report
            .phases
            .iter()
            .find(|p| p.enforcer == enforcer && p.rules == GOAL_RULES)
    };
    let (Some(weft), Some(iptables)) = (at(Enforcer::Weft), at(Enforcer::Iptables)) else {
        return;
    };
    println!(
        "## Weft against iptables + ipset at {} rules",
        thousands(GOAL_RULES)
    );
    println!();
    println!("{}.", report.iptables_version);
    println!();
    let (w, i) = (weft.ratios(), iptables.ratios());
    println!("| | Weft | iptables + ipset | Weft / iptables |");
    println!("|---|---|---|---|");
    let conn = w.connections / i.connections;
    println!(
        "| connections/s, guarded / open | {:.3} | {:.3} | {} |",
        w.connections,
        i.connections,
        above(conn, 1.0)
    );
    println!(
        "| connections/s, guarded server | {:.0} | {:.0} | {:.3} |",
        weft.figures[0].conn_rate(),
        iptables.figures[0].conn_rate(),
        weft.figures[0].conn_rate() / iptables.figures[0].conn_rate()
    );
    println!(
        "| throughput, guarded / open | {:.3} | {:.3} | {:.3} |",
        w.throughput,
        i.throughput,
        w.throughput / i.throughput
    );
    println!(
        "| RTT p50, guarded / open (lower is better) | {:.3} | {:.3} | {:.3} |",
        w.rtt_p50,
        i.rtt_p50,
        w.rtt_p50 / i.rtt_p50
    );
    println!();
    println!(
        "The goal compares the ratios (each against the open server of its own phase), since the two phases ran at different times on a shared machine."
    );
    println!();
}

fn print_setups(report: &Report) {
    if report.setups.is_empty() {
        return;
    }
    println!("## Putting the rules in force");
    println!();
    println!(
        "| rules | ghost pods + policy written to the store | every node's weftd reports it applied |"
    );
    println!("|---|---|---|");
    for s in &report.setups {
        println!(
            "| {} | {} | {} |",
            thousands(s.rules),
            millis(s.written),
            millis(s.applied)
        );
    }
    println!();
    println!(
        "Times from the start of the write; ghosts of smaller steps stay, so each step writes only the new ghosts and the whole policy."
    );
    println!();
}

fn print_applies(report: &Report) {
    if report.applies.is_empty() {
        return;
    }
    println!("## Apply to enforcement on every node");
    println!();
    println!(
        "| how | rounds | apply p50 | apply p99 | apply max | removal p50 | removal p99 | removal max | probe disagreed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in &report.applies {
        let t = &run.timings;
        let p99 = |samples: &[Duration]| {
            let p = percentile(samples, 99.0);
            let text = p.map_or("-".into(), millis);
            match p {
                Some(p) if run.has_goal => {
                    let verdict = if p < APPLY_P99_GOAL { "met" } else { "MISSED" };
                    format!("{text} (goal < {}: {verdict})", millis(APPLY_P99_GOAL))
                }
                _ => text,
            }
        };
        let at = |samples: &[Duration], p: f64| percentile(samples, p).map_or("-".into(), millis);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} open after apply, {} blocked after removal |",
            run.how,
            t.applied.len(),
            at(&t.applied, 50.0),
            p99(&t.applied),
            at(&t.applied, 100.0),
            at(&t.removed, 50.0),
            p99(&t.removed),
            at(&t.removed, 100.0),
            t.open_after_apply,
            t.blocked_after_removal
        );
    }
    println!();
    println!(
        "The policy isolates the open server (ingress, no rule); the removal deletes it. Each step is timed until it returns, which is when every node's weftd reports the revision applied; a probe from the client right after must agree."
    );
    println!();
}

fn at_least(ratio: f64, goal: f64, judged: bool) -> String {
    judge(ratio, ratio >= goal, &format!(">= {goal:.2}"), judged)
}

fn at_most(ratio: f64, goal: f64, judged: bool) -> String {
    judge(ratio, ratio <= goal, &format!("<= {goal:.2}"), judged)
}

fn above(ratio: f64, goal: f64) -> String {
    judge(ratio, ratio > goal, &format!("> {goal:.2}"), true)
}

fn judge(ratio: f64, met: bool, goal: &str, judged: bool) -> String {
    if !judged {
        return format!("{ratio:.3}");
    }
    let verdict = if met { "met" } else { "MISSED" };
    format!("**{ratio:.3}** (goal {goal}: {verdict})")
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(gbits: f64, rtt_us: u64, conn: f64) -> Figures {
        Figures {
            bits_per_second: vec![gbits * 1e9],
            retransmits: vec![0],
            round_trips: vec![Duration::from_micros(rtt_us)],
            connections_per_second: vec![conn],
        }
    }

    #[test]
    fn ratios_are_guarded_over_open() {
        let r = Ratios::of(&[figures(9.0, 55, 900.0), figures(10.0, 50, 1000.0)]);
        assert!((r.throughput - 0.9).abs() < 1e-9);
        assert!((r.rtt_p50 - 1.1).abs() < 1e-9);
        assert!((r.connections - 0.9).abs() < 1e-9);
    }

    #[test]
    fn only_weft_at_the_goal_size_is_judged() {
        let phase = |enforcer, rules| Phase {
            enforcer,
            rules,
            figures: [Figures::default(), Figures::default()],
        };
        assert!(phase(Enforcer::Weft, GOAL_RULES).has_goals());
        assert!(!phase(Enforcer::Weft, 1_000).has_goals());
        assert!(!phase(Enforcer::Iptables, GOAL_RULES).has_goals());
        assert_eq!(
            phase(Enforcer::Iptables, 10_000).label(),
            "iptables + ipset, 10,000 rules"
        );
    }

    #[test]
    fn verdicts_follow_the_direction_of_the_goal() {
        assert_eq!(at_least(0.96, 0.95, true), "**0.960** (goal >= 0.95: met)");
        assert_eq!(
            at_least(0.94, 0.95, true),
            "**0.940** (goal >= 0.95: MISSED)"
        );
        assert_eq!(
            at_most(1.06, 1.05, true),
            "**1.060** (goal <= 1.05: MISSED)"
        );
        assert_eq!(at_most(1.06, 1.05, false), "1.060");
        assert_eq!(above(1.0, 1.0), "**1.000** (goal > 1.00: MISSED)");
    }
}
