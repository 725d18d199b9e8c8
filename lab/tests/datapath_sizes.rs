//! Packets bigger than a path in the lab (root), on one 2-node vxlan lab
//! (dir datastore):
//! - path-MTU discovery for an ingress-isolated pod: behind node n1, a
//!   router forwards to a far host over a link with MTU 1280. A pod with
//!   default-deny ingress uploads to the far host: its full-size segments
//!   make the router answer "fragmentation needed", which must reach the
//!   pod (an ICMP error about an allowed flow is related traffic) or the
//!   upload stalls. (A download would not test it: the router's errors
//!   would go to the far host, which sends the big segments.)
//! - fragments: a 4 KB UDP datagram to a pod whose policy allows UDP port
//!   80 crosses a 1450-byte path in fragments and gets its answer (later
//!   fragments are decided on the first one's ports, not as port 0).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use common::{TestLab, pod_ip, wait_until};
use serde_json::Value;
use weft_lab::netns::run_in;
use weft_tests::Netns;

/// How much the pod uploads: many full-size segments.
const UPLOAD_BYTES: usize = 256 * 1024;
const FAR_PORT: u16 = 9100;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn yaml() -> String {
    let namespace =
        |name: &str| format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n");
    let pod = |namespace: &str, name: &str, node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: {namespace}, name: {name}, labels: {{app: {name}}}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: serve\n    ports: [{{containerPort: 80, protocol: UDP}}]\n"
        )
    };
    [
        namespace("pmtu"),
        pod("pmtu", "uploader", "n1"),
        namespace("frag"),
        pod("frag", "sender", "n1"),
        pod("frag", "receiver", "n2"),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: pmtu, name: deny-ingress}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n".into(),
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: frag, name: udp-80}\nspec:\n  podSelector: {matchLabels: {app: receiver}}\n  policyTypes: [Ingress]\n  ingress: [{from: [{podSelector: {matchLabels: {app: sender}}}], ports: [{protocol: UDP, port: 80}]}]\n".into(),
    ]
    .join("---\n")
}

fn ipv4(status: &Value, pod: &str) -> Ipv4Addr {
    match pod_ip(status, pod) {
        std::net::IpAddr::V4(ip) => ip,
        other => panic!("{pod} has {other}; the lab is IPv4"),
    }
}

/// Node `node`'s netns <-> router (1500) <-> far host (router side 1280).
/// The namespaces go when dropped, and the node's end of the link with them.
struct NarrowPath {
    _router: Netns,
    far: Netns,
}

impl NarrowPath {
    fn build(lab: &TestLab, node: &str) -> Self {
        let state = lab.state();
        let node = &state.topology.host(node).expect("the node").netns;
        let router = Netns::new("pmtu-r");
        let far = Netns::new("pmtu-f");
        router.ip(&[
            "link", "add", "eth0", "type", "veth", "peer", "name", "pmtu0", "netns", node,
        ]);
        router.ip(&["addr", "add", "198.19.251.2/30", "dev", "eth0"]);
        router.ip(&["link", "set", "eth0", "up"]);
        far.ip(&[
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            &router.name,
        ]);
        far.ip(&["addr", "add", "198.19.252.2/30", "dev", "eth0"]);
        far.ip(&["link", "set", "eth0", "up"]);
        far.ip(&["route", "add", "default", "via", "198.19.252.1"]);
        router.ip(&["addr", "add", "198.19.252.1/30", "dev", "eth1"]);
        router.ip(&["link", "set", "eth1", "mtu", "1280", "up"]);
        router.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        for args in [
            &["addr", "add", "198.19.251.1/30", "dev", "pmtu0"][..],
            &["link", "set", "pmtu0", "up"],
            &["route", "add", "198.19.252.0/30", "via", "198.19.251.2"],
        ] {
            let out = std::process::Command::new("ip")
                .args(["-n", node])
                .args(args)
                .output()
                .expect("ip runs");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Self {
            _router: router,
            far,
        }
    }

    fn far_server(&self) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(198, 19, 252, 2), FAR_PORT)
    }
}

/// Accepts connections on `listener`; each gets back the number of bytes
/// it sent before shutting down its side.
fn count_uploads(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let mut received = Vec::new();
            let _ = stream.read_to_end(&mut received);
            let _ = stream.write_all(received.len().to_string().as_bytes());
        }
    });
}

/// Uploads `bytes` from the pod's netns to `server`; what the server counted.
fn upload(netns: &Path, server: SocketAddrV4, bytes: usize) -> Result<String, String> {
    run_in(netns, move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&server.into(), IO_TIMEOUT)?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(&vec![7; bytes])?;
        stream.shutdown(Shutdown::Write)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

fn path_mtu_discovery(lab: &TestLab, status: &Value) {
    let path = NarrowPath::build(lab, "n1");
    let far = Path::new(&path.far.path()).to_path_buf();
    let listener = run_in(&far, move || {
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, FAR_PORT))
    })
    .expect("entering the far host")
    .expect("listening on the far host");
    count_uploads(listener);
    // Any change makes weftd converge, which hooks the node's new link.
    lab.apply(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: pmtu, name: selects-nothing}\nspec:\n  podSelector: {matchLabels: {app: nobody}}\n  policyTypes: [Egress]\n",
    );
    // The uploader's ingress is isolated once nothing reaches it.
    let uploader = SocketAddrV4::new(ipv4(status, "pmtu/uploader"), 80);
    let sender = lab.pod_netns("frag/sender");
    wait_until(
        "default-deny ingress isolates the uploader",
        IO_TIMEOUT,
        || match udp_request(&sender, uploader, 10) {
            Ok(answer) => Err(format!("it answered {answer}")),
            Err(_) => Ok(()),
        },
    );
    let pod = lab.pod_netns("pmtu/uploader");
    let server = path.far_server();
    wait_until("a small upload reaches the far host", IO_TIMEOUT, || {
        upload(&pod, server, 10).and_then(|n| (n == "10").then_some(()).ok_or(n))
    });
    let counted = upload(&pod, server, UPLOAD_BYTES)
        .unwrap_or_else(|e| panic!("the upload through MTU 1280 stalled: {e}"));
    assert_eq!(counted, UPLOAD_BYTES.to_string());
    let route = run_in(&pod, move || {
        std::process::Command::new("ip")
            .args(["route", "get", &server.ip().to_string()])
            .output()
    })
    .expect("entering the pod")
    .expect("ip runs");
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(
        route.contains("mtu 1280"),
        "the pod learnt the path MTU: {route}"
    );
}

/// Sends a datagram of `size` bytes from the pod's netns to `to`; the answer.
fn udp_request(netns: &Path, to: SocketAddrV4, size: usize) -> Result<String, String> {
    run_in(netns, move || -> std::io::Result<String> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        socket.send_to(&vec![7; size], to)?;
        let mut buf = [0; 256];
        let (n, _) = socket.recv_from(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

fn fragmented_datagram(lab: &TestLab, status: &Value) {
    let receiver = SocketAddrV4::new(ipv4(status, "frag/receiver"), 80);
    let sender = lab.pod_netns("frag/sender");
    let answer = wait_until("a 4 KB datagram gets its answer", IO_TIMEOUT, || {
        udp_request(&sender, receiver, 4096)
    });
    assert!(answer.contains("saw"), "{answer}");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn big_packets_cross_narrow_paths_to_isolated_pods() {
    let lab = TestLab::up("z", &["--nodes", "2", "--mode", "vxlan"]);
    lab.apply(&yaml());
    let status = lab.status();
    fragmented_datagram(&lab, &status);
    path_mtu_discovery(&lab, &status);
}
