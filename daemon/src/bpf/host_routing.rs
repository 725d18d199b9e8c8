//! The `--host-routing` switch: eBPF host routing (the programs deliver
//! flows between pod IPs past the host stack) or the kernel's. The helpers
//! it calls (`bpf_fib_lookup`, `bpf_redirect_peer`, `bpf_redirect_neigh`,
//! `bpf_check_mtu`: Linux 5.12 at the latest) are older than the tcx links
//! the datapath already needs (Linux 6.6), so every kernel that loads the
//! datapath can route with it.

use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostRouting {
    /// The programs redirect pod-IP-to-pod-IP flows.
    Ebpf,
    /// Every packet is routed by the host stack.
    Kernel,
}

impl std::fmt::Display for HostRouting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostRouting::Ebpf => "ebpf",
            HostRouting::Kernel => "kernel",
        })
    }
}

/// What the programs are told (see `Datapath::set_host_routing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoutingSettings {
    pub on: bool,
    /// The cluster's pod networks: only flows between their addresses
    /// cross nodes past the stack (none without a datastore).
    pub pod_networks: Vec<IpNet>,
}
