//! The lab's datastore and its nodes' weftds, reached the way weft-lab
//! reaches them (LAB.md paths under /run/weft-lab/NAME): objects written
//! straight into the store, and waiting until every node's weftd reports
//! the written revision applied (its policy maps then say so).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weft_api::{Request, Response};
use weft_datastore::DirStore;

/// Where weft-lab keeps a lab's state (`weft_lab::names::STATE_ROOT`).
const STATE_ROOT: &str = "/run/weft-lab";
/// How long one Status call may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Between two rounds of asking: fine against a 100 ms goal, and one
/// Status call per node costs weftd next to nothing.
const POLL_EVERY: Duration = Duration::from_millis(1);

pub struct LabNodes {
    pub store: DirStore,
    sockets: Vec<(String, PathBuf)>,
}

impl LabNodes {
    pub fn open(lab: &str, nodes: &[String]) -> anyhow::Result<Self> {
        let root = PathBuf::from(STATE_ROOT).join(lab);
        let store = DirStore::open(&root.join("store")).context("opening the lab's datastore")?;
        let sockets = nodes
            .iter()
            .map(|node| {
                let socket = root
                    .join("nodes")
                    .join(node)
                    .join("run")
                    .join(weft_api::SOCKET_FILE);
                (node.clone(), socket)
            })
            .collect();
        Ok(LabNodes { store, sockets })
    }

    /// Returns once every node's weftd has applied `revision`.
    pub fn wait_applied(&self, revision: u64, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut waiting: Vec<&(String, PathBuf)> = self.sockets.iter().collect();
        loop {
            let mut lagging = None;
            waiting.retain(|(node, socket)| {
                let applied = applied_revision(socket);
                let pending = applied.is_none_or(|r| r < revision);
                if pending && lagging.is_none() {
                    lagging = Some((node.clone(), applied));
                }
                pending
            });
            let Some((node, applied)) = lagging else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                bail!(
                    "node {node}'s weftd has applied revision {applied:?}, not {revision}, after {timeout:?}"
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }
}

/// What a weftd reports as applied; None when it does not answer.
fn applied_revision(socket: &std::path::Path) -> Option<u64> {
    match weft_api::call(socket, &Request::Status, STATUS_TIMEOUT) {
        Ok(Response::Status {
            ready: true,
            applied_revision,
            ..
        }) => applied_revision,
        _ => None,
    }
}
