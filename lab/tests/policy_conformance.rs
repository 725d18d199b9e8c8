//! NetworkPolicy conformance in the lab (root): the upstream Kubernetes
//! netpol e2e model (namespaces x, y, z labelled ns=<name>, pods a, b, c
//! labelled pod=<name>, each serving 80 and 81 over TCP and UDP on ports
//! named serve-<port>-<protocol>) spread over a 3-node vxlan lab so that
//! same-node and cross-node pairs both occur. Each case applies its
//! policies (and label changes), checks full 9x9 matrices measured by
//! `weft-lab matrix` against the outcomes policy/tests/e2e_model.rs expects
//! of the compiler, then deletes every policy and undoes its label changes.
//! One lab serves every case; all cases run and every failing one is
//! reported at the end.
//!
//! The suite runs on both datastores, each in a lab of its own: `dir` (the
//! lab writes the YAML store every weftd watches) and `kubernetes` (every
//! change goes through the real API server with kubectl, the kubelet
//! stand-ins wire the pods, and weftd watches the API server). On `dir` it
//! also runs in direct mode and with `--host-routing kernel`, so every path
//! a packet between pods can take (redirected over VXLAN or the underlay,
//! or through the host stack) meets the same verdicts. The body is the
//! same: only `weft-lab` commands touch the cluster.

mod common;

use std::fmt::Write;
use std::time::Instant;

use common::policy::reachability::{Measured, Mismatch, Reachability, measure, mismatches, render};
use common::{TestLab, node_entry, pod_entry, pod_ip};
use serde_json::Value;

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const POD_NAMES: [&str; 3] = ["a", "b", "c"];
/// The lab's default cluster CIDRs.
const CLUSTER_CIDR: &str = "10.244.0.0/16";
const CLUSTER_CIDR6: &str = "fd00:10:244::/56";
/// A blocked cell costs this much; cells are probed in parallel.
const PROBE_TIMEOUT_MS: u64 = 1000;
/// A wrong cell is probed once more, this patiently: a cell that should
/// connect and then does was a slow first try on a loaded machine; for
/// the others the report says whether the error persists.
const RETRY_TIMEOUT_MS: &str = "3000";

/// Namespace n, pod p goes to node (n + p) mod 3: every node holds one pod
/// of each namespace and one of each name.
fn node_of(namespace: &str, pod: &str) -> &'static str {
    let n = NAMESPACES.iter().position(|x| *x == namespace).unwrap_or(0);
    let p = POD_NAMES.iter().position(|x| *x == pod).unwrap_or(0);
    NODES[(n + p) % NODES.len()]
}

fn namespace_yaml(namespace: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: '{namespace}', labels: {labels}}}\n"
    )
}

/// A model pod with `labels` (a YAML flow mapping): one container per
/// served port, as upstream's agnhost pods have. The API server wants an
/// image, which the lab does not run; names and label values are quoted,
/// since YAML 1.1 (kubectl's) reads a bare `y` as a boolean.
fn pod_yaml(namespace: &str, pod: &str, labels: &str) -> String {
    let mut containers = String::new();
    for port in [80, 81] {
        for protocol in ["TCP", "UDP", "SCTP"] {
            let lower = protocol.to_lowercase();
            write!(
                containers,
                "\n  - name: cont-{port}-{lower}\n    image: agnhost\n    ports: [{{name: serve-{port}-{lower}, containerPort: {port}, protocol: {protocol}}}]"
            )
            .expect("writing to a String");
        }
    }
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: '{namespace}', name: '{pod}', labels: {labels}}}\nspec:\n  nodeName: {}\n  containers:{containers}\n",
        node_of(namespace, pod)
    )
}

/// The whole model as first applied; applying it again undoes label changes.
fn model_yaml() -> String {
    let mut docs = Vec::new();
    for namespace in NAMESPACES {
        docs.push(namespace_yaml(namespace, &format!("{{ns: '{namespace}'}}")));
        for pod in POD_NAMES {
            docs.push(pod_yaml(namespace, pod, &format!("{{pod: '{pod}'}}")));
        }
    }
    docs.join("---\n")
}

fn model_pods() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|n| POD_NAMES.iter().map(move |p| format!("{n}/{p}")))
        .collect()
}

/// A NetworkPolicy; `spec` is unindented YAML.
fn policy(namespace: &str, name: &str, spec: &str) -> String {
    let mut text = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{namespace: '{namespace}', name: {name}}}\nspec:\n"
    );
    for line in spec.trim().lines() {
        writeln!(text, "  {line}").expect("writing to a String");
    }
    text
}

fn policies(docs: &[String]) -> String {
    docs.join("---\n")
}

/// What a step changes before its checks.
enum Change {
    Apply(String),
    /// `weft-lab delete KIND NS/NAME`.
    Delete(&'static str, &'static str),
}

impl Change {
    fn perform(&self, lab: &TestLab) -> Result<(), String> {
        let out = match self {
            Change::Apply(yaml) => lab.try_apply(yaml),
            Change::Delete(kind, object) => lab.run(&["delete", kind, object]),
        };
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed: {}",
                self.describe(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn describe(&self) -> String {
        match self {
            Change::Apply(_) => "apply".into(),
            Change::Delete(kind, object) => format!("delete {kind} {object}"),
        }
    }

    /// Whether it changes Namespaces or Pods (which the case must undo).
    fn relabels(&self) -> bool {
        matches!(self, Change::Apply(yaml) if yaml.contains("kind: Pod") || yaml.contains("kind: Namespace"))
    }
}

/// One matrix to measure and what it must be.
struct Check {
    proto: &'static str,
    port: u16,
    expected: Reachability,
}

struct Step {
    change: Option<Change>,
    checks: Vec<Check>,
}

struct Case {
    name: &'static str,
    steps: Vec<Step>,
}

impl Case {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            steps: Vec::new(),
        }
    }

    fn apply(mut self, yaml: impl Into<String>) -> Self {
        self.steps.push(Step {
            change: Some(Change::Apply(yaml.into())),
            checks: Vec::new(),
        });
        self
    }

    fn delete(mut self, kind: &'static str, object: &'static str) -> Self {
        self.steps.push(Step {
            change: Some(Change::Delete(kind, object)),
            checks: Vec::new(),
        });
        self
    }

    /// Adds a check to the last step (a first check without a change is a
    /// step of its own).
    fn check(mut self, proto: &'static str, port: u16, expected: Reachability) -> Self {
        if self.steps.is_empty() {
            self.steps.push(Step {
                change: None,
                checks: Vec::new(),
            });
        }
        let check = Check {
            proto,
            port,
            expected,
        };
        self.steps
            .last_mut()
            .expect("a step was just ensured")
            .checks
            .push(check);
        self
    }

    fn relabels(&self) -> bool {
        self.steps
            .iter()
            .filter_map(|s| s.change.as_ref())
            .any(Change::relabels)
    }
}

/// Addresses the ipBlock cases are written with, read from the lab: of
/// its pods' first family (IPv6 in an IPv6 lab).
struct Addresses {
    status: Value,
}

impl Addresses {
    /// The pod's address as a host prefix (/32 or /128).
    fn pod32(&self, pod: &str) -> String {
        let ip = pod_ip(&self.status, pod);
        format!("{ip}/{}", if ip.is_ipv6() { 128 } else { 32 })
    }

    fn node_cidr(&self, node: &str) -> String {
        node_entry(&self.status, node)["podCIDRs"][0]
            .as_str()
            .expect("a pod CIDR")
            .to_owned()
    }

    fn cluster_cidr(&self) -> &'static str {
        let pod = model_pods().into_iter().next().expect("a model pod");
        if pod_ip(&self.status, &pod).is_ipv6() {
            CLUSTER_CIDR6
        } else {
            CLUSTER_CIDR
        }
    }
}

/// The upstream model's cases (policy/tests/e2e_model.rs) and more.
fn cases(addresses: &Addresses) -> Vec<Case> {
    let pods = model_pods();
    let all = || Reachability::new(&pods, true);
    let to_a_from_b = policy(
        "x",
        "x-a-allows-x-b",
        "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]",
    );
    vec![
        Case::new("no policies: every pod reaches every pod")
            .check("tcp", 80, all())
            .check("tcp", 81, all())
            .check("udp", 80, all())
            .check("udp", 81, all()),
        Case::new("deny-all ingress (empty ingress list) isolates the namespace")
            .apply(policy("x", "deny-ingress", "podSelector: {}\ningress: []"))
            .check("tcp", 80, all().deny("*", "x"))
            .check("udp", 81, all().deny("*", "x")),
        Case::new("default deny of both policyTypes blocks both directions")
            .apply(policy(
                "x",
                "deny-all",
                "podSelector: {}\npolicyTypes: [Ingress, Egress]",
            ))
            .check("tcp", 80, all().deny("*", "x").deny("x", "*"))
            .check("udp", 80, all().deny("*", "x").deny("x", "*")),
        Case::new("podSelector matchLabels allows pods of the policy's namespace only")
            .apply(to_a_from_b.clone())
            .check("tcp", 80, all().deny("*", "x/a").allow("x/b", "x/a"))
            .check("tcp", 81, all().deny("*", "x/a").allow("x/b", "x/a")),
        Case::new("an allow-all-to-a policy opens one target under a namespace deny-all")
            .apply(policies(&[
                policy("x", "deny-all", "podSelector: {}\ningress: []"),
                policy(
                    "x",
                    "allow-all-to-a",
                    "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]",
                ),
            ]))
            .check("tcp", 80, all().deny("*", "x").allow("*", "x/a"))
            .check("udp", 80, all().deny("*", "x").allow("*", "x/a")),
        Case::new("an empty namespaceSelector allows pods of every namespace")
            .apply(policy(
                "x",
                "allow-from-all-ns",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {}}]}]",
            ))
            .check("tcp", 80, all())
            .check("udp", 81, all()),
        Case::new("namespaceSelector on kubernetes.io/metadata.name allows one namespace")
            .apply(policy(
                "x",
                "allow-from-y",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}}]}]",
            ))
            .check("tcp", 80, all().deny("x", "x/a").deny("z", "x/a"))
            .check("udp", 80, all().deny("x", "x/a").deny("z", "x/a")),
        Case::new("namespaceSelector matchLabels on the namespace's own label")
            .apply(policy(
                "x",
                "allow-from-ns-y",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]",
            ))
            .check("tcp", 80, all().deny("x", "x/a").deny("z", "x/a"))
            .check("tcp", 81, all().deny("x", "x/a").deny("z", "x/a")),
        Case::new("podSelector matchExpressions In")
            .apply(policy(
                "x",
                "x-a-allows-x-b",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchExpressions: [{key: pod, operator: In, values: [b]}]}}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a").allow("x/b", "x/a"))
            .check("udp", 81, all().deny("*", "x/a").allow("x/b", "x/a")),
        Case::new("namespaceSelector matchExpressions In")
            .apply(policy(
                "x",
                "allow-ns-y",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: ['y']}]}}]}]",
            ))
            .check("tcp", 80, all().deny("x", "x/a").deny("z", "x/a"))
            .check("udp", 80, all().deny("x", "x/a").deny("z", "x/a")),
        Case::new("separate peers of one rule are ORed")
            .apply(policy(
                "x",
                "ns-not-x-or-pod-b",
                "podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n  - podSelector: {matchLabels: {pod: b}}",
            ))
            .check("tcp", 80, all().deny("x/c", "x/a"))
            .check("tcp", 81, all().deny("x/c", "x/a")),
        Case::new("podSelector and namespaceSelector in one peer are ANDed")
            .apply(policy(
                "x",
                "ns-not-x-and-pod-b",
                "podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n    podSelector: {matchLabels: {pod: b}}",
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("*", "x/a")
                    .allow("y/b", "x/a")
                    .allow("z/b", "x/a"),
            )
            .check(
                "udp",
                80,
                all()
                    .deny("*", "x/a")
                    .allow("y/b", "x/a")
                    .allow("z/b", "x/a"),
            ),
        Case::new("matchExpressions select several pods in several namespaces")
            .apply(policy(
                "x",
                "pods-b-c-not-in-x",
                "podSelector: {matchLabels: {pod: a}}\ningress:\n- from:\n  - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: [x]}]}\n    podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}",
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("x", "x/a")
                    .deny("y/a", "x/a")
                    .deny("z/a", "x/a"),
            ),
        Case::new("several podSelector peers")
            .apply(policy(
                "x",
                "from-b-or-c",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchLabels: {pod: b}}}, {podSelector: {matchLabels: {pod: c}}}]}]",
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("*", "x/a")
                    .allow("x/b", "x/a")
                    .allow("x/c", "x/a"),
            ),
        Case::new("matchExpressions NotIn, DoesNotExist and Exists")
            .apply(policy(
                "x",
                "expressions",
                "podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [b, c]}]}\ningress:\n- from:\n  - podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: [b]}]}\n    namespaceSelector: {matchExpressions: [{key: missing, operator: DoesNotExist}]}\n  - podSelector: {matchExpressions: [{key: pod, operator: Exists}, {key: pod, operator: In, values: [b]}]}\n    namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: [z]}]}",
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("*", "x/a")
                    .allow("x/c", "x/a")
                    .allow("y/a", "x/a")
                    .allow("y/c", "x/a")
                    .allow("z", "x/a"),
            ),
        Case::new("ingress from the own namespace denies other namespaces")
            .apply(policy(
                "x",
                "allow-same-namespace",
                "podSelector: {}\ningress: [{from: [{podSelector: {}}]}]",
            ))
            .check("tcp", 80, all().deny("y", "x").deny("z", "x"))
            .check("udp", 81, all().deny("y", "x").deny("z", "x")),
        Case::new("a numeric port limits ingress to that TCP port")
            .apply(policy(
                "x",
                "allow-81",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {}}], ports: [{port: 81}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a"))
            .check("tcp", 81, all())
            .check("udp", 81, all().deny("*", "x/a")),
        Case::new("a named ingress port is the destination pod's port of that name")
            .apply(policy(
                "x",
                "allow-named-81",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}], ports: [{port: serve-81-tcp}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a"))
            .check("tcp", 81, all().deny("x", "x/a").deny("z", "x/a"))
            .check("udp", 81, all().deny("*", "x/a")),
        Case::new("egress deny-all")
            .apply(policy(
                "x",
                "deny-egress",
                "podSelector: {}\npolicyTypes: [Egress]",
            ))
            .check("tcp", 80, all().deny("x", "*"))
            .check("udp", 80, all().deny("x", "*")),
        Case::new("egress to a named port of any peer")
            .apply(policy(
                "x",
                "allow-egress-on-port-80",
                "podSelector: {}\npolicyTypes: [Egress]\negress: [{ports: [{port: serve-80-tcp}]}]",
            ))
            .check("tcp", 80, all())
            .check("tcp", 81, all().deny("x", "*"))
            .check("udp", 80, all().deny("x", "*")),
        Case::new("egress to a named UDP port of selected peers")
            .apply(policy(
                "x",
                "egress-y-a-udp-81",
                "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {matchLabels: {ns: 'y'}}, podSelector: {matchLabels: {pod: a}}}]\n  ports: [{port: serve-81-udp, protocol: UDP}]",
            ))
            .check("udp", 81, all().deny("x/a", "*").allow("x/a", "y/a"))
            .check("udp", 80, all().deny("x/a", "*"))
            .check("tcp", 81, all().deny("x/a", "*")),
        Case::new("egress to every pod of a namespace")
            .apply(policy(
                "x",
                "egress-to-y",
                "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress: [{to: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]",
            ))
            .check("tcp", 80, all().deny("x/a", "*").allow("x/a", "y"))
            .check("udp", 81, all().deny("x/a", "*").allow("x/a", "y")),
        Case::new("endPort covers a range per protocol")
            .apply(policy(
                "x",
                "allow-80-81",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{ports: [{protocol: TCP, port: 80, endPort: 81}, {protocol: UDP, port: 81, endPort: 90}]}]",
            ))
            .check("tcp", 80, all())
            .check("tcp", 81, all())
            .check("udp", 80, all().deny("*", "x/a"))
            .check("udp", 81, all()),
        Case::new("egress to an ipBlock of one pod's /32")
            .apply(policy(
                "x",
                "egress-to-x-b",
                &format!(
                    "podSelector: {{matchLabels: {{pod: a}}}}\npolicyTypes: [Egress]\negress: [{{to: [{{ipBlock: {{cidr: {}}}}}]}}]",
                    addresses.pod32("x/b")
                ),
            ))
            .check("tcp", 80, all().deny("x/a", "*").allow("x/a", "x/b")),
        // n3's pod CIDR holds x/c, y/b and z/a.
        Case::new("egress ipBlock except removes a pod from a node's pod CIDR")
            .apply(policy(
                "x",
                "egress-to-n3-except-y-b",
                &format!(
                    "podSelector: {{matchLabels: {{pod: a}}}}\npolicyTypes: [Egress]\negress: [{{to: [{{ipBlock: {{cidr: {}, except: [{}]}}}}]}}]",
                    addresses.node_cidr("n3"),
                    addresses.pod32("y/b")
                ),
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("x/a", "*")
                    .allow("x/a", "x/c")
                    .allow("x/a", "z/a"),
            )
            .check(
                "udp",
                80,
                all()
                    .deny("x/a", "*")
                    .allow("x/a", "x/c")
                    .allow("x/a", "z/a"),
            ),
        // n2's pod CIDR holds x/b, y/a and z/c.
        Case::new("ingress from the cluster CIDR except a node's pod CIDR and one pod")
            .apply(policy(
                "x",
                "from-cluster-except",
                &format!(
                    "podSelector: {{matchLabels: {{pod: a}}}}\ningress: [{{from: [{{ipBlock: {{cidr: {}, except: [{}, {}]}}}}]}}]",
                    addresses.cluster_cidr(),
                    addresses.node_cidr("n2"),
                    addresses.pod32("z/a")
                ),
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("x/b", "x/a")
                    .deny("y/a", "x/a")
                    .deny("z/c", "x/a")
                    .deny("z/a", "x/a"),
            ),
        Case::new("several policies selecting one pod are a union")
            .apply(policies(&[
                policy(
                    "x",
                    "from-b-on-80",
                    "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}]",
                ),
                policy(
                    "x",
                    "from-y-on-81",
                    "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}], ports: [{port: 81}]}]",
                ),
            ]))
            .check("tcp", 80, all().deny("*", "x/a").allow("x/b", "x/a"))
            .check("tcp", 81, all().deny("*", "x/a").allow("y", "x/a")),
        Case::new("an egress allow-all policy wins over a narrower one")
            .apply(policies(&[
                policy(
                    "x",
                    "egress-to-b-on-80",
                    "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress: [{to: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}]",
                ),
                policy(
                    "x",
                    "egress-allow-all",
                    "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\negress: [{}]",
                ),
            ]))
            .check("tcp", 81, all())
            .check("udp", 80, all()),
        Case::new("a client's egress deny wins over the server's ingress allow")
            .apply(policies(&[
                policy(
                    "x",
                    "deny-egress-of-a",
                    "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]",
                ),
                policy(
                    "y",
                    "allow-from-x-a",
                    "podSelector: {}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}]}]",
                ),
            ]))
            .check("tcp", 80, all().deny("*", "y").deny("x/a", "*"))
            .check("udp", 81, all().deny("*", "y").deny("x/a", "*")),
        Case::new("replies to allowed ingress leave a pod whose egress is denied")
            .apply(policy(
                "x",
                "from-y-no-egress",
                "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Ingress, Egress]\ningress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}]}]\negress: []",
            ))
            .check(
                "tcp",
                80,
                all().deny("*", "x/a").allow("y", "x/a").deny("x/a", "*"),
            )
            .check(
                "udp",
                80,
                all().deny("*", "x/a").allow("y", "x/a").deny("x/a", "*"),
            ),
        Case::new("policyTypes [Egress] ignores the policy's ingress rules")
            .apply(policy(
                "x",
                "egress-only",
                "podSelector: {matchLabels: {pod: a}}\npolicyTypes: [Egress]\ningress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]\negress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]",
            ))
            .check("tcp", 80, all().deny("x/a", "*").allow("x/a", "x/b")),
        Case::new("without policyTypes an empty egress list does not isolate egress")
            .apply(policy(
                "x",
                "implicit-ingress-only",
                "podSelector: {matchLabels: {pod: a}}\negress: []",
            ))
            .check("tcp", 80, all().deny("*", "x/a")),
        Case::new("without policyTypes egress rules isolate egress too")
            .apply(policy(
                "x",
                "implicit-both",
                "podSelector: {matchLabels: {pod: a}}\negress: [{to: [{podSelector: {matchLabels: {pod: c}}}]}]",
            ))
            .check(
                "tcp",
                80,
                all()
                    .deny("*", "x/a")
                    .deny("x/a", "*")
                    .allow("x/a", "x/c"),
            ),
        Case::new("an empty rule, an empty from and empty ports each allow every source")
            .apply(policy("x", "deny-ingress", "podSelector: {}\ningress: []"))
            .check("tcp", 80, all().deny("*", "x"))
            .apply(policy(
                "x",
                "allow-all",
                "podSelector: {}\npolicyTypes: [Ingress]\ningress: [{}]",
            ))
            .check("tcp", 80, all())
            .apply(policy(
                "x",
                "allow-all",
                "podSelector: {}\npolicyTypes: [Ingress]\ningress: [{from: []}]",
            ))
            .check("udp", 81, all())
            .apply(policy(
                "x",
                "allow-all",
                "podSelector: {}\npolicyTypes: [Ingress]\ningress: [{from: [], ports: []}]",
            ))
            .check("tcp", 81, all()),
        Case::new("policyTypes [Ingress] without ingress rules allows nothing")
            .apply(policy(
                "x",
                "deny",
                "podSelector: {matchLabels: {pod: b}}\npolicyTypes: [Ingress]",
            ))
            .check("tcp", 80, all().deny("*", "x/b"))
            .check("udp", 80, all().deny("*", "x/b")),
        Case::new("SCTP, UDP and TCP ports are each their own")
            .apply(policy(
                "x",
                "sctp-80-udp-81",
                "podSelector: {}\ningress: [{ports: [{protocol: SCTP, port: 80}, {protocol: UDP, port: 81}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x"))
            .check("udp", 80, all().deny("*", "x"))
            .check("udp", 81, all())
            .check("tcp", 81, all().deny("*", "x")),
        Case::new("an SCTP-only rule is accepted and allows nothing over TCP or UDP")
            .apply(policy(
                "x",
                "sctp-only",
                "podSelector: {}\ningress: [{ports: [{protocol: SCTP, port: 80}, {protocol: SCTP, port: serve-81-sctp}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x"))
            .check("udp", 81, all().deny("*", "x")),
        Case::new("a protocol without a port allows every port of it")
            .apply(policy(
                "x",
                "any-udp",
                "podSelector: {}\ningress: [{ports: [{protocol: UDP}]}]",
            ))
            .check("udp", 80, all())
            .check("udp", 81, all())
            .check("tcp", 80, all().deny("*", "x")),
        Case::new("update: a policy changed in place")
            .apply(to_a_from_b)
            .check("tcp", 80, all().deny("*", "x/a").allow("x/b", "x/a"))
            .apply(policy(
                "x",
                "x-a-allows-x-b",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a").allow("x/c", "x/a"))
            .check("udp", 80, all().deny("*", "x/a").allow("x/c", "x/a")),
        Case::new("update: pod labels changed")
            .apply(policy(
                "x",
                "allow-updated-pods",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{podSelector: {matchLabels: {pod2: updated}}, namespaceSelector: {}}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a"))
            .apply(pod_yaml("y", "b", "{pod: b, pod2: updated}"))
            .check("tcp", 80, all().deny("*", "x/a").allow("y/b", "x/a"))
            // The target's own label change ends its isolation.
            .apply(pod_yaml("x", "a", "{pod: other}"))
            .check("tcp", 80, all()),
        Case::new("update: namespace labels changed")
            .apply(policy(
                "x",
                "allow-updated-namespaces",
                "podSelector: {matchLabels: {pod: a}}\ningress: [{from: [{namespaceSelector: {matchLabels: {ns2: updated}}}]}]",
            ))
            .check("tcp", 80, all().deny("*", "x/a"))
            .apply(namespace_yaml("y", "{ns: 'y', ns2: updated}"))
            .check("tcp", 80, all().deny("*", "x/a").allow("y", "x/a"))
            // A label removed from the namespace's YAML is removed.
            .apply(namespace_yaml("y", "{ns: 'y'}"))
            .check("tcp", 80, all().deny("*", "x/a")),
        Case::new("update: a policy deleted stops being enforced")
            .apply(policy(
                "x",
                "deny-all",
                "podSelector: {}\npolicyTypes: [Ingress, Egress]",
            ))
            .check("tcp", 80, all().deny("*", "x").deny("x", "*"))
            .delete("networkpolicy", "x/deny-all")
            .check("tcp", 80, all())
            .check("udp", 81, all()),
    ]
}

/// What checking one matrix found.
struct Verdict {
    /// The cells that are wrong, with the grid, if any.
    failure: Option<String>,
    /// Cells that only connected when probed again.
    slow: Vec<String>,
}

fn verify(lab: &TestLab, check: &Check) -> Verdict {
    let what = format!("{}/{}", check.proto, check.port);
    let failed = |why: String| Verdict {
        failure: Some(format!("{what}: {why}")),
        slow: Vec::new(),
    };
    let measured = match measure(lab, check.proto, check.port, PROBE_TIMEOUT_MS) {
        Ok(measured) => measured,
        Err(why) => return failed(why),
    };
    let wrong = match mismatches(&check.expected, &measured) {
        Ok(wrong) => wrong,
        Err(why) => return failed(why),
    };
    let mut slow = Vec::new();
    let mut confirmed = Vec::new();
    for mismatch in wrong {
        let again = connects_when_probed_again(lab, &mismatch, &measured);
        match (mismatch.expected, again) {
            (true, true) => slow.push(format!("{what}: {mismatch}")),
            (true, false) => confirmed.push(format!("{mismatch}; blocked when probed again")),
            (false, true) => confirmed.push(format!("{mismatch}; connected when probed again")),
            (false, false) => confirmed.push(format!("{mismatch}; blocked when probed again")),
        }
    }
    if confirmed.is_empty() {
        return Verdict {
            failure: None,
            slow,
        };
    }
    let mut report = format!("{what}: {} cells wrong:", confirmed.len());
    for mismatch in &confirmed {
        write!(report, "\n  {mismatch}").expect("writing to a String");
    }
    write!(report, "\n{}", render(&check.expected, &measured)).expect("writing to a String");
    Verdict {
        failure: Some(report),
        slow,
    }
}

fn connects_when_probed_again(lab: &TestLab, mismatch: &Mismatch, measured: &Measured) -> bool {
    let port = measured.port.to_string();
    lab.run(&[
        "probe",
        &mismatch.from,
        &mismatch.to,
        &port,
        "--proto",
        &measured.proto,
        "--timeout-ms",
        RETRY_TIMEOUT_MS,
    ])
    .status
    .success()
}

/// Runs a case's steps; returns its failures and slow cells. A change that
/// fails ends the case (its checks would say nothing).
fn run_case(lab: &TestLab, case: &Case) -> (Vec<String>, Vec<String>) {
    let (mut failures, mut slow) = (Vec::new(), Vec::new());
    for (i, step) in case.steps.iter().enumerate() {
        if let Some(change) = &step.change
            && let Err(why) = change.perform(lab)
        {
            failures.push(format!("step {}: {why}", i + 1));
            break;
        }
        for check in &step.checks {
            let verdict = verify(lab, check);
            failures.extend(verdict.failure.map(|f| format!("step {}: {f}", i + 1)));
            slow.extend(verdict.slow);
        }
    }
    (failures, slow)
}

/// Deletes every policy and, if the case changed labels, applies the model
/// again; a lab that cannot be reset fails the whole run here.
fn reset(lab: &TestLab, case: &Case, model: &str) {
    lab.ok(&["delete", "--all-policies"]);
    if case.relabels() {
        lab.apply(model);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_upstream_netpol_model_holds_on_the_dir_datastore() {
    the_upstream_netpol_model_holds("c", "dir", &[]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_upstream_netpol_model_holds_on_the_kubernetes_datastore() {
    the_upstream_netpol_model_holds("ck", "kubernetes", &[]);
}

/// Host routing takes other paths across nodes in direct mode (the
/// underlay, neighbours resolved by the kernel) than over VXLAN.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_upstream_netpol_model_holds_in_direct_mode() {
    the_upstream_netpol_model_holds("cd", "dir", &["--mode", "direct"]);
}

/// The same verdicts over IPv6: pods with only IPv6 addresses, VXLAN over
/// an IPv6 underlay, ipBlocks of IPv6 prefixes.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_upstream_netpol_model_holds_over_ipv6() {
    the_upstream_netpol_model_holds("c6", "dir", &["--ip-family", "ipv6"]);
}

/// The same verdicts when every packet goes through the host stack.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_upstream_netpol_model_holds_with_the_kernels_host_routing() {
    the_upstream_netpol_model_holds("cr", "dir", &["--host-routing", "kernel"]);
}

/// Every case on a 3-node lab of `datastore` (vxlan unless `args` say
/// otherwise), named with `tag`.
fn the_upstream_netpol_model_holds(tag: &str, datastore: &str, args: &[&str]) {
    let mode: &[&str] = if args.contains(&"--mode") {
        &[]
    } else {
        &["--mode", "vxlan"]
    };
    let mut up = vec!["--nodes", "3", "--datastore", datastore];
    up.extend_from_slice(mode);
    up.extend_from_slice(args);
    let lab = TestLab::up(tag, &up);
    let model = model_yaml();
    lab.apply(&model);
    let status = lab.status();
    for pod in model_pods() {
        let (namespace, name) = pod.split_once('/').expect("ns/name");
        assert_eq!(
            pod_entry(&status, &pod)["node"],
            node_of(namespace, name),
            "{status}"
        );
    }
    let cases = cases(&Addresses { status });
    assert!(cases.len() >= 30);

    let started = Instant::now();
    let mut results = Vec::new();
    for case in &cases {
        let began = Instant::now();
        let (failures, slow) = run_case(&lab, case);
        eprintln!(
            "{datastore}: {} {} ({:.1} s)",
            if failures.is_empty() { "PASS" } else { "FAIL" },
            case.name,
            began.elapsed().as_secs_f64()
        );
        for note in &slow {
            eprintln!("{datastore}:   slow: {note}");
        }
        reset(&lab, case, &model);
        results.push((case.name, failures));
    }

    let failed: Vec<_> = results.iter().filter(|(_, f)| !f.is_empty()).collect();
    let mut summary = format!(
        "{datastore} datastore: {} of {} cases pass ({:.0} s)",
        results.len() - failed.len(),
        results.len(),
        started.elapsed().as_secs_f64()
    );
    for (name, failures) in &results {
        let mark = if failures.is_empty() { "PASS" } else { "FAIL" };
        write!(summary, "\n  {mark} {name}").expect("writing to a String");
    }
    for (name, failures) in &failed {
        write!(summary, "\n\n== {name}").expect("writing to a String");
        for failure in failures {
            write!(summary, "\n{failure}").expect("writing to a String");
        }
    }
    eprintln!("{summary}");
    assert!(failed.is_empty(), "{summary}");
}
