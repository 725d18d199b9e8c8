//! The objects of the benchmark cluster (pure): the lab pods (client C on
//! n2, two servers on n1: one that policies select and one that stays
//! open), N "ghost" pods that exist only in the datastore (one identity
//! each, addresses outside every node's pod CIDR), the policy with one
//! ingress rule per ghost and C's rule last, and a deny-all policy.

use std::net::Ipv4Addr;

use anyhow::Context;
use serde_json::{Value, json};
use weft_datastore::{Kind, NetworkPolicy, Object, ObjectKey, Pod};

pub const NAMESPACE: &str = "bench";
pub const CLIENT: &str = "client";
/// Selected by the rules policy (and by nothing else).
pub const GUARDED: &str = "server-guarded";
/// Selected by no policy except the deny-all one of the apply timing.
pub const OPEN: &str = "server-open";
/// The pods' own listeners (weft-lab's port server): one the policy
/// allows, one it does not.
pub const ALLOWED_PROBE_PORT: u16 = 8080;
pub const BLOCKED_PROBE_PORT: u16 = 8081;
/// What every rule allows: iperf3, the echo server of the TCP workloads
/// (weft-bench-net's ports) and the allowed probe port.
pub const RULE_PORTS: [u16; 3] = [5201, 7007, ALLOWED_PROBE_PORT];
pub const RULES_POLICY: &str = "bench-rules";
pub const DENY_POLICY: &str = "bench-deny-open";
/// Ghost pods live here: no lab node, no Node object, so no weftd wires them.
pub const GHOST_NODE: &str = "ghost";
const ROLE_LABEL: &str = "bench-role";
const GHOST_LABEL: &str = "bench-id";

/// The namespace and the three lab pods, for `weft-lab apply`.
pub fn lab_pods_yaml() -> String {
    let pod = |name: &str, node: &str| {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {NAMESPACE}, labels: {{{ROLE_LABEL}: {name}}}}}\nspec: {{nodeName: {node}, containers: [{{name: c, ports: [{{containerPort: {ALLOWED_PROBE_PORT}}}, {{containerPort: {BLOCKED_PROBE_PORT}}}]}}]}}\n"
        )
    };
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n{}{}{}",
        pod(GUARDED, "n1"),
        pod(OPEN, "n1"),
        pod(CLIENT, "n2")
    )
}

/// Ghost `k`'s address: 10.250.0.0/16 counted up from .1, which no lab
/// node's pod CIDR (inside 10.244.0.0/16) contains.
pub fn ghost_ip(k: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(10, 250, 0, 1));
    Ipv4Addr::from(base + k as u32)
}

fn ghost_name(k: usize) -> String {
    format!("ghost-{k}")
}

/// Ghost pods `range`, Running with their address published as the
/// kubelet would.
pub fn ghost_pods(range: std::ops::Range<usize>) -> anyhow::Result<Vec<Object>> {
    range
        .map(|k| {
            let ip = ghost_ip(k).to_string();
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": ghost_name(k),
                    "namespace": NAMESPACE,
                    "labels": {GHOST_LABEL: format!("i{k}")},
                },
                "spec": {"nodeName": GHOST_NODE, "containers": [{"name": "c"}]},
                "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
            }))
            .context("a ghost pod")?;
            Ok(Object::Pod(pod))
        })
        .collect()
}

pub fn ghost_keys(range: std::ops::Range<usize>) -> Vec<ObjectKey> {
    range
        .map(|k| ObjectKey::new(Kind::Pod, Some(NAMESPACE), &ghost_name(k)))
        .collect()
}

fn role(name: &str) -> Value {
    json!({"matchLabels": {ROLE_LABEL: name}})
}

/// The guarded server's policy: rule k (k < `ghosts`) allows ghost k on
/// [`RULE_PORTS`], and the last rule allows the client.
pub fn rules_policy(ghosts: usize) -> anyhow::Result<Object> {
    let ports: Vec<Value> = RULE_PORTS
        .iter()
        .map(|port| json!({"protocol": "TCP", "port": port}))
        .collect();
    let rule = |peer: Value| json!({"from": [{"podSelector": peer}], "ports": ports});
    let mut rules: Vec<Value> = (0..ghosts)
        .map(|k| rule(json!({"matchLabels": {GHOST_LABEL: format!("i{k}")}})))
        .collect();
    rules.push(rule(role(CLIENT)));
    policy(RULES_POLICY, GUARDED, rules)
}

/// Isolates the open server: an ingress policy with no rule, as YAML for
/// `weft-lab apply`.
pub fn deny_policy_yaml() -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {DENY_POLICY}, namespace: {NAMESPACE}}}\nspec: {{podSelector: {{matchLabels: {{{ROLE_LABEL}: {OPEN}}}}}, policyTypes: [Ingress]}}\n"
    )
}

/// The same policy as an object, for writing to the store directly.
pub fn deny_policy() -> anyhow::Result<Object> {
    weft_datastore::parse_objects(&deny_policy_yaml())?
        .pop()
        .context("the deny policy's YAML holds one object")
}

pub fn policy_key(name: &str) -> ObjectKey {
    ObjectKey::new(Kind::NetworkPolicy, Some(NAMESPACE), name)
}

fn policy(name: &str, selected: &str, ingress: Vec<Value>) -> anyhow::Result<Object> {
    let policy: NetworkPolicy = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"podSelector": role(selected), "policyTypes": ["Ingress"], "ingress": ingress},
    }))
    .with_context(|| format!("policy {name}"))?;
    Ok(Object::NetworkPolicy(policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ghost_addresses_are_distinct_and_outside_the_cluster_cidr() {
        let ips: BTreeSet<Ipv4Addr> = (0..10_000).map(ghost_ip).collect();
        assert_eq!(ips.len(), 10_000);
        let cluster = Ipv4Addr::new(10, 244, 0, 0);
        assert!(ips.iter().all(|ip| ip.octets()[..2] == [10, 250]));
        assert!(
            ips.iter()
                .all(|ip| ip.octets()[..2] != cluster.octets()[..2])
        );
        assert_eq!(ghost_ip(0), Ipv4Addr::new(10, 250, 0, 1));
        assert_eq!(ghost_ip(9_999), Ipv4Addr::new(10, 250, 39, 16));
    }

    #[test]
    fn ghosts_publish_their_address_on_a_node_no_weftd_runs() {
        let pods = ghost_pods(3..5).unwrap();
        let Object::Pod(pod) = &pods[1] else {
            panic!("a pod")
        };
        assert_eq!(pod.metadata.name.as_deref(), Some("ghost-4"));
        assert_eq!(pod.metadata.labels.as_ref().unwrap()[GHOST_LABEL], "i4");
        assert_eq!(
            pod.spec.as_ref().unwrap().node_name.as_deref(),
            Some(GHOST_NODE)
        );
        let ips = pod.status.as_ref().unwrap().pod_ips.as_ref().unwrap();
        assert_eq!(ips[0].ip, "10.250.0.5");
        assert_eq!(ghost_keys(3..5)[1], pods[1].key());
    }

    #[test]
    fn the_client_rule_comes_after_every_ghost_rule() {
        let Object::NetworkPolicy(policy) = rules_policy(2).unwrap() else {
            panic!("a policy")
        };
        let spec = policy.spec.unwrap();
        let rules = spec.ingress.unwrap();
        assert_eq!(rules.len(), 3);
        let peer = |i: usize| {
            rules[i].from.as_ref().unwrap()[0]
                .pod_selector
                .clone()
                .unwrap()
                .match_labels
                .unwrap()
        };
        assert_eq!(peer(0)[GHOST_LABEL], "i0");
        assert_eq!(peer(1)[GHOST_LABEL], "i1");
        assert_eq!(peer(2)[ROLE_LABEL], CLIENT);
        assert_eq!(rules[2].ports.as_ref().unwrap().len(), RULE_PORTS.len());
        assert_eq!(policy.metadata.namespace.as_deref(), Some(NAMESPACE));
    }

    #[test]
    fn the_deny_policy_isolates_the_open_server_only() {
        let policy = deny_policy().unwrap();
        assert_eq!(policy.key(), policy_key(DENY_POLICY));
        let Object::NetworkPolicy(policy) = policy else {
            panic!("a policy")
        };
        let spec = policy.spec.unwrap();
        let selected = spec.pod_selector.unwrap().match_labels.unwrap();
        assert_eq!(selected[ROLE_LABEL], OPEN);
        assert!(spec.ingress.unwrap_or_default().is_empty());
        assert_eq!(spec.policy_types.unwrap(), vec!["Ingress".to_string()]);
    }

    #[test]
    fn lab_pods_parse_and_sit_on_their_nodes() {
        let objects = weft_datastore::parse_objects(&lab_pods_yaml()).unwrap();
        let placed: Vec<(String, String)> = objects
            .iter()
            .filter_map(|o| match o {
                Object::Pod(p) => Some((
                    p.metadata.name.clone().unwrap(),
                    p.spec.as_ref().unwrap().node_name.clone().unwrap(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            placed,
            vec![
                (GUARDED.into(), "n1".into()),
                (OPEN.into(), "n1".into()),
                (CLIENT.into(), "n2".into())
            ]
        );
    }
}
