//! The MTU a pod interface may have, checked alike by the plugin (netconf
//! `mtu`) and weftd (`--mtu`): the kernel's own bounds, so that whatever
//! either accepts the kernel accepts too, and nothing it accepts is refused.

/// The smallest MTU the kernel accepts for a veth (IPv4's minimum datagram).
const MIN_MTU_IPV4: u32 = 68;
/// The smallest MTU of an interface carrying IPv6: the kernel drops IPv6
/// from an interface whose MTU falls below it.
const MIN_MTU_IPV6: u32 = 1280;
/// The largest MTU a veth takes.
const MAX_MTU: u32 = 65535;

/// An MTU outside the kernel's bounds for the address families carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mtu {mtu} is outside {min}..={MAX_MTU}")]
pub struct MtuOutOfRange {
    pub mtu: u32,
    /// The lower bound that applied.
    pub min: u32,
}

/// Checks a pod interface MTU for an interface that carries IPv6 or not.
pub fn check_mtu(mtu: u32, carries_ipv6: bool) -> Result<(), MtuOutOfRange> {
    let min = if carries_ipv6 {
        MIN_MTU_IPV6
    } else {
        MIN_MTU_IPV4
    };
    if (min..=MAX_MTU).contains(&mtu) {
        Ok(())
    } else {
        Err(MtuOutOfRange { mtu, min })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_only_takes_68_to_65535() {
        assert_eq!(check_mtu(68, false), Ok(()));
        assert_eq!(check_mtu(65535, false), Ok(()));
        assert_eq!(
            check_mtu(67, false),
            Err(MtuOutOfRange { mtu: 67, min: 68 })
        );
        assert_eq!(
            check_mtu(65536, false),
            Err(MtuOutOfRange {
                mtu: 65536,
                min: 68
            })
        );
    }

    #[test]
    fn ipv6_needs_at_least_1280() {
        assert_eq!(check_mtu(1280, true), Ok(()));
        assert_eq!(
            check_mtu(1279, true),
            Err(MtuOutOfRange {
                mtu: 1279,
                min: 1280
            })
        );
        assert_eq!(
            check_mtu(65536, true),
            Err(MtuOutOfRange {
                mtu: 65536,
                min: 1280
            })
        );
    }

    #[test]
    fn the_error_names_the_range() {
        assert_eq!(
            check_mtu(10, false).unwrap_err().to_string(),
            "mtu 10 is outside 68..=65535"
        );
    }
}
