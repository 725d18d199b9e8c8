//! Neighbour discovery a pod may send: a neighbour advertisement only for
//! an address it owns (its IPv6 address, or a link-local one that is not
//! the gateway the plugin gives every pod), and no router advertisement or
//! redirect (a pod is not the node's router). Anything else would teach the
//! node, or other hosts on the link, a false neighbour.

use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{POD_HAS_IPV6, PodInterface, same_address};

use crate::address::is_ipv6_link_local;

/// The plugin's IPv6 gateway for pods (weft-cni's `GATEWAY_V6`), fe80::1:
/// the node answers for it, never a pod.
const POD_GATEWAY_V6: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ICMPV6_NEIGHBOUR_ADVERT: u8 = 136;
/// Type, code, checksum, flags and reserved come before the target.
const TARGET_OFFSET: usize = 8;

/// Whether the claim whose ICMPv6 message starts at `at` is the pod's to make.
// A call of its own: the target address is read only for the claims.
#[inline(never)]
pub fn claim_is_pods(ctx: &TcContext, at: usize, pod: &PodInterface) -> bool {
    let Ok(kind) = ctx.load::<u8>(at) else {
        return false;
    };
    if kind != ICMPV6_NEIGHBOUR_ADVERT {
        return false;
    }
    let Ok(target) = ctx.load::<[u8; 16]>(at + TARGET_OFFSET) else {
        return false;
    };
    if is_ipv6_link_local(&target) {
        return !same_address(&target, &POD_GATEWAY_V6);
    }
    pod.flags & POD_HAS_IPV6 != 0 && same_address(&target, &pod.ipv6)
}
