//! Weft's TC programs: NetworkPolicy enforcement on pod host veths and node
//! devices (see weft-ebpf-common's datapath module for where each decision
//! is taken).
#![no_std]
#![no_main]

mod address;
mod conntrack;
mod fragments;
mod from_pod;
mod host_routing;
mod ipv6;
mod maps;
mod mark;
mod ndp;
mod node_device;
mod packet;
mod pending_egress;
mod policy;
mod to_pod;
mod transport;
mod verdict;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
