//! Flows policy allowed: a reply of a known flow passes without a policy
//! lookup, and so does a known flow's own direction while the policy maps
//! are unchanged since it was allowed. A TCP SYN never takes the shortcut:
//! a new connection that reuses an old one's ports gets today's policy.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use weft_ebpf_common::{CONFIG_POLICY_GENERATION, FlowKey, FlowValue};

use crate::maps::{WEFT_CONFIG, WEFT_CONNTRACK};
use crate::packet::IpPacket;

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

/// The packet belongs to a flow policy allowed (see the module doc).
#[inline(always)]
pub fn knows(packet: &IpPacket) -> bool {
    if packet.opens_connection() {
        return false;
    }
    let key = flow(packet);
    if WEFT_CONNTRACK.get_ptr(reverse(&key)).is_some() {
        return true;
    }
    match WEFT_CONNTRACK.get_ptr(&key) {
        // SAFETY: a map value pointer the kernel just returned.
        Some(value) => unsafe { (*value).generation == generation() },
        None => false,
    }
}

/// Remembers the packet's flow as allowed. A full table evicts the least
/// recently used flow (LRU), which then needs policy again.
#[inline(always)]
pub fn remember(packet: &IpPacket) {
    let value = FlowValue {
        // SAFETY: a helper without arguments.
        allowed_ns: unsafe { bpf_ktime_get_ns() },
        generation: generation(),
        reserved: 0,
    };
    let _ = WEFT_CONNTRACK.insert(flow(packet), value, 0);
}
