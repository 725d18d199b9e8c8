//! A compile kept for incremental use: the cluster-wide part (identities,
//! resolved policies, profiles) is done once per datastore snapshot, and
//! the entries of single addresses (a pod weftd wires or unwires) are
//! worked out from it in microseconds.
//!
//! Exact as long as the identities stay the same: the identity of an
//! address depends on its pod's labels and its ipBlock groups, not on the
//! address itself, so a pod joining a workload that already has an address
//! gets exactly what a full compile gives. A pod whose identity no address
//! carried yet is reported in [`AddressEntries::unnumbered`]: its address
//! gets the entry it would have without the pod (what other nodes see until
//! the kubelet publishes it), which the profiles allow less than the pod,
//! never more, until the next compile numbers the identity and lets the
//! rules that select it name it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::address_entries::AddressEntries;
use crate::addresses::AddressBook;
use crate::compiled::CompiledPolicy;
use crate::inputs::ObjectName;

/// A compile and what it knows about addresses.
#[derive(Debug, Clone, Default)]
pub struct PreparedCluster {
    /// What the compile gives for the wired addresses it was given
    /// (shared: weftd shows it to weftctl while it keeps the rest).
    pub compiled: Arc<CompiledPolicy>,
    pub(crate) addresses: AddressBook,
}

impl PreparedCluster {
    /// The addresses `pod`'s status publishes: whether they are the pod's
    /// depends on whether weftd wired it, so wiring or unwiring the pod
    /// changes their entries too.
    pub fn published_addresses(&self, pod: &ObjectName) -> &[IpAddr] {
        self.addresses.published_by(pod)
    }

    /// The entries of `addresses` when weftd has wired `wired` (addresses
    /// by pod), instead of the wired addresses the compile was given.
    pub fn address_entries(
        &self,
        addresses: &BTreeSet<IpAddr>,
        wired: &BTreeMap<ObjectName, Vec<IpAddr>>,
    ) -> AddressEntries {
        self.addresses.entries(addresses, wired)
    }
}
