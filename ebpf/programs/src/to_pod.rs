//! `weft_to_pod`, the filter on the egress of a pod's host veth (what the
//! pod receives): settles a local sender's pending egress verdict, then the
//! receiving pod's ingress policy. New flows that pass go into conntrack, so their replies
//! pass the sender's side (also when a direction is not enforced).

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use weft_ebpf_common::{
    DIRECTION_INGRESS, FAMILY_IPV6, FLOW_PATH_STACK, REASON_ALLOWED_ESTABLISHED,
    REASON_DROPPED_FRAGMENT, REASON_DROPPED_IPV6_EXTENSIONS, REASON_DROPPED_UNKNOWN_ENDPOINT,
    REASON_DROPPED_UNSUPPORTED,
};

use crate::address::{is_ipv6_link_local, is_ipv6_multicast};
use crate::maps::WEFT_INTERFACES;
use crate::packet::{self, IpPacket, Kind};
use crate::pending_egress::{self, Pending};
use crate::policy::passes;
use crate::verdict::{self, Verdict};
use crate::{conntrack, fragments, mark};

#[classifier]
pub fn weft_to_pod(ctx: TcContext) -> i32 {
    // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let dropped = |reason, packet: Option<&IpPacket>| {
        verdict::drop(&Verdict::early(reason, DIRECTION_INGRESS, ifindex), packet)
    };
    if WEFT_INTERFACES.get_ptr(ifindex).is_none() {
        return dropped(REASON_DROPPED_UNKNOWN_ENDPOINT, None);
    }
    let mut frame = packet::parse(&ctx);
    match frame.kind {
        Kind::Ip => {}
        // ARP and other link-layer traffic from the host end: not policy's.
        Kind::Arp | Kind::Other => {
            mark::clear(&ctx);
            return TC_ACT_OK;
        }
        Kind::Ipv6Extensions => {
            return dropped(REASON_DROPPED_IPV6_EXTENSIONS, Some(&frame.ip));
        }
        Kind::Malformed => return dropped(REASON_DROPPED_UNSUPPORTED, None),
    }
    if frame.ip.family == FAMILY_IPV6 && is_link_scoped(&frame.ip) {
        mark::clear(&ctx);
        return TC_ACT_OK;
    }
    if !fragments::resolve(&mut frame.ip) {
        return dropped(REASON_DROPPED_FRAGMENT, Some(&frame.ip));
    }
    let ip = &frame.ip;
    if let Pending::Dropped(action) = pending_egress::settle(&ctx, ip) {
        return action;
    }
    if mark::is_allowed(&ctx) {
        mark::clear(&ctx);
        return TC_ACT_OK;
    }
    if conntrack::knows(&ctx, ip).is_some() {
        verdict::count(REASON_ALLOWED_ESTABLISHED);
        mark::clear(&ctx);
        return TC_ACT_OK;
    }
    if !passes(DIRECTION_INGRESS, &ip.dst, &ip.src, ip, ifindex) {
        return TC_ACT_SHOT as i32;
    }
    if !conntrack::stored_or_dropped(ip, FLOW_PATH_STACK) {
        return TC_ACT_SHOT as i32;
    }
    mark::clear(&ctx);
    TC_ACT_OK
}

/// IPv6 that only ever travels between the pod and its host end (neighbour
/// discovery, router advertisements, multicast listener queries): the host
/// may always talk to its pods, and these addresses are no endpoint's.
#[inline(always)]
fn is_link_scoped(ip: &IpPacket) -> bool {
    is_ipv6_link_local(&ip.src) || is_ipv6_link_local(&ip.dst) || is_ipv6_multicast(&ip.dst)
}
