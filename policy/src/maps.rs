//! The keys and values of the three policy maps, laid out for the eBPF TC
//! programs. These `#[repr(C)]` types move to `ebpf/common` (no_std, plus the
//! `aya::Pod` impls) when the programs land; nothing here needs std.
//!
//! Per packet the program does a constant amount of work, independent of the
//! number of policies, rules and pods:
//! 1. `ENDPOINTS[local pod address]` gives the endpoint's profile and which
//!    directions it enforces (no entry: not a ready endpoint, drop).
//! 2. A packet between the pod and itself passes (a pod cannot block itself).
//! 3. A direction the endpoint does not enforce passes.
//! 4. `IDENTITIES` (LPM) maps the peer address to its identity; no match is
//!    [`IDENTITY_WORLD`].
//! 5. `POLICY` (LPM on the port) is looked up with (identity, protocol),
//!    (identity, any), (any, protocol), (any, any): a hit allows, else drop.
//!
//! The port is the packet's destination port in both directions (0 for
//! protocols without ports); replies of allowed flows pass by conntrack.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::ports::PortPrefix;

/// Name of the LPM map [`IpKey`] -> [`IdentityValue`].
pub const IDENTITY_MAP: &str = "IDENTITIES";
/// Name of the hash map [`EndpointKey`] -> [`EndpointValue`].
pub const ENDPOINT_MAP: &str = "ENDPOINTS";
/// Name of the LPM map [`PolicyKey`] -> [`PolicyValue`].
pub const POLICY_MAP: &str = "POLICY";

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
pub const DIRECTION_INGRESS: u8 = 0;
pub const DIRECTION_EGRESS: u8 = 1;
pub const FAMILY_IPV4: u8 = 4;
pub const FAMILY_IPV6: u8 = 6;
/// `EndpointValue::flags`: policies isolate the pod for ingress.
pub const ENFORCE_INGRESS: u32 = 1;
/// `EndpointValue::flags`: policies isolate the pod for egress.
pub const ENFORCE_EGRESS: u32 = 2;
/// `PolicyValue::flags`: the entry allows (the only kind NetworkPolicy has).
pub const POLICY_ALLOW: u32 = 1;

/// Bits of an [`IpKey`] before the address (family + reserved).
pub const IP_KEY_FIXED_BITS: u32 = 32;
/// Bits of a [`PolicyKey`] before the port (profile, identity, direction, protocol).
pub const POLICY_KEY_FIXED_BITS: u32 = 80;

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

/// LPM key of the policy map: the exact fields first, then the port, so
/// `prefixlen` = [`POLICY_KEY_FIXED_BITS`] + the port prefix length.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKey {
    pub prefixlen: u32,
    pub profile: u32,
    /// The peer's identity, or [`IDENTITY_ANY`].
    pub identity: u32,
    pub direction: u8,
    /// IP protocol number, or [`PROTOCOL_ANY`] (then the port prefix is empty).
    pub protocol: u8,
    /// Destination port, big-endian, as in the packet.
    pub port: [u8; 2],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyValue {
    pub flags: u32,
}

// No padding anywhere: the kernel compares keys byte by byte.
const _: () = assert!(size_of::<EndpointKey>() == 20);
const _: () = assert!(size_of::<IpKey>() == 24);
const _: () = assert!(size_of::<PolicyKey>() == 16);

fn family_and_bytes(address: IpAddr) -> (u8, [u8; 16]) {
    let mut addr = [0; 16];
    match address {
        IpAddr::V4(v4) => {
            addr[..4].copy_from_slice(&v4.octets());
            (FAMILY_IPV4, addr)
        }
        IpAddr::V6(v6) => (FAMILY_IPV6, v6.octets()),
    }
}

impl EndpointKey {
    pub fn new(address: IpAddr) -> Self {
        let (family, addr) = family_and_bytes(address);
        EndpointKey {
            family,
            reserved: [0; 3],
            addr,
        }
    }
}

impl IpKey {
    /// The key of `prefix` (host bits cleared).
    pub fn new(prefix: IpNet) -> Self {
        let (family, addr) = family_and_bytes(prefix.trunc().addr());
        IpKey {
            prefixlen: IP_KEY_FIXED_BITS + u32::from(prefix.prefix_len()),
            family,
            reserved: [0; 3],
            addr,
        }
    }
}

impl PolicyKey {
    pub fn new(profile: u32, identity: u32, direction: u8, protocol: u8, port: PortPrefix) -> Self {
        PolicyKey {
            prefixlen: POLICY_KEY_FIXED_BITS + u32::from(port.len),
            profile,
            identity,
            direction,
            protocol,
            port: port.value.to_be_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_keys_carry_family_and_clear_host_bits() {
        let key = IpKey::new("10.1.2.3/16".parse().unwrap());
        assert_eq!(key.prefixlen, 32 + 16);
        assert_eq!(key.family, FAMILY_IPV4);
        assert_eq!(&key.addr[..4], &[10, 1, 0, 0]);
        assert_eq!(&key.addr[4..], &[0; 12]);
        let v6 = IpKey::new("::/0".parse().unwrap());
        assert_eq!((v6.prefixlen, v6.family), (32, FAMILY_IPV6));
    }

    #[test]
    fn policy_keys_put_the_port_last_in_network_order() {
        let key = PolicyKey::new(
            7,
            300,
            DIRECTION_EGRESS,
            6,
            PortPrefix { value: 80, len: 15 },
        );
        assert_eq!(key.prefixlen, 80 + 15);
        assert_eq!(key.port, [0, 80]);
    }
}
