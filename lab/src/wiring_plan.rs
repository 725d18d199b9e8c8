//! Level-triggered pod wiring, as kubelet does it: compares the pods in the
//! store with the pods the lab has wired, and says which to wire, which to
//! tear down (gone from the store, or left half-wired by a failed run), and
//! which stored pods need their status written.

use std::net::IpAddr;

use weft_datastore::{ClusterSnapshot, Object, Pod};

use crate::names::pod_ref;
use crate::pods;
use crate::state::LabState;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct WiringPlan {
    /// (namespace, name) of stored pods to wire, in key order.
    pub wire: Vec<(String, String)>,
    /// "ns/name" of wired pods to tear down first.
    pub unwire: Vec<String>,
}

pub fn wiring_plan(stored: &ClusterSnapshot<Pod>, state: &LabState) -> WiringPlan {
    let unwire: Vec<String> = state
        .pods
        .values()
        .filter(|record| {
            record.ips.is_empty()
                || !stored
                    .pods
                    .contains_key(&(record.namespace.clone(), record.name.clone()))
        })
        .map(|record| record.key())
        .collect();
    let wire = stored
        .pods
        .keys()
        .filter(|(namespace, name)| {
            let key = pod_ref(namespace, name);
            !state.pods.contains_key(&key) || unwire.contains(&key)
        })
        .cloned()
        .collect();
    WiringPlan { wire, unwire }
}

/// Stored pods whose status does not yet say what the lab wired:
/// Running, with its IPs and its node's underlay IP.
pub fn status_updates(stored: &ClusterSnapshot<Pod>, state: &LabState) -> Vec<Object> {
    stored
        .pods
        .iter()
        .filter_map(|((namespace, name), pod)| {
            let record = state.pod(namespace, name).filter(|r| !r.ips.is_empty())?;
            let node = state.topology.node(&record.node)?;
            let host_ip: IpAddr = state.topology.primary_ip(node)?;
            let mut current: Pod = Pod::clone(pod);
            current.metadata.resource_version = None;
            let desired = pods::running(current.clone(), &record.ips, host_ip);
            (desired != current).then_some(Object::Pod(desired))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Datastore, PodRecord};
    use crate::topology::{Mode, Topology};

    fn stored(names: &[&str]) -> ClusterSnapshot<Pod> {
        let mut snapshot = ClusterSnapshot::<Pod>::default();
        for name in names {
            let yaml = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: x, resourceVersion: '3'}}\nspec: {{nodeName: n1, containers: [{{name: c}}]}}\n"
            );
            for object in weft_datastore::parse_objects(&yaml).unwrap() {
                snapshot.insert(object);
            }
        }
        snapshot
    }

    fn state(wired: &[(&str, bool)]) -> LabState {
        let name = "t1".parse().unwrap();
        let topology = Topology::plan(&name, 1, Mode::Vxlan).unwrap();
        let mut state = LabState::new(
            name,
            "10.244.0.0/16".parse().unwrap(),
            Datastore::Dir,
            crate::state::HostRouting::Ebpf,
            topology,
        );
        for (pod, complete) in wired {
            state.pods.insert(
                format!("x/{pod}"),
                PodRecord {
                    namespace: "x".into(),
                    name: (*pod).into(),
                    uid: format!("u-{pod}"),
                    node: "n1".into(),
                    netns: format!("t1-p.x.{pod}"),
                    container_id: format!("lab_x_{pod}"),
                    ips: if *complete {
                        vec!["10.244.1.5".parse().unwrap()]
                    } else {
                        vec![]
                    },
                    server: None,
                },
            );
        }
        state
    }

    #[test]
    fn new_pods_are_wired_and_gone_ones_unwired() {
        let plan = wiring_plan(&stored(&["a", "b"]), &state(&[("a", true), ("z", true)]));
        assert_eq!(plan.wire, vec![("x".to_string(), "b".to_string())]);
        assert_eq!(plan.unwire, vec!["x/z"]);
    }

    #[test]
    fn half_wired_pods_are_redone() {
        let plan = wiring_plan(&stored(&["a"]), &state(&[("a", false)]));
        assert_eq!(plan.wire, vec![("x".to_string(), "a".to_string())]);
        assert_eq!(plan.unwire, vec!["x/a"]);
    }

    #[test]
    fn status_is_written_once() {
        let state = state(&[("a", true)]);
        let before = stored(&["a", "b"]);
        let updates = status_updates(&before, &state);
        assert_eq!(updates.len(), 1);
        let Object::Pod(pod) = &updates[0] else {
            panic!("a pod")
        };
        assert_eq!(
            pods::pod_ips(pod),
            vec!["10.244.1.5".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            pod.status.as_ref().unwrap().host_ip.as_deref(),
            Some("198.18.0.11")
        );
        let mut after = before.clone();
        let mut written = updates[0].clone();
        written.metadata_mut().resource_version = Some("4".into());
        after.insert(written);
        assert!(status_updates(&after, &state).is_empty());
    }
}
