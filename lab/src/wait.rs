//! Waiting until every node's weftd is ready, or has put a datastore
//! revision (or one per kind) in effect; failing fast when a weftd died,
//! and naming the node that lags, and in what, when time runs out.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::lab::Lab;
use crate::state::LabState;
use crate::weftd::{Health, KindRequirement, health};

/// How long `up` waits for weftds to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `apply` and `delete` wait for nodes to catch up.
pub const REVISION_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two rounds of asking the nodes.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Returns once every node is ready.
pub fn nodes_ready(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    wait_nodes(
        lab,
        state,
        READY_TIMEOUT,
        Health::is_ready,
        |health| match health {
            Health::NotReady(reason) => format!("is not ready: {reason}"),
            Health::Ready { .. } => "is ready".into(),
        },
    )
}

/// Returns once every node has applied `revision`.
pub fn revision_applied(lab: &Lab, state: &LabState, revision: u64) -> anyhow::Result<()> {
    wait_nodes(
        lab,
        state,
        REVISION_TIMEOUT,
        |health| health.has_applied(revision),
        |health| match health {
            Health::Ready {
                applied_revision: Some(applied),
                ..
            } => format!("has applied datastore revision {applied}, not yet {revision}"),
            Health::Ready {
                applied_revision: None,
                ..
            } => "does not report which datastore revision it applied".into(),
            Health::NotReady(reason) => format!("is not ready: {reason}"),
        },
    )
}

/// Returns once every node has applied, of each kind `wanted` names, the
/// revision it names.
pub fn kinds_applied(lab: &Lab, state: &LabState, wanted: &KindRequirement) -> anyhow::Result<()> {
    wait_nodes(
        lab,
        state,
        REVISION_TIMEOUT,
        |health| health.has_applied_kinds(wanted),
        |health| explain_kinds(health, wanted),
    )
}

/// Why a node has not met `wanted`: the kind it lags in.
fn explain_kinds(health: &Health, wanted: &KindRequirement) -> String {
    if let Health::NotReady(reason) = health {
        return format!("is not ready: {reason}");
    }
    let Some((kind, revision)) = health.lagging_kind(wanted) else {
        return "has applied every kind waited for".into();
    };
    match health.applied_revisions() {
        Some(applied) => format!(
            "has applied {kind} revision {}, not yet {revision}",
            applied.get(kind)
        ),
        None => format!("does not report which {kind} revision it applied"),
    }
}

fn wait_nodes(
    lab: &Lab,
    state: &LabState,
    timeout: Duration,
    done: impl Fn(&Health) -> bool,
    explain: impl Fn(&Health) -> String,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut waiting: Vec<String> = state.topology.node_names();
    loop {
        let mut lagging = None;
        waiting.retain(|node| {
            let health = health(&lab.paths, node);
            let pending = !done(&health);
            if pending && lagging.is_none() {
                lagging = Some((node.clone(), health));
            }
            pending
        });
        let Some((node, health)) = lagging else {
            return Ok(());
        };
        let log = lab.paths.node_log(&node);
        if let Some(weftd) = state.weftds.get(&node)
            && !weftd.is_running()
        {
            bail!(
                "weftd on {node} exited: {}; see {}",
                last_line(&log),
                log.display()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "node {node} {} after {} s; see {}",
                explain(&health),
                timeout.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The line of a log that best says why a process died: the last one
/// mentioning an error, else the last non-empty one.
pub fn last_line(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    explain_log(&text)
}

fn explain_log(text: &str) -> String {
    let lines = || text.lines().rev().map(str::trim).filter(|l| !l.is_empty());
    // anyhow's report starts with "Error:"; a backtrace after it may name
    // "error" in every frame, so that line wins over any other.
    lines()
        .find(|l| l.starts_with("Error:"))
        .or_else(|| lines().find(|l| l.to_ascii_lowercase().contains("error")))
        .or_else(|| lines().next())
        .unwrap_or("(nothing logged)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_api::{AppliedRevisions, RevisionKind};

    #[test]
    fn a_node_short_of_a_requirement_is_explained_by_the_kind_it_lags_in() {
        let wanted = KindRequirement::from([
            (RevisionKind::Pods, 31),
            (RevisionKind::NetworkPolicies, 30),
        ]);
        let ready = |applied_revisions| Health::Ready {
            applied_revision: Some(31),
            applied_revisions,
        };
        let applied = AppliedRevisions {
            pods: 31,
            network_policies: 10,
            ..AppliedRevisions::default()
        };
        assert_eq!(
            explain_kinds(&ready(Some(applied)), &wanted),
            "has applied networkPolicies revision 10, not yet 30"
        );
        assert_eq!(
            explain_kinds(&ready(None), &wanted),
            "does not report which pods revision it applied"
        );
        assert_eq!(
            explain_kinds(&Health::NotReady("starting".into()), &wanted),
            "is not ready: starting"
        );
    }

    #[test]
    fn the_error_line_of_a_log_explains_an_exit() {
        assert_eq!(
            explain_log(
                "starting\nerror: unexpected argument '--x'\n\nFor more information, try '--help'.\n"
            ),
            "error: unexpected argument '--x'"
        );
        assert_eq!(explain_log("a\nlast words\n\n"), "last words");
        assert_eq!(
            explain_log(
                "Error: finding the underlay interface\n  0: anyhow::error::<impl From<E>>::from\n"
            ),
            "Error: finding the underlay interface"
        );
        assert_eq!(explain_log(""), "(nothing logged)");
    }
}
