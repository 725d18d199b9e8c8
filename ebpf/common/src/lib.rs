//! Map names, keys and values that Weft's eBPF programs and weftd share,
//! and the policy decision both run ([`decide`]). Both sides compile this
//! crate, so the layouts and the decision can never drift apart.
//! Every key is `#[repr(C)]` without padding: the kernel compares keys byte
//! by byte.
#![no_std]

mod conntrack;
mod datapath;
mod decision;
mod lpm;
mod policy;
mod reason_name;

pub use conntrack::*;
pub use datapath::*;
pub use decision::*;
pub use lpm::*;
pub use policy::*;
pub use reason_name::reason_name;
