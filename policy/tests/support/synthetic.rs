//! A large, realistic cluster for scale tests and the compile benchmark:
//! namespaces of deployments (10 replicas each), each namespace with a
//! default deny, DNS egress, internet egress and LB ingress by ipBlock, and
//! per-app policies using pod and namespace selectors, expressions, named
//! ports and port ranges.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use weft_datastore::k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodIP, PodSpec, PodStatus,
};
use weft_datastore::k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use weft_datastore::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use weft_datastore::{ClusterSnapshot, Namespace, NetworkPolicy, Pod};

/// Replicas per app; apps per namespace = pods per namespace / this.
const REPLICAS: usize = 10;

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn meta(namespace: Option<&str>, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_owned),
        name: Some(name),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

fn select(pairs: &[(&str, String)]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    })
}

fn pods_peer(pods: Option<LabelSelector>, namespaces: Option<LabelSelector>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: pods,
        namespace_selector: namespaces,
        ip_block: None,
    }
}

fn block_peer(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: Some(except.iter().map(|e| e.to_string()).collect()),
        }),
        ..pods_peer(None, None)
    }
}

fn port(protocol: &str, port: IntOrString, end_port: Option<i32>) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_owned()),
        port: Some(port),
        end_port,
    }
}

fn policy(namespace: &str, name: String, spec: NetworkPolicySpec) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(Some(namespace), name, BTreeMap::new()),
        spec: Some(spec),
    }
}

/// `namespaces` x `pods_per_namespace` pods and `policies_per_namespace`
/// (at most 10) policies per namespace, pods whole (`records()`: as weftd
/// keeps them).
pub fn cluster(
    namespaces: usize,
    pods_per_namespace: usize,
    policies_per_namespace: usize,
) -> ClusterSnapshot<Pod> {
    let mut snapshot = ClusterSnapshot::default();
    let apps = pods_per_namespace.div_ceil(REPLICAS).max(1);
    for n in 0..namespaces {
        let ns = format!("ns-{n}");
        let ns_labels = labels(&[
            ("team", format!("team-{}", n % 10)),
            ("env", if n % 2 == 0 { "prod" } else { "dev" }.to_owned()),
        ]);
        let namespace = Namespace {
            metadata: meta(None, ns.clone(), ns_labels),
            ..Namespace::default()
        };
        snapshot.namespaces.insert(ns.clone(), namespace);
        for p in 0..pods_per_namespace {
            let app = p / REPLICAS;
            let tier = ["web", "api", "db"][app % 3];
            let ip = Ipv4Addr::from(0x0a00_0000 + ((n as u32) << 16) + p as u32 + 1).to_string();
            let name = format!("app-{app}-{p}");
            let pod_labels = labels(&[
                ("app", format!("app-{app}")),
                ("tier", tier.to_owned()),
                ("pod-template-hash", format!("h{app}")),
            ]);
            let named = |name: &str, number| ContainerPort {
                name: Some(name.to_owned()),
                container_port: number,
                protocol: Some("TCP".to_owned()),
                ..ContainerPort::default()
            };
            let pod = Pod {
                metadata: meta(Some(&ns), name.clone(), pod_labels),
                spec: Some(PodSpec {
                    node_name: Some(format!("node-{}", p % 100)),
                    containers: vec![Container {
                        name: "main".to_owned(),
                        ports: Some(vec![named("http", 8080), named("metrics", 9090)]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
                status: Some(PodStatus {
                    phase: Some("Running".to_owned()),
                    pod_ip: Some(ip.clone()),
                    pod_ips: Some(vec![PodIP { ip }]),
                    ..PodStatus::default()
                }),
            };
            snapshot.pods.insert((ns.clone(), name), Arc::new(pod));
        }
        for (k, spec) in namespace_policies(n, apps)
            .into_iter()
            .take(policies_per_namespace)
            .enumerate()
        {
            snapshot.policies.insert(
                (ns.clone(), format!("policy-{k}")),
                policy(&ns, format!("policy-{k}"), spec),
            );
        }
    }
    snapshot
}

fn namespace_policies(n: usize, apps: usize) -> Vec<NetworkPolicySpec> {
    let types = |kinds: &[&str]| Some(kinds.iter().map(|k| k.to_string()).collect());
    let tcp = |number| port("TCP", IntOrString::Int(number), None);
    let mut specs = vec![
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: types(&["Ingress", "Egress"]),
            ..NetworkPolicySpec::default()
        },
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![pods_peer(
                    select(&[("app", "app-0".to_owned())]),
                    select(&[("kubernetes.io/metadata.name", "ns-0".to_owned())]),
                )]),
                ports: Some(vec![port("UDP", IntOrString::Int(53), None), tcp(53)]),
            }]),
            ..NetworkPolicySpec::default()
        },
        NetworkPolicySpec {
            pod_selector: select(&[("tier", "web".to_owned())]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![block_peer("0.0.0.0/0", &["10.0.0.0/8"])]),
                ports: Some(vec![tcp(443)]),
            }]),
            policy_types: types(&["Egress"]),
            ..NetworkPolicySpec::default()
        },
        NetworkPolicySpec {
            pod_selector: select(&[("tier", "web".to_owned())]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![block_peer(&format!("192.168.{}.0/24", n % 256), &[])]),
                ports: Some(vec![tcp(8080)]),
            }]),
            ..NetworkPolicySpec::default()
        },
    ];
    for k in 0..6 {
        let app = |offset: usize| ("app", format!("app-{}", (k + offset) % apps));
        let not_db = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".to_owned(),
                operator: "NotIn".to_owned(),
                values: Some(vec!["db".to_owned()]),
            }]),
        };
        let prod = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".to_owned(),
                operator: "In".to_owned(),
                values: Some(vec!["prod".to_owned()]),
            }]),
        };
        specs.push(NetworkPolicySpec {
            pod_selector: select(&[app(0)]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![pods_peer(select(&[app(apps - 1)]), None)]),
                    ports: Some(vec![port(
                        "TCP",
                        IntOrString::String("http".to_owned()),
                        None,
                    )]),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![pods_peer(
                        select(&[("tier", "api".to_owned())]),
                        select(&[("team", format!("team-{}", (n + 1) % 10))]),
                    )]),
                    ports: Some(vec![port("TCP", IntOrString::Int(8080), Some(8090))]),
                },
            ]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![pods_peer(select(&[app(1)]), None)]),
                    ports: Some(vec![tcp(8080)]),
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![pods_peer(Some(not_db), Some(prod))]),
                    ports: Some(vec![port(
                        "TCP",
                        IntOrString::String("metrics".to_owned()),
                        None,
                    )]),
                },
            ]),
            ..NetworkPolicySpec::default()
        });
    }
    specs
}
