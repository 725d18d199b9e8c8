//! When Services are in effect on a node: its kube-proxy (nftables mode)
//! has a `service-ips` element for every ClusterIP port that has a ready
//! endpoint, and a DNAT to every ready endpoint. A Service with a selector
//! has its endpoints from the Ready pods it selects (the EndpointSlice
//! controller may not have caught up with a pod that just became Ready);
//! one without, from its EndpointSlices. The lines looked for are what the
//! pinned kube-proxy writes into its `ip kube-proxy` table.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The label tying an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The fragments a node's `nft list table ip kube-proxy` must contain.
pub fn expected_rules(services: &[Service], slices: &[EndpointSlice], pods: &[Pod]) -> Vec<String> {
    let mut rules = Vec::new();
    for service in services {
        let Some(spec) = &service.spec else { continue };
        let Some(cluster_ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| *ip != "None" && !ip.is_empty())
        else {
            continue;
        };
        if cluster_ip.contains(':') {
            // kube-proxy writes IPv6 Services into `ip6 kube-proxy`.
            continue;
        }
        let own = |slice: &&EndpointSlice| {
            slice.metadata.namespace == service.metadata.namespace
                && slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SERVICE_NAME_LABEL))
                    == service.metadata.name.as_ref()
                && slice.address_type == "IPv4"
        };
        let selector = spec.selector.as_ref().filter(|s| !s.is_empty());
        for port in spec.ports.iter().flatten() {
            let protocol = port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase();
            let mut ready = Vec::new();
            if let Some(selector) = selector {
                ready.extend(
                    pods.iter()
                        .filter(|pod| pod.metadata.namespace == service.metadata.namespace)
                        .filter(|pod| selects(selector, pod) && is_ready(pod))
                        .filter_map(|pod| {
                            let ip = pod.status.as_ref()?.pod_ip.as_deref()?;
                            let target = target_port(port, pod)?;
                            Some(format!("dnat to {ip}:{target}"))
                        }),
                );
            }
            for slice in slices.iter().filter(own).filter(|_| selector.is_none()) {
                let Some(slice_port) = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name == port.name)
                    .and_then(|p| p.port)
                else {
                    continue;
                };
                for endpoint in slice.endpoints.iter().flatten() {
                    let is_ready = endpoint
                        .conditions
                        .as_ref()
                        .and_then(|c| c.ready)
                        .unwrap_or(true);
                    if is_ready {
                        ready.extend(
                            endpoint
                                .addresses
                                .iter()
                                .map(|address| format!("dnat to {address}:{slice_port}")),
                        );
                    }
                }
            }
            if !ready.is_empty() {
                rules.push(format!("{cluster_ip} . {protocol} . {} : goto", port.port));
                rules.extend(ready);
            }
        }
    }
    rules.sort();
    rules.dedup();
    rules
}

fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && crate::pods::has_ready_condition(pod)
}

/// The pod's port a Service port sends to: its targetPort's number, or
/// the container port of that name and protocol; the Service's own port
/// without a targetPort.
fn target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .iter()
                .flat_map(|spec| &spec.containers)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// The first expected fragment the table lacks.
pub fn first_missing<'a>(expected: &'a [String], table: &str) -> Option<&'a str> {
    expected
        .iter()
        .map(String::as_str)
        .find(|rule| !table.contains(rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": "shop", "name": "web"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
        }))
        .unwrap()
    }

    fn slice(ready: bool) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"namespace": "shop", "name": "web-x1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}},
                {"addresses": ["10.244.2.5"], "conditions": {"ready": ready}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_service_needs_its_cluster_ip_and_a_dnat_per_ready_endpoint() {
        assert_eq!(
            expected_rules(&[service()], &[slice(false)], &[]),
            vec![
                "10.96.0.10 . tcp . 80 : goto".to_string(),
                "dnat to 10.244.1.5:8080".to_string(),
            ]
        );
        assert_eq!(expected_rules(&[service()], &[slice(true)], &[]).len(), 3);
    }

    #[test]
    fn services_without_ready_endpoints_or_cluster_ip_need_nothing() {
        assert!(expected_rules(&[service()], &[], &[]).is_empty());
        let mut headless = service();
        headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        assert!(expected_rules(&[headless], &[slice(true)], &[]).is_empty());
    }

    #[test]
    fn a_selector_service_expects_its_ready_pods_at_their_named_port() {
        let mut selecting = service();
        selecting.spec.as_mut().unwrap().selector = Some([("app".into(), "web".into())].into());
        let pod = |name: &str, app: &str, ready: &str, ip: &str| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"namespace": "shop", "name": name, "labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8081}]}]},
                "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}
            }))
            .unwrap()
        };
        let pods = [
            pod("a", "web", "True", "10.244.1.7"),
            pod("b", "web", "False", "10.244.1.8"),
            pod("c", "db", "True", "10.244.1.9"),
        ];
        // The slices lag: only the pods count for a Service with a selector.
        assert_eq!(
            expected_rules(&[selecting], &[slice(true)], &pods),
            vec![
                "10.96.0.10 . tcp . 80 : goto".to_string(),
                "dnat to 10.244.1.7:8081".to_string(),
            ]
        );
    }

    #[test]
    fn the_table_is_searched_for_each_fragment() {
        let expected = expected_rules(&[service()], &[slice(false)], &[]);
        let table = "elements = { 10.96.0.10 . tcp . 80 : goto service-X-shop/web/tcp/http }\n\
                     meta l4proto tcp dnat to 10.244.1.5:8080";
        assert_eq!(first_missing(&expected, table), None);
        assert_eq!(
            first_missing(&expected, "10.96.0.10 . tcp . 80 : goto"),
            Some("dnat to 10.244.1.5:8080")
        );
    }
}
