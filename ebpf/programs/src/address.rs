//! Address comparisons written out field by field: the BPF target has no
//! `memcmp`, which `==` on byte arrays may compile to (whole addresses:
//! weft-ebpf-common's `same_address`).

use weft_ebpf_common::same_address;

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
    same_address(addr, &[0; 16])
}
