//! The verdict event ring as weftd reads it.

use std::os::fd::{AsRawFd, RawFd};

use aya::maps::{MapData, RingBuf};
use weft_ebpf_common::VerdictEvent;

pub struct EventRing {
    ring: RingBuf<MapData>,
}

impl EventRing {
    pub(super) fn new(ring: RingBuf<MapData>) -> Self {
        Self { ring }
    }
}

/// Yields the events waiting now; `None` means "none yet", and a later call
/// yields what arrived since (wait for readability on the fd in between).
impl Iterator for EventRing {
    type Item = VerdictEvent;

    /// The next event, if one is waiting. Records of another size (an
    /// object of another version) are skipped.
    fn next(&mut self) -> Option<VerdictEvent> {
        loop {
            let item = self.ring.next()?;
            if let Some(event) = event_from_bytes(&item) {
                return Some(event);
            }
        }
    }
}

impl AsRawFd for EventRing {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

fn event_from_bytes(bytes: &[u8]) -> Option<VerdictEvent> {
    if bytes.len() != size_of::<VerdictEvent>() {
        return None;
    }
    // SAFETY: exactly size_of::<VerdictEvent>() bytes, and VerdictEvent is
    // plain data (repr(C), no padding, any bit pattern valid).
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<VerdictEvent>()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reads_back_from_its_bytes() {
        let event = VerdictEvent {
            reason: 4,
            ifindex: 9,
            dst_port: 80u16.to_be_bytes(),
            ..VerdictEvent::default()
        };
        // SAFETY: VerdictEvent is plain data without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts((&raw const event).cast::<u8>(), size_of::<VerdictEvent>())
        };
        assert_eq!(event_from_bytes(bytes), Some(event));
    }

    #[test]
    fn records_of_another_size_are_not_events() {
        assert_eq!(event_from_bytes(&[0; 8]), None);
    }
}
