//! The Pod status the kubelet stand-in writes, as kubelet would: Running
//! with the sandbox's IPs and every container ready once the pod is wired;
//! Pending with the CNI error while the sandbox cannot be made.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// Whether the pod's status already says it runs with `ips` and is Ready.
pub fn reports(pod: &Pod, ips: &[IpAddr]) -> bool {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    running && crate::pods::pod_ips(pod) == ips && crate::pods::has_ready_condition(pod)
}

/// A strategic merge patch of the status: Running, the IPs, every
/// container running and ready (the lab's listeners are up by now).
pub fn running_patch(pod: &Pod, ips: &[IpAddr], host_ip: IpAddr, now: &str) -> Value {
    let containers: Vec<Value> = pod
        .spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .map(|c| {
            json!({
                "name": c.name, "image": c.image.clone().unwrap_or_default(), "imageID": "",
                "ready": true, "started": true, "restartCount": 0,
                "state": {"running": {"startedAt": now}}
            })
        })
        .collect();
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ]
    .map(|kind| json!({"type": kind, "status": "True", "lastTransitionTime": now}))
    .into();
    json!({"status": {
        "phase": "Running",
        "podIP": ips.first().map(ToString::to_string),
        "podIPs": ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect::<Vec<_>>(),
        "hostIP": host_ip.to_string(),
        "hostIPs": [{"ip": host_ip.to_string()}],
        "startTime": now,
        "conditions": conditions,
        "containerStatuses": containers,
    }})
}

/// The reason a sandbox could not be made, where `kubectl describe` and
/// `weft-lab apply` find it (kubelet reports it as an event).
pub fn sandbox_failed_patch(message: &str, now: &str) -> Value {
    json!({"status": {
        "phase": "Pending",
        "conditions": [{
            "type": "PodReadyToStartContainers", "status": "False",
            "reason": "FailedCreatePodSandBox", "message": message, "lastTransitionTime": now
        }]
    }})
}

/// The sandbox error a pod's status carries, if any.
pub fn sandbox_error(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodReadyToStartContainers" && c.status == "False")?
        .message
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-04T16:00:00Z";

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": "x", "name": "a"},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}
        }))
        .unwrap()
    }

    fn ips() -> Vec<IpAddr> {
        vec!["10.244.1.5".parse().unwrap()]
    }

    /// The pod as the API server would hold it after the patch.
    fn patched(patch: &Value) -> Pod {
        let mut value = serde_json::to_value(pod()).unwrap();
        value["status"] = patch["status"].clone();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_running_patch_is_what_reports_looks_for() {
        assert!(!reports(&pod(), &ips()));
        let patch = running_patch(&pod(), &ips(), "198.18.0.11".parse().unwrap(), NOW);
        let running = patched(&patch);
        assert!(reports(&running, &ips()));
        assert!(!reports(&running, &["10.244.1.6".parse().unwrap()]));
        assert_eq!(patch["status"]["containerStatuses"][0]["image"], "nginx");
        assert_eq!(patch["status"]["hostIPs"][0]["ip"], "198.18.0.11");
        assert_eq!(sandbox_error(&running), None);
    }

    #[test]
    fn a_failed_sandbox_is_pending_with_the_reason() {
        let failed = patched(&sandbox_failed_patch("weftd is not ready [code 11]", NOW));
        assert!(!reports(&failed, &ips()));
        assert_eq!(sandbox_error(&failed), Some("weftd is not ready [code 11]"));
    }
}
