//! eBPF host routing between the pods of this node: a packet the kernel's
//! FIB would forward out of another pod's host veth, to that pod's own
//! address, is handed straight to the pod (`bpf_redirect_peer`, into its
//! netns) with the Ethernet header and TTL the host stack would have given
//! it. The FIB and its neighbours are the host's, so the routes the plugin
//! writes for each pod are the only table: nothing to keep in step. Any
//! other packet, or any doubt, goes through the host stack (`None`).

use aya_ebpf::bindings::{BPF_FIB_LKUP_RET_SUCCESS, TC_ACT_SHOT, bpf_fib_lookup};
use aya_ebpf::helpers::{bpf_fib_lookup as fib_lookup, bpf_redirect_peer};
use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    CONFIG_HOST_ROUTING, FAMILY_IPV4, POD_HAS_IPV4, POD_HAS_IPV6, same_address,
};

use crate::address::same_ipv4;
use crate::maps::{WEFT_CONFIG, WEFT_INTERFACES};
use crate::mark;
use crate::packet::{ETH_HLEN, FRAGMENT_NONE, IpPacket};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Offsets in the frame: IPv4's TTL (the 16-bit word it shares with the
/// protocol) and header checksum, IPv6's hop limit.
const IPV4_TTL_AT: usize = ETH_HLEN + 8;
const IPV4_CHECKSUM_AT: usize = ETH_HLEN + 10;
const IPV6_HOP_LIMIT_AT: usize = ETH_HLEN + 7;

/// A pod of this node a packet is for, and the frame's addresses to it.
pub struct LocalPod {
    /// The pod's host veth.
    pub ifindex: u32,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
}

#[inline(always)]
pub fn enabled() -> bool {
    WEFT_CONFIG
        .get(CONFIG_HOST_ROUTING)
        .is_some_and(|on| *on != 0)
}

/// The pod of this node, other than the sender on `from_ifindex`, that the
/// host stack would forward `packet` to: the FIB's way out is a pod's host
/// veth and the destination is that pod's own address. Fragments and
/// packets whose TTL runs out here are the stack's (reassembly, ICMP).
#[inline(never)]
pub fn local_destination(
    ctx: &TcContext,
    packet: &IpPacket,
    from_ifindex: u32,
) -> Option<LocalPod> {
    if packet.fragment != FRAGMENT_NONE || hops_left(ctx, packet.family)? <= 1 {
        return None;
    }
    // SAFETY: plain old data; all zeros is a valid (empty) lookup.
    let mut params: bpf_fib_lookup = unsafe { core::mem::zeroed() };
    params.ifindex = from_ifindex;
    params.l4_protocol = packet.protocol;
    params.sport = u16::from_ne_bytes(packet.src_port);
    params.dport = u16::from_ne_bytes(packet.dst_port);
    if packet.family == FAMILY_IPV4 {
        params.family = AF_INET;
        params.__bindgen_anon_3.ipv4_src = first_word(&packet.src);
        params.__bindgen_anon_4.ipv4_dst = first_word(&packet.dst);
    } else {
        params.family = AF_INET6;
        params.__bindgen_anon_3.ipv6_src = words(&packet.src);
        params.__bindgen_anon_4.ipv6_dst = words(&packet.dst);
    }
    // SAFETY: the skb of this invocation and a lookup of the helper's size.
    let found = unsafe {
        fib_lookup(
            ctx.skb.skb.cast(),
            &mut params,
            size_of::<bpf_fib_lookup>() as i32,
            0,
        )
    };
    if found != i64::from(BPF_FIB_LKUP_RET_SUCCESS) || params.ifindex == from_ifindex {
        return None;
    }
    // SAFETY: a value pointer the map lookup just returned.
    let pod = unsafe { &*WEFT_INTERFACES.get_ptr(params.ifindex)? };
    let owned = if packet.family == FAMILY_IPV4 {
        pod.flags & POD_HAS_IPV4 != 0 && same_ipv4(&packet.dst, &pod.ipv4)
    } else {
        pod.flags & POD_HAS_IPV6 != 0 && same_address(&packet.dst, &pod.ipv6)
    };
    owned.then_some(LocalPod {
        ifindex: params.ifindex,
        src_mac: params.smac,
        dst_mac: params.dmac,
    })
}

/// Forwards the frame into `to` as the host stack would have: its host
/// veth's MAC to the pod's, TTL or hop limit one less (with the IPv4
/// checksum). Returns the TC action.
#[inline(never)]
pub fn deliver(ctx: &TcContext, family: u8, to: &LocalPod) -> i32 {
    if rewrite(ctx, family, to).is_none() {
        return TC_ACT_SHOT as i32;
    }
    // Kernels before 6.15 keep the mark across the netns boundary.
    mark::clear(ctx);
    // SAFETY: a helper taking an ifindex; flags must be 0.
    unsafe { bpf_redirect_peer(to.ifindex, 0) as i32 }
}

#[inline(always)]
fn rewrite(ctx: &TcContext, family: u8, to: &LocalPod) -> Option<()> {
    let mut macs = [0u8; 12];
    macs[..6].copy_from_slice(&to.dst_mac);
    macs[6..].copy_from_slice(&to.src_mac);
    ctx.store(0, &macs, 0).ok()?;
    if family == FAMILY_IPV4 {
        let old: [u8; 2] = ctx.load(IPV4_TTL_AT).ok()?;
        let new = [old[0].wrapping_sub(1), old[1]];
        ctx.l3_csum_replace(
            IPV4_CHECKSUM_AT,
            u64::from(u16::from_ne_bytes(old)),
            u64::from(u16::from_ne_bytes(new)),
            2,
        )
        .ok()?;
        ctx.store(IPV4_TTL_AT, &new, 0).ok()
    } else {
        let hop_limit: u8 = ctx.load(IPV6_HOP_LIMIT_AT).ok()?;
        ctx.store(IPV6_HOP_LIMIT_AT, &hop_limit.wrapping_sub(1), 0)
            .ok()
    }
}

/// The packet's TTL or hop limit.
#[inline(always)]
fn hops_left(ctx: &TcContext, family: u8) -> Option<u8> {
    let at = if family == FAMILY_IPV4 {
        IPV4_TTL_AT
    } else {
        IPV6_HOP_LIMIT_AT
    };
    ctx.load(at).ok()
}

/// An IPv4 address as the FIB lookup takes it (network order in memory).
#[inline(always)]
fn first_word(address: &[u8; 16]) -> u32 {
    u32::from_ne_bytes([address[0], address[1], address[2], address[3]])
}

#[inline(always)]
fn words(address: &[u8; 16]) -> [u32; 4] {
    let word = |at: usize| {
        u32::from_ne_bytes([
            address[at],
            address[at + 1],
            address[at + 2],
            address[at + 3],
        ])
    };
    [word(0), word(4), word(8), word(12)]
}
