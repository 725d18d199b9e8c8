//! `weft_from_pod`, the filter on the ingress of a pod's host veth (what
//! the pod sends): anti-spoofing, then known flows are marked allowed and
//! new ones carry the pod's slot so that their egress verdict is taken
//! where they leave.

use aya_ebpf::{bindings::TC_ACT_OK, macros::classifier, programs::TcContext};
use weft_ebpf_common::{
    DIRECTION_EGRESS, FAMILY_IPV4, POD_HAS_IPV4, POD_HAS_IPV6, PodInterface,
    REASON_ALLOWED_ESTABLISHED, REASON_DROPPED_IPV6_EXTENSIONS, REASON_DROPPED_SPOOFED_IP,
    REASON_DROPPED_SPOOFED_MAC, REASON_DROPPED_UNKNOWN_ENDPOINT, REASON_DROPPED_UNSUPPORTED,
    same_address,
};

use crate::address::{is_ipv6_link_local, is_unspecified, same_ipv4, same_mac};
use crate::maps::WEFT_INTERFACES;
use crate::packet::{self, IpPacket, Kind};
use crate::verdict::{self, Verdict};
use crate::{conntrack, fragments, mark};

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
    // A later fragment without its first is decided where the packet
    // leaves (the kernel may have reassembled it by then).
    let resolved = fragments::resolve(&mut frame.ip);
    if resolved && conntrack::knows(&ctx, &frame.ip) {
        verdict::count(REASON_ALLOWED_ESTABLISHED);
        mark::set_allowed(&ctx);
    } else {
        mark::set_pending(&ctx, pod.slot);
    }
    TC_ACT_OK
}

/// The pod's own address; for IPv6 also link-local and unspecified sources,
/// which the kernel never forwards (neighbour discovery, DAD, MLD).
#[inline(always)]
fn source_is_pods(ip: &IpPacket, pod: &PodInterface) -> bool {
    if ip.family == FAMILY_IPV4 {
        pod.flags & POD_HAS_IPV4 != 0 && same_ipv4(&ip.src, &pod.ipv4)
    } else {
        (pod.flags & POD_HAS_IPV6 != 0 && same_address(&ip.src, &pod.ipv6))
            || is_ipv6_link_local(&ip.src)
            || is_unspecified(&ip.src)
    }
}
