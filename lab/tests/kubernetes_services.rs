//! ClusterIP Services through the real kube-proxy, under NetworkPolicy
//! (root): in a 3-node lab on the kubernetes datastore, a backend
//! Deployment (placed by the real scheduler; `weft-lab apply` returns once
//! it has rolled out) sits behind a ClusterIP Service whose port (8080)
//! differs from the pod's (80); a client pod on
//! each of the two other nodes, and client C on the backend's own node,
//! probe the backend's pod IP and the Service's ClusterIP at the same
//! time, over TCP and UDP. Through the ClusterIP the
//! backend answers and sees the client's own IP. With no policy, with an
//! ingress policy on the backend allowing only client A, with an egress
//! policy of client B allowing everything but the backend's IP, with
//! one allowing client B only the backend, and with the backend admitting
//! only client C while C may reach only the backend, every client gets the
//! same verdict through the ClusterIP as to the pod IP: kube-proxy's DNAT
//! happens before Weft's policy, which judges the backend, never the
//! ClusterIP. Client C's flows to the pod IP take eBPF host routing (the
//! lab's default), those through the ClusterIP the host stack, where
//! kube-proxy translates them both ways. The lab is always taken down.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{TestLab, find_pod, pod_entry, pod_ip, wait_until};
use serde_json::Value;
use weft_lab::probe::{Proto, probe_from};

const NAMESPACE: &str = "svc";
const SERVICE_PORT: u16 = 8080;
const POD_PORT: u16 = 80;
const CLIENTS: [&str; 3] = ["svc/client-a", "svc/client-b", "svc/client-c"];
const PROBE_TIMEOUT_MS: &str = "2000";
/// How long kube-proxy may take to program the backend's endpoint: it
/// syncs about a second after the EndpointSlice controller marked the
/// ready pod in the Service's slice, which may come after an apply returned.
const PROGRAMMED: Duration = Duration::from_secs(30);

/// The namespace, the backend Deployment and its ClusterIP Service.
const BACKEND_YAML: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: svc}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend, namespace: svc}
spec:
  replicas: 1
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      containers:
      - name: serve
        image: serve
        ports: [{containerPort: 80, protocol: TCP}, {containerPort: 80, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: svc}
spec:
  selector: {app: backend}
  ports:
  - {name: tcp, protocol: TCP, port: 8080, targetPort: 80}
  - {name: udp, protocol: UDP, port: 8080, targetPort: 80}
";

/// Client A on `nodes[0]`, client B on `nodes[1]`, client C on `nodes[2]`.
fn clients_yaml(nodes: [&str; 3]) -> String {
    CLIENTS
        .iter()
        .zip(nodes)
        .map(|(pod, node)| {
            let name = pod.trim_start_matches("svc/");
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: svc, labels: {{app: {name}}}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: serve}}]\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn policy(name: &str, spec: &str) -> String {
    let mut text = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{namespace: {NAMESPACE}, name: {name}}}\nspec:\n"
    );
    for line in spec.trim().lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// A policy state and whether each of `CLIENTS` should reach the backend.
struct Step {
    name: &'static str,
    policy: Option<String>,
    expected: [bool; 3],
}

fn steps(backend_ip: IpAddr) -> Vec<Step> {
    vec![
        Step {
            name: "no policy",
            policy: None,
            expected: [true, true, true],
        },
        Step {
            name: "the backend's ingress allows client A only",
            policy: Some(policy(
                "backend-from-a",
                "podSelector: {matchLabels: {app: backend}}\ningress: [{from: [{podSelector: {matchLabels: {app: client-a}}}]}]",
            )),
            expected: [true, false, false],
        },
        // Judged by the ClusterIP, which the except does not name, this
        // would let client B through.
        Step {
            name: "client B's egress allows everything but the backend's IP",
            policy: Some(policy(
                "b-not-to-backend",
                &format!(
                    "podSelector: {{matchLabels: {{app: client-b}}}}\npolicyTypes: [Egress]\negress: [{{to: [{{ipBlock: {{cidr: 0.0.0.0/0, except: [{backend_ip}/32]}}}}]}}]"
                ),
            )),
            expected: [true, false, true],
        },
        // Judged by the ClusterIP, which is no pod, this would block it.
        Step {
            name: "client B's egress allows the backend only",
            policy: Some(policy(
                "b-to-backend-only",
                "podSelector: {matchLabels: {app: client-b}}\npolicyTypes: [Egress]\negress: [{to: [{podSelector: {matchLabels: {app: backend}}}]}]",
            )),
            expected: [true, true, true],
        },
        // Both of client C's verdicts are taken on its node, by the
        // programs for the pod IP and after the DNAT for the ClusterIP.
        Step {
            name: "the backend admits client C only, and C may reach the backend only",
            policy: Some(format!(
                "{}---\n{}",
                policy(
                    "backend-from-c",
                    "podSelector: {matchLabels: {app: backend}}\ningress: [{from: [{podSelector: {matchLabels: {app: client-c}}}]}]",
                ),
                policy(
                    "c-to-backend-only",
                    "podSelector: {matchLabels: {app: client-c}}\npolicyTypes: [Egress]\negress: [{to: [{podSelector: {matchLabels: {app: backend}}}]}]",
                )
            )),
            expected: [false, false, true],
        },
    ]
}

/// The backend Deployment's one pod ("ns/name"): `weft-lab apply` returns
/// once the Deployment has rolled out, so it is listed with an IP.
fn backend_pod(status: &Value) -> String {
    let pods = status["pods"].as_array().expect("pods");
    let backend: Vec<&Value> = pods
        .iter()
        .filter(|p| p["labels"]["app"] == "backend")
        .collect();
    let [pod] = backend.as_slice() else {
        panic!("one backend pod is listed: {status}")
    };
    assert!(pod["ips"][0].is_string(), "the backend runs: {pod}");
    format!(
        "{}/{}",
        pod["namespace"].as_str().expect("a namespace"),
        pod["name"].as_str().expect("a name")
    )
}

fn cluster_ip(lab: &TestLab) -> IpAddr {
    lab.ok(&[
        "kubectl",
        "--",
        "get",
        "service",
        "backend",
        "-n",
        NAMESPACE,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])
    .trim()
    .parse()
    .expect("the Service has a ClusterIP")
}

/// Waits until each client reaches the backend through the ClusterIP over
/// TCP and UDP, and the backend sees the client's own IP (no SNAT).
fn await_service(lab: &TestLab, status: &Value, backend: &str, service: IpAddr) {
    for client in CLIENTS {
        let netns = lab.pod_netns(client);
        let answer = format!("{backend} saw {}", pod_ip(status, client));
        for proto in [Proto::Tcp, Proto::Udp] {
            wait_until(
                &format!("{client} -> {service}:{SERVICE_PORT} {proto} answered by {backend}"),
                PROGRAMMED,
                || {
                    let dest = SocketAddr::new(service, SERVICE_PORT);
                    let outcome = probe_from(&netns, dest, proto, Duration::from_secs(1));
                    match outcome.reply {
                        Some(reply) if reply == answer => Ok(()),
                        reply => Err(format!("{}, reply {reply:?}", outcome.detail)),
                    }
                },
            );
        }
    }
}

/// `weft-lab probe`: whether `client` reaches `dest`.
fn connects(lab: &TestLab, client: &str, dest: IpAddr, port: u16, proto: Proto) -> bool {
    let (dest, port) = (dest.to_string(), port.to_string());
    let out = lab.run(&[
        "probe",
        client,
        &dest,
        &port,
        "--proto",
        &proto.to_string(),
        "--timeout-ms",
        PROBE_TIMEOUT_MS,
    ]);
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        code => panic!(
            "weft-lab probe {client} {dest} {port} exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Probes the pod IP and the ClusterIP from each client over TCP and UDP,
/// in parallel; returns every verdict that is not `step`'s.
fn wrong_verdicts(lab: &TestLab, step: &Step, backend_ip: IpAddr, service: IpAddr) -> Vec<String> {
    let mut probes = Vec::new();
    for (client, expected) in CLIENTS.into_iter().zip(step.expected) {
        for proto in [Proto::Tcp, Proto::Udp] {
            probes.push((client, "pod IP", backend_ip, POD_PORT, proto, expected));
            probes.push((client, "ClusterIP", service, SERVICE_PORT, proto, expected));
        }
    }
    let verdicts: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|&(client, _, dest, port, proto, _)| {
                scope.spawn(move || connects(lab, client, dest, port, proto))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a probe thread"))
            .collect()
    });
    probes
        .iter()
        .zip(verdicts)
        .filter(|((.., expected), connected)| connected != expected)
        .map(|((client, via, dest, port, proto, expected), _)| {
            let should = if *expected { "connect" } else { "be blocked" };
            format!(
                "{}: {client} -> {via} {dest}:{port} {proto} should {should}",
                step.name
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn cluster_ips_get_the_backends_policy_verdicts() {
    let lab = TestLab::up("ks", &["--nodes", "3", "--datastore", "kubernetes"]);
    lab.apply(BACKEND_YAML);
    let status = lab.status();
    let backend = backend_pod(&status);
    let backend_node = pod_entry(&status, &backend)["node"]
        .as_str()
        .expect("the backend is bound")
        .to_owned();
    let others: Vec<&str> = ["n1", "n2", "n3"]
        .into_iter()
        .filter(|n| *n != backend_node)
        .collect();
    lab.apply(&clients_yaml([others[0], others[1], &backend_node]));
    let status = lab.status();
    for client in CLIENTS {
        assert!(find_pod(&status, client).is_some(), "{status}");
    }
    let (backend_ip, service) = (pod_ip(&status, &backend), cluster_ip(&lab));
    await_service(&lab, &status, &backend, service);

    let mut wrong = Vec::new();
    for step in steps(backend_ip) {
        if let Some(policy) = &step.policy {
            lab.apply(policy);
        }
        wrong.extend(wrong_verdicts(&lab, &step, backend_ip, service));
        lab.ok(&["delete", "--all-policies"]);
    }
    assert!(
        wrong.is_empty(),
        "{} verdicts wrong (backend {backend} at {backend_ip} on {backend_node}, Service {service}):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    lab.down_leaves_nothing();
}
