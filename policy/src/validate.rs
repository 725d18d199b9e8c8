//! NetworkPolicy validation as the API server does it, for front doors that
//! must reject what Kubernetes would reject (the lab's `apply`): the first
//! wrong field, with its path and why. The compiler does not call it: a
//! `dir` datastore can hold anything, so compiling fails closed instead.

mod names;
mod peer;
mod port;
mod selector;

use weft_datastore::NetworkPolicy;

pub use names::{check_label_key, check_label_value, check_port_name, is_dns_label};
pub use port::check_port_number;

/// One field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field's path in the object, like `spec.ingress[0].ports[1].port`.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Checks `policy` like the API server: policy types, selectors, peers
/// (ipBlock CIDRs and their exceptions) and ports.
pub fn validate_policy(policy: &NetworkPolicy) -> Result<(), FieldError> {
    let Some(spec) = &policy.spec else {
        return Err(FieldError::new("spec", "required"));
    };
    if let Some(pods) = &spec.pod_selector {
        selector::check_selector("spec.podSelector", pods)?;
    }
    check_policy_types(spec.policy_types.as_deref().unwrap_or_default())?;
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let here = format!("spec.ingress[{i}]");
        peer::check_peers(&format!("{here}.from"), rule.from.as_deref())?;
        port::check_ports(&format!("{here}.ports"), rule.ports.as_deref())?;
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let here = format!("spec.egress[{i}]");
        peer::check_peers(&format!("{here}.to"), rule.to.as_deref())?;
        port::check_ports(&format!("{here}.ports"), rule.ports.as_deref())?;
    }
    Ok(())
}

fn check_policy_types(types: &[String]) -> Result<(), FieldError> {
    for (i, policy_type) in types.iter().enumerate() {
        let here = format!("spec.policyTypes[{i}]");
        if !matches!(policy_type.as_str(), "Ingress" | "Egress") {
            return Err(FieldError::new(
                here,
                format!("{policy_type:?} is not Ingress or Egress"),
            ));
        }
        if types[..i].contains(policy_type) {
            return Err(FieldError::new(
                here,
                format!("{policy_type} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use weft_datastore::{Object, parse_objects};

    use super::*;

    /// A policy with `spec`, given as YAML (flow style fits on a line).
    pub(crate) fn policy(spec: &str) -> NetworkPolicy {
        let yaml = format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec: {spec}\n"
        );
        match parse_objects(&yaml).unwrap().pop() {
            Some(Object::NetworkPolicy(policy)) => policy,
            other => panic!("not one NetworkPolicy: {other:?}"),
        }
    }

    /// The field `validate_policy` rejects a policy with `spec` for.
    pub(crate) fn field_of(spec: &str) -> String {
        validate_policy(&policy(spec)).unwrap_err().field
    }

    #[test]
    fn a_full_policy_is_valid() {
        let full = policy(
            "
  podSelector: {matchLabels: {app: redis}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: app, operator: In, values: [api]}]}
      namespaceSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - port: 6379
    - {protocol: SCTP, port: redis}
    - {protocol: UDP, port: 1000, endPort: 2000}
  egress: [{}]",
        );
        assert_eq!(validate_policy(&full), Ok(()));
    }

    #[test]
    fn spec_is_required() {
        let mut p = policy("{}");
        p.spec = None;
        let err = validate_policy(&p).unwrap_err();
        assert_eq!(err.to_string(), "spec: required");
    }

    #[test]
    fn policy_types_are_ingress_or_egress_once() {
        assert_eq!(field_of("{policyTypes: [Both]}"), "spec.policyTypes[0]");
        assert_eq!(
            field_of("{policyTypes: [Ingress, Ingress]}"),
            "spec.policyTypes[1]"
        );
    }

    #[test]
    fn the_pod_selector_and_each_rule_are_checked_where_they_are() {
        assert_eq!(
            field_of("{podSelector: {matchLabels: {app: 'a b'}}}"),
            "spec.podSelector.matchLabels[app]"
        );
        assert_eq!(
            field_of("{ingress: [{}, {from: [{}]}]}"),
            "spec.ingress[1].from[0]"
        );
        assert_eq!(
            field_of("{egress: [{ports: [{port: 0}]}]}"),
            "spec.egress[0].ports[0].port"
        );
    }
}
