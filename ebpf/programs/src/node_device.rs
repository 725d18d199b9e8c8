//! The programs on node devices (weft.vxlan and the underlay).
//! `weft_node_exit` (tcx egress) settles the pending egress verdict of a
//! local pod's packet leaving the node, post-NAT, and remembers the flow as
//! it is on the wire; packets without a slot (the node's own) pass
//! untouched. `weft_node_entry` (tcx ingress) marks packets of known flows
//! allowed before netfilter undoes NAT, so replies pass the pod's ingress.
//! With eBPF host routing it delivers a flow from another node's pod to a
//! pod of this node straight into the pod, after its ingress verdict.

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, FLOW_PATH_REDIRECT, FLOW_PATH_STACK,
    REASON_ALLOWED_ESTABLISHED, REASON_DROPPED_FRAGMENT, REASON_DROPPED_IPV6_EXTENSIONS,
    REASON_DROPPED_UNSUPPORTED,
};

use crate::host_routing::{self, NextHop};
use crate::packet::{self, IpPacket, Kind};
use crate::pending_egress::{self, Pending};
use crate::policy::passes;
use crate::verdict::{self, Verdict};
use crate::{conntrack, fragments, mark};

#[classifier]
pub fn weft_node_exit(ctx: TcContext) -> i32 {
    if mark::pending_slot(&ctx) == 0 {
        return TC_ACT_OK;
    }
    let mut frame = packet::parse(&ctx);
    let undecidable = match frame.kind {
        Kind::Ip if fragments::resolve(&mut frame.ip) => None,
        Kind::Ip => Some(REASON_DROPPED_FRAGMENT),
        Kind::Arp | Kind::Other => {
            mark::clear(&ctx);
            return TC_ACT_OK;
        }
        Kind::Malformed => Some(REASON_DROPPED_UNSUPPORTED),
        Kind::Ipv6Extensions => Some(REASON_DROPPED_IPV6_EXTENSIONS),
    };
    if let Some(reason) = undecidable {
        // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
        let ifindex = unsafe { (*ctx.skb.skb).ingress_ifindex };
        let undecidable = Verdict::early(reason, DIRECTION_EGRESS, ifindex);
        return verdict::drop(&undecidable, Some(&frame.ip));
    }
    let ip = &frame.ip;
    match pending_egress::settle(&ctx, ip) {
        Pending::Dropped(action) => return action,
        Pending::Allowed if !conntrack::stored_or_dropped(ip, FLOW_PATH_STACK) => {
            return TC_ACT_SHOT as i32;
        }
        Pending::Allowed | Pending::None => {}
    }
    mark::clear(&ctx);
    TC_ACT_OK
}

#[classifier]
pub fn weft_node_entry(ctx: TcContext) -> i32 {
    let mut frame = packet::parse(&ctx);
    if frame.kind != Kind::Ip || !fragments::resolve(&mut frame.ip) {
        // Nothing from outside carries a verdict of ours.
        mark::clear(&ctx);
        return TC_ACT_OK;
    }
    let ip = &frame.ip;
    let host_routing = host_routing::enabled();
    match conntrack::knows(&ctx, ip) {
        Some(path) => {
            verdict::count(REASON_ALLOWED_ESTABLISHED);
            if host_routing && path == FLOW_PATH_REDIRECT {
                if let Some(hop) = into_local_pod(&ctx, ip) {
                    return host_routing::deliver(&ctx, ip.family, &hop);
                }
            }
            mark::set_allowed(&ctx);
        }
        None => {
            let between_pods = host_routing
                && ip.icmp_error_at().is_none()
                && host_routing::is_pod_address(ip.family, &ip.src);
            if between_pods {
                if let Some(hop) = into_local_pod(&ctx, ip) {
                    return admit_redirected(&ctx, ip, &hop);
                }
            }
            mark::clear(&ctx);
        }
    }
    TC_ACT_OK
}

/// Host routing's way into the pod of this node the packet is for, if any.
#[inline(always)]
fn into_local_pod(ctx: &TcContext, ip: &IpPacket) -> Option<NextHop> {
    // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    host_routing::next_hop(ctx, ip, ifindex).filter(|hop| hop.into_pod)
}

/// A new flow from another node's pod to a pod of this node: the
/// receiver's ingress verdict, as `to_pod` would take it, then remembered
/// as redirected and delivered.
#[inline(never)]
fn admit_redirected(ctx: &TcContext, ip: &IpPacket, hop: &NextHop) -> i32 {
    if !passes(DIRECTION_INGRESS, &ip.dst, &ip.src, ip, hop.ifindex) {
        return TC_ACT_SHOT as i32;
    }
    if !conntrack::stored_or_dropped(ip, FLOW_PATH_REDIRECT) {
        return TC_ACT_SHOT as i32;
    }
    host_routing::deliver(ctx, ip.family, hop)
}
