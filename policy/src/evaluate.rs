//! The datapath's decision, step for step as the eBPF program takes it (see
//! [`crate::maps`]), run on map contents. Tests check policy semantics
//! through it, so they check the encoding too; `weftctl` can answer "would
//! this packet pass?" with it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::encode::MapContents;
use crate::maps::{
    IDENTITY_ANY, IDENTITY_WORLD, IP_KEY_FIXED_BITS, IpKey, POLICY_KEY_FIXED_BITS, PROTOCOL_ANY,
    PolicyKey, endpoint_key, ip_key, policy_key,
};
use crate::ports::PortPrefix;
use crate::rules::Direction;

/// A packet as the program on a pod's host-side veth sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Ingress: toward the pod; egress: from it.
    pub direction: Direction,
    /// The local pod's address (destination on ingress, source on egress).
    pub endpoint: IpAddr,
    /// The other end's address.
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
    let Some(endpoint) = maps.endpoints.get(&endpoint_key(packet.endpoint)) else {
        return Verdict::UnknownEndpoint;
    };
    if packet.peer == packet.endpoint {
        return Verdict::OwnTraffic;
    }
    if endpoint.flags & packet.direction.enforce_flag() == 0 {
        return Verdict::NotEnforced;
    }
    let identity = lookup_identity(&maps.identities, packet.peer);
    for peer in [identity, IDENTITY_ANY] {
        for protocol in [packet.protocol, PROTOCOL_ANY] {
            let wanted = |port: PortPrefix| {
                let direction = packet.direction.code();
                policy_key(endpoint.profile, peer, direction, protocol, port)
            };
            if let Some(key) = lookup_policy(&maps.policy, wanted, packet.port) {
                return Verdict::Allowed(key);
            }
        }
    }
    Verdict::Denied { identity }
}

/// LPM on the identity map, as the kernel's trie answers it: the longest
/// stored prefix containing `address`.
pub fn lookup_identity(
    identities: &BTreeMap<IpKey, crate::maps::IdentityValue>,
    address: IpAddr,
) -> u32 {
    let max = if address.is_ipv4() { 32 } else { 128 };
    (0..=max)
        .rev()
        .find_map(|len| {
            let key = ip_key(IpNet::new(address, len).ok()?);
            debug_assert_eq!(key.prefixlen, IP_KEY_FIXED_BITS + u32::from(len));
            identities.get(&key)
        })
        .map_or(IDENTITY_WORLD, |value| value.identity)
}

/// LPM on the policy map for the fixed fields of `key` and `port`.
fn lookup_policy(
    policy: &BTreeMap<PolicyKey, crate::maps::PolicyValue>,
    key: impl Fn(PortPrefix) -> PolicyKey,
    port: u16,
) -> Option<PolicyKey> {
    (0..=16u8).rev().find_map(|len| {
        let mask = u16::MAX.checked_shl(16 - u32::from(len)).unwrap_or(0);
        let key = key(PortPrefix {
            value: port & mask,
            len,
        });
        debug_assert_eq!(key.prefixlen, POLICY_KEY_FIXED_BITS + u32::from(len));
        policy.contains_key(&key).then_some(key)
    })
}
