//! What `weftctl identities` and `weftctl policy` show: the compiled policy
//! of this node as JSON (pure: compiled policy in, report out).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use weft_policy::CompiledPolicy;
use weft_policy::maps::{IDENTITY_HOST, IDENTITY_WORLD};

/// Every identity with what it stands for and the prefixes that carry it.
pub fn identities_view(compiled: &CompiledPolicy) -> Value {
    let mut prefixes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (prefix, identity) in &compiled.prefixes {
        prefixes
            .entry(*identity)
            .or_default()
            .push(prefix.to_string());
    }
    let mut rows = vec![
        json!({"identity": IDENTITY_WORLD, "reserved": "world", "prefixes": []}),
        json!({
            "identity": IDENTITY_HOST,
            "reserved": "host",
            "prefixes": prefixes.get(&IDENTITY_HOST).cloned().unwrap_or_default(),
        }),
    ];
    rows.extend(compiled.identities.iter().map(|(id, identity)| {
        json!({
            "identity": id,
            "pod": identity.pod,
            "ipBlocks": identity.groups,
            "prefixes": prefixes.get(id).cloned().unwrap_or_default(),
        })
    }));
    Value::Array(rows)
}

/// The compiled policy of local pod `namespace/name`, or `None`.
pub fn endpoint_policy_view(compiled: &CompiledPolicy, pod: &str) -> Option<Value> {
    let (namespace, name) = pod.split_once('/')?;
    let key = (namespace.to_owned(), name.to_owned());
    let endpoint = compiled.endpoints.get(&key)?;
    let names = |policies: &[(String, String)]| -> Vec<String> {
        policies.iter().map(|(ns, n)| format!("{ns}/{n}")).collect()
    };
    Some(json!({
        "pod": pod,
        "ips": endpoint.ips,
        "ingressPolicies": names(&endpoint.ingress_policies),
        "egressPolicies": names(&endpoint.egress_policies),
        "profile": endpoint.profile,
        "rules": compiled.profile_of(&key).map(|p| &p.rules),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::{ClusterSnapshot, parse_objects};
    use weft_policy::{ClusterInputs, compile};

    fn compiled() -> CompiledPolicy {
        let mut snapshot = ClusterSnapshot::default();
        let yaml = "
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: a, labels: {pod: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIPs: [{ip: 10.0.1.5}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-a}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}], ports: [{port: 80}]}]
";
        for object in parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        compile(&ClusterInputs::new(&snapshot))
    }

    #[test]
    fn identities_list_reserved_ones_and_the_pods_prefixes() {
        let view = identities_view(&compiled());
        let rows = view.as_array().unwrap();
        assert_eq!(rows[0]["reserved"], "world");
        assert_eq!(rows[1]["reserved"], "host");
        let pod = rows.iter().find(|r| r["pod"]["namespace"] == "x").unwrap();
        assert_eq!(pod["prefixes"], json!(["10.0.1.5/32"]));
    }

    #[test]
    fn endpoint_policy_names_the_selecting_policies_and_rules() {
        let view = endpoint_policy_view(&compiled(), "x/a").unwrap();
        assert_eq!(view["ingressPolicies"], json!(["x/allow-a"]));
        assert_eq!(view["egressPolicies"], json!([]));
        // The policy's rule and the one allowing the node itself.
        assert_eq!(view["rules"].as_array().unwrap().len(), 2);
        assert!(endpoint_policy_view(&compiled(), "x/missing").is_none());
        assert!(endpoint_policy_view(&compiled(), "nonsense").is_none());
    }
}
