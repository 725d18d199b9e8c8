//! The policy decision (weft-ebpf-common's `decide`, which weft-policy's
//! `evaluate` runs too) on the programs' maps.

use aya_ebpf::maps::lpm_trie::Key;
use weft_ebpf_common::{
    Decision, EndpointKey, EndpointValue, IdentityValue, IpKey, PolicyKey, PolicyMaps, Query,
};

use crate::maps::{WEFT_ENDPOINTS, WEFT_IDENTITIES, WEFT_POLICY};
use crate::packet::IpPacket;
use crate::verdict::{self, Verdict};

/// The pinned policy maps. A policy hit is only a value here: the kernel's
/// LPM lookup does not say which entry matched.
struct KernelMaps;

impl PolicyMaps for KernelMaps {
    type Hit = ();

    #[inline(always)]
    fn endpoint(&self, key: &EndpointKey) -> Option<EndpointValue> {
        // SAFETY: a value pointer the map lookup just returned.
        WEFT_ENDPOINTS.get_ptr(key).map(|value| unsafe { *value })
    }

    #[inline(always)]
    fn identity(&self, key: &IpKey) -> Option<IdentityValue> {
        WEFT_IDENTITIES
            .get(&Key::new(key.prefixlen, key.data()))
            .copied()
    }

    #[inline(always)]
    fn policy(&self, key: &PolicyKey) -> Option<()> {
        WEFT_POLICY
            .get(&Key::new(key.prefixlen, key.data()))
            .map(|_| ())
    }
}

/// Decides `packet` in `direction` for the local endpoint `own` (its
/// address in the packet's family) against the packet's `peer` address.
/// The port is the destination port in both directions, 0 for protocols
/// without ports.
#[inline(always)]
pub fn decide(direction: u8, own: &[u8; 16], peer: &[u8; 16], packet: &IpPacket) -> Decision<()> {
    let port = if packet.has_ports() {
        packet.dst_port
    } else {
        [0; 2]
    };
    let query = Query {
        direction,
        family: packet.family,
        protocol: packet.protocol,
        port,
        own,
        peer,
    };
    weft_ebpf_common::decide(&KernelMaps, &query)
}

/// Decides `packet` in `direction` for the local endpoint at `own`, whose
/// host veth is `ifindex`; counts and reports the verdict. True: it passes.
#[inline(always)]
pub fn passes(
    direction: u8,
    own: &[u8; 16],
    peer: &[u8; 16],
    packet: &IpPacket,
    ifindex: u32,
) -> bool {
    let decision = decide(direction, own, peer, packet);
    let taken = Verdict::of(&decision, direction, ifindex);
    if decision.passes() {
        verdict::allow(&taken, packet);
        true
    } else {
        verdict::drop(&taken, Some(packet));
        false
    }
}
