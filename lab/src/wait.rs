//! Waiting until every node's weftd is ready, or has put a datastore
//! revision in effect; failing fast when a weftd died, and naming the node
//! that lags when time runs out.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::lab::Lab;
use crate::state::LabState;
use crate::weftd::{Health, health};

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
            } => format!("has applied datastore revision {applied}, not yet {revision}"),
            Health::Ready {
                applied_revision: None,
            } => "does not report which datastore revision it applied".into(),
            Health::NotReady(reason) => format!("is not ready: {reason}"),
        },
    )
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
