//! The programs on node devices (weft.vxlan and the underlay).
//! `weft_node_exit` (tcx egress) settles the pending egress verdict of a
//! local pod's packet leaving the node, post-NAT, and remembers the flow as
//! it is on the wire; packets without a slot (the node's own) pass
//! untouched. `weft_node_entry` (tcx ingress) marks packets of known flows
//! allowed before netfilter undoes NAT, so replies pass the pod's ingress.

use aya_ebpf::{bindings::TC_ACT_OK, macros::classifier, programs::TcContext};
use weft_ebpf_common::{
    DIRECTION_EGRESS, FLOW_PATH_STACK, REASON_ALLOWED_ESTABLISHED, REASON_DROPPED_FRAGMENT,
    REASON_DROPPED_IPV6_EXTENSIONS, REASON_DROPPED_UNSUPPORTED,
};

use crate::packet::{self, Kind};
use crate::pending_egress::{self, Pending};
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
        Pending::Allowed => conntrack::remember(ip, FLOW_PATH_STACK),
        Pending::None => {}
    }
    mark::clear(&ctx);
    TC_ACT_OK
}

#[classifier]
pub fn weft_node_entry(ctx: TcContext) -> i32 {
    let mut frame = packet::parse(&ctx);
    match frame.kind {
        Kind::Ip
            if fragments::resolve(&mut frame.ip) && conntrack::knows(&ctx, &frame.ip).is_some() =>
        {
            verdict::count(REASON_ALLOWED_ESTABLISHED);
            mark::set_allowed(&ctx);
        }
        // Nothing from outside carries a verdict of ours.
        _ => mark::clear(&ctx),
    }
    TC_ACT_OK
}
