//! The writes that turn one map content into another, so weftd writes only
//! what changed, and in an order that never opens a hole or drops a flow
//! the old and the new policy both allow.

use std::collections::BTreeMap;

use crate::encode::MapContents;
use crate::maps::{EndpointKey, EndpointValue, IdentityValue, IpKey, PolicyKey, PolicyValue};

/// Entries to write and keys to delete in one map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<K, V> {
    pub upsert: Vec<(K, V)>,
    pub remove: Vec<K>,
}

/// Changes per map. Apply them in this order (what [`MapChanges::apply`]
/// does): policy upserts, identity upserts, endpoint upserts, endpoint
/// removals, identity removals, policy removals. A changed profile has a new
/// number, so its entries are complete before an endpoint switches to it,
/// and the old ones go only after no endpoint uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapChanges {
    pub identities: Changes<IpKey, IdentityValue>,
    pub endpoints: Changes<EndpointKey, EndpointValue>,
    pub policy: Changes<PolicyKey, PolicyValue>,
}

/// What to write so maps holding `old` hold `new`. `old` can be what the
/// pinned maps hold after a restart.
pub fn diff(old: &MapContents, new: &MapContents) -> MapChanges {
    MapChanges {
        identities: Changes::between(&old.identities, &new.identities),
        endpoints: Changes::between(&old.endpoints, &new.endpoints),
        policy: Changes::between(&old.policy, &new.policy),
    }
}

impl<K, V> Default for Changes<K, V> {
    fn default() -> Self {
        Changes {
            upsert: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<K: Ord + Copy, V: PartialEq + Copy> Changes<K, V> {
    /// What to write so one map holding `old` holds `new`.
    pub fn between(old: &BTreeMap<K, V>, new: &BTreeMap<K, V>) -> Self {
        let upsert = new
            .iter()
            .filter(|(key, value)| old.get(key) != Some(value))
            .map(|(key, value)| (*key, *value))
            .collect();
        let remove = old
            .keys()
            .filter(|key| !new.contains_key(key))
            .copied()
            .collect();
        Changes { upsert, remove }
    }

    /// Adds the write, if any, that turns `current` (the entry of `key`, if
    /// any) into `wanted`.
    pub(crate) fn converge(&mut self, key: K, current: Option<&V>, wanted: Option<V>) {
        match wanted {
            Some(value) if current != Some(&value) => self.upsert.push((key, value)),
            None if current.is_some() => self.remove.push(key),
            _ => {}
        }
    }
}

impl<K: Ord + Copy, V: Copy> Changes<K, V> {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty()
    }

    fn upsert_into(&self, map: &mut BTreeMap<K, V>) {
        map.extend(self.upsert.iter().copied());
    }

    fn remove_from(&self, map: &mut BTreeMap<K, V>) {
        for key in &self.remove {
            map.remove(key);
        }
    }
}

impl MapChanges {
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.endpoints.is_empty() && self.policy.is_empty()
    }

    /// Applies the changes to `maps` in the documented order.
    pub fn apply(&self, maps: &mut MapContents) {
        self.policy.upsert_into(&mut maps.policy);
        self.identities.upsert_into(&mut maps.identities);
        self.endpoints.upsert_into(&mut maps.endpoints);
        self.endpoints.remove_from(&mut maps.endpoints);
        self.identities.remove_from(&mut maps.identities);
        self.policy.remove_from(&mut maps.policy);
    }
}
