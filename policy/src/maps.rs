//! The keys and values of the three policy maps (defined in
//! `weft-ebpf-common`, which the eBPF programs compile too) and how the
//! compiler's addresses, prefixes and rules become keys.

use std::net::IpAddr;

use ipnet::IpNet;

pub use weft_ebpf_common::{
    DIRECTION_EGRESS, DIRECTION_INGRESS, ENDPOINT_MAP, ENFORCE_EGRESS, ENFORCE_INGRESS,
    EndpointKey, EndpointValue, FAMILY_IPV4, FAMILY_IPV6, FIRST_COMPUTED_IDENTITY, IDENTITY_ANY,
    IDENTITY_HOST, IDENTITY_MAP, IDENTITY_WORLD, IP_KEY_FIXED_BITS, IdentityValue, IpKey,
    POLICY_ALLOW, POLICY_KEY_ANY_PROTOCOL_BITS, POLICY_KEY_FIXED_BITS, POLICY_MAP, PROFILE_NONE,
    PROTOCOL_ANY, PolicyKey, PolicyValue,
};

use crate::ports::PortPrefix;

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

/// The endpoint map's key of a pod address.
pub fn endpoint_key(address: IpAddr) -> EndpointKey {
    let (family, addr) = family_and_bytes(address);
    EndpointKey {
        family,
        reserved: [0; 3],
        addr,
    }
}

/// The identity map's key of `prefix` (host bits cleared).
pub fn ip_key(prefix: IpNet) -> IpKey {
    let (family, addr) = family_and_bytes(prefix.trunc().addr());
    IpKey {
        prefixlen: IP_KEY_FIXED_BITS + u32::from(prefix.prefix_len()),
        family,
        reserved: [0; 3],
        addr,
    }
}

/// The policy map's key of one (profile, peer, direction, protocol, port prefix).
pub fn policy_key(
    profile: u32,
    identity: u32,
    direction: u8,
    protocol: u8,
    port: PortPrefix,
) -> PolicyKey {
    let prefixlen = if protocol == PROTOCOL_ANY {
        POLICY_KEY_ANY_PROTOCOL_BITS
    } else {
        POLICY_KEY_FIXED_BITS + u32::from(port.len)
    };
    PolicyKey {
        prefixlen,
        profile,
        identity,
        direction,
        protocol,
        port: port.value.to_be_bytes(),
    }
}

/// The key an entry an older weftd wrote for any protocol has now: those
/// ended their prefix after the (zero) protocol byte, which no longer
/// matches packets of a real protocol. `None` for keys already current.
pub fn current_policy_key(key: &PolicyKey) -> Option<PolicyKey> {
    let older = key.protocol == PROTOCOL_ANY && key.prefixlen == POLICY_KEY_FIXED_BITS;
    older.then_some(PolicyKey {
        prefixlen: POLICY_KEY_ANY_PROTOCOL_BITS,
        ..*key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_any_protocol_entry_ends_its_prefix_before_the_protocol() {
        let any = policy_key(
            7,
            300,
            DIRECTION_INGRESS,
            PROTOCOL_ANY,
            PortPrefix { value: 0, len: 0 },
        );
        assert_eq!(any.prefixlen, POLICY_KEY_ANY_PROTOCOL_BITS);
        let tcp_80 = policy_key(
            7,
            300,
            DIRECTION_INGRESS,
            6,
            PortPrefix { value: 80, len: 16 },
        );
        assert_eq!(tcp_80.prefixlen, POLICY_KEY_FIXED_BITS + 16);
        assert_eq!(current_policy_key(&any), None);
        assert_eq!(current_policy_key(&tcp_80), None);
        let older = PolicyKey {
            prefixlen: POLICY_KEY_FIXED_BITS,
            ..any
        };
        assert_eq!(current_policy_key(&older), Some(any));
    }

    #[test]
    fn ip_keys_carry_family_and_clear_host_bits() {
        let key = ip_key("10.1.2.3/16".parse().unwrap());
        assert_eq!(key.prefixlen, 32 + 16);
        assert_eq!(key.family, FAMILY_IPV4);
        assert_eq!(&key.addr[..4], &[10, 1, 0, 0]);
        assert_eq!(&key.addr[4..], &[0; 12]);
        let v6 = ip_key("::/0".parse().unwrap());
        assert_eq!((v6.prefixlen, v6.family), (32, FAMILY_IPV6));
    }

    #[test]
    fn policy_keys_put_the_port_last_in_network_order() {
        let key = policy_key(
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
