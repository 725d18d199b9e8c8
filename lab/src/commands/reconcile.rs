//! Brings the lab's pods in line with the store (see `wiring_plan`): tears
//! down pods that are gone or half-wired, wires new ones, writes their
//! status. Used by `apply` and `delete`.

use anyhow::bail;
use weft_datastore::DirStore;

use crate::lab::Lab;
use crate::state::LabState;
use crate::wiring::{StateLedger, unwire, wire};
use crate::wiring_plan::{status_updates, wiring_plan};

/// Returns the datastore revision that holds the result.
pub fn reconcile_pods(lab: &Lab, state: &mut LabState, store: &DirStore) -> anyhow::Result<u64> {
    let stored = store.snapshot()?;
    let plan = wiring_plan(&stored, state);
    let mut failures = Vec::new();
    let mut ledger = StateLedger { lab, state };
    for key in &plan.unwire {
        if let Err(err) = unwire(lab, &mut ledger, key) {
            failures.push(err);
        }
    }
    for key in &plan.wire {
        if let Some(pod) = stored.pods.get(key)
            && let Err(err) = wire(lab, &mut ledger, pod)
        {
            failures.push(err);
        }
    }
    let updates = status_updates(&stored, state);
    let revision = if updates.is_empty() {
        stored.revision
    } else {
        store.apply(&updates)?
    };
    match failures.as_slice() {
        [] => Ok(revision),
        [only] => bail!("{only:#}"),
        [first, rest @ ..] => bail!("{first:#} (and {} more pods failed)", rest.len()),
    }
}
