//! The datapath's own maps, skb mark bits and verdict events.
//!
//! Where each decision is taken (see DESIGN.md "Policy on the hot path"):
//! - `from_pod` (ingress of a pod's host veth) checks the source MAC
//!   and IP against [`INTERFACE_MAP`] (anti-spoofing). A packet of a flow in
//!   [`CONNTRACK_MAP`] gets [`MARK_ALLOWED`]; any other gets the pod's slot
//!   in the mark ([`MARK_SLOT_MASK`]): its egress verdict is pending.
//! - Egress policy is decided where the packet leaves the node's stack,
//!   after kube-proxy's DNAT, so the real destination is known: `to_pod`
//!   (egress of a pod's host veth) and `node_exit` (tcx egress of every
//!   other interface of the node). An allowed flow is added to conntrack and
//!   the slot bits are cleared.
//! - `to_pod` then decides the receiving pod's ingress policy; packets with
//!   [`MARK_ALLOWED`] or in conntrack pass.
//! - `node_entry` (tcx ingress of the same interfaces) marks packets
//!   of known flows [`MARK_ALLOWED`] before netfilter undoes NAT, so replies
//!   from a Service backend pass the client's ingress as replies.

/// Hash map `u32` ifindex of a pod's host veth -> [`PodInterface`].
pub const INTERFACE_MAP: &str = "WEFT_INTERFACES";
/// Array map slot -> [`PodInterface`], for the slot carried in the mark.
pub const SLOT_MAP: &str = "WEFT_SLOTS";
/// LRU hash map [`FlowKey`] -> [`FlowValue`]: flows policy allowed.
pub const CONNTRACK_MAP: &str = "WEFT_CONNTRACK";
/// LRU hash map [`FragmentKey`] -> [`FragmentPorts`]: the ports of
/// fragmented datagrams, from their first fragment, for the later ones.
pub const FRAGMENT_MAP: &str = "WEFT_FRAGMENTS";
/// Ring buffer of [`VerdictEvent`]s.
pub const EVENT_RING: &str = "WEFT_EVENTS";
/// Per-CPU array `u64` indexed by reason (`REASON_*`): packets per verdict
/// ([`VERDICT_SLOTS`] entries).
pub const VERDICT_COUNTER_MAP: &str = "WEFT_VERDICTS";
/// Array `u32` of settings, indexed by `CONFIG_*`.
pub const CONFIG_MAP: &str = "WEFT_CONFIG";
/// LPM trie [`IpKey`](crate::IpKey) data -> `u32` (1): the cluster's pod
/// networks (weftd's `--cluster-cidr`). eBPF host routing takes a flow
/// across nodes only between addresses in them: pod IPs, which nothing
/// translates (see [`CONFIG_HOST_ROUTING`]).
pub const POD_NETWORK_MAP: &str = "WEFT_POD_NETWORKS";
/// Capacity of [`POD_NETWORK_MAP`].
pub const MAX_POD_NETWORKS: u32 = 16;
/// Hash map [`EndpointKey`](crate::EndpointKey) (an address of a pod of
/// this node) -> [`LocalPod`]: where eBPF host routing delivers a packet
/// for that pod without asking the FIB. An address without an entry (a pod
/// an older weftd wired) is delivered by the FIB's answer.
pub const LOCAL_POD_MAP: &str = "WEFT_LOCAL_PODS";
/// Capacity of [`LOCAL_POD_MAP`]: addresses of this node's pods, as
/// [`MAX_ENDPOINTS`](crate::MAX_ENDPOINTS).
pub const MAX_LOCAL_POD_ADDRESSES: u32 = 16_384;

pub const FROM_POD_PROGRAM: &str = "weft_from_pod";
pub const TO_POD_PROGRAM: &str = "weft_to_pod";
pub const NODE_EXIT_PROGRAM: &str = "weft_node_exit";
pub const NODE_ENTRY_PROGRAM: &str = "weft_node_entry";

/// Capacity of [`INTERFACE_MAP`]: pod interfaces of this node.
pub const MAX_INTERFACES: u32 = 65536;
/// Slots 1..MAX_SLOTS; 0 means "no pending egress verdict" in the mark.
pub const MAX_SLOTS: u32 = 1 << 15;
pub const MAX_FLOWS: u32 = 262_144;
/// Capacity of [`FRAGMENT_MAP`]: datagrams in flight in fragments (Cilium's).
pub const MAX_FRAGMENTED_DATAGRAMS: u32 = 8192;
pub const EVENT_RING_BYTES: u32 = 1 << 20;

/// skb mark bits Weft owns. kube-proxy uses 0x4000 and 0x8000.
pub const MARK_MASK: u32 = 0xFFFF_0000;
/// The packet belongs to a flow policy already allowed.
pub const MARK_ALLOWED: u32 = 0x0001_0000;
pub const MARK_SLOT_SHIFT: u32 = 17;
/// The sending pod's slot while its egress verdict is pending.
pub const MARK_SLOT_MASK: u32 = 0xFFFE_0000;

/// `CONFIG_MAP[CONFIG_REPORT_ALLOWS]` != 0: allowed new flows are reported
/// as events too (drops always are).
pub const CONFIG_REPORT_ALLOWS: u32 = 0;
/// `CONFIG_MAP[CONFIG_POLICY_GENERATION]`: bumped by weftd after every
/// change of the policy maps. A conntrack entry of an older generation no
/// longer lets its flow's own direction skip policy (its replies still
/// pass), so a policy change applies to every new packet of a flow.
pub const CONFIG_POLICY_GENERATION: u32 = 1;
/// `CONFIG_MAP[CONFIG_HOST_ROUTING]` != 0: eBPF host routing. A flow
/// addressed from a pod to another pod by its pod IP skips the host stack
/// (see [`FLOW_PATH_REDIRECT`]), both ways: `from_pod` delivers it straight
/// into a destination pod of this node (`bpf_redirect_peer`) or out of the
/// node device the FIB names for another node's pod (`bpf_redirect`), and
/// `node_entry` delivers what arrives for a pod of this node into it.
pub const CONFIG_HOST_ROUTING: u32 = 2;
pub const CONFIG_ENTRIES: u32 = 4;

/// `PodInterface::flags`: `ipv4` is set.
pub const POD_HAS_IPV4: u16 = 1;
/// `PodInterface::flags`: `ipv6` is set.
pub const POD_HAS_IPV6: u16 = 2;

/// A pod's host-side interface: what its packets must carry as source.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodInterface {
    pub mac: [u8; 6],
    pub flags: u16,
    pub slot: u32,
    pub ipv4: [u8; 4],
    pub ipv6: [u8; 16],
}

impl PodInterface {
    /// The addresses the record carries, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = core::net::IpAddr> {
        let ipv4 = (self.flags & POD_HAS_IPV4 != 0).then(|| self.ipv4.into());
        let ipv6 = (self.flags & POD_HAS_IPV6 != 0).then(|| self.ipv6.into());
        ipv4.into_iter().chain(ipv6)
    }
}

/// The host veth behind which a pod address lives, and the source MAC a
/// frame delivered into the pod carries: the veth's own, as forwarding
/// would give it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalPod {
    pub ifindex: u32,
    pub host_mac: [u8; 6],
    pub reserved: [u8; 2],
}

/// One direction of a flow as its packets carry it (ports big-endian; 0
/// for protocols without ports). IPv4 uses the first 4 address bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FlowKey {
    pub family: u8,
    pub protocol: u8,
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
    pub reserved: [u8; 2],
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// A fragmented datagram: its addresses, protocol and IP identification
/// (IPv4's 16 bits in the first two bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FragmentKey {
    pub family: u8,
    pub protocol: u8,
    pub reserved: [u8; 2],
    pub id: [u8; 4],
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// The ports the first fragment of a datagram carried (big-endian).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragmentPorts {
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
}

/// A flow policy allowed and how it goes on (see the conntrack module).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowValue {
    /// `bpf_ktime_get_coarse_ns` after which the entry no longer counts (with
    /// `layout` [`FLOW_LAYOUT_LIFETIME`](crate::FLOW_LAYOUT_LIFETIME)).
    pub expires_ns: u64,
    /// `CONFIG_MAP[CONFIG_POLICY_GENERATION]` when policy allowed the flow.
    pub generation: u32,
    /// `FLOW_SEEN_REPLY`, `FLOW_FIN_*` bits.
    pub state: u8,
    pub layout: u8,
    /// [`FLOW_PATH_STACK`] or [`FLOW_PATH_REDIRECT`]: how the flow's packets
    /// (both ways, and ICMP errors about it) travel between local pods.
    pub path: u8,
    pub reserved: u8,
}

/// `FlowValue::path`: through the host stack, where netfilter sees them.
/// Flows allowed in `to_pod` or `node_exit` (after kube-proxy's DNAT,
/// perhaps) are, so their replies meet the reverse translation; entries of
/// a weftd without host routing (0 there) too.
pub const FLOW_PATH_STACK: u8 = 0;
/// `FlowValue::path`: redirected by the programs past the host stack, as
/// the flow's first packet was (pod IP to pod IP: nothing to translate).
pub const FLOW_PATH_REDIRECT: u8 = 1;

/// Verdict reasons: the index in [`VERDICT_COUNTER_MAP`] and `VerdictEvent::reason`.
pub const REASON_ALLOWED_BY_POLICY: u32 = 0;
pub const REASON_ALLOWED_NOT_ENFORCED: u32 = 1;
pub const REASON_ALLOWED_ESTABLISHED: u32 = 2;
pub const REASON_ALLOWED_OWN_TRAFFIC: u32 = 3;
pub const REASON_DROPPED_BY_POLICY: u32 = 4;
pub const REASON_DROPPED_SPOOFED_MAC: u32 = 5;
pub const REASON_DROPPED_SPOOFED_IP: u32 = 6;
pub const REASON_DROPPED_UNKNOWN_ENDPOINT: u32 = 7;
pub const REASON_DROPPED_UNSUPPORTED: u32 = 8;
/// An IPv6 packet whose transport header is behind an unknown extension
/// header or more extension headers than the programs walk.
pub const REASON_DROPPED_IPV6_EXTENSIONS: u32 = 9;
/// A later fragment of a datagram whose first fragment was not seen: its
/// ports, and so its verdict, are unknown.
pub const REASON_DROPPED_FRAGMENT: u32 = 10;
/// A new flow policy allowed whose conntrack entry could not be stored:
/// without it, its replies would meet policy as new flows.
pub const REASON_DROPPED_CONNTRACK_FULL: u32 = 11;
pub const REASON_COUNT: u32 = 12;
/// Capacity of [`VERDICT_COUNTER_MAP`]: room for reasons to come, so that
/// adding one keeps the pinned map's shape.
pub const VERDICT_SLOTS: u32 = 32;
const _: () = assert!(REASON_COUNT <= VERDICT_SLOTS);

/// One verdict, as `weftctl observe` shows it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerdictEvent {
    pub timestamp_ns: u64,
    pub reason: u32,
    /// The local pod's host veth.
    pub ifindex: u32,
    /// The peer's identity (0 when not looked up).
    pub peer_identity: u32,
    /// The endpoint's profile (0 when not looked up).
    pub profile: u32,
    /// [`DIRECTION_INGRESS`](crate::DIRECTION_INGRESS) or egress.
    pub direction: u8,
    pub family: u8,
    pub protocol: u8,
    pub reserved: u8,
    pub src_port: [u8; 2],
    pub dst_port: [u8; 2],
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

const _: () = assert!(size_of::<PodInterface>() == 32);
const _: () = assert!(size_of::<LocalPod>() == 12);
const _: () = assert!(size_of::<FlowKey>() == 40);
const _: () = assert!(size_of::<FlowValue>() == 16);
const _: () = assert!(size_of::<FragmentKey>() == 40);
const _: () = assert!(size_of::<FragmentPorts>() == 4);
const _: () = assert!(size_of::<VerdictEvent>() == 64);

// SAFETY: #[repr(C)], Copy, no padding (sizes asserted above).
#[cfg(feature = "user")]
mod pod_impls {
    unsafe impl aya::Pod for super::PodInterface {}
    unsafe impl aya::Pod for super::LocalPod {}
    unsafe impl aya::Pod for super::FlowKey {}
    unsafe impl aya::Pod for super::FlowValue {}
    unsafe impl aya::Pod for super::FragmentKey {}
    unsafe impl aya::Pod for super::FragmentPorts {}
    unsafe impl aya::Pod for super::VerdictEvent {}
}
