//! When Services are in effect on a node: its kube-proxy (nftables mode)
//! has a `service-ips` element for every ClusterIP port that has a ready
//! endpoint, and a DNAT to every ready endpoint. The lines looked for are
//! what the pinned kube-proxy writes into its `ip kube-proxy` table.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label tying an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The fragments a node's `nft list table ip kube-proxy` must contain.
pub fn expected_rules(services: &[Service], slices: &[EndpointSlice]) -> Vec<String> {
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
        for port in spec.ports.iter().flatten() {
            let protocol = port
                .protocol
                .as_deref()
                .unwrap_or("TCP")
                .to_ascii_lowercase();
            let mut ready = Vec::new();
            for slice in slices.iter().filter(own) {
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
            expected_rules(&[service()], &[slice(false)]),
            vec![
                "10.96.0.10 . tcp . 80 : goto".to_string(),
                "dnat to 10.244.1.5:8080".to_string(),
            ]
        );
        assert_eq!(expected_rules(&[service()], &[slice(true)]).len(), 3);
    }

    #[test]
    fn services_without_ready_endpoints_or_cluster_ip_need_nothing() {
        assert!(expected_rules(&[service()], &[]).is_empty());
        let mut headless = service();
        headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        assert!(expected_rules(&[headless], &[slice(true)]).is_empty());
    }

    #[test]
    fn the_table_is_searched_for_each_fragment() {
        let expected = expected_rules(&[service()], &[slice(false)]);
        let table = "elements = { 10.96.0.10 . tcp . 80 : goto service-X-shop/web/tcp/http }\n\
                     meta l4proto tcp dnat to 10.244.1.5:8080";
        assert_eq!(first_missing(&expected, table), None);
        assert_eq!(
            first_missing(&expected, "10.96.0.10 . tcp . 80 : goto"),
            Some("dnat to 10.244.1.5:8080")
        );
    }
}
