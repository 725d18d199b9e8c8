//! The three policy maps weftd compiles NetworkPolicies into (the compiler
//! is crate weft-policy). Per packet, [`decide`](crate::decide) does a
//! constant amount of work, independent of the number of policies, rules
//! and pods:
//! 1. [`ENDPOINT_MAP`]`[local pod address]` gives the endpoint's profile and
//!    which directions it enforces (no entry: not a ready endpoint, drop).
//! 2. A packet between the pod and itself passes (a pod cannot block itself).
//! 3. A direction the endpoint does not enforce passes.
//! 4. [`IDENTITY_MAP`] (LPM) maps the peer address to its identity; no match
//!    is [`IDENTITY_WORLD`].
//! 5. [`POLICY_MAP`] (LPM on protocol and port) is looked up for the
//!    peer's identity and for any peer: a hit allows, else drop. An entry
//!    for any protocol ends its prefix before the protocol, so the same
//!    lookup finds it (as Cilium encodes it).
//!
//! The port is the packet's destination port in both directions (0 for
//! protocols without ports); replies of allowed flows pass by conntrack.

/// Name of the LPM map [`IpKey`] -> [`IdentityValue`].
pub const IDENTITY_MAP: &str = "WEFT_IDENTITIES";
/// Name of the hash map [`EndpointKey`] -> [`EndpointValue`].
pub const ENDPOINT_MAP: &str = "WEFT_ENDPOINTS";
/// Name of the LPM map [`PolicyKey`] -> [`PolicyValue`].
pub const POLICY_MAP: &str = "WEFT_POLICY";

/// Capacity of [`IDENTITY_MAP`]: every pod of the cluster and every ipBlock prefix.
pub const MAX_IDENTITY_PREFIXES: u32 = 262_144;
/// Capacity of [`ENDPOINT_MAP`]: addresses of this node's pods.
pub const MAX_ENDPOINTS: u32 = 16_384;
/// Capacity of [`POLICY_MAP`].
pub const MAX_POLICY_ENTRIES: u32 = 1_048_576;

/// `PolicyKey::identity` matching any peer (never an address's identity).
pub const IDENTITY_ANY: u32 = 0;
/// Addresses no pod, node or ipBlock prefix covers.
pub const IDENTITY_WORLD: u32 = 1;
/// The local node's own addresses.
pub const IDENTITY_HOST: u32 = 2;
/// Identities below this are reserved; computed ones are at least this.
pub const FIRST_COMPUTED_IDENTITY: u32 = 256;

/// `PolicyKey::protocol` matching any protocol (and then any port).
pub const PROTOCOL_ANY: u8 = 0;
/// Toward the pod.
pub const DIRECTION_INGRESS: u8 = 0;
/// From the pod.
pub const DIRECTION_EGRESS: u8 = 1;
pub const FAMILY_IPV4: u8 = 4;
pub const FAMILY_IPV6: u8 = 6;
/// `EndpointValue::flags`: policies isolate the pod for ingress.
pub const ENFORCE_INGRESS: u32 = 1;
/// `EndpointValue::flags`: policies isolate the pod for egress.
pub const ENFORCE_EGRESS: u32 = 2;
/// `EndpointValue::profile` with no policy entry at all (profiles are
/// numbered from 1): an endpoint under it is allowed nothing in the
/// directions it is isolated in. Unselected endpoints have it, and so do
/// isolated ones whose own profile the policy map had no room for.
pub const PROFILE_NONE: u32 = 0;
/// `PolicyValue::flags`: the entry allows (the only kind NetworkPolicy has).
pub const POLICY_ALLOW: u32 = 1;

/// Bits of an [`IpKey`] before the address (family + reserved).
pub const IP_KEY_FIXED_BITS: u32 = 32;
/// Bits of a [`PolicyKey`] before the port (profile, identity, direction, protocol).
pub const POLICY_KEY_FIXED_BITS: u32 = 80;
/// Bits of a [`PolicyKey`] before the protocol: the prefix length of an
/// entry for [`PROTOCOL_ANY`], which thus matches every protocol and port.
pub const POLICY_KEY_ANY_PROTOCOL_BITS: u32 = 72;

/// An address family and address bytes, in network order. IPv4 uses the
/// first 4 bytes; the family is part of the key, so families never match
/// each other's prefixes (`::/0` does not cover IPv4).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointKey {
    pub family: u8,
    pub reserved: [u8; 3],
    pub addr: [u8; 16],
}

/// LPM key of the identity map: `prefixlen` = [`IP_KEY_FIXED_BITS`] + the
/// prefix length; the address bits past the prefix are zero.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpKey {
    pub prefixlen: u32,
    pub family: u8,
    pub reserved: [u8; 3],
    pub addr: [u8; 16],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityValue {
    pub identity: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointValue {
    /// Selects the endpoint's entries in the policy map.
    pub profile: u32,
    /// [`ENFORCE_INGRESS`] | [`ENFORCE_EGRESS`].
    pub flags: u32,
}

/// LPM key of the policy map: the exact fields first, then protocol and
/// port, so `prefixlen` = [`POLICY_KEY_FIXED_BITS`] + the port prefix
/// length, or [`POLICY_KEY_ANY_PROTOCOL_BITS`] for any protocol.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKey {
    pub prefixlen: u32,
    pub profile: u32,
    /// The peer's identity, or [`IDENTITY_ANY`].
    pub identity: u32,
    pub direction: u8,
    /// IP protocol number, or [`PROTOCOL_ANY`] (then the prefix ends before it).
    pub protocol: u8,
    /// Destination port, big-endian, as in the packet.
    pub port: [u8; 2],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyValue {
    pub flags: u32,
}

const _: () = assert!(size_of::<EndpointKey>() == 20);
const _: () = assert!(size_of::<IpKey>() == 24);
const _: () = assert!(size_of::<PolicyKey>() == 16);

// SAFETY: all are #[repr(C)], Copy, and without padding (asserted above for keys;
// values are one or two u32).
#[cfg(feature = "user")]
mod pod_impls {
    unsafe impl aya::Pod for super::EndpointKey {}
    unsafe impl aya::Pod for super::IpKey {}
    unsafe impl aya::Pod for super::IdentityValue {}
    unsafe impl aya::Pod for super::EndpointValue {}
    unsafe impl aya::Pod for super::PolicyKey {}
    unsafe impl aya::Pod for super::PolicyValue {}
}
