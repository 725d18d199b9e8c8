//! Fragmented datagrams: only the first fragment carries the transport
//! header, so its ports are remembered (`WEFT_FRAGMENTS`, by addresses,
//! protocol and IP identification) and the later fragments are decided on
//! them, exactly like the first, never as port 0. A later fragment whose
//! first was not seen cannot be decided.

use weft_ebpf_common::{FragmentKey, FragmentPorts};

use crate::maps::WEFT_FRAGMENTS;
use crate::packet::{FRAGMENT_FIRST, FRAGMENT_LATER, IpPacket};

/// Records a first fragment's ports, gives a later fragment its first's;
/// false for a later fragment whose first fragment was not seen.
// A call of its own: the key's stack is not the programs'.
#[inline(never)]
pub fn resolve(packet: &mut IpPacket) -> bool {
    if packet.fragment != FRAGMENT_FIRST && packet.fragment != FRAGMENT_LATER {
        return true;
    }
    let key = FragmentKey {
        family: packet.family,
        protocol: packet.protocol,
        reserved: [0; 2],
        id: packet.fragment_id,
        src: packet.src,
        dst: packet.dst,
    };
    if packet.fragment == FRAGMENT_FIRST {
        let ports = FragmentPorts {
            src_port: packet.src_port,
            dst_port: packet.dst_port,
        };
        let _ = WEFT_FRAGMENTS.insert(&key, ports, 0);
        return true;
    }
    // SAFETY: a value pointer the map lookup just returned.
    let Some(ports) = WEFT_FRAGMENTS.get_ptr(&key).map(|ports| unsafe { *ports }) else {
        return false;
    };
    packet.src_port = ports.src_port;
    packet.dst_port = ports.dst_port;
    true
}
