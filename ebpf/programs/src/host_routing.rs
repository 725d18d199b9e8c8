//! eBPF host routing: a packet between pod IPs goes where the kernel's FIB
//! would forward it without crossing the host stack: into a pod of this
//! node (`bpf_redirect_peer`, into its netns) or out of the node device
//! towards another node's pod (`bpf_redirect`, or `bpf_redirect_neigh`
//! while the next hop's neighbour is unresolved), with the Ethernet header
//! and TTL the stack would have given it. Towards other nodes the FIB and
//! its neighbours are the host's, so the routes weftd writes are the only
//! table. A pod of this node is found by its address in
//! `WEFT_LOCAL_PODS`, which weftd writes with the pod's interface record:
//! an IPv6 FIB lookup costs about three IPv4 ones, and every packet of a
//! flow between pods needs one on each node. Any other packet, or any
//! doubt, goes through the host stack (`None`).

use aya_ebpf::bindings::{
    BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS, TC_ACT_SHOT, bpf_check_mtu_ret,
    bpf_fib_lookup, bpf_redir_neigh,
};
use aya_ebpf::helpers::{
    bpf_check_mtu, bpf_fib_lookup as fib_lookup, bpf_redirect, bpf_redirect_neigh,
    bpf_redirect_peer,
};
use aya_ebpf::maps::lpm_trie::Key;
use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    CONFIG_HOST_ROUTING, EndpointKey, FAMILY_IPV4, IP_KEY_FIXED_BITS, LocalPod, POD_HAS_IPV4,
    POD_HAS_IPV6, PodInterface, same_address,
};

use crate::address::same_ipv4;
use crate::maps::{WEFT_CONFIG, WEFT_INTERFACES, WEFT_LOCAL_PODS, WEFT_POD_NETWORKS};
use crate::mark;
use crate::packet::{ETH_HLEN, FRAGMENT_NONE, IpPacket};

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Offsets in the frame: IPv4's TTL (the 16-bit word it shares with the
/// protocol) and header checksum, IPv6's hop limit.
const IPV4_TTL_AT: usize = ETH_HLEN + 8;
const IPV4_CHECKSUM_AT: usize = ETH_HLEN + 10;
const IPV6_HOP_LIMIT_AT: usize = ETH_HLEN + 7;

/// Where a packet goes next and the frame's addresses on the way.
pub struct NextHop {
    /// A pod's host veth, or the node device towards another node.
    pub ifindex: u32,
    /// `ifindex` is a pod's host veth and the packet is for that pod.
    pub into_pod: bool,
    /// The next hop's neighbour is resolved: the frame's MACs are known.
    resolved: bool,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    /// The next hop's address (the gateway, or the destination on link),
    /// for the kernel to resolve when `resolved` is false.
    gateway: [u32; 4],
}

#[inline(always)]
pub fn enabled() -> bool {
    WEFT_CONFIG
        .get(CONFIG_HOST_ROUTING)
        .is_some_and(|on| *on != 0)
}

/// `address` is in one of the cluster's pod networks.
#[inline(always)]
pub fn is_pod_address(family: u8, address: &[u8; 16]) -> bool {
    let bits = if family == FAMILY_IPV4 { 32 } else { 128 };
    let data = EndpointKey {
        family,
        reserved: [0; 3],
        addr: *address,
    };
    WEFT_POD_NETWORKS
        .get(&Key::new(IP_KEY_FIXED_BITS + bits, data))
        .is_some()
}

/// Where the host stack would forward `packet`, which arrived on
/// `from_ifindex`, if that is into the pod of this node that owns the
/// destination, or out of another device towards an address of the pod
/// networks. Fragments and packets whose TTL runs out here are the
/// stack's (reassembly, ICMP).
#[inline(never)]
pub fn next_hop(ctx: &TcContext, packet: &IpPacket, from_ifindex: u32) -> Option<NextHop> {
    if packet.fragment != FRAGMENT_NONE || hops_left(ctx, packet.family)? <= 1 {
        return None;
    }
    let local = EndpointKey {
        family: packet.family,
        reserved: [0; 3],
        addr: packet.dst,
    };
    if let Some(local) = WEFT_LOCAL_PODS.get_ptr(&local) {
        // SAFETY: a value pointer the map lookup just returned.
        return into_local_pod(ctx, packet, from_ifindex, unsafe { &*local });
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
    let resolved = found == i64::from(BPF_FIB_LKUP_RET_SUCCESS);
    let unresolved = found == i64::from(BPF_FIB_LKUP_RET_NO_NEIGH);
    if !(resolved || unresolved) || params.ifindex == from_ifindex {
        return None;
    }
    let into_pod = match WEFT_INTERFACES.get_ptr(params.ifindex) {
        Some(pod) => {
            // SAFETY: a value pointer the map lookup just returned.
            let pod = unsafe { &*pod };
            // Pods have permanent neighbours: unresolved is a pod going away.
            if !owns_destination(pod, packet) || !resolved {
                return None;
            }
            true
        }
        // The lookup checked the MTU only if the neighbour was resolved.
        None if is_pod_address(packet.family, &packet.dst)
            && (resolved || fits(ctx, params.ifindex)) =>
        {
            false
        }
        None => return None,
    };
    // SAFETY: the lookup wrote the next hop's address over the destination.
    let gateway = unsafe {
        if packet.family == FAMILY_IPV4 {
            [params.__bindgen_anon_4.ipv4_dst, 0, 0, 0]
        } else {
            params.__bindgen_anon_4.ipv6_dst
        }
    };
    Some(NextHop {
        ifindex: params.ifindex,
        into_pod,
        resolved,
        src_mac: params.smac,
        dst_mac: params.dmac,
        gateway,
    })
}

/// Into the pod of this node at `local`, as the FIB would send it there:
/// only if the pod's interface record owns the destination (an entry left
/// from a deleted pod leads nowhere) and the packet fits its MTU.
#[inline(always)]
fn into_local_pod(
    ctx: &TcContext,
    packet: &IpPacket,
    from_ifindex: u32,
    local: &LocalPod,
) -> Option<NextHop> {
    let pod = WEFT_INTERFACES.get_ptr(local.ifindex)?;
    // SAFETY: a value pointer the map lookup just returned.
    let pod = unsafe { &*pod };
    if local.ifindex == from_ifindex || !owns_destination(pod, packet) || !fits(ctx, local.ifindex)
    {
        return None;
    }
    Some(NextHop {
        ifindex: local.ifindex,
        into_pod: true,
        resolved: true,
        src_mac: local.host_mac,
        dst_mac: pod.mac,
        gateway: [0; 4],
    })
}

/// `pod` has the packet's destination address.
#[inline(always)]
fn owns_destination(pod: &PodInterface, packet: &IpPacket) -> bool {
    if packet.family == FAMILY_IPV4 {
        pod.flags & POD_HAS_IPV4 != 0 && same_ipv4(&packet.dst, &pod.ipv4)
    } else {
        pod.flags & POD_HAS_IPV6 != 0 && same_address(&packet.dst, &pod.ipv6)
    }
}

/// The packet (each of its segments, for GSO) fits `ifindex`'s MTU.
#[inline(always)]
fn fits(ctx: &TcContext, ifindex: u32) -> bool {
    let mut length = 0u32;
    // SAFETY: the skb of this invocation; length 0 checks the skb itself.
    let fits = unsafe { bpf_check_mtu(ctx.skb.skb.cast(), ifindex, &mut length, 0, 0) };
    fits == i64::from(bpf_check_mtu_ret::BPF_MTU_CHK_RET_SUCCESS)
}

/// Forwards the frame to `hop` as the host stack would have: the next
/// hop's MACs (the kernel's neighbour code fills them in when unresolved),
/// TTL or hop limit one less (with the IPv4 checksum). Returns the TC
/// action.
#[inline(never)]
pub fn deliver(ctx: &TcContext, family: u8, hop: &NextHop) -> i32 {
    if rewrite(ctx, family, hop).is_none() {
        return TC_ACT_SHOT as i32;
    }
    // Kernels before 6.15 keep the mark across the netns boundary, and
    // the node device's exit hook must find no pending verdict.
    mark::clear(ctx);
    // SAFETY: helpers taking an ifindex (and a next hop of their size);
    // flags must be 0.
    unsafe {
        if hop.into_pod {
            bpf_redirect_peer(hop.ifindex, 0) as i32
        } else if hop.resolved {
            bpf_redirect(hop.ifindex, 0) as i32
        } else {
            let mut next: bpf_redir_neigh = core::mem::zeroed();
            if family == FAMILY_IPV4 {
                next.nh_family = u32::from(AF_INET);
                next.__bindgen_anon_1.ipv4_nh = hop.gateway[0];
            } else {
                next.nh_family = u32::from(AF_INET6);
                next.__bindgen_anon_1.ipv6_nh = hop.gateway;
            }
            bpf_redirect_neigh(
                hop.ifindex,
                &mut next,
                size_of::<bpf_redir_neigh>() as i32,
                0,
            ) as i32
        }
    }
}

#[inline(always)]
fn rewrite(ctx: &TcContext, family: u8, hop: &NextHop) -> Option<()> {
    if hop.resolved {
        let mut macs = [0u8; 12];
        macs[..6].copy_from_slice(&hop.dst_mac);
        macs[6..].copy_from_slice(&hop.src_mac);
        ctx.store(0, &macs, 0).ok()?;
    }
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
