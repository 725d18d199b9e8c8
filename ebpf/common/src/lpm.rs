//! LPM trie keys split the way aya's `lpm_trie::Key<K>` holds them
//! (`{prefix_len: u32, data: K}`): the same bytes as [`IpKey`] and
//! [`PolicyKey`], whose first field is the prefix length.

use crate::{EndpointKey, IpKey, PolicyKey};

/// [`PolicyKey`] without its prefix length: the data of the policy map's
/// LPM key.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyKeyData {
    pub profile: u32,
    pub identity: u32,
    pub direction: u8,
    pub protocol: u8,
    pub port: [u8; 2],
}

const _: () = assert!(size_of::<PolicyKeyData>() + 4 == size_of::<PolicyKey>());
const _: () = assert!(size_of::<EndpointKey>() + 4 == size_of::<IpKey>());

impl IpKey {
    /// The identity map's LPM data: family and address ([`EndpointKey`]'s layout).
    pub const fn data(&self) -> EndpointKey {
        EndpointKey {
            family: self.family,
            reserved: self.reserved,
            addr: self.addr,
        }
    }

    pub const fn from_data(prefixlen: u32, data: EndpointKey) -> Self {
        Self {
            prefixlen,
            family: data.family,
            reserved: data.reserved,
            addr: data.addr,
        }
    }
}

impl PolicyKey {
    pub const fn data(&self) -> PolicyKeyData {
        PolicyKeyData {
            profile: self.profile,
            identity: self.identity,
            direction: self.direction,
            protocol: self.protocol,
            port: self.port,
        }
    }

    pub const fn from_data(prefixlen: u32, data: PolicyKeyData) -> Self {
        Self {
            prefixlen,
            profile: data.profile,
            identity: data.identity,
            direction: data.direction,
            protocol: data.protocol,
            port: data.port,
        }
    }
}

// SAFETY: #[repr(C)], Copy, no padding (two u32 then four bytes).
#[cfg(feature = "user")]
unsafe impl aya::Pod for PolicyKeyData {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_key_round_trips_through_its_lpm_data() {
        let key = IpKey {
            prefixlen: 56,
            family: 4,
            reserved: [0; 3],
            addr: [10, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        assert_eq!(IpKey::from_data(key.prefixlen, key.data()), key);
    }

    #[test]
    fn policy_key_round_trips_through_its_lpm_data() {
        let key = PolicyKey {
            prefixlen: 95,
            profile: 7,
            identity: 300,
            direction: 1,
            protocol: 6,
            port: [0, 80],
        };
        assert_eq!(PolicyKey::from_data(key.prefixlen, key.data()), key);
    }
}
