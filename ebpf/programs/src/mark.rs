//! Weft's bits of the skb mark: a pending egress verdict's slot, or "this
//! flow is allowed". Bits outside `MARK_MASK` (kube-proxy's) are kept.

use aya_ebpf::programs::TcContext;
use weft_ebpf_common::{MARK_ALLOWED, MARK_MASK, MARK_SLOT_MASK, MARK_SLOT_SHIFT};

#[inline(always)]
fn mark(ctx: &TcContext) -> u32 {
    // SAFETY: ctx.skb is the kernel's __sk_buff for this invocation.
    unsafe { (*ctx.skb.skb).mark }
}

/// The sending pod's slot while its egress verdict is pending, else 0.
#[inline(always)]
pub fn pending_slot(ctx: &TcContext) -> u32 {
    (mark(ctx) & MARK_SLOT_MASK) >> MARK_SLOT_SHIFT
}

#[inline(always)]
pub fn is_allowed(ctx: &TcContext) -> bool {
    mark(ctx) & MARK_MASK == MARK_ALLOWED
}

#[inline(always)]
fn set_ours(ctx: &TcContext, bits: u32) {
    let current = mark(ctx);
    let wanted = (current & !MARK_MASK) | bits;
    if wanted != current {
        ctx.set_mark(wanted);
    }
}

#[inline(always)]
pub fn set_pending(ctx: &TcContext, slot: u32) {
    set_ours(ctx, (slot << MARK_SLOT_SHIFT) & MARK_SLOT_MASK);
}

#[inline(always)]
pub fn set_allowed(ctx: &TcContext) {
    set_ours(ctx, MARK_ALLOWED);
}

#[inline(always)]
pub fn clear(ctx: &TcContext) {
    set_ours(ctx, 0);
}
