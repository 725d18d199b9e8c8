//! The `--host-routing` switch: eBPF host routing (the programs deliver
//! traffic between the pods of a node past the host stack) where the
//! kernel has what it needs, else the host stack, with the reason.

use aya::util::KernelVersion;
use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostRouting {
    /// The programs redirect pod-IP-to-pod-IP flows (`bpf_redirect_peer`).
    Ebpf,
    /// Every packet is routed by the host stack.
    Kernel,
}

/// What the programs are told (see `Datapath::set_host_routing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoutingSettings {
    pub on: bool,
    /// The cluster's pod networks: only flows between their addresses
    /// cross nodes past the stack (none without a datastore).
    pub pod_networks: Vec<IpNet>,
}

/// The first kernel with `bpf_redirect_peer`.
const FIRST_KERNEL: KernelVersion = KernelVersion::new(5, 10, 0);

/// What a node running `kernel` (`None`: unknown) gets when `requested`
/// is asked for, and why it is not what was asked.
pub fn effective(
    requested: HostRouting,
    kernel: Option<KernelVersion>,
) -> (HostRouting, Option<String>) {
    match (requested, kernel) {
        (HostRouting::Kernel, _) => (HostRouting::Kernel, None),
        (HostRouting::Ebpf, Some(kernel)) if kernel >= FIRST_KERNEL => (HostRouting::Ebpf, None),
        (HostRouting::Ebpf, Some(kernel)) => (
            HostRouting::Kernel,
            Some(format!(
                "eBPF host routing needs Linux {FIRST_KERNEL} or later (bpf_redirect_peer); \
                 this kernel is {kernel}"
            )),
        ),
        (HostRouting::Ebpf, None) => (
            HostRouting::Kernel,
            Some("the kernel's version is unknown, so bpf_redirect_peer may be missing".into()),
        ),
    }
}

/// [`effective`] on this machine's kernel.
pub fn effective_here(requested: HostRouting) -> (HostRouting, Option<String>) {
    effective(requested, KernelVersion::current().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ebpf_needs_linux_5_10_and_kernel_is_always_granted() {
        let on =
            |major, minor| effective(HostRouting::Ebpf, Some(KernelVersion::new(major, minor, 0)));
        assert_eq!(on(6, 18), (HostRouting::Ebpf, None));
        assert_eq!(on(5, 10), (HostRouting::Ebpf, None));
        let (fallback, reason) = on(5, 4);
        assert_eq!(fallback, HostRouting::Kernel);
        assert!(reason.unwrap().contains("5.4.0"));
        assert_eq!(effective(HostRouting::Ebpf, None).0, HostRouting::Kernel);
        assert_eq!(
            effective(HostRouting::Kernel, Some(KernelVersion::new(6, 18, 0))),
            (HostRouting::Kernel, None)
        );
    }
}
