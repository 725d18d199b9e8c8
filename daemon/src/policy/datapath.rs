//! What the policy enforcer needs from the node: the policy maps, the pod
//! interface records, the programs' filters and links, verdict counters and
//! events, and interface indexes. The kernel's [`Datapath`] is one; unit
//! tests use an in-memory one, so adoption, rollback and convergence are
//! tested without root.

use std::collections::BTreeMap;

use weft_ebpf_common::PodInterface;
use weft_policy::{MapChanges, MapContents};

use crate::bpf::{BpfError, Datapath, EventRing};

pub trait PolicyDatapath: Send {
    /// What the identity, endpoint and policy maps hold.
    fn policy_maps(&self) -> Result<MapContents, BpfError>;
    /// Writes `changes` in the order documented on `MapChanges`.
    fn apply_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError>;
    /// Pod interface records by ifindex.
    fn pod_interfaces(&self) -> Result<BTreeMap<u32, PodInterface>, BpfError>;
    /// The record, then (with the veth's MAC) the pod's addresses for host
    /// routing.
    fn set_pod_interface(
        &mut self,
        ifindex: u32,
        pod: &PodInterface,
        host_mac: Option<[u8; 6]>,
    ) -> Result<(), BpfError>;
    /// The pod's addresses that lead to `ifindex`, then the record.
    /// Unknown ifindex is fine.
    fn remove_pod_interface(&mut self, ifindex: u32) -> Result<(), BpfError>;
    /// Puts the pod programs on host veth `ifname` (replacing old ones).
    fn attach_pod(&mut self, ifname: &str) -> Result<(), BpfError>;
    /// A missing interface or filter is fine.
    fn detach_pod(&mut self, ifname: &str) -> Result<(), BpfError>;
    fn attach_node_device(&mut self, ifname: &str) -> Result<(), BpfError>;
    fn detach_node_device(&mut self, ifname: &str) -> Result<(), BpfError>;
    /// Node devices that have pinned links.
    fn pinned_link_names(&self) -> Result<Vec<String>, BpfError>;
    /// Packets per verdict reason.
    fn verdict_counts(&self) -> Result<Vec<u64>, BpfError>;
    fn set_report_allows(&mut self, on: bool) -> Result<(), BpfError>;
    /// The verdict event ring (once).
    fn take_events(&mut self) -> Result<EventRing, BpfError>;
    /// The ifindex of interface `ifname` in weftd's network namespace.
    fn interface_index(&self, ifname: &str) -> Result<u32, nix::Error>;
}

impl PolicyDatapath for Datapath {
    fn policy_maps(&self) -> Result<MapContents, BpfError> {
        Datapath::policy_maps(self)
    }

    fn apply_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        Datapath::apply_policy(self, changes)
    }

    fn pod_interfaces(&self) -> Result<BTreeMap<u32, PodInterface>, BpfError> {
        Datapath::pod_interfaces(self)
    }

    fn set_pod_interface(
        &mut self,
        ifindex: u32,
        pod: &PodInterface,
        host_mac: Option<[u8; 6]>,
    ) -> Result<(), BpfError> {
        Datapath::set_pod_interface(self, ifindex, pod, host_mac)
    }

    fn remove_pod_interface(&mut self, ifindex: u32) -> Result<(), BpfError> {
        Datapath::remove_pod_interface(self, ifindex)
    }

    fn attach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        Datapath::attach_pod(self, ifname)
    }

    fn detach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        Datapath::detach_pod(self, ifname)
    }

    fn attach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        Datapath::attach_node_device(self, ifname)
    }

    fn detach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        Datapath::detach_node_device(self, ifname)
    }

    fn pinned_link_names(&self) -> Result<Vec<String>, BpfError> {
        Datapath::pinned_link_names(self)
    }

    fn verdict_counts(&self) -> Result<Vec<u64>, BpfError> {
        Datapath::verdict_counts(self).map(|counts| counts.to_vec())
    }

    fn set_report_allows(&mut self, on: bool) -> Result<(), BpfError> {
        Datapath::set_report_allows(self, on)
    }

    fn take_events(&mut self) -> Result<EventRing, BpfError> {
        Datapath::take_events(self)
    }

    fn interface_index(&self, ifname: &str) -> Result<u32, nix::Error> {
        nix::net::if_::if_nametoindex(ifname)
    }
}
