//! The datapath's decision run on map contents: weft-ebpf-common's
//! `decide`, the very code the eBPF programs run, with its lookups answered
//! by [`MapContents`] the way the kernel's maps answer them. Tests check
//! policy semantics through it, so they check the encoding too; `weftctl`
//! can answer "would this packet pass?" with it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use weft_ebpf_common::{Decision, PolicyMaps, Query, decide};

use crate::encode::MapContents;
use crate::maps::{
    EndpointKey, EndpointValue, IDENTITY_WORLD, IP_KEY_FIXED_BITS, IdentityValue, IpKey,
    POLICY_KEY_ANY_PROTOCOL_BITS, POLICY_KEY_FIXED_BITS, PROTOCOL_ANY, PolicyKey, endpoint_key,
    ip_key,
};
use crate::rules::Direction;

/// A packet as the program on a pod's host-side veth sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Ingress: toward the pod; egress: from it.
    pub direction: Direction,
    /// The local pod's address (destination on ingress, source on egress).
    pub endpoint: IpAddr,
    /// The other end's address, of the endpoint's family as in any packet.
    pub peer: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// Destination port (0 for protocols without ports).
    pub port: u16,
}

/// The program's decision and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The address is no ready endpoint: drop.
    UnknownEndpoint,
    /// Between the pod and itself: pass.
    OwnTraffic,
    /// No policy isolates the pod in this direction: pass.
    NotEnforced,
    /// This policy entry allows it: pass.
    Allowed(PolicyKey),
    /// No entry for the peer's identity allows it: drop.
    Denied { identity: u32 },
}

impl Verdict {
    pub fn passes(self) -> bool {
        matches!(
            self,
            Verdict::OwnTraffic | Verdict::NotEnforced | Verdict::Allowed(_)
        )
    }
}

/// What the datapath does with `packet` given `maps`.
pub fn evaluate(maps: &MapContents, packet: &Packet) -> Verdict {
    let own = endpoint_key(packet.endpoint);
    let peer = endpoint_key(packet.peer);
    let query = Query {
        direction: packet.direction.code(),
        family: own.family,
        protocol: packet.protocol,
        port: packet.port.to_be_bytes(),
        own: &own.addr,
        peer: &peer.addr,
    };
    match decide(maps, &query) {
        Decision::UnknownEndpoint => Verdict::UnknownEndpoint,
        Decision::OwnTraffic { .. } => Verdict::OwnTraffic,
        Decision::NotEnforced { .. } => Verdict::NotEnforced,
        Decision::Allowed { hit, .. } => Verdict::Allowed(hit),
        Decision::Denied { identity, .. } => Verdict::Denied { identity },
    }
}

/// The maps' lookups as the kernel answers them; the LPM tries are walked
/// from the key's own prefix length down to 0.
impl PolicyMaps for MapContents {
    /// The entry that allowed, for tests and `weftctl` to show.
    type Hit = PolicyKey;

    fn endpoint(&self, key: &EndpointKey) -> Option<EndpointValue> {
        self.endpoints.get(key).copied()
    }

    fn identity(&self, key: &IpKey) -> Option<IdentityValue> {
        longest_identity(&self.identities, key)
    }

    fn policy(&self, key: &PolicyKey) -> Option<PolicyKey> {
        let port = u16::from_be_bytes(key.port);
        let port_bits = key.prefixlen.saturating_sub(POLICY_KEY_FIXED_BITS).min(16);
        let any_protocol = PolicyKey {
            prefixlen: POLICY_KEY_ANY_PROTOCOL_BITS,
            protocol: PROTOCOL_ANY,
            port: [0; 2],
            ..*key
        };
        (0..=port_bits)
            .rev()
            .map(|len| {
                let mask = u16::MAX.checked_shl(16 - len).unwrap_or(0);
                PolicyKey {
                    prefixlen: POLICY_KEY_FIXED_BITS + len,
                    port: (port & mask).to_be_bytes(),
                    ..*key
                }
            })
            .chain([any_protocol])
            .find(|prefix| self.policy.contains_key(prefix))
    }
}

/// The identity the datapath gives `address`: its longest prefix in the
/// identity map, else the world.
pub fn lookup_identity(identities: &BTreeMap<IpKey, IdentityValue>, address: IpAddr) -> u32 {
    longest_identity(identities, &ip_key(address.into()))
        .map_or(IDENTITY_WORLD, |value| value.identity)
}

fn longest_identity(
    identities: &BTreeMap<IpKey, IdentityValue>,
    key: &IpKey,
) -> Option<IdentityValue> {
    let address_bits = key.prefixlen.saturating_sub(IP_KEY_FIXED_BITS).min(128);
    (0..=address_bits).rev().find_map(|len| {
        let prefix = IpKey {
            prefixlen: IP_KEY_FIXED_BITS + len,
            addr: truncated(&key.addr, len),
            ..*key
        };
        identities.get(&prefix).copied()
    })
}

/// `addr` with every bit after the first `bits` cleared.
fn truncated(addr: &[u8; 16], bits: u32) -> [u8; 16] {
    let mut kept = [0; 16];
    for ((byte, kept), start) in addr.iter().zip(&mut kept).zip((0..).step_by(8)) {
        // The leading `keep` bits of this byte (0..=8; a shift by 8 is None).
        let keep = bits.saturating_sub(start).min(8);
        *kept = byte & !u8::MAX.checked_shr(keep).unwrap_or(0);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncating_keeps_the_leading_bits() {
        let addr = [0xff; 16];
        let mut expected = [0; 16];
        expected[0] = 0xff;
        expected[1] = 0xf0;
        assert_eq!(truncated(&addr, 12), expected);
        assert_eq!(truncated(&addr, 0), [0; 16]);
        assert_eq!(truncated(&addr, 128), addr);
    }
}
