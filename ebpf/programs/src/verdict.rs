//! Accounting of decisions: every decision counts in `WEFT_VERDICTS`;
//! drops, and allowed new flows when `CONFIG_REPORT_ALLOWS` is on, go to
//! the `WEFT_EVENTS` ring (a full ring skips the event, never the packet).

use aya_ebpf::bindings::TC_ACT_SHOT;
use aya_ebpf::helpers::bpf_ktime_get_ns;
use weft_ebpf_common::{CONFIG_REPORT_ALLOWS, Decision, VerdictEvent};

use crate::maps::{WEFT_CONFIG, WEFT_EVENTS, WEFT_VERDICTS};
use crate::packet::IpPacket;

/// One decision and where it was taken.
pub struct Verdict {
    pub reason: u32,
    pub direction: u8,
    /// The local pod's host veth.
    pub ifindex: u32,
    pub identity: u32,
    pub profile: u32,
}

impl Verdict {
    #[inline(always)]
    pub fn of(decision: &Decision<()>, direction: u8, ifindex: u32) -> Self {
        Self {
            reason: decision.reason(),
            direction,
            ifindex,
            identity: decision.identity(),
            profile: decision.profile(),
        }
    }

    /// A verdict taken before any policy lookup (spoofing, unknown endpoint).
    #[inline(always)]
    pub fn early(reason: u32, direction: u8, ifindex: u32) -> Self {
        Self {
            reason,
            direction,
            ifindex,
            identity: 0,
            profile: 0,
        }
    }
}

#[inline(always)]
pub fn count(reason: u32) {
    if let Some(counter) = WEFT_VERDICTS.get_ptr_mut(reason) {
        // SAFETY: this CPU's slot of a per-CPU array.
        unsafe { *counter += 1 };
    }
}

/// Counts and reports the drop; returns the TC action.
#[inline(always)]
pub fn drop(verdict: &Verdict, packet: Option<&IpPacket>) -> i32 {
    count(verdict.reason);
    report(verdict, packet);
    TC_ACT_SHOT
}

/// Counts an allowed new flow; reports it when asked to.
#[inline(always)]
pub fn allow(verdict: &Verdict, packet: &IpPacket) {
    count(verdict.reason);
    if WEFT_CONFIG
        .get(CONFIG_REPORT_ALLOWS)
        .is_some_and(|on| *on != 0)
    {
        report(verdict, Some(packet));
    }
}

// A call of its own: the event is built outside the programs' stack
// frames (the verifier gives a call chain 512 bytes in all).
#[inline(never)]
fn report(verdict: &Verdict, packet: Option<&IpPacket>) {
    let Some(mut entry) = WEFT_EVENTS.reserve::<VerdictEvent>(0) else {
        return;
    };
    // Written field by field into the ring's memory: an event built on
    // the stack and copied costs the stack several times its size.
    let event = entry.as_mut_ptr();
    // SAFETY: `event` points to the reserved, writable ring memory of one
    // VerdictEvent; every field is written before the submit.
    unsafe {
        (*event).timestamp_ns = bpf_ktime_get_ns();
        (*event).reason = verdict.reason;
        (*event).ifindex = verdict.ifindex;
        (*event).peer_identity = verdict.identity;
        (*event).profile = verdict.profile;
        (*event).direction = verdict.direction;
        (*event).reserved = 0;
        let packet = packet.unwrap_or(&IpPacket::NONE);
        (*event).family = packet.family;
        (*event).protocol = packet.protocol;
        (*event).src_port = packet.src_port;
        (*event).dst_port = packet.dst_port;
        (*event).src = packet.src;
        (*event).dst = packet.dst;
    }
    entry.submit(0);
}
