//! Test clusters written as Kubernetes YAML, and reachability checked the
//! way the datapath decides it: through the encoded maps and `evaluate`.

#![allow(dead_code, reason = "each test binary uses part of the support code")]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use weft_datastore::{ClusterSnapshot, parse_objects};
use weft_policy::{
    ClusterInputs, CompiledPolicy, Direction, MapContents, Packet, Verdict, compile, diff, evaluate,
};

pub mod synthetic;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const SCTP: u8 = 132;
pub const ICMP: u8 = 1;

/// The model's namespaces and pod names, as in the upstream e2e tests.
pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
pub const POD_NAMES: [&str; 3] = ["a", "b", "c"];
/// The node's own address, given to the compiler as the host.
pub const HOST_IP: &str = "172.16.0.1";
/// An address outside the cluster.
pub const WORLD_IP: &str = "192.0.2.1";

/// A cluster held as a datastore snapshot.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub snapshot: ClusterSnapshot,
    pub host_ips: Vec<IpAddr>,
}

impl Cluster {
    /// Adds or replaces the objects in `yaml`.
    pub fn apply(&mut self, yaml: &str) -> &mut Self {
        for object in parse_objects(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}")) {
            self.snapshot.insert(object);
        }
        self
    }

    pub fn delete_policy(&mut self, namespace: &str, name: &str) -> &mut Self {
        let key = (namespace.to_owned(), name.to_owned());
        assert!(self.snapshot.policies.remove(&key).is_some());
        self
    }

    pub fn compile(&self) -> CompiledPolicy {
        compile(&ClusterInputs::new(&self.snapshot).with_host_ips(&self.host_ips))
    }

    pub fn maps(&self) -> MapContents {
        self.compile().map_contents()
    }

    /// The first address of pod "ns/name".
    pub fn ip(&self, pod: &str) -> IpAddr {
        let (namespace, name) = pod.split_once('/').unwrap();
        let record = &self.snapshot.pods[&(namespace.to_owned(), name.to_owned())];
        record.ips[0].parse().unwrap()
    }
}

/// The upstream e2e model: namespaces x, y, z (label ns=<name>) with pods a,
/// b, c (label pod=<name>), each serving 80 and 81 over TCP, UDP and SCTP on
/// ports named serve-<port>-<protocol>. Pod n/p has address 10.0.<n>.<p>.
pub fn model() -> Cluster {
    let mut cluster = Cluster {
        host_ips: vec![HOST_IP.parse().unwrap()],
        ..Cluster::default()
    };
    for (n, namespace) in NAMESPACES.iter().enumerate() {
        cluster.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: '{namespace}', labels: {{ns: '{namespace}'}}}}\n"
        ));
        for (p, pod) in POD_NAMES.iter().enumerate() {
            let ip = format!("10.0.{}.{}", n + 1, p + 1);
            cluster.apply(&model_pod_with_labels(
                namespace,
                pod,
                &ip,
                &format!("{{pod: {pod}}}"),
            ));
        }
    }
    cluster
}

/// A model pod's YAML with `labels` (a YAML flow mapping).
pub fn model_pod_with_labels(namespace: &str, pod: &str, ip: &str, labels: &str) -> String {
    let mut containers = String::new();
    for port in [80, 81] {
        for protocol in ["TCP", "UDP", "SCTP"] {
            let lower = protocol.to_lowercase();
            write!(
                containers,
                "\n  - name: cont-{port}-{lower}\n    image: agnhost\n    ports: [{{name: serve-{port}-{lower}, containerPort: {port}, protocol: {protocol}}}]"
            )
            .unwrap();
        }
    }
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: '{namespace}', name: {pod}, labels: {labels}}}\nspec:\n  nodeName: node-1\n  containers:{containers}\nstatus: {{phase: Running, podIP: {ip}, podIPs: [{{ip: {ip}}}]}}\n"
    )
}

/// Every model pod as "ns/name".
pub fn model_pods() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|n| POD_NAMES.iter().map(move |p| format!("{n}/{p}")))
        .collect()
}

/// Whether the datapath passes a packet from `from` to `to` (pod addresses):
/// egress at the sender's endpoint (if it is one), ingress at the receiver's.
pub fn passes(maps: &MapContents, from: IpAddr, to: IpAddr, protocol: u8, port: u16) -> bool {
    let packet = |direction, endpoint, peer| Packet {
        direction,
        endpoint,
        peer,
        protocol,
        port,
    };
    let egress = evaluate(maps, &packet(Direction::Egress, from, to));
    let ingress = evaluate(maps, &packet(Direction::Ingress, to, from));
    egress.passes() && ingress.passes()
}

/// The verdict for one packet at endpoint `endpoint`.
pub fn verdict(
    maps: &MapContents,
    direction: Direction,
    endpoint: IpAddr,
    peer: IpAddr,
    protocol: u8,
    port: u16,
) -> Verdict {
    let packet = Packet {
        direction,
        endpoint,
        peer,
        protocol,
        port,
    };
    evaluate(maps, &packet)
}

/// Expected connectivity between the model's pods, like upstream's
/// `Reachability`. Patterns: "*" every pod, "x" namespace x, "x/a" one pod.
#[derive(Debug, Clone)]
pub struct Reachability {
    expected: BTreeMap<(String, String), bool>,
}

fn matches(pattern: &str, pod: &str) -> bool {
    pattern == "*" || pattern == pod || pod.split('/').next() == Some(pattern)
}

impl Reachability {
    pub fn new(allowed: bool) -> Self {
        let pods = model_pods();
        let pairs = pods.iter().flat_map(|from| {
            pods.iter()
                .map(move |to| ((from.clone(), to.clone()), allowed))
        });
        Reachability {
            expected: pairs.collect(),
        }
    }

    pub fn expect(&mut self, from: &str, to: &str, allowed: bool) -> &mut Self {
        for ((f, t), value) in &mut self.expected {
            if matches(from, f) && matches(to, t) {
                *value = allowed;
            }
        }
        self
    }

    /// Checks every pair except a pod with itself (upstream ignores those;
    /// our datapath always passes them, checked separately).
    pub fn check(&self, cluster: &Cluster, maps: &MapContents, protocol: u8, port: u16) {
        let mut wrong = Vec::new();
        let mut grid = String::from("from\\to");
        for to in model_pods() {
            write!(grid, " {to}").unwrap();
        }
        for from in model_pods() {
            write!(grid, "\n{from:7}").unwrap();
            for to in model_pods() {
                let actual = passes(maps, cluster.ip(&from), cluster.ip(&to), protocol, port);
                let expected = self.expected[&(from.clone(), to.clone())];
                let cell = if from == to {
                    assert!(actual, "{from} must reach itself");
                    "  -"
                } else if actual != expected {
                    wrong.push(format!("{from} -> {to}"));
                    if actual { "  !" } else { "  X" }
                } else if actual {
                    "  ."
                } else {
                    "  x"
                };
                write!(grid, " {cell}").unwrap();
            }
        }
        assert!(
            wrong.is_empty(),
            "protocol {protocol} port {port}: wrong {wrong:?} (! passes but should not, X blocked but should pass)\n{grid}"
        );
    }
}

/// Recompiles after a change the way weftd will: diff against the old maps
/// and apply the changes; the result must equal a fresh encoding.
pub fn update(old: &MapContents, cluster: &Cluster) -> MapContents {
    let new = cluster.maps();
    let mut applied = old.clone();
    diff(old, &new).apply(&mut applied);
    assert_eq!(applied, new);
    applied
}
