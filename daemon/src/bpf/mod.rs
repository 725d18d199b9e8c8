//! Weft's eBPF datapath as weftd sees it: the embedded object, loaded once,
//! and its TC programs attached to pod host-side interfaces.

mod packet_counter;

pub use packet_counter::{BpfError, PacketCounter};

/// The compiled ebpf/programs object, built by build.rs.
pub static EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/weft-ebpf.o"));
