//! The upstream Kubernetes e2e NetworkPolicy model (test/e2e/network/netpol):
//! namespaces x, y, z with pods a, b, c, servers on 80 and 81 over TCP, UDP
//! and SCTP. Each test applies policies and checks the full 9x9 matrix,
//! through the encoded maps as the datapath will see them.

mod support;

use support::{Cluster, Reachability, SCTP, TCP, UDP, model, update};

fn check(cluster: &Cluster, reachability: &Reachability, protocol: u8, port: u16) {
    reachability.check(cluster, &cluster.maps(), protocol, port);
}

#[test]
fn without_policies_everything_is_reachable() {
    let cluster = model();
    let all = Reachability::new(true);
    for (protocol, port) in [(TCP, 80), (TCP, 81), (UDP, 80), (SCTP, 81)] {
        check(&cluster, &all, protocol, port);
    }
}

#[test]
fn deny_all_ingress_isolates_the_namespace() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-ingress}\nspec: {podSelector: {}, ingress: []}\n");
    let mut expected = Reachability::new(true);
    expected.expect("*", "x", false);
    check(&cluster, &expected, TCP, 80);
    check(&cluster, &expected, UDP, 81);
}

#[test]
fn default_deny_all_blocks_both_directions() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-all}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n");
    let mut expected = Reachability::new(true);
    expected.expect("*", "x", false).expect("x", "*", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn pod_selector_allows_pods_of_the_policy_namespace_only() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: x-a-allows-x-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("x/b", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn allow_policy_opens_one_target_under_namespace_deny_all() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: deny-all}
spec: {podSelector: {}, ingress: []}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-all-to-a}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("*", "x", false).expect("*", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn empty_namespace_selector_allows_pods_of_all_namespaces() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-from-all-ns}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}]}]
"#,
    );
    check(&cluster, &Reachability::new(true), TCP, 80);
}

#[test]
fn namespace_selector_by_name_label_allows_one_namespace() {
    let mut cluster = model();
    // The model's namespaces do not carry kubernetes.io/metadata.name: the
    // compiler adds it, as the API server does.
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-from-y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("x", "x/a", false).expect("z", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn namespace_selector_by_own_label_allows_one_namespace() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-from-ns-y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("x", "x/a", false).expect("z", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn pod_selector_match_expression_in() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: x-a-allows-x-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [b]}]}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("x/b", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn namespace_selector_match_expression_in() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-ns-y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: ["y"]}]}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("x", "x/a", false).expect("z", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn separate_peers_are_ored() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: ns-not-x-or-pod-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}
    - podSelector: {matchLabels: {pod: b}}
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("x/c", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn pod_and_namespace_selector_in_one_peer_are_anded() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: ns-not-x-and-pod-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}
      podSelector: {matchLabels: {pod: b}}
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("y/b", "x/a", true)
        .expect("z/b", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn multiple_pods_in_multiple_namespaces() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: pods-b-c-not-in-x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}
      podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("x", "x/a", false)
        .expect("y/a", "x/a", false)
        .expect("z/a", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn several_pod_selector_peers() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b-or-c}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}, {podSelector: {matchLabels: {pod: c}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("x/b", "x/a", true)
        .expect("x/c", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn not_in_and_does_not_exist_and_exists_expressions() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: expressions}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [b, c]}]}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [b]}]}
      namespaceSelector: {matchExpressions: [{key: missing, operator: DoesNotExist}]}
    - podSelector: {matchExpressions: [{key: pod, operator: Exists}, {key: pod, operator: In, values: [b]}]}
      namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [z]}]}
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("x/c", "x/a", true)
        .expect("y/a", "x/a", true)
        .expect("y/c", "x/a", true)
        .expect("z", "x/a", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn ingress_rules_on_the_own_namespace_deny_other_namespaces() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-same-namespace}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("y", "x", false).expect("z", "x", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn numeric_port_limits_ingress() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 81}]}]
"#,
    );
    let mut on_80 = Reachability::new(true);
    on_80.expect("*", "x/a", false);
    check(&cluster, &on_80, TCP, 80);
    check(&cluster, &Reachability::new(true), TCP, 81);
    check(&cluster, &on_80, UDP, 81);
}

#[test]
fn named_port_limits_ingress_to_the_destination_pods_port() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-named-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}], ports: [{port: serve-81-tcp}]}]
"#,
    );
    let mut on_80 = Reachability::new(true);
    on_80.expect("*", "x/a", false);
    check(&cluster, &on_80, TCP, 80);
    let mut on_81 = Reachability::new(true);
    on_81.expect("x", "x/a", false).expect("z", "x/a", false);
    check(&cluster, &on_81, TCP, 81);
    // The name's protocol is TCP: UDP 81 is not allowed.
    check(&cluster, &on_80, UDP, 81);
}

#[test]
fn egress_deny_all() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-egress}\nspec: {podSelector: {}, policyTypes: [Egress]}\n");
    let mut expected = Reachability::new(true);
    expected.expect("x", "*", false);
    check(&cluster, &expected, TCP, 80);
    check(&cluster, &expected, SCTP, 81);
}

#[test]
fn egress_to_a_named_port_of_any_peer() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-egress-on-port-80}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-80-tcp}]}]
"#,
    );
    check(&cluster, &Reachability::new(true), TCP, 80);
    let mut on_81 = Reachability::new(true);
    on_81.expect("x", "*", false);
    check(&cluster, &on_81, TCP, 81);
    check(&cluster, &on_81, UDP, 80);
}

#[test]
fn egress_to_a_named_port_of_selected_peers() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-y-a-udp-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: a}}}]
    ports: [{port: serve-81-udp, protocol: UDP}]
"#,
    );
    let mut on_81 = Reachability::new(true);
    on_81.expect("x/a", "*", false).expect("x/a", "y/a", true);
    check(&cluster, &on_81, UDP, 81);
    let mut elsewhere = Reachability::new(true);
    elsewhere.expect("x/a", "*", false);
    check(&cluster, &elsewhere, UDP, 80);
    check(&cluster, &elsewhere, TCP, 81);
}

#[test]
fn end_port_covers_a_range() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-80-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{protocol: TCP, port: 80, endPort: 81}, {protocol: UDP, port: 81, endPort: 90}]}]
"#,
    );
    let all = Reachability::new(true);
    let mut denied = Reachability::new(true);
    denied.expect("*", "x/a", false);
    check(&cluster, &all, TCP, 80);
    check(&cluster, &all, TCP, 81);
    check(&cluster, &denied, UDP, 80);
    check(&cluster, &all, UDP, 81);
    check(&cluster, &denied, SCTP, 81);
}

#[test]
fn egress_to_a_pod_cidr_block() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-to-x-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.1.2/32}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("x/a", "*", false)
        .expect("x/a", "x/b", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn except_clause_removes_a_pod_from_a_cidr_block() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-to-x-except-x-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.1.0/24, except: [10.0.1.2/32]}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("x/a", "*", false)
        .expect("x/a", "x/c", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn ingress_from_a_cidr_block_with_except() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-cluster-except-y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.2.0/24, 10.0.3.3/32]}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("y", "x/a", false)
        .expect("z/c", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn several_policies_selecting_one_pod_are_a_union() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b-on-80}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-y-on-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}], ports: [{port: 81}]}]
"#,
    );
    let mut on_80 = Reachability::new(true);
    on_80.expect("*", "x/a", false).expect("x/b", "x/a", true);
    check(&cluster, &on_80, TCP, 80);
    let mut on_81 = Reachability::new(true);
    on_81.expect("*", "x/a", false).expect("y", "x/a", true);
    check(&cluster, &on_81, TCP, 81);
}

#[test]
fn egress_allow_all_policy_wins_over_a_narrower_one() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-to-b-on-80}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-allow-all}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{}]
"#,
    );
    check(&cluster, &Reachability::new(true), TCP, 81);
}

#[test]
fn client_side_egress_deny_wins_over_server_side_allow() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: deny-egress-of-a}
spec: {podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: "y", name: allow-from-x-a}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("*", "y", false).expect("x/a", "*", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn egress_only_policy_types_ignore_ingress_rules() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: egress-only}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("x/a", "*", false)
        .expect("x/a", "x/b", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn without_policy_types_an_empty_egress_list_does_not_isolate_egress() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: implicit-ingress-only}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: []
"#,
    );
    let mut expected = Reachability::new(true);
    expected.expect("*", "x/a", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn without_policy_types_egress_rules_isolate_egress_too() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: implicit-both}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: [{to: [{podSelector: {matchLabels: {pod: c}}}]}]
"#,
    );
    let mut expected = Reachability::new(true);
    expected
        .expect("*", "x/a", false)
        .expect("x/a", "*", false)
        .expect("x/a", "x/c", true);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn empty_from_and_empty_rule_allow_every_source() {
    for rule in ["{}", "{from: []}", "{from: [], ports: []}"] {
        let mut cluster = model();
        cluster.apply(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{namespace: x, name: allow-all}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress], ingress: [{rule}]}}\n"
        ));
        check(&cluster, &Reachability::new(true), TCP, 80);
        check(&cluster, &Reachability::new(true), SCTP, 81);
    }
}

#[test]
fn absent_ingress_allows_nothing() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny}\nspec: {podSelector: {matchLabels: {pod: b}}, policyTypes: [Ingress]}\n");
    let mut expected = Reachability::new(true);
    expected.expect("*", "x/b", false);
    check(&cluster, &expected, TCP, 80);
}

#[test]
fn sctp_and_udp_ports_are_their_own() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: sctp-80-udp-81}
spec:
  podSelector: {}
  ingress: [{ports: [{protocol: SCTP, port: 80}, {protocol: UDP, port: 81}]}]
"#,
    );
    let all = Reachability::new(true);
    let mut denied = Reachability::new(true);
    denied.expect("*", "x", false);
    check(&cluster, &all, SCTP, 80);
    check(&cluster, &denied, SCTP, 81);
    check(&cluster, &denied, TCP, 80);
    check(&cluster, &denied, UDP, 80);
    check(&cluster, &all, UDP, 81);
    check(&cluster, &denied, TCP, 81);
}

#[test]
fn protocol_without_port_allows_every_port_of_it() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: any-udp}
spec:
  podSelector: {}
  ingress: [{ports: [{protocol: UDP}]}]
"#,
    );
    let mut denied = Reachability::new(true);
    denied.expect("*", "x", false);
    check(&cluster, &Reachability::new(true), UDP, 80);
    check(&cluster, &Reachability::new(true), UDP, 81);
    check(&cluster, &denied, TCP, 80);
}

#[test]
fn pod_label_changes_are_recompiled() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-updated-pods}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod2: updated}}, namespaceSelector: {}}]}]
"#,
    );
    let before = cluster.maps();
    let mut denied = Reachability::new(true);
    denied.expect("*", "x/a", false);
    denied.check(&cluster, &before, TCP, 80);

    let relabelled =
        support::model_pod_with_labels("y", "b", "10.0.2.2", "{pod: b, pod2: updated}");
    cluster.apply(&relabelled);
    let after = update(&before, &cluster);
    let mut expected = denied.clone();
    expected.expect("y/b", "x/a", true);
    expected.check(&cluster, &after, TCP, 80);

    // And back: the target's own label change ends its isolation.
    cluster.apply(&support::model_pod_with_labels(
        "x",
        "a",
        "10.0.1.1",
        "{pod: other}",
    ));
    let unselected = update(&after, &cluster);
    Reachability::new(true).check(&cluster, &unselected, TCP, 80);
}

#[test]
fn namespace_label_changes_are_recompiled() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: allow-updated-namespaces}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns2: updated}}}]}]
"#,
    );
    let before = cluster.maps();
    cluster.apply(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: 'y', labels: {ns: 'y', ns2: updated}}\n",
    );
    let after = update(&before, &cluster);
    let mut expected = Reachability::new(true);
    expected.expect("*", "x/a", false).expect("y", "x/a", true);
    expected.check(&cluster, &after, TCP, 80);
}

#[test]
fn deleting_a_policy_stops_enforcing_it() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-all}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n");
    let before = cluster.maps();
    cluster.delete_policy("x", "deny-all");
    let after = update(&before, &cluster);
    Reachability::new(true).check(&cluster, &after, TCP, 80);
}
