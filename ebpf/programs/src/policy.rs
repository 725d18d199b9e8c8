//! The policy decision for one packet and direction, step for step like
//! weft-policy's `evaluate` (see weft-ebpf-common's policy module): endpoint,
//! own traffic, enforcement, the peer's identity, then at most four policy
//! LPM lookups. Constant work per packet.

use aya_ebpf::maps::lpm_trie::Key;
use weft_ebpf_common::{
    DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS, EndpointKey, FAMILY_IPV4, IDENTITY_ANY,
    IDENTITY_WORLD, IP_KEY_FIXED_BITS, POLICY_KEY_FIXED_BITS, PROTOCOL_ANY, PolicyKeyData,
    REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_NOT_ENFORCED, REASON_ALLOWED_OWN_TRAFFIC,
    REASON_DROPPED_BY_POLICY, REASON_DROPPED_UNKNOWN_ENDPOINT,
};

use crate::address::same_address;
use crate::maps::{WEFT_ENDPOINTS, WEFT_IDENTITIES, WEFT_POLICY};
use crate::packet::IpPacket;

pub struct Decision {
    pub reason: u32,
    pub identity: u32,
    pub profile: u32,
}

impl Decision {
    #[inline(always)]
    pub fn passes(&self) -> bool {
        matches!(
            self.reason,
            REASON_ALLOWED_BY_POLICY | REASON_ALLOWED_NOT_ENFORCED | REASON_ALLOWED_OWN_TRAFFIC
        )
    }
}

/// Decides `packet` in `direction` for the local endpoint `own` (its
/// address in the packet's family) against the packet's `peer` address.
/// The port is the destination port in both directions.
#[inline(always)]
pub fn decide(direction: u8, own: &[u8; 16], peer: &[u8; 16], packet: &IpPacket) -> Decision {
    let endpoint_key = EndpointKey {
        family: packet.family,
        reserved: [0; 3],
        addr: *own,
    };
    let Some(endpoint) = WEFT_ENDPOINTS.get_ptr(&endpoint_key) else {
        return Decision {
            reason: REASON_DROPPED_UNKNOWN_ENDPOINT,
            identity: 0,
            profile: 0,
        };
    };
    // SAFETY: a value pointer the map lookup just returned.
    let endpoint = unsafe { *endpoint };
    let decided = |reason, identity| Decision {
        reason,
        identity,
        profile: endpoint.profile,
    };
    if same_address(own, peer) {
        return decided(REASON_ALLOWED_OWN_TRAFFIC, 0);
    }
    let enforce = if direction == DIRECTION_INGRESS {
        ENFORCE_INGRESS
    } else {
        ENFORCE_EGRESS
    };
    if endpoint.flags & enforce == 0 {
        return decided(REASON_ALLOWED_NOT_ENFORCED, 0);
    }
    let identity = identity_of(packet.family, peer);
    let allowed = allows(
        endpoint.profile,
        identity,
        direction,
        packet.protocol,
        packet,
    ) || allows(endpoint.profile, identity, direction, PROTOCOL_ANY, packet)
        || allows(
            endpoint.profile,
            IDENTITY_ANY,
            direction,
            packet.protocol,
            packet,
        )
        || allows(
            endpoint.profile,
            IDENTITY_ANY,
            direction,
            PROTOCOL_ANY,
            packet,
        );
    if allowed {
        decided(REASON_ALLOWED_BY_POLICY, identity)
    } else {
        decided(REASON_DROPPED_BY_POLICY, identity)
    }
}

/// The longest identity prefix containing `addr`; none is the world.
#[inline(always)]
fn identity_of(family: u8, addr: &[u8; 16]) -> u32 {
    let address_bits = if family == FAMILY_IPV4 { 32 } else { 128 };
    let key = Key::new(
        IP_KEY_FIXED_BITS + address_bits,
        EndpointKey {
            family,
            reserved: [0; 3],
            addr: *addr,
        },
    );
    WEFT_IDENTITIES
        .get(&key)
        .map_or(IDENTITY_WORLD, |value| value.identity)
}

#[inline(always)]
fn allows(profile: u32, identity: u32, direction: u8, protocol: u8, packet: &IpPacket) -> bool {
    let key = Key::new(
        POLICY_KEY_FIXED_BITS + 16,
        PolicyKeyData {
            profile,
            identity,
            direction,
            protocol,
            port: packet.dst_port,
        },
    );
    WEFT_POLICY.get(&key).is_some()
}
