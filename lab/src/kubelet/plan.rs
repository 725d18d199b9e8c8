//! What the kubelet stand-in does next, level-triggered like kubelet's own
//! sync loop: compares the Pods bound to its node with the pods it has
//! wired, and says which sandboxes to tear down and make, which statuses
//! to write, and which deletions to complete.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::status::reports;
use crate::state::PodRecord;

/// Sandbox changes, in the order to make them: tear down first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxPlan {
    /// "ns/name" of wired pods to tear down: gone, made again under the same
    /// name, terminating, finished, or left half-wired by a failed run.
    pub unwire: Vec<String>,
    /// "ns/name" of bound pods to wire.
    pub wire: Vec<String>,
}

/// API writes, once the sandboxes are as planned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiPlan {
    /// Wired pods whose status does not yet say so.
    pub report: Vec<String>,
    /// Terminating pods with nothing left on the node: (key, uid) to
    /// delete for good, as kubelet does once the containers are gone.
    pub finalize: Vec<(String, String)>,
}

pub fn sandbox_plan(
    pods: &BTreeMap<String, Pod>,
    records: &BTreeMap<String, PodRecord>,
) -> SandboxPlan {
    let unwire: Vec<String> = records
        .iter()
        .filter(|(key, record)| {
            record.ips.is_empty() || !pods.get(*key).is_some_and(|pod| runs(pod, record))
        })
        .map(|(key, _)| key.clone())
        .collect();
    let wire = pods
        .iter()
        .filter(|(key, pod)| wanted(pod) && (!records.contains_key(*key) || unwire.contains(key)))
        .map(|(key, _)| key.clone())
        .collect();
    SandboxPlan { unwire, wire }
}

pub fn api_plan(pods: &BTreeMap<String, Pod>, records: &BTreeMap<String, PodRecord>) -> ApiPlan {
    let mut plan = ApiPlan::default();
    for (key, pod) in pods {
        match records.get(key) {
            Some(record)
                if runs(pod, record) && !record.ips.is_empty() && !reports(pod, &record.ips) =>
            {
                plan.report.push(key.clone());
            }
            None if terminating(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                plan.finalize.push((key.clone(), uid));
            }
            _ => {}
        }
    }
    plan
}

/// The record is this pod's (same uid) and the pod should still run.
fn runs(pod: &Pod, record: &PodRecord) -> bool {
    wanted(pod) && pod.metadata.uid.as_deref().unwrap_or_default() == record.uid
}

/// Not being deleted and not finished.
fn wanted(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !terminating(pod) && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, uid: &str, extra: serde_json::Value) -> (String, Pod) {
        let mut value = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"namespace": "x", "name": name, "uid": uid},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}
        });
        if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if k == "metadata" {
                    for (mk, mv) in v.as_object().unwrap() {
                        object["metadata"][mk] = mv.clone();
                    }
                } else {
                    object.insert(k.clone(), v.clone());
                }
            }
        }
        (format!("x/{name}"), serde_json::from_value(value).unwrap())
    }

    fn record(name: &str, uid: &str, wired: bool) -> (String, PodRecord) {
        (
            format!("x/{name}"),
            PodRecord {
                namespace: "x".into(),
                name: name.into(),
                uid: uid.into(),
                node: "n1".into(),
                netns: format!("t1-p.x.{name}"),
                container_id: format!("lab_x_{name}"),
                ips: if wired {
                    vec!["10.244.1.5".parse().unwrap()]
                } else {
                    vec![]
                },
                server: None,
            },
        )
    }

    const DELETING: &str = "2026-12-04T16:00:00Z";

    #[test]
    fn bound_pods_are_wired_and_gone_ones_torn_down() {
        let pods = BTreeMap::from([pod("a", "u1", json!({})), pod("b", "u2", json!({}))]);
        let records = BTreeMap::from([record("a", "u1", true), record("z", "u9", true)]);
        let plan = sandbox_plan(&pods, &records);
        assert_eq!(plan.unwire, vec!["x/z"]);
        assert_eq!(plan.wire, vec!["x/b"]);
    }

    #[test]
    fn a_pod_made_again_under_its_name_gets_a_new_sandbox() {
        let pods = BTreeMap::from([pod("a", "u2", json!({}))]);
        let records = BTreeMap::from([record("a", "u1", true)]);
        let plan = sandbox_plan(&pods, &records);
        assert_eq!(
            (plan.unwire, plan.wire),
            (vec!["x/a".into()], vec!["x/a".into()])
        );
    }

    #[test]
    fn half_wired_pods_are_redone() {
        let pods = BTreeMap::from([pod("a", "u1", json!({}))]);
        let records = BTreeMap::from([record("a", "u1", false)]);
        let plan = sandbox_plan(&pods, &records);
        assert_eq!(
            (plan.unwire, plan.wire),
            (vec!["x/a".into()], vec!["x/a".into()])
        );
    }

    #[test]
    fn terminating_and_finished_pods_are_torn_down_and_not_wired() {
        let pods = BTreeMap::from([
            pod(
                "a",
                "u1",
                json!({"metadata": {"deletionTimestamp": DELETING}}),
            ),
            pod("b", "u2", json!({"status": {"phase": "Succeeded"}})),
            pod(
                "c",
                "u3",
                json!({"metadata": {"deletionTimestamp": DELETING}}),
            ),
        ]);
        let records = BTreeMap::from([record("a", "u1", true), record("b", "u2", true)]);
        let plan = sandbox_plan(&pods, &records);
        assert_eq!(plan.unwire, vec!["x/a", "x/b"]);
        assert!(plan.wire.is_empty());
        // x/a is still recorded until it is torn down; x/c never was.
        let api = api_plan(&pods, &records);
        assert_eq!(api.finalize, vec![("x/c".to_string(), "u3".to_string())]);
        assert!(api.report.is_empty());
    }

    #[test]
    fn status_is_written_until_it_says_running_with_the_ips() {
        let pods = BTreeMap::from([pod("a", "u1", json!({}))]);
        let records = BTreeMap::from([record("a", "u1", true)]);
        assert_eq!(api_plan(&pods, &records).report, vec!["x/a"]);
        let reported = BTreeMap::from([pod(
            "a",
            "u1",
            json!({"status": {"phase": "Running", "podIPs": [{"ip": "10.244.1.5"}],
                              "conditions": [{"type": "Ready", "status": "True"}]}}),
        )]);
        assert_eq!(api_plan(&reported, &records), ApiPlan::default());
    }
}
