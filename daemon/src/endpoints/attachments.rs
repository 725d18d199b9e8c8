//! Which endpoints' host veths lack a pod program: a netlink dump of each
//! veth's clsact filters, ingress (`weft_from_pod`) and egress
//! (`weft_to_pod`), for `weftctl status`. Something else removing a filter
//! (a `tc filter del`, a tool resetting the qdisc) leaves the pod without
//! anti-spoofing or policy until weftd re-attaches it on restart.

use futures::TryStreamExt;
use netlink_packet_route::tc::{TcAttribute, TcMessage};
use weft_api::Endpoint;

/// The host veths of `endpoints` that miss one of the two filters, with
/// what is missing; a veth that is gone is reported as such.
pub async fn veths_without_programs(
    handle: &rtnetlink::Handle,
    endpoints: &[Endpoint],
) -> Vec<String> {
    let mut missing = Vec::new();
    for endpoint in endpoints {
        let ifname = &endpoint.host_ifname;
        let Ok(ifindex) = nix::net::if_::if_nametoindex(ifname.as_str()) else {
            missing.push(format!("{ifname}: the interface is gone"));
            continue;
        };
        let Ok(ifindex) = i32::try_from(ifindex) else {
            continue;
        };
        for (hook, egress) in [("ingress", false), ("egress", true)] {
            let request = handle.traffic_filter(ifindex).get();
            let request = if egress {
                request.egress()
            } else {
                request.ingress()
            };
            let filters: Result<Vec<TcMessage>, _> = request.execute().try_collect().await;
            let present = filters.is_ok_and(|filters| filters.iter().any(is_bpf));
            if !present {
                missing.push(format!("{ifname}: no {hook} program"));
            }
        }
    }
    missing
}

fn is_bpf(filter: &TcMessage) -> bool {
    filter
        .attributes
        .iter()
        .any(|attribute| matches!(attribute, TcAttribute::Kind(kind) if kind == "bpf"))
}
