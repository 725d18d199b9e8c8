//! The IPv6 extension header chain between the fixed header and the
//! transport header: hop-by-hop options, routing, destination options,
//! fragment and authentication headers are walked, at most
//! [`MAX_EXTENSION_HEADERS`] of them (a bounded loop for the verifier).
//! An extension header the programs cannot walk, or a longer chain, leaves
//! the transport header unknown: the packet is dropped with reason
//! `ipv6-extensions` rather than decided without its ports.

use aya_ebpf::programs::TcContext;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTHENTICATION: u8 = 51;
const DESTINATION_OPTIONS: u8 = 60;
const MOBILITY: u8 = 135;
const HOST_IDENTITY: u8 = 139;
const SHIM6: u8 = 140;
const EXPERIMENTAL_1: u8 = 253;
const EXPERIMENTAL_2: u8 = 254;

/// Cilium walks 4; a packet with hop-by-hop, destination options, routing,
/// fragment and destination options headers has 5.
pub const MAX_EXTENSION_HEADERS: usize = 6;

/// Where the chain ends. A plain struct, all fields set: see `Frame`.
#[derive(Clone, Copy)]
pub struct Chain {
    /// The transport protocol (the last next-header value).
    pub protocol: u8,
    /// Where its header starts in the frame.
    pub offset: usize,
    /// The fragment header's offset in 8-byte units (0: first fragment or
    /// not fragmented).
    pub fragment_offset: u16,
    /// A fragment header said more fragments follow.
    pub more_fragments: bool,
    /// The fragment header's identification.
    pub fragment_id: [u8; 4],
}

/// Walks the chain that starts with `next_header` at `offset`; `None` if
/// a header is unknown, cut short, or the chain is too long.
#[inline(always)]
pub fn walk(ctx: &TcContext, next_header: u8, offset: usize) -> Option<Chain> {
    let mut chain = Chain {
        protocol: next_header,
        offset,
        fragment_offset: 0,
        more_fragments: false,
        fragment_id: [0; 4],
    };
    for _ in 0..MAX_EXTENSION_HEADERS {
        // Next header, length, and for a fragment header its offset field
        // and identification (every extension header has 8 bytes or more).
        let header: [u8; 8] = match chain.protocol {
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | FRAGMENT | AUTHENTICATION => {
                ctx.load(chain.offset).ok()?
            }
            MOBILITY | HOST_IDENTITY | SHIM6 | EXPERIMENTAL_1 | EXPERIMENTAL_2 => return None,
            _ => return Some(chain),
        };
        let length = match chain.protocol {
            FRAGMENT => {
                let field = u16::from_be_bytes([header[2], header[3]]);
                chain.fragment_offset = field >> 3;
                chain.more_fragments = field & 1 != 0;
                chain.fragment_id = [header[4], header[5], header[6], header[7]];
                8
            }
            AUTHENTICATION => (usize::from(header[1]) + 2) * 4,
            _ => (usize::from(header[1]) + 1) * 8,
        };
        chain.protocol = header[0];
        chain.offset += length;
    }
    match chain.protocol {
        HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS | FRAGMENT | AUTHENTICATION => None,
        MOBILITY | HOST_IDENTITY | SHIM6 | EXPERIMENTAL_1 | EXPERIMENTAL_2 => None,
        _ => Some(chain),
    }
}
