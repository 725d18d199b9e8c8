//! When a change made through the lab's API server is in effect: every
//! pod that should run is Running and Ready (the kubelet stand-in wired it
//! and its listeners are up), or says why it cannot be; and every node's
//! weftd has put in effect, per kind, the newest revision of that kind the
//! cluster holds.

use weft_api::RevisionKind;
use weft_datastore::{ClusterSnapshot, Pod};

use crate::kubelet::status::sandbox_error;
use crate::names::pod_ref;
use crate::weftd::KindRequirement;

/// Pods that should run but do not yet, each with what it waits for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodsProgress {
    pub waiting: Vec<(String, String)>,
    /// Pods whose sandbox could not be made, with the kubelet's reason.
    pub failed: Vec<(String, String)>,
}

impl PodsProgress {
    pub fn done(&self) -> bool {
        self.waiting.is_empty() && self.failed.is_empty()
    }
}

pub fn pods_progress(snapshot: &ClusterSnapshot<Pod>) -> PodsProgress {
    let mut progress = PodsProgress::default();
    for ((namespace, name), pod) in &snapshot.pods {
        let key = pod_ref(namespace, name);
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        if pod.metadata.deletion_timestamp.is_some()
            || matches!(phase, Some("Succeeded" | "Failed"))
        {
            continue;
        }
        if let Some(reason) = sandbox_error(pod) {
            progress.failed.push((key, reason.to_owned()));
        } else if !is_ready(pod) {
            let waits_for = match crate::pods::node_name(pod) {
                None => "to be scheduled".to_owned(),
                Some(node) => format!("its sandbox on {node}"),
            };
            progress.waiting.push((key, waits_for));
        }
    }
    progress
}

fn is_ready(pod: &Pod) -> bool {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    running && !crate::pods::pod_ips(pod).is_empty() && crate::pods::has_ready_condition(pod)
}

/// Per kind the lab changes, the highest resourceVersion among the
/// objects the cluster holds, raised to `deleted` (the revisions at which
/// objects of that kind were deleted): once a node has applied that much
/// of every kind, it has seen each object's latest state and every
/// deletion (each kind's watch is ordered).
pub fn required_revisions(
    snapshot: &ClusterSnapshot<Pod>,
    deleted: &KindRequirement,
) -> KindRequirement {
    let newest = [
        (
            RevisionKind::Namespaces,
            newest(snapshot.namespaces.values().map(|o| &o.metadata)),
        ),
        (
            RevisionKind::Pods,
            newest(snapshot.pods.values().map(|o| &o.metadata)),
        ),
        (
            RevisionKind::NetworkPolicies,
            newest(snapshot.policies.values().map(|o| &o.metadata)),
        ),
    ];
    let mut required: KindRequirement = newest.into_iter().filter(|(_, r)| *r > 0).collect();
    for (kind, revision) in deleted {
        let entry = required.entry(*kind).or_default();
        *entry = (*entry).max(*revision);
    }
    required
}

fn newest<'a>(
    metadata: impl Iterator<
        Item = &'a weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    >,
) -> u64 {
    metadata
        .filter_map(|m| m.resource_version.as_deref()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::parse_objects;

    fn snapshot(yaml: &str) -> ClusterSnapshot<Pod> {
        let mut snapshot = ClusterSnapshot::<Pod>::default();
        for object in parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        snapshot
    }

    const PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: ready, resourceVersion: '40'}
spec: {nodeName: n1, containers: [{name: c}]}
status: {phase: Running, podIPs: [{ip: 10.244.1.5}], conditions: [{type: Ready, status: 'True'}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: unscheduled, resourceVersion: '41'}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: wiring, resourceVersion: '42'}
spec: {nodeName: n2, containers: [{name: c}]}
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: broken, resourceVersion: '43'}
spec: {nodeName: n2, containers: [{name: c}]}
status: {phase: Pending, conditions: [{type: PodReadyToStartContainers, status: 'False', message: 'CNI ADD failed: no IPs left [code 110]'}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: going, resourceVersion: '44', deletionTimestamp: '2026-12-04T16:00:00Z'}
spec: {nodeName: n2, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: done, resourceVersion: '45'}
spec: {nodeName: n2, containers: [{name: c}]}
status: {phase: Succeeded}
";

    #[test]
    fn pods_that_should_run_are_waited_for_and_broken_ones_named() {
        let progress = pods_progress(&snapshot(PODS));
        assert_eq!(
            progress.waiting,
            vec![
                ("x/unscheduled".to_string(), "to be scheduled".to_string()),
                ("x/wiring".to_string(), "its sandbox on n2".to_string()),
            ]
        );
        assert_eq!(
            progress.failed,
            vec![(
                "x/broken".to_string(),
                "CNI ADD failed: no IPs left [code 110]".to_string()
            )]
        );
        assert!(!progress.done());
        let only_ready: String = PODS.split("---").next().unwrap().to_owned();
        assert!(pods_progress(&snapshot(&only_ready)).done());
    }

    #[test]
    fn the_newest_revision_of_each_kind_and_every_deletion_is_required() {
        let mut cluster = snapshot(PODS);
        for object in parse_objects(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: p, resourceVersion: '30'}\nspec: {podSelector: {}}\n",
        )
        .unwrap()
        {
            cluster.insert(object);
        }
        let none = KindRequirement::new();
        assert_eq!(
            required_revisions(&cluster, &none),
            KindRequirement::from([
                (RevisionKind::Pods, 45),
                (RevisionKind::NetworkPolicies, 30)
            ])
        );
        let deleted = KindRequirement::from([
            (RevisionKind::NetworkPolicies, 50),
            (RevisionKind::Pods, 12),
            (RevisionKind::Namespaces, 7),
        ]);
        assert_eq!(
            required_revisions(&cluster, &deleted),
            KindRequirement::from([
                (RevisionKind::Namespaces, 7),
                (RevisionKind::Pods, 45),
                (RevisionKind::NetworkPolicies, 50)
            ])
        );
    }
}
