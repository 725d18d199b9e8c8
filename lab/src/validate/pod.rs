//! Pod validation: containers and their ports, a node of the lab, and the
//! API server's rule that a pod's spec (here: node and ports) cannot change.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use weft_policy::check_port_name;

use super::FieldError;
use super::meta::check_dns_label;
use crate::pods::{declared_ports, node_name};

pub fn check_pod(pod: &Pod, nodes: &[String], stored: Option<&Pod>) -> Result<(), FieldError> {
    let Some(spec) = &pod.spec else {
        return Err(FieldError::new("spec", "required"));
    };
    if spec.containers.is_empty() {
        return Err(FieldError::new(
            "spec.containers",
            "needs at least one container",
        ));
    }
    let mut container_names = BTreeSet::new();
    for (i, container) in spec.containers.iter().enumerate() {
        let here = format!("spec.containers[{i}]");
        check_dns_label(&format!("{here}.name"), &container.name)?;
        if !container_names.insert(container.name.as_str()) {
            return Err(FieldError::new(
                format!("{here}.name"),
                format!("{:?} is used by another container", container.name),
            ));
        }
        let mut port_names = BTreeSet::new();
        for (j, port) in container.ports.iter().flatten().enumerate() {
            let at = format!("{here}.ports[{j}]");
            weft_policy::check_port_number(&format!("{at}.containerPort"), port.container_port)?;
            if let Some(protocol) = &port.protocol {
                super::check_protocol(&format!("{at}.protocol"), protocol)?;
            }
            if let Some(name) = &port.name {
                check_port_name(&format!("{at}.name"), name)?;
                if !port_names.insert(name.as_str()) {
                    return Err(FieldError::new(
                        format!("{at}.name"),
                        format!("{name:?} names another port of this container"),
                    ));
                }
            }
        }
    }
    if let Some(node) = &spec.node_name
        && !nodes.contains(node)
    {
        return Err(FieldError::new(
            "spec.nodeName",
            format!("{node:?} is not a node of this lab ({})", nodes.join(", ")),
        ));
    }
    if let Some(stored) = stored {
        check_unchanged(pod, stored)?;
    }
    Ok(())
}

/// Pod specs are immutable in Kubernetes; the lab wires a pod by its node
/// and ports, so those are what may not change.
fn check_unchanged(pod: &Pod, stored: &Pod) -> Result<(), FieldError> {
    if let (Some(wanted), Some(current)) = (node_name(pod), node_name(stored))
        && wanted != current
    {
        return Err(FieldError::new(
            "spec.nodeName",
            format!("the pod runs on {current}; a pod cannot move (delete it first)"),
        ));
    }
    if declared_ports(pod) != declared_ports(stored) {
        return Err(FieldError::new(
            "spec.containers[].ports",
            "a pod's ports cannot change (delete it first)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        vec!["n1".into(), "n2".into()]
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "x"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn field_of(spec: serde_json::Value) -> String {
        check_pod(&pod(spec), &nodes(), None).unwrap_err().field
    }

    #[test]
    fn a_pod_with_tcp_udp_and_sctp_ports_is_valid() {
        let p = pod(
            serde_json::json!({"nodeName": "n2", "containers": [{"name": "c", "ports": [
                {"containerPort": 80, "name": "http"},
                {"containerPort": 53, "protocol": "UDP"},
                {"containerPort": 9, "protocol": "SCTP"}
            ]}]}),
        );
        assert_eq!(check_pod(&p, &nodes(), None), Ok(()));
    }

    #[test]
    fn containers_and_ports_are_checked() {
        assert_eq!(
            field_of(serde_json::json!({"containers": []})),
            "spec.containers"
        );
        assert_eq!(
            field_of(serde_json::json!({"containers": [{"name": "C"}]})),
            "spec.containers[0].name"
        );
        assert_eq!(
            field_of(serde_json::json!({"containers": [{"name": "c"}, {"name": "c"}]})),
            "spec.containers[1].name"
        );
        assert_eq!(
            field_of(
                serde_json::json!({"containers": [{"name": "c", "ports": [{"containerPort": 0}]}]})
            ),
            "spec.containers[0].ports[0].containerPort"
        );
        assert_eq!(
            field_of(serde_json::json!({"containers": [{"name": "c", "ports": [
                {"containerPort": 1, "protocol": "tcp"}]}]})),
            "spec.containers[0].ports[0].protocol"
        );
        assert_eq!(
            field_of(serde_json::json!({"containers": [{"name": "c", "ports": [
                {"containerPort": 1, "name": "p"}, {"containerPort": 2, "name": "p"}]}]})),
            "spec.containers[0].ports[1].name"
        );
    }

    #[test]
    fn the_node_must_be_in_the_lab() {
        assert_eq!(
            field_of(serde_json::json!({"nodeName": "n9", "containers": [{"name": "c"}]})),
            "spec.nodeName"
        );
    }

    #[test]
    fn labels_may_change_but_node_and_ports_may_not() {
        let stored = pod(
            serde_json::json!({"nodeName": "n1", "containers": [{"name": "c", "ports": [
            {"containerPort": 80}]}]}),
        );
        let mut relabelled = stored.clone();
        relabelled.metadata.labels = Some([("a".into(), "b".into())].into());
        relabelled.spec.as_mut().unwrap().node_name = None;
        assert_eq!(check_pod(&relabelled, &nodes(), Some(&stored)), Ok(()));

        let moved = pod(
            serde_json::json!({"nodeName": "n2", "containers": [{"name": "c", "ports": [
            {"containerPort": 80}]}]}),
        );
        assert_eq!(
            check_pod(&moved, &nodes(), Some(&stored))
                .unwrap_err()
                .field,
            "spec.nodeName"
        );
        let reported = pod(serde_json::json!({"containers": [{"name": "c", "ports": [
            {"containerPort": 81}]}]}));
        assert_eq!(
            check_pod(&reported, &nodes(), Some(&stored))
                .unwrap_err()
                .field,
            "spec.containers[].ports"
        );
    }
}
