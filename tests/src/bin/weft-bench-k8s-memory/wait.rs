//! Waiting, with a long timeout and progress on stderr, until every lab
//! node's weftd has put a per-kind requirement in effect, or until the
//! pods bound to the lab's nodes run; failing at once when a weftd died.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use weft_lab::process::ProcessRecord;
use weft_lab::weftd::{Health, KindRequirement, health};

use crate::api::AdminApi;
use crate::lab::K8sLab;

/// How often the nodes are asked.
const POLL: Duration = Duration::from_millis(200);
/// How often progress is printed.
const REPORT_EVERY: Duration = Duration::from_secs(15);

/// Returns, once every weftd has applied `wanted`, how long that took.
pub fn applied(
    lab: &K8sLab,
    weftds: &BTreeMap<String, ProcessRecord>,
    wanted: &KindRequirement,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut reported = started;
    loop {
        let lagging = weftds.iter().find_map(|(node, weftd)| {
            let health = health(&lab.lab.paths, node);
            (!health.has_applied_kinds(wanted)).then_some((node, weftd, health))
        });
        let Some((node, weftd, health)) = lagging else {
            return Ok(started.elapsed());
        };
        if !weftd.is_running() {
            bail!(
                "weftd on {node} exited; see {}",
                lab.lab.paths.node_log(node).display()
            );
        }
        let why = explain(&health, wanted);
        if started.elapsed() >= timeout {
            bail!("weftd on {node} {why} after {} s", timeout.as_secs());
        }
        if reported.elapsed() >= REPORT_EVERY {
            eprintln!(
                "  waiting {:.0} s: weftd on {node} {why}",
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}

fn explain(health: &Health, wanted: &KindRequirement) -> String {
    match (health, health.lagging_kind(wanted)) {
        (Health::NotReady(reason), _) => format!("is not ready: {reason}"),
        (_, Some((kind, revision))) => format!(
            "has applied {kind} revision {}, not yet {revision}",
            health.applied_revisions().map_or(0, |a| a.get(kind))
        ),
        (_, None) => "is done".into(),
    }
}

/// Returns once every pod bound to `nodes` runs (the lab's kubelet
/// stand-in wired it and wrote its status).
pub fn local_pods_run(api: &AdminApi, nodes: &[String], timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = started;
    loop {
        let progress = api.pods_on(nodes.to_vec())?;
        if let Some((pod, reason)) = progress.failed.first() {
            bail!("pod {pod} cannot run: {reason}");
        }
        let Some((pod, waits_for)) = progress.waiting.first() else {
            return Ok(());
        };
        if started.elapsed() >= timeout {
            bail!(
                "{} pods do not run after {} s; {pod} waits for {waits_for}",
                progress.waiting.len(),
                timeout.as_secs()
            );
        }
        if reported.elapsed() >= REPORT_EVERY {
            eprintln!(
                "  waiting {:.0} s: {} local pods to run",
                started.elapsed().as_secs_f64(),
                progress.waiting.len()
            );
            reported = Instant::now();
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
