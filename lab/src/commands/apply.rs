//! `apply -f FILE|-`: validate the whole file, write it, wire the pods the
//! store has and the lab has not, write their status, and wait until every
//! node has put the result in effect. On the kubernetes datastore the API
//! server takes the file and the kubelets wire (`kube_objects`).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sha2::{Digest, Sha256};
use weft_datastore::parse_objects;

use crate::apply_plan::plan_apply;
use crate::lab::Lab;
use crate::state::Datastore;
use crate::validate::{Cluster, check_objects};

pub fn apply(lab: &Lab, file: &str) -> anyhow::Result<()> {
    let text = super::read_input(file)?;
    let state = lab.state()?;
    if state.datastore == Datastore::Kubernetes {
        return super::kube_objects::apply(lab, &state, file, &text);
    }
    let objects = parse_objects(&text).with_context(|| super::shown(file).to_owned())?;
    let _lock = lab.lock()?;
    let mut state = lab.state()?;
    let store = lab.store()?;
    let stored = store.snapshot()?;
    let nodes = state.topology.node_names();
    check_objects(
        &objects,
        &Cluster {
            nodes: &nodes,
            stored: &stored,
        },
    )
    .with_context(|| format!("nothing of {} applied", super::shown(file)))?;
    let plan = plan_apply(objects, &stored, &nodes, |namespace, name| {
        new_uid(lab.name.as_str(), namespace, name)
    });
    store.apply(&plan.objects)?;
    for line in &plan.summary {
        println!("{line}");
    }
    let revision = super::reconcile::reconcile_pods(lab, &mut state, &store)?;
    crate::wait::revision_applied(lab, &state, revision)
}

/// A fresh pod uid in the UUID format (unique per lab, pod and moment).
fn new_uid(lab: &str, namespace: &str, name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{lab}/{namespace}/{name}/{now}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_look_like_uuids_and_differ_per_pod() {
        let a = new_uid("weft", "x", "a");
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_ne!(a, new_uid("weft", "x", "b"));
    }
}
