//! Flows policy allowed: a reply of a known flow passes without a policy
//! lookup, and so does a known flow's own direction while the policy maps
//! are unchanged since it was allowed. A TCP SYN never takes the shortcut:
//! a new connection that reuses an old one's ports gets today's policy.
//! An ICMP error about a known flow passes too (path-MTU discovery).
//! Each packet moves its entry on (weft-ebpf-common's conntrack module):
//! a RST removes it, an expired entry is removed when found and counts as
//! absent, so the packet meets policy again.
//! An entry also says which path its flow takes between local pods
//! (`FlowValue::path`): an ICMP error about a flow takes the flow's.

use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{
    CONFIG_POLICY_GENERATION, FlowKey, FlowValue, REASON_DROPPED_CONNTRACK_FULL, advance, is_alive,
    same_address, start,
};

use crate::maps::{WEFT_CONFIG, WEFT_CONNTRACK};
use crate::packet::IpPacket;
use crate::transport::quoted_flow;
use crate::verdict;

#[inline(always)]
fn flow(packet: &IpPacket) -> FlowKey {
    FlowKey {
        family: packet.family,
        protocol: packet.protocol,
        src_port: packet.src_port,
        dst_port: packet.dst_port,
        reserved: [0; 2],
        src: packet.src,
        dst: packet.dst,
    }
}

#[inline(always)]
fn reverse(key: &FlowKey) -> FlowKey {
    FlowKey {
        src_port: key.dst_port,
        dst_port: key.src_port,
        src: key.dst,
        dst: key.src,
        ..*key
    }
}

#[inline(always)]
fn generation() -> u32 {
    WEFT_CONFIG
        .get(CONFIG_POLICY_GENERATION)
        .copied()
        .unwrap_or_default()
}

/// CLOCK_MONOTONIC_COARSE: lifetimes are seconds, and the coarse clock
/// reads the last tick instead of the TSC (an established flow's packet
/// reads the clock).
#[inline(always)]
fn now() -> u64 {
    // SAFETY: a helper without arguments.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// The live entry of `key` (an expired one is removed).
#[inline(always)]
fn live(key: &FlowKey, now_ns: u64) -> Option<FlowValue> {
    // SAFETY: a value pointer the kernel just returned.
    let entry = unsafe { *WEFT_CONNTRACK.get_ptr(key)? };
    if is_alive(&entry, now_ns) {
        Some(entry)
    } else {
        let _ = WEFT_CONNTRACK.remove(key);
        None
    }
}

/// Applies `packet` to `key`'s live `entry` (`reply`: the packet goes the
/// other way): ends it, rewrites it, or leaves it.
#[inline(always)]
fn follow(key: &FlowKey, entry: &FlowValue, packet: &IpPacket, reply: bool, now_ns: u64) {
    match advance(entry, &packet.flow_packet(), reply, now_ns) {
        None => {
            let _ = WEFT_CONNTRACK.remove(key);
        }
        Some(Some(next)) => {
            let _ = WEFT_CONNTRACK.insert(key, next, 0);
        }
        Some(None) => {}
    }
}

/// The path (`FLOW_PATH_*`) of the flow policy allowed that the packet
/// belongs to, or is an ICMP error about (see the module doc); `None` for
/// any other packet. A flow's entry follows it.
// `follows`, `is_related` and `remember` are calls of their own: the
// verifier gives a call chain 512 bytes of stack in all, and the programs'
// frames are much smaller without them.
#[inline(always)]
pub fn knows(ctx: &TcContext, packet: &IpPacket) -> Option<u8> {
    match packet.icmp_error_at() {
        Some(at) => is_related(ctx, packet, at),
        None => follows(packet),
    }
}

/// The packet is its flow's, or a reply of it: the flow's path (see [`knows`]).
#[inline(never)]
fn follows(packet: &IpPacket) -> Option<u8> {
    if packet.opens_connection() {
        return None;
    }
    let now_ns = now();
    let key = flow(packet);
    let reversed = reverse(&key);
    if let Some(entry) = live(&reversed, now_ns) {
        follow(&reversed, &entry, packet, true, now_ns);
        return Some(entry.path);
    }
    match live(&key, now_ns) {
        Some(entry) if entry.generation == generation() => {
            follow(&key, &entry, packet, false, now_ns);
            Some(entry.path)
        }
        _ => None,
    }
}

/// An ICMP error about a live flow, on its way back to the quoted packet's
/// sender (as Linux conntrack's RELATED). It leaves the entry as it is:
/// an error is not the flow's own traffic.
#[inline(never)]
fn is_related(ctx: &TcContext, error: &IpPacket, at: usize) -> Option<u8> {
    let quoted = quoted_flow(ctx, at, error.family)?;
    if !same_address(&error.dst, &quoted.src) {
        return None;
    }
    let now_ns = now();
    live(&quoted, now_ns)
        .or_else(|| live(&reverse(&quoted), now_ns))
        .map(|entry| entry.path)
}

/// Remembers the packet's flow as allowed by today's policy, taking
/// `path` (`FLOW_PATH_*`): a new entry, or the flow's entry moved on. A
/// full table evicts the least recently used flow (LRU), which then needs
/// policy again. False when a new flow's entry could not be stored: the
/// caller drops the packet (see [`stored_or_dropped`]).
#[inline(never)]
pub fn remember(packet: &IpPacket, path: u8) -> bool {
    let now_ns = now();
    let key = flow(packet);
    let generation = generation();
    let Some(entry) = live(&key, now_ns) else {
        return match start(&packet.flow_packet(), generation, now_ns) {
            Some(entry) => WEFT_CONNTRACK
                .insert(&key, FlowValue { path, ..entry }, 0)
                .is_ok(),
            None => true,
        };
    };
    let unchanged = entry.generation == generation && entry.path == path;
    let entry = FlowValue {
        generation,
        path,
        ..entry
    };
    match advance(&entry, &packet.flow_packet(), false, now_ns) {
        None => {
            let _ = WEFT_CONNTRACK.remove(&key);
        }
        Some(Some(next)) => {
            let _ = WEFT_CONNTRACK.insert(&key, next, 0);
        }
        Some(None) if !unchanged => {
            let _ = WEFT_CONNTRACK.insert(&key, entry, 0);
        }
        Some(None) => {}
    }
    true
}

/// [`remember`], counting a flow it could not store as dropped: allowed
/// without an entry, its replies would meet policy as new flows. Whether
/// the packet may go on.
#[inline(always)]
pub fn stored_or_dropped(packet: &IpPacket, path: u8) -> bool {
    let stored = remember(packet, path);
    if !stored {
        verdict::count(REASON_DROPPED_CONNTRACK_FULL);
    }
    stored
}
