//! The policy datapath in the lab (root), one 3-node vxlan lab per
//! datastore (`dir`, and `kubernetes` with the real API server, kubelet
//! stand-ins and kube-proxy) for these scenarios, each reported on its own:
//! - anti-spoofing: a pod sending with another pod's IP, or with a MAC
//!   that is not its own, is dropped at its own node; the servers (same
//!   node and another node) never see those packets, while the pod's real
//!   address keeps working;
//! - ClusterIP DNAT (dir datastore only): with kube-proxy-shaped iptables
//!   DNAT on every node, egress policy at the client and ingress policy at
//!   the backend give the same verdict for a ClusterIP as for its backend
//!   pod's IP, over TCP and UDP, with backends on the client's node and on
//!   others; replies from a ClusterIP reach a client whose ingress is
//!   default-deny. A kubernetes lab runs the real kube-proxy, whose
//!   Services own the ClusterIPs; kubernetes_services.rs proves the same
//!   verdicts through it, so hand-written DNAT rules there would prove
//!   nothing more;
//! - reused ports: a new TCP connection from the source port of an earlier,
//!   closed connection that policy allowed meets the policy in force now
//!   (the kernel reuses ports; a stale flow entry must not let it pass);
//! - weftd SIGKILL: with a deny and an allow policy in force, every node's
//!   weftd killed keeps the denied pair blocked, the allowed pair
//!   connecting and an established connection carrying data; after `up`
//!   restarts them the same holds, and a policy changed then is enforced;
//! - a second NIC: a node interface besides the underlay and weft.vxlan
//!   gets the node programs too, so a pod's egress policy holds for
//!   traffic leaving by it, and pods without one reach it;
//! - verdicts: `weftctl observe` on the server's node streams the drop with
//!   pod, peer, port, protocol and reason, `--allows` adds allowed new
//!   flows, and `weftctl policy` names the policy isolating the pod.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::policy::capture::{Capture, Ipv4Frame};
use common::policy::connection::Connection;
use common::policy::kill::{sigkill, wait_exited};
use common::policy::kube_proxy::{self, Service};
use common::policy::source_bound::{tcp_connect_from, udp_send_from};
use common::{TestLab, pod_ip};
use serde_json::Value;
use weft_lab::probe::{Outcome, Proto, probe_from};
use weft_tests::Netns;

const NODES: [&str; 3] = ["n1", "n2", "n3"];
const CLUSTER_CIDR: &str = "10.244.0.0/16";
/// A blocked probe costs this much.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// A connection through an exit weftd has just hooked: one SYN retransmit.
const NEW_EXIT_TIMEOUT: Duration = Duration::from_millis(3000);
/// How long a marker packet may take to arrive.
const MARKER_TIMEOUT: Duration = Duration::from_secs(5);
/// Port the forged datagrams go to (nothing listens; the capture sees them).
const FORGED_PORT: u16 = 7001;
/// Port of the marker datagram sent from the real address last.
const MARKER_PORT: u16 = 7002;
/// Port of the long-lived connection in the SIGKILL scenario.
const CONNECTION_PORT: u16 = 9000;
/// The source port the reused-ports scenario's clients bind to.
const REUSED_PORT: u16 = 45001;
const FORGED_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x53, 0x99];

/// A pod serving TCP and UDP on 80, on `node` (the image is for the API
/// server, which wants one; the lab runs none).
fn pod_yaml(namespace: &str, name: &str, node: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: {namespace}, name: {name}, labels: {labels}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: serve\n    ports: [{{containerPort: 80, protocol: TCP}}, {{containerPort: 80, protocol: UDP}}]\n"
    )
}

/// Every scenario's namespace and pods.
fn pods_yaml() -> String {
    let pods = [
        ("spoof", "client", "n1"),
        ("spoof", "near", "n1"),
        ("spoof", "far", "n2"),
        ("spoof", "victim", "n3"),
        ("svc", "c1", "n1"),
        ("svc", "c2", "n3"),
        ("svc", "b-near", "n1"),
        ("svc", "b-far", "n2"),
        ("svc", "b-other", "n3"),
        ("kill", "k1", "n1"),
        ("kill", "k2", "n2"),
        ("kill", "k3", "n3"),
        ("ports", "server", "n1"),
        ("ports", "near", "n1"),
        ("ports", "far", "n2"),
    ];
    let mut docs: Vec<String> = ["spoof", "svc", "kill", "ports"]
        .iter()
        .map(|ns| format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"))
        .collect();
    docs.extend(
        pods.iter()
            .map(|(ns, name, node)| pod_yaml(ns, name, node, &format!("{{app: {name}}}"))),
    );
    docs.join("---\n")
}

fn policy(namespace: &str, name: &str, spec: &str) -> String {
    let mut text = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{namespace: {namespace}, name: {name}}}\nspec:\n"
    );
    for line in spec.trim().lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

fn any_port(ip: Ipv4Addr) -> SocketAddrV4 {
    SocketAddrV4::new(ip, 0)
}

fn ipv4(status: &Value, pod: &str) -> Ipv4Addr {
    match pod_ip(status, pod) {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => panic!("{pod} has IPv6 {ip}; the lab is IPv4"),
    }
}

/// A lab command run when dropped: undoes a change even if a check panics.
struct Undo<'a> {
    lab: &'a TestLab,
    args: Vec<String>,
    stdin: String,
}

impl<'a> Undo<'a> {
    fn new(lab: &'a TestLab, args: &[&str], stdin: &str) -> Self {
        Self {
            lab,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdin: stdin.to_owned(),
        }
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let out = self.lab.run_with_stdin(&args, &self.stdin);
        if !out.status.success() {
            eprintln!(
                "undoing with {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

fn probe(lab: &TestLab, from: &str, dest: IpAddr, port: u16, proto: Proto) -> Outcome {
    probe_from(
        &lab.pod_netns(from),
        SocketAddr::new(dest, port),
        proto,
        PROBE_TIMEOUT,
    )
}

/// The MAC of a pod's eth0.
fn pod_mac(lab: &TestLab, pod: &str) -> String {
    let out = lab.ok(&[
        "exec", pod, "--", "ip", "-br", "link", "show", "dev", "eth0",
    ]);
    out.split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no MAC in {out:?}"))
        .to_owned()
}

/// The netns of a lab node.
fn node_netns(lab: &TestLab, node: &str) -> PathBuf {
    let state = lab.state();
    let host = state
        .topology
        .host(node)
        .unwrap_or_else(|| panic!("the lab has no node {node}"));
    weft_lab::netns::path(&host.netns)
}

/// A pod's static neighbour entry for its gateway: (address, MAC).
fn gateway_neighbour(lab: &TestLab, pod: &str) -> (String, String) {
    let out = lab.ok(&[
        "exec",
        pod,
        "--",
        "ip",
        "neigh",
        "show",
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    match fields.as_slice() {
        [ip, "lladdr", mac, ..] => ((*ip).to_owned(), (*mac).to_owned()),
        _ => panic!("{pod} has no static gateway neighbour: {out:?}"),
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Frames a capture saw before the marker from `client` to `server` arrived.
fn before_marker(capture: &mut Capture, server: Ipv4Addr, client: Ipv4Addr) -> Vec<Ipv4Frame> {
    capture
        .until_marker(MARKER_TIMEOUT, |f| {
            f.src == client && f.dst == server && f.dst_port == Some(MARKER_PORT)
        })
        .unwrap_or_else(|e| panic!("capturing until the marker to {server}: {e}"))
}

fn anti_spoofing(lab: &TestLab, status: &Value) {
    let client = "spoof/client";
    let client_node = "n1";
    let servers = ["spoof/near", "spoof/far"];
    let last_server = ipv4(status, servers[servers.len() - 1]);
    let client_netns = lab.pod_netns(client);
    let client_ip = ipv4(status, client);
    let victim_ip = ipv4(status, "spoof/victim");
    let dest = |server: &str, port| SocketAddrV4::new(ipv4(status, server), port);
    let ip_of = |server: &str| IpAddr::V4(ipv4(status, server));
    // The client's node sees what leaves the pod; each server what reaches it.
    let captures = || -> (Capture, Vec<Capture>) {
        let servers = servers
            .iter()
            .map(|s| Capture::open(&lab.pod_netns(s)))
            .collect();
        (Capture::open(&node_netns(lab, client_node)), servers)
    };
    let send_marker = |server: &str| {
        udp_send_from(
            &client_netns,
            client_ip,
            dest(server, MARKER_PORT),
            b"marker",
        );
    };

    // The real address works, also from a socket bound to it.
    for server in servers {
        let outcome = probe(lab, client, ip_of(server), 80, Proto::Tcp);
        assert_eq!(
            outcome.reply,
            Some(format!("{server} saw {client_ip}")),
            "{client} -> {server} with its own IP: {:?}",
            outcome.detail
        );
        tcp_connect_from(
            &client_netns,
            any_port(client_ip),
            dest(server, 80),
            PROBE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{client} -> {server} from a socket bound to its IP: {e}"));
    }

    // Another pod's IP as source: it leaves the pod, reaches no server.
    {
        let victim = format!("{victim_ip}/32");
        lab.ok(&[
            "exec", client, "--", "ip", "addr", "add", &victim, "dev", "eth0",
        ]);
        let _undo = Undo::new(
            lab,
            &[
                "exec", client, "--", "ip", "addr", "del", &victim, "dev", "eth0",
            ],
            "",
        );
        let (mut node_capture, mut server_captures) = captures();
        for server in servers {
            udp_send_from(
                &client_netns,
                victim_ip,
                dest(server, FORGED_PORT),
                b"forged ip",
            );
            let forged_tcp = tcp_connect_from(
                &client_netns,
                any_port(victim_ip),
                dest(server, 80),
                PROBE_TIMEOUT,
            );
            assert!(
                forged_tcp.is_err(),
                "{client} connected to {server} with {victim_ip} as source"
            );
            // The capture's control: the same datagram from the real IP arrives.
            udp_send_from(
                &client_netns,
                client_ip,
                dest(server, FORGED_PORT),
                b"real ip",
            );
            send_marker(server);
        }
        let left = before_marker(&mut node_capture, last_server, client_ip);
        assert!(
            left.iter().any(|f| f.src == victim_ip),
            "{client_node} saw no forged packet leave {client}: {left:?}"
        );
        for (capture, server) in server_captures.iter_mut().zip(servers) {
            let seen = before_marker(capture, ipv4(status, server), client_ip);
            let forged: Vec<_> = seen.iter().filter(|f| f.src == victim_ip).collect();
            assert!(
                forged.is_empty(),
                "{server} saw packets with the forged source {victim_ip}: {forged:?}"
            );
            assert!(
                seen.iter()
                    .any(|f| f.src == client_ip && f.dst_port == Some(FORGED_PORT)),
                "{server} did not see the control datagram from {client_ip}: {seen:?}"
            );
        }
    }

    // A MAC that is not the pod's, with its real IP: dropped too. Changing
    // a link's MAC flushes its neighbours, the static gateway entry too:
    // it is put back each time, or nothing would leave the pod at all.
    let real_mac = pod_mac(lab, client);
    let (gateway, gateway_mac) = gateway_neighbour(lab, client);
    let set_mac = |mac: &str| {
        format!(
            "ip link set dev eth0 address {mac} && ip neigh replace {gateway} lladdr {gateway_mac} dev eth0 nud permanent"
        )
    };
    let (mut node_capture, mut server_captures) = captures();
    {
        lab.ok(&[
            "exec",
            client,
            "--",
            "sh",
            "-c",
            &set_mac(&mac_text(FORGED_MAC)),
        ]);
        let _undo = Undo::new(
            lab,
            &["exec", client, "--", "sh", "-c", &set_mac(&real_mac)],
            "",
        );
        for server in servers {
            udp_send_from(
                &client_netns,
                client_ip,
                dest(server, FORGED_PORT),
                b"forged mac",
            );
            let outcome = probe(lab, client, ip_of(server), 80, Proto::Tcp);
            assert!(
                !outcome.detail.is_connected(),
                "{client} reached {server} from MAC {}: {:?}",
                mac_text(FORGED_MAC),
                outcome.reply
            );
        }
    }
    assert_eq!(pod_mac(lab, client), real_mac, "the pod's MAC is restored");
    servers.iter().for_each(|s| send_marker(s));
    let left = before_marker(&mut node_capture, last_server, client_ip);
    assert!(
        left.iter().any(|f| f.src_mac == FORGED_MAC),
        "{client_node} saw no frame from MAC {} leave {client}: {left:?}",
        mac_text(FORGED_MAC)
    );
    for (capture, server) in server_captures.iter_mut().zip(servers) {
        let seen = before_marker(capture, ipv4(status, server), client_ip);
        let forged: Vec<_> = seen
            .iter()
            .filter(|f| f.src == client_ip && (f.dst_port == Some(FORGED_PORT) || f.tcp_syn))
            .collect();
        assert!(
            forged.is_empty(),
            "{server} saw packets {client} sent from MAC {}: {forged:?}",
            mac_text(FORGED_MAC)
        );
    }
    for server in servers {
        let outcome = probe(lab, client, ip_of(server), 80, Proto::Tcp);
        assert!(
            outcome.detail.is_connected(),
            "{client} -> {server} with its own MAC again: {:?}",
            outcome.detail
        );
    }
}

/// The Services of the DNAT scenario: name, ClusterIP and backend pod.
const SERVICES: [(&str, Ipv4Addr, &str); 3] = [
    ("NEAR", Ipv4Addr::new(10, 96, 0, 10), "svc/b-near"),
    ("FAR", Ipv4Addr::new(10, 96, 0, 11), "svc/b-far"),
    ("OTHER", Ipv4Addr::new(10, 96, 0, 12), "svc/b-other"),
];

/// Whether `client` should reach the Service `service` (a `SERVICES` name).
type Expectation = (&'static str, &'static str, bool);

/// Probes each Service's ClusterIP and its backend's own IP from each
/// client over TCP and UDP, in parallel; returns what differs from the
/// expectations. A connection through a ClusterIP must be answered by its
/// backend, which must see the client's own IP.
fn service_verdicts(lab: &TestLab, status: &Value, expectations: &[Expectation]) -> Vec<String> {
    let mut probes = Vec::new();
    for &(client, name, expected) in expectations {
        let (_, cluster_ip, backend) = SERVICES
            .iter()
            .find(|(n, _, _)| *n == name)
            .copied()
            .unwrap_or_else(|| panic!("no Service {name}"));
        for proto in [Proto::Tcp, Proto::Udp] {
            for (via, dest) in [
                ("ClusterIP", IpAddr::V4(cluster_ip)),
                ("backend IP", pod_ip(status, backend)),
            ] {
                probes.push((client, name, backend, via, dest, proto, expected));
            }
        }
    }
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = probes
            .iter()
            .map(|&(client, _, _, _, dest, proto, _)| {
                scope.spawn(move || probe(lab, client, dest, 80, proto))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a probe thread"))
            .collect()
    });
    let mut wrong = Vec::new();
    for ((client, name, backend, via, dest, proto, expected), outcome) in
        probes.iter().zip(outcomes)
    {
        let what = format!("{client} -> {name} via {via} {dest} {proto}");
        let connected = outcome.detail.is_connected();
        if connected != *expected {
            let should = if *expected { "connect" } else { "be blocked" };
            wrong.push(format!("{what} should {should}, was {}", outcome.detail));
        } else if connected {
            let answer = format!("{backend} saw {}", pod_ip(status, client));
            if outcome.reply.as_deref() != Some(answer.as_str()) {
                wrong.push(format!(
                    "{what} answered {:?}, not {answer:?}",
                    outcome.reply
                ));
            }
        }
    }
    wrong
}

fn expect_services(
    lab: &TestLab,
    status: &Value,
    step: &str,
    expectations: &[Expectation],
) -> Vec<String> {
    service_verdicts(lab, status, expectations)
        .into_iter()
        .map(|w| format!("{step}: {w}"))
        .collect()
}

fn cluster_ip_dnat(lab: &TestLab, status: &Value) {
    let services: Vec<Service> = SERVICES
        .iter()
        .map(|&(name, cluster_ip, backend)| Service {
            name,
            cluster_ip,
            port: 80,
            backend: ipv4(status, backend),
            target_port: 80,
        })
        .collect();
    let rules = kube_proxy::rules(&services, CLUSTER_CIDR);
    let removal = kube_proxy::removal(&services);
    let mut undo = Vec::new();
    for node in NODES {
        let restore = [
            "exec",
            "--node",
            node,
            "--",
            "iptables-restore",
            "--noflush",
        ];
        let out = lab.run_with_stdin(&restore, &rules);
        assert!(
            out.status.success(),
            "kube-proxy rules on {node}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        undo.push(Undo::new(lab, &restore, &removal));
    }
    let everyone: Vec<Expectation> = ["svc/c1", "svc/c2"]
        .iter()
        .flat_map(|c| SERVICES.iter().map(move |(name, _, _)| (*c, *name, true)))
        .collect();
    let mut wrong = expect_services(lab, status, "without policy", &everyone);

    // (a) The client's egress allows one backend: its ClusterIP connects,
    // the other Services' do not; on the client's node and on another.
    for (allowed, step) in [
        ("b-near", "egress to b-near only"),
        ("b-far", "egress to b-far only"),
    ] {
        lab.apply(&policy(
            "svc",
            "c1-egress",
            &format!(
                "podSelector: {{matchLabels: {{app: c1}}}}\npolicyTypes: [Egress]\negress:\n- to: [{{podSelector: {{matchLabels: {{app: {allowed}}}}}}}]\n  ports: [{{protocol: TCP, port: 80}}, {{protocol: UDP, port: 80}}]"
            ),
        ));
        let expectations: Vec<Expectation> = SERVICES
            .iter()
            .map(|(name, _, backend)| ("svc/c1", *name, backend.ends_with(allowed)))
            .chain(SERVICES.iter().map(|(name, _, _)| ("svc/c2", *name, true)))
            .collect();
        wrong.extend(expect_services(lab, status, step, &expectations));
    }
    lab.ok(&["delete", "--all-policies"]);

    // (b) The backends' ingress allows one client.
    lab.apply(&policy(
        "svc",
        "backends-from-c1",
        "podSelector: {matchExpressions: [{key: app, operator: In, values: [b-near, b-far, b-other]}]}\ningress: [{from: [{podSelector: {matchLabels: {app: c1}}}]}]",
    ));
    let expectations: Vec<Expectation> = SERVICES
        .iter()
        .flat_map(|(name, _, _)| [("svc/c1", *name, true), ("svc/c2", *name, false)])
        .collect();
    wrong.extend(expect_services(
        lab,
        status,
        "backend ingress from c1 only",
        &expectations,
    ));
    lab.ok(&["delete", "--all-policies"]);

    // (c) A client whose ingress is default-deny still gets its replies.
    lab.apply(&policy(
        "svc",
        "c1-deny-ingress",
        "podSelector: {matchLabels: {app: c1}}\npolicyTypes: [Ingress]",
    ));
    wrong.extend(expect_services(
        lab,
        status,
        "client ingress default-deny",
        &everyone,
    ));
    let c1 = pod_ip(status, "svc/c1");
    for proto in [Proto::Tcp, Proto::Udp] {
        let outcome = probe(lab, "svc/c2", c1, 80, proto);
        if outcome.detail.is_connected() {
            wrong.push(format!(
                "client ingress default-deny: svc/c2 -> svc/c1 {proto} should be blocked"
            ));
        }
    }
    lab.ok(&["delete", "--all-policies"]);
    drop(undo);
    assert!(
        wrong.is_empty(),
        "{} verdicts wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn reused_ports(lab: &TestLab, status: &Value) {
    let server = "ports/server";
    let dest = SocketAddrV4::new(ipv4(status, server), 80);
    // On the server's node and on another.
    let clients = ["ports/near", "ports/far"];
    let reused = |client: &str| SocketAddrV4::new(ipv4(status, client), REUSED_PORT);
    for client in clients {
        tcp_connect_from(&lab.pod_netns(client), reused(client), dest, PROBE_TIMEOUT)
            .unwrap_or_else(|e| {
                panic!("{client} -> {server} from port {REUSED_PORT} without policy: {e}")
            });
    }
    lab.apply(&policy(
        "ports",
        "deny-server-ingress",
        "podSelector: {matchLabels: {app: server}}\npolicyTypes: [Ingress]",
    ));
    let mut wrong = Vec::new();
    for client in clients {
        let netns = lab.pod_netns(client);
        let fresh = any_port(ipv4(status, client));
        if tcp_connect_from(&netns, fresh, dest, PROBE_TIMEOUT).is_ok() {
            wrong.push(format!("{client} -> {server} from a fresh port connected"));
        }
        if tcp_connect_from(&netns, reused(client), dest, PROBE_TIMEOUT).is_ok() {
            wrong.push(format!(
                "{client} -> {server} from port {REUSED_PORT}, which a connection allowed before the policy used, connected"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "with ingress to {server} denied:\n{}",
        wrong.join("\n")
    );
}

/// The SIGKILL scenario's pairs: k1 -> k2 allowed, k3 -> k2 denied (or, with
/// `swapped`, the other way round).
fn check_kill_pairs(lab: &TestLab, status: &Value, when: &str, swapped: bool) {
    let k2 = pod_ip(status, "kill/k2");
    let (allowed, denied) = if swapped {
        ("kill/k3", "kill/k1")
    } else {
        ("kill/k1", "kill/k3")
    };
    for proto in [Proto::Tcp, Proto::Udp] {
        let outcome = probe(lab, allowed, k2, 80, proto);
        assert!(
            outcome.detail.is_connected(),
            "{when}: {allowed} -> kill/k2 {proto} should connect, was {}",
            outcome.detail
        );
        let outcome = probe(lab, denied, k2, 80, proto);
        assert!(
            !outcome.detail.is_connected(),
            "{when}: {denied} -> kill/k2 {proto} should be blocked, was {:?}",
            outcome.reply
        );
    }
}

fn allow_to_k2_from(client: &str) -> String {
    policy(
        "kill",
        "allow-to-k2",
        &format!(
            "podSelector: {{matchLabels: {{app: k2}}}}\ningress: [{{from: [{{podSelector: {{matchLabels: {{app: {client}}}}}}}]}}]"
        ),
    )
}

fn weftd_sigkill(lab: &TestLab, status: &Value) {
    lab.apply(&format!(
        "{}---\n{}",
        policy("kill", "deny-ingress", "podSelector: {}\ningress: []"),
        allow_to_k2_from("k1")
    ));
    check_kill_pairs(lab, status, "before the kill", false);
    let (k1, k2) = (pod_ip(status, "kill/k1"), pod_ip(status, "kill/k2"));
    let (mut connection, peer) = Connection::open(lab, "kill/k1", "kill/k2", k2, CONNECTION_PORT);
    assert_eq!(peer.ip(), k1, "the server sees the client pod's IP");
    connection.carries("before the kill");

    let killed: Vec<_> = lab.state().weftds.into_values().collect();
    assert_eq!(killed.len(), NODES.len());
    let pidfds: Vec<_> = killed.iter().map(sigkill).collect();
    pidfds.iter().for_each(wait_exited);
    check_kill_pairs(lab, status, "while every weftd is down", false);
    connection.carries("while every weftd is down");

    lab.ok(&["up"]);
    for (node, process) in &lab.state().weftds {
        assert!(!killed.contains(process), "weftd on {node} is a new one");
    }
    check_kill_pairs(lab, status, "after the restart", false);
    connection.carries("after the restart");
    drop(connection);

    lab.apply(&allow_to_k2_from("k3"));
    check_kill_pairs(lab, status, "a policy changed after the restart", true);
}

/// `weftctl observe` against a node's weftd, its lines read on a thread;
/// killed (by its PID) when dropped.
struct Observe {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Observe {
    fn start(lab: &TestLab, node: &str, allows: bool) -> Self {
        let mut command = Command::new(weftctl());
        command.arg("--run-dir").arg(node_run_dir(lab, node));
        command.args(["observe", "-o", "json"]);
        if allows {
            command.arg("--allows");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("weftctl runs");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let flow = serde_json::from_str(&line).expect("observe prints JSON lines");
                if tx.send(flow).is_err() {
                    return;
                }
            }
        });
        Observe { child, lines }
    }

    /// The first flow `wanted` accepts, running `provoke` (which sends the
    /// traffic) until it shows, within a few seconds: weftctl subscribes in
    /// the background, so traffic sent before it did goes unseen.
    fn find(&self, what: &str, provoke: impl Fn(), wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + MARKER_TIMEOUT;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            provoke();
            while let Ok(flow) = self.lines.recv_timeout(Duration::from_millis(200)) {
                if wanted(&flow) {
                    return flow;
                }
                seen.push(flow);
            }
        }
        panic!("weftctl observe showed no {what}; it showed {seen:#?}");
    }
}

impl Drop for Observe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn weftctl() -> PathBuf {
    Path::new(common::LAB_BIN).with_file_name("weftctl")
}

fn node_run_dir(lab: &TestLab, node: &str) -> PathBuf {
    lab.dir().join("nodes").join(node).join("run")
}

fn weftctl_json(lab: &TestLab, node: &str, args: &[&str]) -> Value {
    let out = Command::new(weftctl())
        .arg("--run-dir")
        .arg(node_run_dir(lab, node))
        .args(args)
        .output()
        .expect("weftctl runs");
    assert!(
        out.status.success(),
        "weftctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("weftctl prints JSON")
}

fn verdict_events(lab: &TestLab, status: &Value) {
    let (server, far, near) = ("ports/server", "ports/far", "ports/near");
    let server_ip = pod_ip(status, server);
    // Observers connect before the traffic, so they see it.
    let drops = Observe::start(lab, "n1", false);
    let allows = Observe::start(lab, "n2", true);
    lab.apply(&policy(
        "ports",
        "deny-server-ingress",
        "podSelector: {matchLabels: {app: server}}\npolicyTypes: [Ingress]",
    ));
    let denied = || {
        let blocked = probe(lab, far, server_ip, 80, Proto::Tcp);
        assert!(
            !blocked.detail.is_connected(),
            "{far} -> {server} is denied"
        );
    };
    let flow = drops.find("drop of ports/far -> ports/server", denied, |flow| {
        flow["peer"] == far && flow["verdict"] == "dropped"
    });
    assert_eq!(flow["pod"], server, "{flow}");
    assert_eq!(flow["reason"], "policy", "{flow}");
    assert_eq!(flow["direction"], "ingress", "{flow}");
    assert_eq!(flow["protocol"], "TCP", "{flow}");
    assert_eq!(flow["dstPort"], 80, "{flow}");
    assert_eq!(flow["node"], "n1", "{flow}");

    let far_ip = pod_ip(status, far);
    let allowed = || {
        let reached = probe(lab, near, far_ip, 80, Proto::Udp);
        assert!(reached.detail.is_connected(), "{near} -> {far} is allowed");
    };
    let flow = allows.find("allowed flow of ports/near -> ports/far", allowed, |flow| {
        flow["peer"] == near && flow["pod"] == far && flow["direction"] == "ingress"
    });
    assert_eq!(flow["verdict"], "allowed", "{flow}");
    assert_eq!(flow["reason"], "not-enforced", "{flow}");
    assert_eq!(flow["protocol"], "UDP", "{flow}");

    let compiled = weftctl_json(lab, "n1", &["policy", server]);
    assert_eq!(
        compiled["ingressPolicies"],
        serde_json::json!(["ports/deny-server-ingress"]),
        "{compiled}"
    );
    let identities = weftctl_json(lab, "n1", &["identities"]);
    let prefixes: Vec<&Value> = identities
        .as_array()
        .expect("identities are a list")
        .iter()
        .flat_map(|row| row["prefixes"].as_array().into_iter().flatten())
        .collect();
    let far_prefix = format!("{far_ip}/32");
    assert!(
        prefixes
            .iter()
            .any(|p| p.as_str() == Some(far_prefix.as_str())),
        "{far_prefix} has an identity on n1: {identities}"
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn second_nic(lab: &TestLab, status: &Value) {
    let client = "ports/near";
    let node = lab
        .state()
        .topology
        .host("n1")
        .expect("node n1")
        .netns
        .clone();
    let sink = Netns::new("sink");
    sink.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "extra0", "netns", &node,
    ]);
    sink.ip(&["addr", "add", "198.19.250.2/30", "dev", "eth0"]);
    sink.ip(&["link", "set", "eth0", "up"]);
    ip(&[
        "-n",
        &node,
        "addr",
        "add",
        "198.19.250.1/30",
        "dev",
        "extra0",
    ]);
    ip(&["-n", &node, "link", "set", "extra0", "up"]);
    let sink_server = SocketAddrV4::new(Ipv4Addr::new(198, 19, 250, 2), 80);
    let _listener = sink
        .run(|| std::net::TcpListener::bind(sink_server))
        .expect("listening in the sink");
    // Any change makes every weftd converge, which hooks the new interface.
    lab.apply(&policy(
        "ports",
        "selects-nothing",
        "podSelector: {matchLabels: {app: nobody}}\npolicyTypes: [Egress]",
    ));
    let from = any_port(ipv4(status, client));
    let netns = lab.pod_netns(client);
    // The forward guard learns the new exit from the masquerade reconciler,
    // just after the policy pass that hooked it (and that `apply` waited
    // for): a first SYN in between is dropped, the retransmit 1 s later
    // passes.
    tcp_connect_from(&netns, from, sink_server, NEW_EXIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{client} reaches a host behind the second NIC: {e}"));
    lab.apply(&policy(
        "ports",
        "near-egress-in-cluster",
        &format!(
            "podSelector: {{matchLabels: {{app: near}}}}\npolicyTypes: [Egress]\negress: [{{to: [{{ipBlock: {{cidr: {CLUSTER_CIDR}}}}}]}}]"
        ),
    ));
    assert!(
        tcp_connect_from(&netns, from, sink_server, PROBE_TIMEOUT).is_err(),
        "{client}'s egress policy holds for the second NIC"
    );
    let server = pod_ip(status, "ports/server");
    assert!(
        probe(lab, client, server, 80, Proto::Tcp)
            .detail
            .is_connected(),
        "{client} still reaches pods in the cluster"
    );
}

/// One scenario, run on the shared lab with its status after the pods came up.
type Scenario = fn(&TestLab, &Value);

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The scenarios for a lab of `datastore`: the simulated kube-proxy DNAT
/// only on `dir` (on `kubernetes` the real kube-proxy owns the ClusterIPs).
fn scenarios(datastore: &str) -> Vec<(&'static str, Scenario)> {
    let mut scenarios: Vec<(&'static str, Scenario)> = vec![
        ("anti-spoofing", anti_spoofing),
        ("reused source ports", reused_ports),
        ("weftd SIGKILL and restart", weftd_sigkill),
        ("verdict events", verdict_events),
        ("a second NIC", second_nic),
    ];
    if datastore == "dir" {
        scenarios.insert(1, ("ClusterIP DNAT", cluster_ip_dnat));
    }
    scenarios
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_policy_datapath_holds_on_the_dir_datastore() {
    the_policy_datapath_holds("d", "dir");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn the_policy_datapath_holds_on_the_kubernetes_datastore() {
    the_policy_datapath_holds("dk", "kubernetes");
}

/// Every scenario of `datastore` on one lab, named with `tag`.
fn the_policy_datapath_holds(tag: &str, datastore: &str) {
    let lab = TestLab::up(
        tag,
        &["--nodes", "3", "--mode", "vxlan", "--datastore", datastore],
    );
    lab.apply(&pods_yaml());
    let status = lab.status();
    let mut failed = Vec::new();
    for (name, scenario) in scenarios(datastore) {
        let outcome = catch_unwind(AssertUnwindSafe(|| scenario(&lab, &status)));
        // A failed scenario may leave weftds down or policies behind.
        for reset in [&["up"][..], &["delete", "--all-policies"]] {
            let out = lab.run(reset);
            if !out.status.success() {
                failed.push(format!(
                    "{name}: resetting with {reset:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        match outcome {
            Ok(()) => eprintln!("{datastore}: PASS {name}"),
            Err(panic) => {
                eprintln!("{datastore}: FAIL {name}");
                failed.push(format!("{name}: {}", panic_message(panic.as_ref())));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
