//! Address comparisons written out field by field: the BPF target has no
//! `memcmp`, which `==` on byte arrays may compile to.

#[inline(always)]
fn words(addr: &[u8; 16]) -> (u64, u64) {
    // SAFETY: 16 readable bytes; read_unaligned has no alignment needs.
    unsafe {
        (
            core::ptr::read_unaligned(addr.as_ptr().cast::<u64>()),
            core::ptr::read_unaligned(addr.as_ptr().add(8).cast::<u64>()),
        )
    }
}

#[inline(always)]
pub fn same_address(a: &[u8; 16], b: &[u8; 16]) -> bool {
    words(a) == words(b)
}

#[inline(always)]
pub fn same_ipv4(a: &[u8; 16], b: &[u8; 4]) -> bool {
    a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3]
}

#[inline(always)]
pub fn same_mac(a: &[u8; 6], b: &[u8; 6]) -> bool {
    a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5]
}

/// fe80::/10: never routed, only between the pod and its host end.
#[inline(always)]
pub fn is_ipv6_link_local(addr: &[u8; 16]) -> bool {
    addr[0] == 0xfe && addr[1] & 0xc0 == 0x80
}

/// ff00::/8.
#[inline(always)]
pub fn is_ipv6_multicast(addr: &[u8; 16]) -> bool {
    addr[0] == 0xff
}

/// `::`, the source of duplicate address detection and early MLD reports.
#[inline(always)]
pub fn is_unspecified(addr: &[u8; 16]) -> bool {
    words(addr) == (0, 0)
}
