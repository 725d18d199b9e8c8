//! The sending pod's egress verdict, left pending by `from_pod` (its slot in
//! the mark) and settled where the packet leaves the node's stack, after
//! kube-proxy's DNAT: the real destination is known there, and the source
//! pod comes from the slot because masquerade may have rewritten the source.

use aya_ebpf::bindings::TC_ACT_SHOT;
use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    DIRECTION_EGRESS, FAMILY_IPV4, POD_HAS_IPV4, POD_HAS_IPV6, PodInterface,
    REASON_DROPPED_UNKNOWN_ENDPOINT,
};

use crate::maps::WEFT_SLOTS;
use crate::mark;
use crate::packet::{IpPacket, widen};
use crate::policy::passes;
use crate::verdict::{self, Verdict};

pub enum Pending {
    /// No egress verdict was pending.
    None,
    /// Allowed (and counted); the caller clears the mark.
    Allowed,
    /// Dropped (counted and reported): return this TC action.
    Dropped(i32),
}

#[inline(always)]
pub fn settle(ctx: &TcContext, packet: &IpPacket) -> Pending {
    let slot = mark::pending_slot(ctx);
    if slot == 0 {
        return Pending::None;
    }
    // SAFETY: ctx.skb is the kernel's __sk_buff; the packet entered the
    // node's stack on the sender's host veth.
    let ifindex = unsafe { (*ctx.skb.skb).ingress_ifindex };
    let own = WEFT_SLOTS
        .get(slot)
        .filter(|pod| pod.slot == slot)
        .and_then(|pod| own_address(pod, packet.family));
    let Some(own) = own else {
        let unknown = Verdict::early(REASON_DROPPED_UNKNOWN_ENDPOINT, DIRECTION_EGRESS, ifindex);
        return Pending::Dropped(verdict::drop(&unknown, Some(packet)));
    };
    if passes(DIRECTION_EGRESS, &own, &packet.dst, packet, ifindex) {
        Pending::Allowed
    } else {
        Pending::Dropped(TC_ACT_SHOT as i32)
    }
}

/// The pod's address in `family`, if it has one.
#[inline(always)]
fn own_address(pod: &PodInterface, family: u8) -> Option<[u8; 16]> {
    if family == FAMILY_IPV4 {
        (pod.flags & POD_HAS_IPV4 != 0).then(|| widen(pod.ipv4))
    } else {
        (pod.flags & POD_HAS_IPV6 != 0).then_some(pod.ipv6)
    }
}
