//! What `weftctl` prints (pure: endpoints and replies in, text out).

use weft_api::{Endpoint, NodeStatus};

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
        ("pod CIDRs", or_none(cidrs.join(", "))),
        (
            "pod MTU",
            status.mtu.map_or("-".into(), |mtu| mtu.to_string()),
        ),
        ("host routing", status.host_routing.clone()),
        ("endpoints", status.endpoints.to_string()),
    ];
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

    use weft_api::ReconcilerState;

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
        };
        assert_eq!(
            node_status_text(&status),
            "node          n1 (weftd 0.1.0)\n\
             ready         no: masquerade has not converged yet: nft: busy\n\
             pod CIDRs     10.244.1.0/24\n\
             pod MTU       1450\n\
             host routing  ebpf\n\
             endpoints     3\n\
             MISSING       weft1234: no ingress program\n\
             reconciler    masquerade: failing: nft: busy\n\
             reconciler    overlay: converged\n\
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
