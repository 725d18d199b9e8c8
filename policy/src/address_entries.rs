//! The identity and endpoint entries of some addresses, as one compile
//! gives them, and the map writes that put them in place (with the
//! policy entries of the profiles they point to).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::compiled::CompiledPolicy;
use crate::diff::{Changes, MapChanges};
use crate::encode::MapContents;
use crate::identity::IdentityId;
use crate::inputs::ObjectName;
use crate::maps::{EndpointValue, IdentityValue, endpoint_key, ip_key};

/// The entries of some addresses, as a compile with the same wired
/// addresses would give them (see `prepared` for the one exception).
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
