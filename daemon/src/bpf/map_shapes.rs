//! The shape (type, key and value size, capacity) each pinned map must have.
//! aya adopts a pin by name without comparing: a map an older weftd pinned
//! with other layouts or sizes would fail verification cryptically or hold
//! the wrong capacity, so `Datapath::open` checks the pins it would adopt
//! against these (see `pins`).

use aya::maps::MapType;
use weft_ebpf_common::{
    CONFIG_ENTRIES, CONFIG_MAP, CONNTRACK_MAP, ENDPOINT_MAP, EVENT_RING, EVENT_RING_BYTES,
    EndpointKey, EndpointValue, FRAGMENT_MAP, FlowKey, FlowValue, FragmentKey, FragmentPorts,
    IDENTITY_MAP, INTERFACE_MAP, IdentityValue, IpKey, LOCAL_POD_MAP, LocalPod, MAX_ENDPOINTS,
    MAX_FLOWS, MAX_FRAGMENTED_DATAGRAMS, MAX_IDENTITY_PREFIXES, MAX_INTERFACES,
    MAX_LOCAL_POD_ADDRESSES, MAX_POD_NETWORKS, MAX_POLICY_ENTRIES, MAX_SLOTS, POD_NETWORK_MAP,
    POLICY_MAP, PodInterface, PolicyKey, PolicyValue, SLOT_MAP, VERDICT_COUNTER_MAP, VERDICT_SLOTS,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapShape {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

impl std::fmt::Display for MapShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} key {} B, value {} B, {} entries",
            self.map_type, self.key_size, self.value_size, self.max_entries
        )
    }
}

const fn shape<K, V>(map_type: MapType, max_entries: u32) -> MapShape {
    MapShape {
        map_type,
        key_size: size_of::<K>() as u32,
        value_size: size_of::<V>() as u32,
        max_entries,
    }
}

/// Every pinned map of the datapath and its shape, as the programs declare them.
pub(super) const PINNED_MAPS: [(&str, MapShape); 12] = [
    (
        INTERFACE_MAP,
        shape::<u32, PodInterface>(MapType::Hash, MAX_INTERFACES),
    ),
    (
        SLOT_MAP,
        shape::<u32, PodInterface>(MapType::Array, MAX_SLOTS),
    ),
    (
        CONNTRACK_MAP,
        shape::<FlowKey, FlowValue>(MapType::LruHash, MAX_FLOWS),
    ),
    (
        EVENT_RING,
        shape::<(), ()>(MapType::RingBuf, EVENT_RING_BYTES),
    ),
    (
        VERDICT_COUNTER_MAP,
        shape::<u32, u64>(MapType::PerCpuArray, VERDICT_SLOTS),
    ),
    (
        CONFIG_MAP,
        shape::<u32, u32>(MapType::Array, CONFIG_ENTRIES),
    ),
    (
        IDENTITY_MAP,
        shape::<IpKey, IdentityValue>(MapType::LpmTrie, MAX_IDENTITY_PREFIXES),
    ),
    (
        ENDPOINT_MAP,
        shape::<EndpointKey, EndpointValue>(MapType::Hash, MAX_ENDPOINTS),
    ),
    (
        POLICY_MAP,
        shape::<PolicyKey, PolicyValue>(MapType::LpmTrie, MAX_POLICY_ENTRIES),
    ),
    (
        FRAGMENT_MAP,
        shape::<FragmentKey, FragmentPorts>(MapType::LruHash, MAX_FRAGMENTED_DATAGRAMS),
    ),
    (
        POD_NETWORK_MAP,
        shape::<IpKey, u32>(MapType::LpmTrie, MAX_POD_NETWORKS),
    ),
    (
        LOCAL_POD_MAP,
        shape::<EndpointKey, LocalPod>(MapType::Hash, MAX_LOCAL_POD_ADDRESSES),
    ),
];

/// Whether a pin of `found` shape where `name` of `expected` shape belongs
/// is replaced rather than refused: only the verdict counters, and only a
/// change of capacity (an upgrade that adds reasons).
pub(super) fn is_replaceable(name: &str, expected: &MapShape, found: &MapShape) -> bool {
    let resized = MapShape {
        max_entries: expected.max_entries,
        ..*found
    };
    name == VERDICT_COUNTER_MAP && resized == *expected
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lpm_keys_are_the_shared_keys_with_their_prefix_length() {
        let identities = PINNED_MAPS[6].1;
        assert_eq!(identities.key_size, 24);
        let policy = PINNED_MAPS[8].1;
        assert_eq!(policy.key_size, 16);
    }

    #[test]
    fn only_the_verdict_counters_may_change_capacity_on_upgrade() {
        let (counters, expected) = PINNED_MAPS[4];
        assert_eq!(counters, VERDICT_COUNTER_MAP);
        let nine_reasons = MapShape {
            max_entries: 9,
            ..expected
        };
        assert!(is_replaceable(counters, &expected, &nine_reasons));
        let other_value = MapShape {
            value_size: 4,
            ..nine_reasons
        };
        assert!(!is_replaceable(counters, &expected, &other_value));
        let (config, config_shape) = PINNED_MAPS[5];
        let resized_config = MapShape {
            max_entries: 8,
            ..config_shape
        };
        assert!(!is_replaceable(config, &config_shape, &resized_config));
    }

    #[test]
    fn a_shape_reads_for_an_operator() {
        let shape = shape::<u32, u64>(MapType::PerCpuArray, 9);
        assert_eq!(
            shape.to_string(),
            "PerCpuArray key 4 B, value 8 B, 9 entries"
        );
    }
}
