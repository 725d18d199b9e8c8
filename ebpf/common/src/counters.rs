//! The per-interface packet counter program's map.

/// Per-interface packet and byte counters, keyed by ifindex (u32) in
/// [`IF_COUNTERS_MAP`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    pub packets: u64,
    pub bytes: u64,
}

/// Name of the per-CPU hash map of [`IfCounters`].
pub const IF_COUNTERS_MAP: &str = "IF_COUNTERS";
/// Name of the TC program that counts packets on a pod's host-side veth.
pub const COUNT_PROGRAM: &str = "weft_count";
/// How many interfaces the counters map holds.
pub const MAX_INTERFACES: u32 = 65536;

// SAFETY: IfCounters is #[repr(C)], Copy, and has no padding (two u64).
#[cfg(feature = "user")]
unsafe impl aya::Pod for IfCounters {}
