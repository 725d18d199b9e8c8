//! Weft's TC programs. Today: a per-interface packet counter attached to pod
//! host-side veths, which proves the load/attach pipeline end to end; the
//! policy programs of later issues live beside it.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::TC_ACT_OK,
    macros::{classifier, map},
    maps::PerCpuHashMap,
    programs::TcContext,
};
use weft_ebpf_common::{IfCounters, MAX_INTERFACES};

#[map(name = "IF_COUNTERS")]
static IF_COUNTERS: PerCpuHashMap<u32, IfCounters> =
    PerCpuHashMap::with_max_entries(MAX_INTERFACES, 0);

#[classifier]
pub fn weft_count(ctx: TcContext) -> i32 {
    // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
    let (ifindex, len) = unsafe { ((*ctx.skb.skb).ifindex, (*ctx.skb.skb).len) };
    match IF_COUNTERS.get_ptr_mut(&ifindex) {
        Some(c) => {
            // SAFETY: per-CPU value, only this CPU writes it now.
            unsafe {
                (*c).packets += 1;
                (*c).bytes += u64::from(len);
            }
        }
        None => {
            let first = IfCounters {
                packets: 1,
                bytes: u64::from(len),
            };
            // A full map only loses counts, never packets.
            let _ = IF_COUNTERS.insert(&ifindex, &first, 0);
        }
    }
    TC_ACT_OK
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
