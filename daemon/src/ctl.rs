//! What `weftctl` prints (pure: endpoints and replies in, text out).

use weft_api::{Endpoint, Response};

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

/// The text for a Status reply and whether it means "ready".
pub fn status_text(response: &Response) -> (String, bool) {
    match response {
        Response::Status { ready: true, .. } => ("ready\n".into(), true),
        Response::Status {
            ready: false,
            reason,
            ..
        } => (
            format!(
                "not ready: {}\n",
                reason.as_deref().unwrap_or("no reason given")
            ),
            false,
        ),
        Response::Error { message, .. } => (format!("weftd error: {message}\n"), false),
        Response::Ok | Response::Report { .. } | Response::Endpoints { .. } => (
            "weftd answered something other than a status\n".into(),
            false,
        ),
    }
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
    use super::*;
    use crate::endpoints::registry::tests::endpoint;

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
    fn status_text_says_why_not_ready() {
        assert_eq!(
            status_text(&Response::Status {
                ready: true,
                reason: None,
                applied_revision: None,
                applied_revisions: None,
            }),
            ("ready\n".into(), true)
        );
        assert_eq!(
            status_text(&Response::Status {
                ready: false,
                reason: Some("starting".into()),
                applied_revision: None,
                applied_revisions: None,
            }),
            ("not ready: starting\n".into(), false)
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
