//! kube-proxy on the lab's kubernetes datastore (root): `up` runs the
//! upstream kube-proxy in every node's netns, in nftables mode beside
//! Weft's own table, as user system:kube-proxy. A selector-less Service
//! whose EndpointSlice points at the world server works from every node:
//! a connection to its ClusterIP gets the world server's answer. A
//! kube-proxy that died is started again by `up`, and `down` leaves no
//! kube-proxy running. The lab is always taken down, pass or fail.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use common::policy::kill::{sigkill, wait_exited};
use common::{CONVERGE, TestLab, wait_until};
use weft_lab::control_plane::kube_proxy::log_path;
use weft_lab::paths::LabPaths;
use weft_lab::probe::{Proto, probe_from};

/// The Service's port, and the world server's port behind it.
const SERVICE_PORT: u16 = 8080;
const WORLD_PORT: u16 = 80;
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A Service without a selector, so its EndpointSlice is ours to write.
const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata: {name: world, namespace: default}
spec:
  ports:
  - {name: tcp, protocol: TCP, port: 8080, targetPort: 80}
  - {name: udp, protocol: UDP, port: 8080, targetPort: 80}
";

fn endpoint_slice(world: IpAddr) -> String {
    format!(
        "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: world-1
  namespace: default
  labels: {{kubernetes.io/service-name: world}}
addressType: IPv4
ports:
- {{name: tcp, protocol: TCP, port: {WORLD_PORT}}}
- {{name: udp, protocol: UDP, port: {WORLD_PORT}}}
endpoints:
- addresses: [\"{world}\"]
  conditions: {{ready: true}}
"
    )
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn kube_proxy_serves_cluster_ips_on_every_node() {
    let lab = TestLab::up("kp", &["--nodes", "2", "--datastore", "kubernetes"]);
    let state = lab.state();
    let nodes = state.topology.node_names();
    assert_eq!(
        state.kube_proxies.keys().collect::<Vec<_>>(),
        nodes.iter().collect::<Vec<_>>()
    );
    let world = IpAddr::V4(state.topology.world_ip());

    let applied = lab.run_with_stdin(
        &["kubectl", "--", "apply", "-f", "-"],
        &format!("{SERVICE}---\n{}", endpoint_slice(world)),
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let cluster_ip: IpAddr = lab
        .ok(&[
            "kubectl",
            "--",
            "get",
            "service",
            "world",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .trim()
        .parse()
        .expect("the Service has a ClusterIP");

    for node in &nodes {
        // kube-proxy's table maps the ClusterIP to the world server once
        // it has seen both the Service and its EndpointSlice.
        wait_until(
            &format!("{cluster_ip} programmed on {node}"),
            CONVERGE,
            || {
                let out = lab.run(&[
                    "exec",
                    "--node",
                    node,
                    "--",
                    "nft",
                    "list",
                    "table",
                    "ip",
                    "kube-proxy",
                ]);
                let table = String::from_utf8_lossy(&out.stdout);
                let dnat = format!("dnat to {world}:{WORLD_PORT}");
                if out.status.success()
                    && table.contains(&cluster_ip.to_string())
                    && table.contains(&dnat)
                {
                    Ok(())
                } else {
                    Err(format!("{table}{}", String::from_utf8_lossy(&out.stderr)))
                }
            },
        );
        let tables = lab.node_lines(node, &["nft", "list", "tables"]);
        for table in ["table inet weft", "table ip kube-proxy"] {
            assert!(tables.iter().any(|t| t == table), "{node}: {tables:?}");
        }

        let host = state.topology.host(node).expect("a node of the lab");
        let netns = Path::new("/run/netns").join(&host.netns);
        let seen = format!("world saw {}", host.underlay_ip().expect("an underlay IP"));
        for proto in [Proto::Tcp, Proto::Udp] {
            let outcome = probe_from(
                &netns,
                SocketAddr::new(cluster_ip, SERVICE_PORT),
                proto,
                PROBE_TIMEOUT,
            );
            assert!(
                outcome.detail.is_connected(),
                "{proto} from {node}: {}",
                outcome.detail
            );
            assert_eq!(outcome.reply.as_deref(), Some(seen.as_str()), "{proto}");
        }

        let log = std::fs::read_to_string(log_path(&LabPaths::new(lab.dir()), node))
            .expect("kube-proxy logs to the node's directory");
        assert!(
            !log.to_lowercase().contains("forbidden"),
            "kube-proxy on {node} was refused:\n{log}"
        );
    }

    // A kube-proxy that died is started again by `up`; the others stay.
    let (first, second) = (&nodes[0], &nodes[1]);
    wait_exited(&sigkill(&state.kube_proxies[second]));
    lab.ok(&["up"]);
    let restarted = lab.state().kube_proxies;
    assert_eq!(restarted[first], state.kube_proxies[first]);
    assert_ne!(restarted[second], state.kube_proxies[second]);
    assert!(restarted[second].is_running());

    lab.down_leaves_nothing();
    let running: Vec<_> = restarted.values().filter(|p| p.is_running()).collect();
    assert!(running.is_empty(), "kube-proxies left by down: {running:?}");
}
