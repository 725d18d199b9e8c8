//! Weft's eBPF datapath as weftd sees it: the embedded object and the
//! policy datapath (maps and links pinned in bpffs, mounted if missing),
//! and test runs of its programs on crafted frames.

mod bpffs;
mod counter_upgrade;
mod datapath;
mod error;
mod events;
mod host_routing;
mod links;
mod map_shapes;
mod map_usage;
mod pins;
mod policy_maps;
mod test_run;

pub use bpffs::ensure_bpffs;
pub use datapath::Datapath;
pub use error::BpfError;
pub use events::EventRing;
pub use host_routing::{HostRouting, HostRoutingSettings};
pub use links::node_devices_without_programs;
pub use map_shapes::MapShape;
pub use map_usage::{map_usage, watch_map_usage};
pub use pins::remove_pins;
pub use test_run::{TEST_RUN_IFINDEX, TestPacket, TestRunOutcome};

/// The compiled ebpf/programs object, built by build.rs.
pub static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/weft-ebpf.o"));
