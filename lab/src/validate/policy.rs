//! NetworkPolicy validation as the API server does it: policy types, peers
//! (selectors, ipBlock CIDRs and their exceptions) and ports.

use ipnet::IpNet;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::FieldError;
use super::meta::check_port_name;
use super::selector::check_selector;

pub fn check_policy(policy: &NetworkPolicy) -> Result<(), FieldError> {
    let Some(spec) = &policy.spec else {
        return Err(FieldError::new("spec", "required"));
    };
    if let Some(selector) = &spec.pod_selector {
        check_selector("spec.podSelector", selector)?;
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    for (i, policy_type) in types.iter().enumerate() {
        if !matches!(policy_type.as_str(), "Ingress" | "Egress") {
            return Err(FieldError::new(
                format!("spec.policyTypes[{i}]"),
                format!("{policy_type:?} is not Ingress or Egress"),
            ));
        }
        if types[..i].contains(policy_type) {
            return Err(FieldError::new(
                format!("spec.policyTypes[{i}]"),
                format!("{policy_type} is listed twice"),
            ));
        }
    }
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let here = format!("spec.ingress[{i}]");
        check_peers(&format!("{here}.from"), rule.from.as_deref())?;
        check_ports(&format!("{here}.ports"), rule.ports.as_deref())?;
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let here = format!("spec.egress[{i}]");
        check_peers(&format!("{here}.to"), rule.to.as_deref())?;
        check_ports(&format!("{here}.ports"), rule.ports.as_deref())?;
    }
    Ok(())
}

fn check_peers(field: &str, peers: Option<&[NetworkPolicyPeer]>) -> Result<(), FieldError> {
    for (i, peer) in peers.into_iter().flatten().enumerate() {
        let here = format!("{field}[{i}]");
        let has_selector = peer.pod_selector.is_some() || peer.namespace_selector.is_some();
        match &peer.ip_block {
            Some(_) if has_selector => {
                return Err(FieldError::new(
                    here,
                    "ipBlock cannot be combined with podSelector or namespaceSelector",
                ));
            }
            Some(block) => check_ip_block(&format!("{here}.ipBlock"), block)?,
            None if !has_selector => {
                return Err(FieldError::new(
                    here,
                    "a peer needs podSelector, namespaceSelector or ipBlock",
                ));
            }
            None => {}
        }
        if let Some(selector) = &peer.pod_selector {
            check_selector(&format!("{here}.podSelector"), selector)?;
        }
        if let Some(selector) = &peer.namespace_selector {
            check_selector(&format!("{here}.namespaceSelector"), selector)?;
        }
    }
    Ok(())
}

fn check_ip_block(field: &str, block: &IPBlock) -> Result<(), FieldError> {
    let cidr = parse_cidr(&format!("{field}.cidr"), &block.cidr)?.trunc();
    for (i, text) in block.except.iter().flatten().enumerate() {
        let here = format!("{field}.except[{i}]");
        let except = parse_cidr(&here, text)?;
        let strict_subset = cidr.contains(&except) && except.prefix_len() > cidr.prefix_len();
        if !strict_subset {
            return Err(FieldError::new(
                here,
                format!("{text} must be a strict subset of cidr {}", block.cidr),
            ));
        }
    }
    Ok(())
}

fn parse_cidr(field: &str, text: &str) -> Result<IpNet, FieldError> {
    text.parse().map_err(|_| {
        FieldError::new(
            field,
            format!("{text:?} is not a CIDR like 10.0.0.0/8 or fd00::/64"),
        )
    })
}

fn check_ports(field: &str, ports: Option<&[NetworkPolicyPort]>) -> Result<(), FieldError> {
    for (i, port) in ports.into_iter().flatten().enumerate() {
        let here = format!("{field}[{i}]");
        if let Some(protocol) = &port.protocol {
            super::check_protocol(&format!("{here}.protocol"), protocol)?;
        }
        let start = match &port.port {
            Some(IntOrString::Int(number)) => {
                super::check_port_number(&format!("{here}.port"), *number)?;
                Some(*number)
            }
            Some(IntOrString::String(name)) => {
                check_port_name(&format!("{here}.port"), name)?;
                None
            }
            None => None,
        };
        if let Some(end) = port.end_port {
            let end_field = format!("{here}.endPort");
            let Some(start) = start else {
                return Err(FieldError::new(end_field, "needs a numeric port"));
            };
            super::check_port_number(&end_field, end)?;
            if end < start {
                return Err(FieldError::new(
                    end_field,
                    format!("{end} is below port {start}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(spec_json: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "x"},
            "spec": spec_json,
        }))
        .unwrap()
    }

    fn field_of(spec_json: serde_json::Value) -> String {
        check_policy(&policy(spec_json)).unwrap_err().field
    }

    #[test]
    fn a_full_policy_is_valid() {
        let p = policy(serde_json::json!({
            "podSelector": {"matchLabels": {"app": "redis"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{
                "from": [
                    {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api"]}]},
                     "namespaceSelector": {}},
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}
                ],
                "ports": [{"port": 6379}, {"protocol": "SCTP", "port": "redis"},
                          {"protocol": "UDP", "port": 1000, "endPort": 2000}]
            }],
            "egress": [{}]
        }));
        assert_eq!(check_policy(&p), Ok(()));
    }

    #[test]
    fn policy_types_are_ingress_or_egress_once() {
        assert_eq!(
            field_of(serde_json::json!({"policyTypes": ["Both"]})),
            "spec.policyTypes[0]"
        );
        assert_eq!(
            field_of(serde_json::json!({"policyTypes": ["Ingress", "Ingress"]})),
            "spec.policyTypes[1]"
        );
    }

    #[test]
    fn ip_blocks_need_cidrs_with_inner_exceptions() {
        let rule = |block: serde_json::Value| serde_json::json!({"ingress": [{"from": [{"ipBlock": block}]}]});
        assert_eq!(
            field_of(rule(serde_json::json!({"cidr": "10.0.0.0"}))),
            "spec.ingress[0].from[0].ipBlock.cidr"
        );
        assert_eq!(
            field_of(rule(
                serde_json::json!({"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]})
            )),
            "spec.ingress[0].from[0].ipBlock.except[0]"
        );
        assert_eq!(
            field_of(rule(
                serde_json::json!({"cidr": "10.0.0.0/16", "except": ["10.0.0.0/16"]})
            )),
            "spec.ingress[0].from[0].ipBlock.except[0]"
        );
        assert_eq!(
            field_of(rule(
                serde_json::json!({"cidr": "10.0.0.0/16", "except": ["fd00::/64"]})
            )),
            "spec.ingress[0].from[0].ipBlock.except[0]"
        );
        let ok = policy(rule(
            serde_json::json!({"cidr": "fd00::/48", "except": ["fd00::/64"]}),
        ));
        assert_eq!(check_policy(&ok), Ok(()));
    }

    #[test]
    fn peers_are_selectors_or_an_ip_block() {
        assert_eq!(
            field_of(serde_json::json!({"egress": [{"to": [{}]}]})),
            "spec.egress[0].to[0]"
        );
        assert_eq!(
            field_of(serde_json::json!({"egress": [{"to": [
                {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}
            ]}]})),
            "spec.egress[0].to[0]"
        );
        assert_eq!(
            field_of(serde_json::json!({"egress": [{"to": [
                {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}}
            ]}]})),
            "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values"
        );
    }

    #[test]
    fn ports_are_checked() {
        let ports = |p: serde_json::Value| serde_json::json!({"ingress": [{"ports": [p]}]});
        assert_eq!(
            field_of(ports(serde_json::json!({"protocol": "ICMP"}))),
            "spec.ingress[0].ports[0].protocol"
        );
        assert_eq!(
            field_of(ports(serde_json::json!({"port": 0}))),
            "spec.ingress[0].ports[0].port"
        );
        assert_eq!(
            field_of(ports(serde_json::json!({"port": 70000}))),
            "spec.ingress[0].ports[0].port"
        );
        assert_eq!(
            field_of(ports(serde_json::json!({"port": "Not_a_name"}))),
            "spec.ingress[0].ports[0].port"
        );
        assert_eq!(
            field_of(ports(serde_json::json!({"port": "http", "endPort": 90}))),
            "spec.ingress[0].ports[0].endPort"
        );
        assert_eq!(
            field_of(ports(serde_json::json!({"port": 100, "endPort": 90}))),
            "spec.ingress[0].ports[0].endPort"
        );
    }

    #[test]
    fn spec_is_required() {
        let mut p = policy(serde_json::json!({}));
        p.spec = None;
        assert_eq!(check_policy(&p).unwrap_err().field, "spec");
    }
}
