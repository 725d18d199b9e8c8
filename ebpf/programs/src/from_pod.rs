//! `weft_from_pod`, the filter on the ingress of a pod's host veth (what
//! the pod sends): anti-spoofing (MAC, source address, and the neighbour
//! discovery claims a pod may make), then known flows are marked allowed and
//! new ones carry the pod's slot so that their egress verdict is taken
//! where they leave. With eBPF host routing, a flow addressed to another
//! pod by its pod IP is decided here instead (no translation can change
//! its destination; for a pod of this node both ways) and sent past the
//! host stack, into the pod or out of the node device towards it, and so
//! are its later packets and replies.

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, FAMILY_IPV4, FLOW_PATH_REDIRECT, POD_HAS_IPV4,
    POD_HAS_IPV6, PodInterface, REASON_ALLOWED_ESTABLISHED, REASON_DROPPED_IPV6_EXTENSIONS,
    REASON_DROPPED_SPOOFED_IP, REASON_DROPPED_SPOOFED_MAC, REASON_DROPPED_UNKNOWN_ENDPOINT,
    REASON_DROPPED_UNSUPPORTED, same_address,
};

use crate::address::{is_ipv6_link_local, is_unspecified, same_ipv4, same_mac};
use crate::host_routing::{self, NextHop};
use crate::maps::WEFT_INTERFACES;
use crate::packet::{self, IpPacket, Kind};
use crate::policy::passes;
use crate::verdict::{self, Verdict};
use crate::{conntrack, fragments, mark, ndp};

#[classifier]
pub fn weft_from_pod(ctx: TcContext) -> i32 {
    // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let dropped = |reason, packet: Option<&IpPacket>| {
        verdict::drop(&Verdict::early(reason, DIRECTION_EGRESS, ifindex), packet)
    };
    // SAFETY: a value pointer the map lookup just returned.
    let Some(pod) = WEFT_INTERFACES.get_ptr(ifindex).map(|pod| unsafe { &*pod }) else {
        return dropped(REASON_DROPPED_UNKNOWN_ENDPOINT, None);
    };
    let mut frame = packet::parse(&ctx);
    match frame.kind {
        Kind::Ip => {}
        Kind::Arp => {
            let sender_ip = packet::widen(frame.arp_sender_ip);
            if !same_mac(&frame.src_mac, &pod.mac) || !same_mac(&frame.arp_sender_mac, &pod.mac) {
                return dropped(REASON_DROPPED_SPOOFED_MAC, None);
            }
            if pod.flags & POD_HAS_IPV4 == 0 || !same_ipv4(&sender_ip, &pod.ipv4) {
                return dropped(REASON_DROPPED_SPOOFED_IP, None);
            }
            mark::clear(&ctx);
            return TC_ACT_OK;
        }
        Kind::Ipv6Extensions => {
            return dropped(REASON_DROPPED_IPV6_EXTENSIONS, Some(&frame.ip));
        }
        Kind::Malformed | Kind::Other => return dropped(REASON_DROPPED_UNSUPPORTED, None),
    }
    if !same_mac(&frame.src_mac, &pod.mac) {
        return dropped(REASON_DROPPED_SPOOFED_MAC, Some(&frame.ip));
    }
    if !source_is_pods(&frame.ip, pod) {
        return dropped(REASON_DROPPED_SPOOFED_IP, Some(&frame.ip));
    }
    if let Some(at) = frame.ip.ndp_claim_at()
        && !ndp::claim_is_pods(&ctx, at, pod)
    {
        return dropped(REASON_DROPPED_SPOOFED_IP, Some(&frame.ip));
    }
    // A later fragment without its first is decided where the packet
    // leaves (the kernel may have reassembled it by then).
    let resolved = fragments::resolve(&mut frame.ip);
    let ip = &frame.ip;
    let known = if resolved {
        conntrack::knows(&ctx, ip)
    } else {
        None
    };
    let host_routing = host_routing::enabled();
    if let Some(path) = known {
        verdict::count(REASON_ALLOWED_ESTABLISHED);
        if host_routing && path == FLOW_PATH_REDIRECT {
            if let Some(hop) = host_routing::next_hop(&ctx, ip, ifindex) {
                return host_routing::deliver(&ctx, ip.family, &hop);
            }
        }
        mark::set_allowed(&ctx);
        return TC_ACT_OK;
    }
    let redirectable = resolved && host_routing && ip.icmp_error_at().is_none();
    if redirectable && source_is_pods_own(ip, pod) {
        if let Some(hop) = host_routing::next_hop(&ctx, ip, ifindex) {
            return open_redirected(&ctx, ip, ifindex, &hop);
        }
    }
    mark::set_pending(&ctx, pod.slot);
    TC_ACT_OK
}

/// A new flow from the pod on `ifindex` that host routing takes: the
/// sender's egress verdict and, for a pod of this node, the receiver's
/// ingress verdict (another node's pod gets its own where it arrives),
/// as `to_pod` would take them; then remembered as redirected and sent.
// A call of its own: two decisions' stack is not the program's.
#[inline(never)]
fn open_redirected(ctx: &TcContext, ip: &IpPacket, ifindex: u32, hop: &NextHop) -> i32 {
    if !passes(DIRECTION_EGRESS, &ip.src, &ip.dst, ip, ifindex)
        || (hop.into_pod && !passes(DIRECTION_INGRESS, &ip.dst, &ip.src, ip, hop.ifindex))
    {
        return TC_ACT_SHOT as i32;
    }
    if !conntrack::stored_or_dropped(ip, FLOW_PATH_REDIRECT) {
        return TC_ACT_SHOT as i32;
    }
    host_routing::deliver(ctx, ip.family, hop)
}

/// The pod's own address; for IPv6 also link-local and unspecified sources,
/// which the kernel never forwards (neighbour discovery, DAD, MLD).
#[inline(always)]
fn source_is_pods(ip: &IpPacket, pod: &PodInterface) -> bool {
    source_is_pods_own(ip, pod)
        || (ip.family != FAMILY_IPV4 && (is_ipv6_link_local(&ip.src) || is_unspecified(&ip.src)))
}

/// The pod's own address as the source: the only one host routing takes
/// (the kernel forwards no link-local or unspecified source either).
#[inline(always)]
fn source_is_pods_own(ip: &IpPacket, pod: &PodInterface) -> bool {
    if ip.family == FAMILY_IPV4 {
        pod.flags & POD_HAS_IPV4 != 0 && same_ipv4(&ip.src, &pod.ipv4)
    } else {
        pod.flags & POD_HAS_IPV6 != 0 && same_address(&ip.src, &pod.ipv6)
    }
}
