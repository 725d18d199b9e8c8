//! Every map of the policy datapath, pinned by name so that weftd can adopt
//! them (and the links keep enforcing) across its restarts.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use weft_ebpf_common::{
    CONFIG_ENTRIES, EVENT_RING_BYTES, EndpointKey, EndpointValue, FlowKey, FlowValue, FragmentKey,
    FragmentPorts, IdentityValue, LocalPod, MAX_ENDPOINTS, MAX_FLOWS, MAX_FRAGMENTED_DATAGRAMS,
    MAX_IDENTITY_PREFIXES, MAX_INTERFACES, MAX_LOCAL_POD_ADDRESSES, MAX_POD_NETWORKS,
    MAX_POLICY_ENTRIES, MAX_SLOTS, PodInterface, PolicyKeyData, PolicyValue, VERDICT_SLOTS,
};

#[map]
pub static WEFT_INTERFACES: HashMap<u32, PodInterface> = HashMap::pinned(MAX_INTERFACES, 0);

#[map]
pub static WEFT_LOCAL_PODS: HashMap<EndpointKey, LocalPod> =
    HashMap::pinned(MAX_LOCAL_POD_ADDRESSES, 0);

#[map]
pub static WEFT_SLOTS: Array<PodInterface> = Array::pinned(MAX_SLOTS, 0);

#[map]
pub static WEFT_CONNTRACK: LruHashMap<FlowKey, FlowValue> = LruHashMap::pinned(MAX_FLOWS, 0);

#[map]
pub static WEFT_FRAGMENTS: LruHashMap<FragmentKey, FragmentPorts> =
    LruHashMap::pinned(MAX_FRAGMENTED_DATAGRAMS, 0);

#[map]
pub static WEFT_EVENTS: RingBuf = RingBuf::pinned(EVENT_RING_BYTES, 0);

#[map]
pub static WEFT_VERDICTS: PerCpuArray<u64> = PerCpuArray::pinned(VERDICT_SLOTS, 0);

#[map]
pub static WEFT_CONFIG: Array<u32> = Array::pinned(CONFIG_ENTRIES, 0);

#[map]
pub static WEFT_POD_NETWORKS: LpmTrie<EndpointKey, u32> = LpmTrie::pinned(MAX_POD_NETWORKS, 0);

#[map]
pub static WEFT_IDENTITIES: LpmTrie<EndpointKey, IdentityValue> =
    LpmTrie::pinned(MAX_IDENTITY_PREFIXES, 0);

#[map]
pub static WEFT_ENDPOINTS: HashMap<EndpointKey, EndpointValue> = HashMap::pinned(MAX_ENDPOINTS, 0);

#[map]
pub static WEFT_POLICY: LpmTrie<PolicyKeyData, PolicyValue> =
    LpmTrie::pinned(MAX_POLICY_ENTRIES, 0);
