//! What `weftctl` prints (pure: endpoints and replies in, text out).

use weft_api::{DatastoreStatus, Endpoint, NodeStatus, PeerStatus, Probe};

use crate::policy::observe::ObservedFlow;

/// One line per endpoint under a header, columns separated by two spaces.
pub fn endpoints_table(endpoints: &[Endpoint]) -> String {
    let header = ["CONTAINER", "IFNAME", "POD", "IPS", "HOST-IF", "MAC"].map(String::from);
    let rows: Vec<[String; 6]> = endpoints.iter().map(endpoint_row).collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

fn endpoint_row(endpoint: &Endpoint) -> [String; 6] {
    let pod = match (&endpoint.pod_namespace, &endpoint.pod_name) {
        (Some(namespace), Some(name)) => format!("{namespace}/{name}"),
        (None, Some(name)) => name.clone(),
        _ => "-".into(),
    };
    let ips: Vec<String> = endpoint.ips.iter().map(ToString::to_string).collect();
    [
        endpoint.key.container_id.clone(),
        endpoint.key.ifname.clone(),
        pod,
        ips.join(","),
        endpoint.host_ifname.clone(),
        endpoint.mac.clone(),
    ]
}

/// `weftctl status`: one labelled line per fact, reconcilers and drops
/// listed after.
pub fn node_status_text(status: &NodeStatus) -> String {
    let ready = match &status.not_ready {
        None => "yes".to_owned(),
        Some(reason) => format!("no: {reason}"),
    };
    let cidrs: Vec<String> = status.pod_cidrs.iter().map(ToString::to_string).collect();
    let mut lines = vec![
        (
            "node",
            format!("{} (weftd {})", status.node, status.version),
        ),
        ("ready", ready),
    ];
    if let Some(datastore) = &status.datastore {
        lines.push(("datastore", datastore_text(datastore)));
    }
    lines.push(("pod CIDRs", or_none(cidrs.join(", "))));
    lines.push((
        "pod MTU",
        status.mtu.map_or("-".into(), |mtu| mtu.to_string()),
    ));
    if let Some(network) = &status.network {
        lines.push((
            "network",
            format!(
                "{} over {} ({}, MTU {}), {} peers",
                network.mode,
                network.underlay_device,
                network.underlay_ip,
                network.underlay_mtu,
                network.peers.len()
            ),
        ));
        for problem in &network.device_problems {
            lines.push(("PROBLEM", problem.clone()));
        }
        for peer in &network.peers {
            lines.push(("peer", peer_text(peer)));
        }
    }
    lines.push(("host routing", status.host_routing.clone()));
    lines.push(("endpoints", status.endpoints.to_string()));
    if let Some(policy) = &status.policy {
        lines.push((
            "policy",
            format!(
                "{} policies, {} identities, {} profiles, {} isolated endpoint addresses",
                policy.policies, policy.identities, policy.profiles, policy.isolated_endpoints
            ),
        ));
    }
    for missing in &status.missing_programs {
        lines.push(("MISSING", missing.clone()));
    }
    for reconciler in &status.reconcilers {
        let state = match (&reconciler.error, reconciler.converged) {
            (Some(error), _) => format!("failing: {error}"),
            (None, true) => "converged".to_owned(),
            (None, false) => "not converged yet".to_owned(),
        };
        lines.push(("reconciler", format!("{}: {state}", reconciler.name)));
    }
    for fill in &status.maps {
        let pressure = if fill.is_under_pressure() {
            " FILLING UP"
        } else {
            ""
        };
        lines.push((
            "map",
            format!(
                "{} {} of {} ({}%){pressure}",
                fill.map,
                fill.entries,
                fill.capacity,
                fill.percent()
            ),
        ));
    }
    let drops: Vec<String> = status
        .drops
        .iter()
        .map(|(reason, count)| format!("{reason} {count}"))
        .collect();
    lines.push(("drops", or_none(drops.join(", "))));
    lines
        .into_iter()
        .map(|(label, value)| format!("{label:<13} {value}\n"))
        .collect()
}

fn datastore_text(datastore: &DatastoreStatus) -> String {
    let mut text = match &datastore.error {
        None => format!("{}: reachable", datastore.kind),
        Some(error) => format!("{}: UNREACHABLE: {error}", datastore.kind),
    };
    if let Some(seconds) = datastore.last_change_seconds_ago {
        text.push_str(&format!(", last change taken {seconds} s ago"));
    }
    if let Some(error) = &datastore.watch_error {
        text.push_str(&format!(", WATCH FAILING: {error}"));
    }
    text
}

fn peer_text(peer: &PeerStatus) -> String {
    if let Some(reason) = &peer.skipped {
        return format!("{}: LEFT OUT: {reason}", peer.name);
    }
    let cidrs: Vec<String> = peer.pod_cidrs.iter().map(ToString::to_string).collect();
    let mut text = format!(
        "{} {} {} {}: ",
        peer.name,
        peer.underlay_ip.map_or("-".into(), |ip| ip.to_string()),
        peer.path.as_deref().unwrap_or("-"),
        cidrs.join(",")
    );
    if peer.missing.is_empty() {
        text.push_str("entries ok");
    } else {
        text.push_str(&format!("MISSING {}", peer.missing.join("; ")));
    }
    match &peer.probe {
        Some(Probe {
            target,
            rtt_micros: Some(rtt),
            ..
        }) => text.push_str(&format!(
            ", {target} answered in {:.2} ms",
            *rtt as f64 / 1000.0
        )),
        Some(Probe { target, error, .. }) => text.push_str(&format!(
            ", {target} DID NOT ANSWER: {}",
            error.as_deref().unwrap_or("no reply")
        )),
        None => {}
    }
    text
}

fn or_none(text: String) -> String {
    if text.is_empty() { "none".into() } else { text }
}

/// One line of `weftctl observe`: verdict, direction, who, what.
pub fn flow_line(flow: &ObservedFlow) -> String {
    let name = |name: &Option<String>, ip: std::net::IpAddr| match name {
        Some(name) => format!("{name}({ip})"),
        None => ip.to_string(),
    };
    let (pod, peer, pod_ip, peer_ip) = if flow.direction == "egress" {
        (&flow.pod, &flow.peer, flow.src, flow.dst)
    } else {
        (&flow.pod, &flow.peer, flow.dst, flow.src)
    };
    let arrow = if flow.direction == "egress" {
        "->"
    } else {
        "<-"
    };
    format!(
        "{} {} {}/{} {} {} {} {} port {} identity {}\n",
        flow.node,
        flow.verdict.to_uppercase(),
        flow.direction,
        flow.reason,
        name(pod, pod_ip),
        arrow,
        name(peer, peer_ip),
        flow.protocol,
        flow.dst_port,
        flow.peer_identity,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use weft_api::{MapFill, NetworkStatus, PolicySummary, ReconcilerState};

    use super::*;
    use crate::endpoints::registry::tests::endpoint;

    #[test]
    fn node_status_lists_every_fact_reconciler_and_drop() {
        let status = NodeStatus {
            node: "n1".into(),
            version: "0.1.0".into(),
            not_ready: Some("masquerade has not converged yet: nft: busy".into()),
            reconcilers: vec![
                ReconcilerState {
                    name: "masquerade".into(),
                    converged: false,
                    error: Some("nft: busy".into()),
                },
                ReconcilerState {
                    name: "overlay".into(),
                    converged: true,
                    error: None,
                },
            ],
            pod_cidrs: vec!["10.244.1.0/24".parse().unwrap()],
            mtu: Some(1450),
            host_routing: "ebpf".into(),
            endpoints: 3,
            missing_programs: vec!["weft1234: no ingress program".into()],
            drops: BTreeMap::from([("policy".into(), 12), ("spoofed-ip".into(), 1)]),
            maps: vec![MapFill {
                map: "WEFT_POLICY".into(),
                entries: 900,
                capacity: 1000,
            }],
            datastore: Some(DatastoreStatus {
                kind: "kubernetes".into(),
                reachable: true,
                error: None,
                last_change_seconds_ago: Some(4),
                watch_error: None,
            }),
            network: Some(NetworkStatus {
                mode: "vxlan".into(),
                underlay_device: "eth0".into(),
                underlay_ip: "198.18.0.11".parse().unwrap(),
                underlay_mtu: 1500,
                device_problems: vec!["weft.vxlan is down".into()],
                peers: vec![
                    PeerStatus {
                        name: "n2".into(),
                        underlay_ip: Some("198.18.0.12".parse().unwrap()),
                        path: Some("vxlan".into()),
                        pod_cidrs: vec!["10.244.2.0/24".parse().unwrap()],
                        missing: vec!["fdb entry 02:00:00:00:00:02 dst 198.18.0.12".into()],
                        skipped: None,
                        probe: Some(Probe {
                            target: "10.244.2.0".parse().unwrap(),
                            rtt_micros: None,
                            error: Some("Request timeout".into()),
                        }),
                    },
                    PeerStatus {
                        name: "n3".into(),
                        underlay_ip: None,
                        path: None,
                        pod_cidrs: vec![],
                        missing: vec![],
                        skipped: Some("no VTEP MAC published".into()),
                        probe: None,
                    },
                ],
            }),
            policy: Some(PolicySummary {
                policies: 2,
                identities: 7,
                profiles: 3,
                isolated_endpoints: 1,
            }),
        };
        assert_eq!(
            node_status_text(&status),
            "node          n1 (weftd 0.1.0)\n\
             ready         no: masquerade has not converged yet: nft: busy\n\
             datastore     kubernetes: reachable, last change taken 4 s ago\n\
             pod CIDRs     10.244.1.0/24\n\
             pod MTU       1450\n\
             network       vxlan over eth0 (198.18.0.11, MTU 1500), 2 peers\n\
             PROBLEM       weft.vxlan is down\n\
             peer          n2 198.18.0.12 vxlan 10.244.2.0/24: MISSING fdb entry 02:00:00:00:00:02 dst 198.18.0.12, 10.244.2.0 DID NOT ANSWER: Request timeout\n\
             peer          n3: LEFT OUT: no VTEP MAC published\n\
             host routing  ebpf\n\
             endpoints     3\n\
             policy        2 policies, 7 identities, 3 profiles, 1 isolated endpoint addresses\n\
             MISSING       weft1234: no ingress program\n\
             reconciler    masquerade: failing: nft: busy\n\
             reconciler    overlay: converged\n\
             map           WEFT_POLICY 900 of 1000 (90%) FILLING UP\n\
             drops         policy 12, spoofed-ip 1\n"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let mut anonymous = endpoint("container-long", "10.0.0.3/32");
        anonymous.pod_namespace = None;
        anonymous.pod_name = None;
        let table = endpoints_table(&[endpoint("a", "10.0.0.2/32"), anonymous]);
        assert_eq!(
            table,
            "CONTAINER       IFNAME  POD            IPS          HOST-IF             MAC\n\
             a               eth0    default/pod-a  10.0.0.2/32  wefta               02:00:00:00:00:01\n\
             container-long  eth0    -              10.0.0.3/32  weftcontainer-long  02:00:00:00:00:01\n"
        );
    }

    #[test]
    fn flow_lines_read_from_the_pod_outward() {
        let flow = ObservedFlow {
            time_ms: 1,
            node: "n1".into(),
            verdict: "dropped".into(),
            reason: "policy".into(),
            direction: "ingress".into(),
            pod: Some("x/a".into()),
            peer: None,
            peer_identity: 1,
            protocol: "TCP".into(),
            src: "198.51.100.7".parse().unwrap(),
            src_port: 40000,
            dst: "10.244.1.5".parse().unwrap(),
            dst_port: 80,
        };
        assert_eq!(
            flow_line(&flow),
            "n1 DROPPED ingress/policy x/a(10.244.1.5) <- 198.51.100.7 TCP port 80 identity 1\n"
        );
    }
}
