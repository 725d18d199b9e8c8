//! The policy decision for one packet and direction, written once: the eBPF
//! programs run it on their maps, weft-policy's `evaluate` on the map
//! contents weftd writes, so what tests check in userspace is what the
//! kernel does. Endpoint, own traffic, enforcement, the peer's identity,
//! then at most two policy LPM lookups (the policy maps' module explains
//! each step): constant work per packet.
//!
//! For the BPF verifier: everything inlines, there are no loops, no
//! recursion and no allocation, and addresses are compared without `memcmp`.

use crate::{
    DIRECTION_INGRESS, ENFORCE_EGRESS, ENFORCE_INGRESS, EndpointKey, EndpointValue, FAMILY_IPV4,
    IDENTITY_ANY, IDENTITY_WORLD, IP_KEY_FIXED_BITS, IdentityValue, IpKey, POLICY_KEY_FIXED_BITS,
    PolicyKey, REASON_ALLOWED_BY_POLICY, REASON_ALLOWED_NOT_ENFORCED, REASON_ALLOWED_OWN_TRAFFIC,
    REASON_DROPPED_BY_POLICY, REASON_DROPPED_UNKNOWN_ENDPOINT,
};

/// The lookups a decision makes in the three policy maps, wherever they are.
pub trait PolicyMaps {
    /// What a policy hit tells: the kernel's lookup returns only the
    /// value, a userspace one can name the entry that matched.
    type Hit;

    /// The endpoint map's entry for `key`.
    fn endpoint(&self, key: &EndpointKey) -> Option<EndpointValue>;

    /// The identity map's longest prefix containing `key`'s address
    /// (`key.prefixlen` covers the whole address).
    fn identity(&self, key: &IpKey) -> Option<IdentityValue>;

    /// The policy map's longest entry matching `key`'s exact fields and a
    /// prefix of its port (`key.prefixlen` covers the whole port).
    fn policy(&self, key: &PolicyKey) -> Option<Self::Hit>;
}

/// One packet as a decision sees it; both addresses are of `family`
/// (IPv4 in the first 4 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// [`DIRECTION_INGRESS`] (toward the local pod) or egress (from it).
    pub direction: u8,
    pub family: u8,
    pub protocol: u8,
    /// The destination port in both directions, big-endian as in the
    /// packet (0 for protocols without ports).
    pub port: [u8; 2],
    /// The local pod's address: the destination on ingress, the source on egress.
    pub own: &'a [u8; 16],
    /// The other end's address.
    pub peer: &'a [u8; 16],
}

/// What the datapath does with a packet and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<H> {
    /// The local address has no endpoint entry: drop.
    UnknownEndpoint,
    /// Between the pod and itself: pass.
    OwnTraffic { profile: u32 },
    /// No policy isolates the pod in this direction: pass.
    NotEnforced { profile: u32 },
    /// A policy entry allows it: pass.
    Allowed { profile: u32, identity: u32, hit: H },
    /// The pod is isolated and no entry allows the peer's identity: drop.
    Denied { profile: u32, identity: u32 },
}

impl<H> Decision<H> {
    #[inline(always)]
    pub fn passes(&self) -> bool {
        matches!(
            self,
            Self::OwnTraffic { .. } | Self::NotEnforced { .. } | Self::Allowed { .. }
        )
    }

    /// The `REASON_*` it is counted and reported under.
    #[inline(always)]
    pub fn reason(&self) -> u32 {
        match self {
            Self::UnknownEndpoint => REASON_DROPPED_UNKNOWN_ENDPOINT,
            Self::OwnTraffic { .. } => REASON_ALLOWED_OWN_TRAFFIC,
            Self::NotEnforced { .. } => REASON_ALLOWED_NOT_ENFORCED,
            Self::Allowed { .. } => REASON_ALLOWED_BY_POLICY,
            Self::Denied { .. } => REASON_DROPPED_BY_POLICY,
        }
    }

    /// The endpoint's profile (0 without an endpoint entry).
    #[inline(always)]
    pub fn profile(&self) -> u32 {
        match self {
            Self::UnknownEndpoint => 0,
            Self::OwnTraffic { profile }
            | Self::NotEnforced { profile }
            | Self::Allowed { profile, .. }
            | Self::Denied { profile, .. } => *profile,
        }
    }

    /// The peer's identity (0 when it was not looked up).
    #[inline(always)]
    pub fn identity(&self) -> u32 {
        match self {
            Self::Allowed { identity, .. } | Self::Denied { identity, .. } => *identity,
            _ => 0,
        }
    }
}

/// Decides `query` on `maps`.
#[inline(always)]
pub fn decide<M: PolicyMaps>(maps: &M, query: &Query<'_>) -> Decision<M::Hit> {
    let endpoint_key = EndpointKey {
        family: query.family,
        reserved: [0; 3],
        addr: *query.own,
    };
    let Some(endpoint) = maps.endpoint(&endpoint_key) else {
        return Decision::UnknownEndpoint;
    };
    let profile = endpoint.profile;
    if same_address(query.own, query.peer) {
        return Decision::OwnTraffic { profile };
    }
    let enforce = if query.direction == DIRECTION_INGRESS {
        ENFORCE_INGRESS
    } else {
        ENFORCE_EGRESS
    };
    if endpoint.flags & enforce == 0 {
        return Decision::NotEnforced { profile };
    }
    let identity = peer_identity(maps, query.family, query.peer);
    // Protocol and port are the LPM part: one lookup also finds the peer's
    // any-protocol entry.
    let lookup = |peer| {
        maps.policy(&PolicyKey {
            prefixlen: POLICY_KEY_FIXED_BITS + 16,
            profile,
            identity: peer,
            direction: query.direction,
            protocol: query.protocol,
            port: query.port,
        })
    };
    let hit = lookup(identity).or_else(|| lookup(IDENTITY_ANY));
    match hit {
        Some(hit) => Decision::Allowed {
            profile,
            identity,
            hit,
        },
        None => Decision::Denied { profile, identity },
    }
}

/// The identity of `addr`: its longest prefix in the identity map, else the world.
#[inline(always)]
fn peer_identity<M: PolicyMaps>(maps: &M, family: u8, addr: &[u8; 16]) -> u32 {
    let address_bits = if family == FAMILY_IPV4 { 32 } else { 128 };
    let key = IpKey {
        prefixlen: IP_KEY_FIXED_BITS + address_bits,
        family,
        reserved: [0; 3],
        addr: *addr,
    };
    maps.identity(&key)
        .map_or(IDENTITY_WORLD, |value| value.identity)
}

/// The two halves of an address as words: comparing them needs no `memcmp`,
/// which the BPF target lacks and `==` on byte arrays may compile to.
#[inline(always)]
fn words(addr: &[u8; 16]) -> (u64, u64) {
    // SAFETY: 16 readable bytes; read_unaligned has no alignment needs.
    unsafe {
        (
            core::ptr::read_unaligned(addr.as_ptr().cast::<u64>()),
            core::ptr::read_unaligned(addr.as_ptr().add(8).cast::<u64>()),
        )
    }
}

#[inline(always)]
pub fn same_address(a: &[u8; 16], b: &[u8; 16]) -> bool {
    words(a) == words(b)
}
