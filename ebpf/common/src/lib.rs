//! Map names, keys and values that Weft's eBPF programs and weftd share.
//! Both sides compile this crate, so the layouts can never drift apart.
//! Every key is `#[repr(C)]` without padding: the kernel compares keys byte
//! by byte.
#![no_std]

mod datapath;
mod lpm;
mod policy;

pub use datapath::*;
pub use lpm::*;
pub use policy::*;
