//! Semantics beyond the e2e matrix: addresses outside the cluster, the
//! node, a pod and itself, pods that are not (yet) endpoints, named ports
//! that differ per pod, dual stack, node scope, broken objects, stable
//! numbering and the order of map writes.

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;

use support::{Cluster, HOST_IP, ICMP, TCP, UDP, WORLD_IP, model, passes, verdict};
use weft_policy::maps::{IDENTITY_HOST, IDENTITY_WORLD};
use weft_policy::{
    AllowRule, ClusterInputs, Direction, EndpointScope, Issue, MapContents, Peer, Problem,
    Protocol, Subject, Traffic, Verdict, compile, diff, lookup_identity,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn name(namespace: &str, pod: &str) -> (String, String) {
    (namespace.to_owned(), pod.to_owned())
}

const DENY_ALL_X: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-all}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n";

#[test]
fn ip_blocks_match_addresses_outside_the_cluster_minus_excepts() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-internet}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}], ports: [{port: 443}]}]
"#,
    );
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    let ingress = |peer| verdict(&maps, Direction::Ingress, x_a, peer, TCP, 80).passes();
    assert!(ingress(ip(WORLD_IP)));
    assert!(!ingress(ip("10.9.9.9")), "inside the except");
    assert!(!ingress(cluster.ip("x/b")), "a pod inside the except");
    let egress = |peer, port| verdict(&maps, Direction::Egress, x_a, peer, TCP, port).passes();
    assert!(egress(ip(WORLD_IP), 443));
    assert!(!egress(ip(WORLD_IP), 80));
    assert!(!egress(cluster.ip("y/a"), 443));
    // The except prefix is explicitly the world identity, not the block's.
    assert_eq!(
        lookup_identity(&maps.identities, ip("10.9.9.9")),
        IDENTITY_WORLD
    );
    assert_ne!(
        lookup_identity(&maps.identities, ip(WORLD_IP)),
        IDENTITY_WORLD
    );
}

#[test]
fn addresses_in_no_block_are_the_world() {
    let mut cluster = model();
    cluster.apply(DENY_ALL_X);
    let maps = cluster.maps();
    assert_eq!(
        lookup_identity(&maps.identities, ip(WORLD_IP)),
        IDENTITY_WORLD
    );
    let packet = verdict(
        &maps,
        Direction::Ingress,
        cluster.ip("x/a"),
        ip(WORLD_IP),
        TCP,
        80,
    );
    assert_eq!(
        packet,
        Verdict::Denied {
            identity: IDENTITY_WORLD
        }
    );
}

#[test]
fn the_node_always_reaches_its_pods_and_they_it() {
    let mut cluster = model();
    cluster.apply(DENY_ALL_X);
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    for direction in Direction::ALL {
        let packet = verdict(&maps, direction, x_a, ip(HOST_IP), UDP, 10250);
        assert!(
            matches!(packet, Verdict::Allowed(key) if key.identity == IDENTITY_HOST),
            "{packet:?}"
        );
    }
    assert!(!verdict(&maps, Direction::Egress, x_a, ip(WORLD_IP), UDP, 53).passes());
}

#[test]
fn a_pod_always_reaches_itself() {
    let mut cluster = model();
    cluster.apply(DENY_ALL_X);
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    for direction in Direction::ALL {
        assert_eq!(
            verdict(&maps, direction, x_a, x_a, TCP, 80),
            Verdict::OwnTraffic
        );
    }
}

#[test]
fn a_direction_no_policy_isolates_passes_everything() {
    let mut cluster = model();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: x, name: deny-ingress}\nspec: {podSelector: {}}\n");
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    assert_eq!(
        verdict(&maps, Direction::Egress, x_a, ip(WORLD_IP), ICMP, 0),
        Verdict::NotEnforced
    );
    let compiled = cluster.compile();
    let endpoint = &compiled.endpoints[&name("x", "a")];
    assert!(endpoint.enforces(Direction::Ingress) && !endpoint.enforces(Direction::Egress));
    assert_eq!(endpoint.ingress_policies, vec![name("x", "deny-ingress")]);
}

#[test]
fn rules_without_ports_cover_every_protocol_and_rules_with_ports_only_theirs() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b-anything-from-c-80}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
  - from: [{podSelector: {matchLabels: {pod: c}}}]
    ports: [{port: 80}]
"#,
    );
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    assert!(passes(&maps, cluster.ip("x/b"), x_a, ICMP, 0));
    assert!(!passes(&maps, cluster.ip("x/c"), x_a, ICMP, 0));
    assert!(passes(&maps, cluster.ip("x/c"), x_a, TCP, 80));
}

#[test]
fn the_logical_form_names_peers_by_identity() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80, endPort: 81}]}]
"#,
    );
    let compiled = cluster.compile();
    let maps = compiled.map_contents();
    let x_b = compiled.prefixes[&cluster.ip("x/b").into()];
    let identity = &compiled.identities[&x_b];
    let pod = identity.pod.as_ref().unwrap();
    assert_eq!(
        (pod.namespace.as_str(), pod.labels["pod"].as_str()),
        ("x", "b")
    );
    assert_eq!(pod.namespace_labels["kubernetes.io/metadata.name"], "x");
    let rules = &compiled.profile_of(&name("x", "a")).unwrap().rules;
    let ingress = |peer, traffic| AllowRule {
        direction: Direction::Ingress,
        peer,
        traffic,
    };
    let ports = Traffic::Ports {
        protocol: Protocol::Tcp,
        first: 80,
        last: 81,
    };
    assert_eq!(
        rules,
        &vec![
            ingress(Peer::Identity(IDENTITY_HOST), Traffic::Any),
            ingress(Peer::Identity(x_b), ports),
        ]
    );
    let profile = compiled.endpoints[&name("x", "a")].profile;
    let entries = maps.policy.keys().filter(|key| key.profile == profile);
    assert_eq!(entries.count(), 2, "80-81 is one aligned prefix");
}

#[test]
fn pods_without_addresses_have_no_entries_until_wired() {
    let mut cluster = model();
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: d, labels: {pod: d}}\nspec: {nodeName: node-1, containers: []}\n");
    let compiled = cluster.compile();
    assert_eq!(
        compiled.endpoints[&name("x", "d")].ips,
        Vec::<IpAddr>::new()
    );
    let maps = compiled.map_contents();
    assert_eq!(maps.endpoints.len(), 9);
    assert_eq!(compiled.prefixes.len(), 9 + 1, "pods and the host");

    let wired = BTreeMap::from([(name("x", "d"), vec![ip("10.0.1.4")])]);
    let inputs = ClusterInputs::new(&cluster.snapshot).with_wired_ips(&wired);
    let maps = compile(&inputs).map_contents();
    assert_eq!(maps.endpoints.len(), 10);
    assert!(passes(&maps, ip("10.0.1.4"), cluster.ip("y/a"), TCP, 80));
}

#[test]
fn wired_addresses_replace_published_ones() {
    let cluster = model();
    let wired = BTreeMap::from([(name("x", "a"), vec![ip("10.0.1.99")])]);
    let compiled = compile(&ClusterInputs::new(&cluster.snapshot).with_wired_ips(&wired));
    assert_eq!(
        compiled.endpoints[&name("x", "a")].ips,
        vec![ip("10.0.1.99")]
    );
    assert!(!compiled.prefixes.contains_key(&cluster.ip("x/a").into()));
}

#[test]
fn host_network_and_finished_pods_are_not_endpoints() {
    let mut cluster = model();
    cluster.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: x, name: host, labels: {{pod: a}}}}\nspec: {{nodeName: node-1, hostNetwork: true, containers: []}}\nstatus: {{podIP: {HOST_IP}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{namespace: x, name: done, labels: {{pod: a}}}}\nspec: {{nodeName: node-1, containers: []}}\nstatus: {{phase: Succeeded, podIP: 10.0.1.50}}\n"
    ));
    let compiled = cluster.compile();
    assert!(!compiled.endpoints.contains_key(&name("x", "host")));
    assert!(!compiled.endpoints.contains_key(&name("x", "done")));
    assert_eq!(compiled.prefixes[&ip(HOST_IP).into()], IDENTITY_HOST);
    assert!(!compiled.prefixes.contains_key(&ip("10.0.1.50").into()));
}

#[test]
fn an_address_claimed_twice_stays_with_the_first_pod() {
    let mut cluster = model();
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: z, name: stale, labels: {pod: stale}}\nspec: {containers: []}\nstatus: {podIP: 10.0.1.1}\n");
    let compiled = cluster.compile();
    assert_eq!(
        compiled.endpoints[&name("z", "stale")].ips,
        Vec::<IpAddr>::new()
    );
    assert_eq!(
        compiled.problems,
        vec![Problem {
            subject: Subject::Pod(name("z", "stale")),
            issue: Issue::DuplicatePodIp {
                ip: ip("10.0.1.1"),
                owner: name("x", "a"),
            },
        }]
    );
}

/// Two replicas with equal labels whose port "db" has different numbers.
fn databases() -> Cluster {
    let mut cluster = model();
    for (pod, address, number) in [("db1", "10.0.2.10", 5432), ("db2", "10.0.2.11", 5433)] {
        cluster.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: 'y', name: {pod}, labels: {{app: db}}}}\nspec:\n  containers: [{{name: db, ports: [{{name: db, containerPort: {number}}}]}}]\nstatus: {{podIP: {address}}}\n"
        ));
    }
    cluster
}

#[test]
fn egress_named_ports_resolve_on_each_peer_pod() {
    let mut cluster = databases();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: to-db}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}], ports: [{port: db}]}]
"#,
    );
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    let (db1, db2) = (ip("10.0.2.10"), ip("10.0.2.11"));
    assert!(passes(&maps, x_a, db1, TCP, 5432));
    assert!(!passes(&maps, x_a, db1, TCP, 5433));
    assert!(passes(&maps, x_a, db2, TCP, 5433));
    assert!(!passes(&maps, x_a, db2, TCP, 5432));
    assert!(!passes(&maps, x_a, db1, UDP, 5432), "the port is TCP");
}

#[test]
fn ingress_named_ports_resolve_on_each_destination_pod() {
    let mut cluster = databases();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: 'y', name: db-port}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{ports: [{port: db}]}]
"#,
    );
    let maps = cluster.maps();
    let x_a = cluster.ip("x/a");
    let (db1, db2) = (ip("10.0.2.10"), ip("10.0.2.11"));
    assert!(passes(&maps, x_a, db1, TCP, 5432));
    assert!(!passes(&maps, x_a, db1, TCP, 5433));
    assert!(passes(&maps, x_a, db2, TCP, 5433));
    assert!(!passes(&maps, x_a, db2, TCP, 5432));
}

#[test]
fn families_are_kept_apart_in_dual_stack() {
    let mut cluster = model();
    for (namespace, address4, address6) in
        [("x", "10.0.1.9", "fd00::9"), ("z", "10.0.3.9", "fd00::3:9")]
    {
        cluster.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: {namespace}, name: dual, labels: {{pod: dual}}}}\nspec: {{containers: []}}\nstatus: {{podIP: {address4}, podIPs: [{{ip: {address4}}}, {{ip: '{address6}'}}]}}\n"
        ));
    }
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: v6-only}
spec:
  podSelector: {matchLabels: {pod: dual}}
  ingress: [{from: [{ipBlock: {cidr: '::/0'}}]}]
"#,
    );
    let maps = cluster.maps();
    assert!(passes(&maps, ip("fd00::3:9"), ip("fd00::9"), TCP, 80));
    assert!(!passes(&maps, ip("10.0.3.9"), ip("10.0.1.9"), TCP, 80));
    let v6 = lookup_identity(&maps.identities, ip("fd00::3:9"));
    let v4 = lookup_identity(&maps.identities, ip("10.0.3.9"));
    assert_ne!(v4, v6, "only the IPv6 address is in the ::/0 block");
}

#[test]
fn node_scope_programs_only_local_pods_with_the_same_verdicts() {
    let mut cluster = model();
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: d, labels: {pod: d}}\nspec: {nodeName: node-2, containers: []}\nstatus: {podIP: 10.0.1.4}\n");
    cluster.apply(DENY_ALL_X);
    let everywhere = cluster.compile();
    let inputs = ClusterInputs::new(&cluster.snapshot)
        .with_host_ips(&cluster.host_ips)
        .with_scope(EndpointScope::Node("node-2"));
    let local = compile(&inputs);
    assert_eq!(
        local.endpoints.keys().collect::<Vec<_>>(),
        vec![&name("x", "d")]
    );
    assert_eq!(local.prefixes, everywhere.prefixes);
    let d = ip("10.0.1.4");
    let (local_maps, all_maps) = (local.map_contents(), everywhere.map_contents());
    for peer in support::model_pods() {
        for direction in Direction::ALL {
            let at = |maps: &MapContents| verdict(maps, direction, d, cluster.ip(&peer), TCP, 80);
            assert_eq!(at(&local_maps), at(&all_maps));
        }
    }
    assert_eq!(
        verdict(
            &local_maps,
            Direction::Ingress,
            cluster.ip("x/a"),
            d,
            TCP,
            80
        ),
        Verdict::UnknownEndpoint
    );
}

#[test]
fn pods_of_a_namespace_without_object_get_its_name_label() {
    let mut cluster = model();
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: w, name: a, labels: {pod: a}}\nspec: {containers: []}\nstatus: {podIP: 10.0.4.1}\n");
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-w}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: w}}}]}]
"#,
    );
    let maps = cluster.maps();
    assert!(passes(&maps, ip("10.0.4.1"), cluster.ip("x/a"), TCP, 80));
    assert!(!passes(
        &maps,
        cluster.ip("y/a"),
        cluster.ip("x/a"),
        TCP,
        80
    ));
}

#[test]
fn broken_peers_and_ports_match_nothing_and_are_reported() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: broken}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: not-a-cidr}}, {}]
  - ports: [{protocol: ICMP}]
"#,
    );
    let compiled = cluster.compile();
    let issues: Vec<Issue> = compiled.problems.iter().map(|p| p.issue.clone()).collect();
    assert_eq!(
        issues,
        vec![
            Issue::EmptyPeer,
            Issue::BadCidr("not-a-cidr".into()),
            Issue::UnknownProtocol("ICMP".into()),
        ]
    );
    let maps = compiled.map_contents();
    for peer in ["x/b", "y/a"] {
        assert!(!passes(&maps, cluster.ip(peer), cluster.ip("x/a"), TCP, 80));
    }
    assert!(!passes(&maps, ip(WORLD_IP), cluster.ip("x/a"), TCP, 80));
}

#[test]
fn a_policy_with_a_broken_pod_selector_is_dropped_and_reported() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: broken-selector}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: Equals, values: [a]}]}
"#,
    );
    let compiled = cluster.compile();
    assert_eq!(
        compiled.problems[0].issue,
        Issue::UnknownSelectorOperator("Equals".into())
    );
    assert!(!compiled.endpoints[&name("x", "a")].enforces(Direction::Ingress));
}

#[test]
fn replicas_share_identity_and_profile() {
    let mut cluster = model();
    cluster.apply(DENY_ALL_X);
    let before = cluster.compile().map_contents();
    for n in 0..5 {
        cluster.apply(&support::model_pod_with_labels(
            "x",
            &format!("a{n}"),
            &format!("10.0.1.{}", 20 + n),
            "{pod: a}",
        ));
    }
    let compiled = cluster.compile();
    let after = compiled.map_contents();
    assert_eq!(after.policy, before.policy, "no policy entries per replica");
    assert_eq!(after.endpoints.len(), before.endpoints.len() + 5);
    let a = compiled.prefixes[&cluster.ip("x/a").into()];
    assert_eq!(compiled.prefixes[&ip("10.0.1.21").into()], a);
}

#[test]
fn unrelated_changes_keep_numbers_and_write_little() {
    let mut cluster = model();
    cluster.apply(DENY_ALL_X);
    let before = cluster.compile();
    cluster.apply("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: z, name: deny}\nspec: {podSelector: {matchLabels: {pod: c}}}\n");
    cluster.apply("apiVersion: v1\nkind: Pod\nmetadata: {namespace: z, name: new, labels: {pod: new}}\nspec: {containers: []}\nstatus: {podIP: 10.0.3.40}\n");
    let after = cluster.compile();
    for (prefix, identity) in &before.prefixes {
        assert_eq!(after.prefixes[prefix], *identity);
    }
    assert_eq!(
        after.endpoints[&name("x", "a")],
        before.endpoints[&name("x", "a")]
    );
    let changes = diff(&before.map_contents(), &after.map_contents());
    assert_eq!(changes.identities.upsert.len(), 1, "the new pod");
    assert!(changes.identities.remove.is_empty());
    let endpoint_writes = changes.endpoints.upsert.len();
    assert_eq!(endpoint_writes, 2, "z/c switches profile, z/new appears");
}

#[test]
fn map_writes_in_order_switch_each_endpoint_at_once() {
    let mut cluster = model();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
"#,
    );
    let old = cluster.maps();
    cluster.apply(
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: from-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]
"#,
    );
    let new = cluster.maps();
    let changes = diff(&old, &new);
    let x_a = cluster.ip("x/a");
    let sees = |maps: &MapContents| {
        (
            passes(maps, cluster.ip("x/b"), x_a, TCP, 80),
            passes(maps, cluster.ip("x/c"), x_a, TCP, 80),
        )
    };
    let mut maps = old.clone();
    assert_eq!(sees(&maps), (true, false));
    maps.policy.extend(changes.policy.upsert.iter().copied());
    maps.identities
        .extend(changes.identities.upsert.iter().copied());
    assert_eq!(
        sees(&maps),
        (true, false),
        "new entries alone change nothing"
    );
    maps.endpoints
        .extend(changes.endpoints.upsert.iter().copied());
    assert_eq!(sees(&maps), (false, true), "one endpoint write switches");
    let mut applied = old.clone();
    changes.apply(&mut applied);
    assert_eq!(applied, new);
    assert!(diff(&new, &new).is_empty());
}
