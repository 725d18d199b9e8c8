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

use ipnet::IpNet;

use crate::addresses::AddressBook;
use crate::compiled::CompiledPolicy;
use crate::diff::{Changes, MapChanges};
use crate::encode::MapContents;
use crate::identity::IdentityId;
use crate::inputs::ObjectName;
use crate::maps::{EndpointValue, IdentityValue, endpoint_key, ip_key};

/// A compile and what it knows about addresses.
#[derive(Debug, Clone, Default)]
pub struct PreparedCluster {
    /// What the compile gives for the wired addresses it was given
    /// (shared: weftd shows it to weftctl while it keeps the rest).
    pub compiled: Arc<CompiledPolicy>,
    pub(crate) addresses: AddressBook,
}

/// The entries of some addresses, as a compile with the same wired
/// addresses would give them (see the module doc for the one exception).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressEntries {
    /// Per address, its own identity entry (at full prefix length); None:
    /// it has none, and a covering ipBlock prefix or world decides.
    pub identities: BTreeMap<IpAddr, Option<IdentityId>>,
    /// Per address, its endpoint entry; None: it is no endpoint in scope.
    pub endpoints: BTreeMap<IpAddr, Option<EndpointValue>>,
    /// Pods with an address whose identity this compile has not numbered.
    pub unnumbered: BTreeSet<ObjectName>,
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

impl AddressEntries {
    /// Puts these entries into `maps` (the profiles they use are there:
    /// a compile encodes the profile of every endpoint in scope).
    pub fn overlay(&self, maps: &mut MapContents) {
        for (address, identity) in &self.identities {
            let key = ip_key(IpNet::from(*address));
            match identity {
                Some(identity) => {
                    let value = IdentityValue {
                        identity: *identity,
                    };
                    maps.identities.insert(key, value);
                }
                None => {
                    maps.identities.remove(&key);
                }
            }
        }
        for (address, endpoint) in &self.endpoints {
            let key = endpoint_key(*address);
            match endpoint {
                Some(endpoint) => maps.endpoints.insert(key, *endpoint),
                None => maps.endpoints.remove(&key),
            };
        }
    }

    /// The writes that make maps holding `applied` hold these entries, and
    /// the policy entries of the profiles (of `compiled`) they point to.
    /// Nothing is removed from the policy map: profiles change only with a
    /// compile.
    pub fn changes(&self, applied: &MapContents, compiled: &CompiledPolicy) -> MapChanges {
        let mut identities = Changes::default();
        for (address, identity) in &self.identities {
            let key = ip_key(IpNet::from(*address));
            let wanted = identity.map(|identity| IdentityValue { identity });
            identities.converge(key, applied.identities.get(&key), wanted);
        }
        let mut endpoints = Changes::default();
        for (address, endpoint) in &self.endpoints {
            let key = endpoint_key(*address);
            endpoints.converge(key, applied.endpoints.get(&key), *endpoint);
        }
        let mut policy = Changes::default();
        let profiles: BTreeSet<u32> = self
            .endpoints
            .values()
            .flatten()
            .map(|e| e.profile)
            .collect();
        for number in profiles {
            let Some(profile) = compiled.profiles.get(&number) else {
                continue;
            };
            for (key, value) in profile.map_entries(number) {
                policy.converge(key, applied.policy.get(&key), Some(value));
            }
        }
        MapChanges {
            identities,
            endpoints,
            policy,
        }
    }
}
