//! The Markdown report: per comparison the figures of both paths, the
//! ratios weft / reference against the goals, and the offloads seen.

use std::collections::BTreeMap;

use crate::compare::{Figures, Settings};
use crate::offloads::SHOWN;

/// A ratio weft / reference that should reach `bound` (at least, or for
/// round-trip times at most).
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    pub metric: Metric,
    pub bound: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Throughput,
    Connections,
    /// The median round trip: lower is better.
    RttP50,
}

impl Goal {
    pub fn throughput(at_least: f64) -> Self {
        Goal {
            metric: Metric::Throughput,
            bound: at_least,
        }
    }

    pub fn connections(at_least: f64) -> Self {
        Goal {
            metric: Metric::Connections,
            bound: at_least,
        }
    }

    pub fn rtt_p50(at_most: f64) -> Self {
        Goal {
            metric: Metric::RttP50,
            bound: at_most,
        }
    }

    fn met_by(&self, ratio: f64) -> bool {
        match self.metric {
            Metric::RttP50 => ratio <= self.bound,
            Metric::Throughput | Metric::Connections => ratio >= self.bound,
        }
    }
}

/// Weft's path (first) against the reference path (second).
pub struct Comparison {
    pub title: String,
    pub labels: [String; 2],
    pub figures: [Figures; 2],
    pub goals: Vec<Goal>,
}

impl Comparison {
    pub fn new(
        title: String,
        labels: [String; 2],
        figures: [Figures; 2],
        goals: Vec<Goal>,
    ) -> Self {
        Comparison {
            title,
            labels,
            figures,
            goals,
        }
    }

    pub fn ratio(&self, metric: Metric) -> f64 {
        let [w, r] = &self.figures;
        match metric {
            Metric::Throughput => w.gbits() / r.gbits(),
            Metric::Connections => w.conn_rate() / r.conn_rate(),
            Metric::RttP50 => w.rtt_us(50.0) / r.rtt_us(50.0),
        }
    }
}

pub struct OffloadRow {
    pub mode: String,
    pub interface: String,
    pub features: BTreeMap<String, String>,
}

pub fn print(settings: &Settings, comparisons: &[Comparison], offloads: &[OffloadRow]) {
    for c in comparisons {
        print_comparison(c);
    }
    print_offloads(offloads);
    println!(
        "Each workload ran {} rounds per path, rotating which path went first (the IPv4 and IPv6 pairs of a lab share their rounds): iperf3 -t {} (median of runs), {} timed 1-byte round trips over one TCP connection with TCP_NODELAY after 1000 untimed ones per round (percentiles over all), and a connect/send/receive/close loop for {} s (median connections/s). Clients run with net.ipv4.tcp_tw_reuse=1 and ports 1024-65000 in their netns on both paths.",
        settings.rounds, settings.iperf_seconds, settings.round_trips, settings.connect_seconds
    );
}

fn print_comparison(c: &Comparison) {
    println!("## {}", c.title);
    println!();
    println!("| path | throughput | retransmits (per run) | RTT p50 | RTT p99 | connections/s |");
    println!("|---|---|---|---|---|---|");
    for (label, f) in c.labels.iter().zip(&c.figures) {
        println!(
            "| {label} | {:.2} Gbit/s ({}) | {:?} | {:.1} us | {:.1} us | {:.0} |",
            f.gbits(),
            f.bits_per_second
                .iter()
                .map(|b| format!("{:.2}", b / 1e9))
                .collect::<Vec<_>>()
                .join(", "),
            f.retransmits,
            f.rtt_us(50.0),
            f.rtt_us(99.0),
            f.conn_rate()
        );
    }
    let [w, r] = &c.figures;
    println!();
    println!("Ratios (weft / reference, same run):");
    println!(
        "- throughput: {:.3}{}",
        c.ratio(Metric::Throughput),
        goal_text(c, Metric::Throughput)
    );
    println!(
        "- connections/s: {:.3}{}",
        c.ratio(Metric::Connections),
        goal_text(c, Metric::Connections)
    );
    println!(
        "- RTT p50: {:.3}{}, p99: {:.3} (lower is better)",
        c.ratio(Metric::RttP50),
        goal_text(c, Metric::RttP50),
        w.rtt_us(99.0) / r.rtt_us(99.0)
    );
    println!();
}

fn goal_text(c: &Comparison, metric: Metric) -> String {
    let ratio = c.ratio(metric);
    c.goals
        .iter()
        .find(|g| g.metric == metric)
        .map(|g| {
            let verdict = if g.met_by(ratio) { "met" } else { "MISSED" };
            let relation = if g.metric == Metric::RttP50 {
                "<="
            } else {
                ">="
            };
            format!(" (goal {relation} {:.2}: {verdict})", g.bound)
        })
        .unwrap_or_default()
}

fn print_offloads(rows: &[OffloadRow]) {
    println!("## Offloads on node n1's path (ethtool -k)");
    println!();
    println!("| mode | interface | {} |", SHOWN.join(" | "));
    println!("|---|---|{}", "---|".repeat(SHOWN.len()));
    for row in rows {
        let values: Vec<&str> = SHOWN
            .iter()
            .map(|f| row.features.get(*f).map_or("-", String::as_str))
            .collect();
        println!(
            "| {} | {} | {} |",
            row.mode,
            row.interface,
            values.join(" | ")
        );
    }
    println!();
}
