//! The three policy maps (identities, endpoints, policy) read as
//! `weft_policy::MapContents` and written from `weft_policy::MapChanges`.
//! The LPM maps hold aya's `Key { prefix_len, data }`: the same bytes as
//! `IpKey`/`PolicyKey`, whose first field is the prefix length.

use std::collections::BTreeMap;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData};
use weft_ebpf_common::{
    CONFIG_MAP, CONFIG_POLICY_GENERATION, ENDPOINT_MAP, EndpointKey, EndpointValue, IDENTITY_MAP,
    IdentityValue, IpKey, POLICY_MAP, PolicyKey, PolicyKeyData, PolicyValue,
};
use weft_policy::maps::current_policy_key;
use weft_policy::{MapChanges, MapContents, Refused, fail_closed};

use super::BpfError;
use super::datapath::Datapath;
use super::error::{ignore_missing, is_full};

type Identities<T> = LpmTrie<T, EndpointKey, IdentityValue>;
type Endpoints<T> = HashMap<T, EndpointKey, EndpointValue>;
type Policy<T> = LpmTrie<T, PolicyKeyData, PolicyValue>;

impl Datapath {
    /// Current entries of WEFT_IDENTITIES, WEFT_ENDPOINTS, WEFT_POLICY.
    pub fn policy_maps(&self) -> Result<MapContents, BpfError> {
        let identities = Identities::<&MapData>::try_from(self.map(IDENTITY_MAP)?)
            .map_err(BpfError::map(IDENTITY_MAP))?;
        let endpoints = Endpoints::<&MapData>::try_from(self.map(ENDPOINT_MAP)?)
            .map_err(BpfError::map(ENDPOINT_MAP))?;
        let policy = Policy::<&MapData>::try_from(self.map(POLICY_MAP)?)
            .map_err(BpfError::map(POLICY_MAP))?;
        Ok(MapContents {
            identities: identities
                .iter()
                .map(|entry| entry.map(|(key, value)| (ip_key(&key), value)))
                .collect::<Result<_, _>>()
                .map_err(BpfError::map(IDENTITY_MAP))?,
            endpoints: endpoints
                .iter()
                .collect::<Result<_, _>>()
                .map_err(BpfError::map(ENDPOINT_MAP))?,
            policy: policy
                .iter()
                .map(|entry| entry.map(|(key, value)| (policy_key(&key), value)))
                .collect::<Result<_, _>>()
                .map_err(BpfError::map(POLICY_MAP))?,
        })
    }

    /// Rewrites the any-protocol entries an older weftd pinned (prefix
    /// through the protocol byte) as this build's programs look them up
    /// (prefix before it): the new entry first, so that neither build's
    /// programs ever miss one (an older program's any-protocol lookup
    /// matches both). Done before any program of this build is attached.
    pub(super) fn upgrade_policy_encoding(&mut self) -> Result<(), BpfError> {
        let upgrades: Vec<_> = self
            .policy_maps()?
            .policy
            .into_iter()
            .filter_map(|(key, value)| current_policy_key(&key).map(|new| (key, new, value)))
            .collect();
        let mut policy = Policy::<&mut MapData>::try_from(self.map_mut(POLICY_MAP)?)
            .map_err(BpfError::map(POLICY_MAP))?;
        for (_, new, value) in &upgrades {
            policy
                .insert(&policy_lpm_key(new), value, 0)
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        for (old, _, _) in &upgrades {
            ignore_missing(policy.remove(&policy_lpm_key(old)))
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        Ok(())
    }

    /// Makes conntrack entries allowed under the previous maps re-check their
    /// flow's own direction against the new ones (see CONFIG_POLICY_GENERATION).
    fn bump_policy_generation(&mut self) -> Result<(), BpfError> {
        let mut config = Array::<_, u32>::try_from(self.map_mut(CONFIG_MAP)?)
            .map_err(BpfError::map(CONFIG_MAP))?;
        let generation = config
            .get(&CONFIG_POLICY_GENERATION, 0)
            .map_err(BpfError::map(CONFIG_MAP))?;
        config
            .set(CONFIG_POLICY_GENERATION, generation.wrapping_add(1), 0)
            .map_err(BpfError::map(CONFIG_MAP))
    }

    /// Writes `changes` in the order documented on MapChanges: policy
    /// upserts, identity upserts, endpoint upserts, endpoint removals,
    /// identity removals, policy removals. Removing what is gone succeeds.
    /// When a map has no room, writes them failing closed instead (see
    /// `write_failing_closed`) and says what it could not store.
    pub fn apply_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        if changes.is_empty() {
            return Ok(());
        }
        let written = match self.write_in_order(changes) {
            Err(BpfError::Map { source, .. }) if is_full(&source) => {
                self.write_failing_closed(changes)
            }
            other => other,
        };
        // Whatever part was written, conntrack entries must meet it.
        self.bump_policy_generation()?;
        written
    }

    fn policy_map_handles(&mut self) -> Result<PolicyMaps<'_>, BpfError> {
        let [identities, endpoints, policy] =
            self.ebpf
                .maps_disjoint_mut([IDENTITY_MAP, ENDPOINT_MAP, POLICY_MAP]);
        Ok(PolicyMaps {
            identities: Identities::<&mut MapData>::try_from(
                identities.ok_or(BpfError::Missing(IDENTITY_MAP))?,
            )
            .map_err(BpfError::map(IDENTITY_MAP))?,
            endpoints: Endpoints::<&mut MapData>::try_from(
                endpoints.ok_or(BpfError::Missing(ENDPOINT_MAP))?,
            )
            .map_err(BpfError::map(ENDPOINT_MAP))?,
            policy: Policy::<&mut MapData>::try_from(policy.ok_or(BpfError::Missing(POLICY_MAP))?)
                .map_err(BpfError::map(POLICY_MAP))?,
        })
    }

    /// Make before break: no endpoint is ever without the entries it points at.
    fn write_in_order(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        let mut maps = self.policy_map_handles()?;
        for (key, value) in &changes.policy.upsert {
            maps.policy
                .insert(&policy_lpm_key(key), value, 0)
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        for (key, value) in &changes.identities.upsert {
            maps.identities
                .insert(&ip_lpm_key(key), value, 0)
                .map_err(BpfError::map(IDENTITY_MAP))?;
        }
        for (key, value) in &changes.endpoints.upsert {
            maps.endpoints
                .insert(key, value, 0)
                .map_err(BpfError::map(ENDPOINT_MAP))?;
        }
        maps.remove_endpoints(changes)?;
        maps.remove_identities(changes)?;
        maps.remove_policy(changes)
    }

    /// Break before make, for maps without room for both the old and the
    /// new entries: removals first (they only take allows away), then every
    /// upsert that fits, then the endpoints as `weft_policy::fail_closed`
    /// gives them for what did not fit. An endpoint the endpoint map has no
    /// room for stays out of it, and the programs drop its packets as an
    /// unknown endpoint's. Succeeds only when everything was stored.
    fn write_failing_closed(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        let mut maps = self.policy_map_handles()?;
        maps.remove_endpoints(changes)?;
        maps.remove_identities(changes)?;
        maps.remove_policy(changes)?;
        let mut shortage = Shortage::default();
        for (key, value) in &changes.policy.upsert {
            let stored = maps.policy.insert(&policy_lpm_key(key), value, 0);
            if shortage.note(POLICY_MAP, stored)? {
                shortage.refused.profiles.insert(key.profile);
            }
        }
        for (key, value) in &changes.identities.upsert {
            let stored = maps.identities.insert(&ip_lpm_key(key), value, 0);
            if shortage.note(IDENTITY_MAP, stored)? {
                shortage.refused.identities = true;
            }
        }
        // A missing identity concerns every isolated endpoint, written or not.
        let mut wanted: BTreeMap<EndpointKey, EndpointValue> = if shortage.refused.identities {
            maps.endpoints
                .iter()
                .collect::<Result<_, _>>()
                .map_err(BpfError::map(ENDPOINT_MAP))?
        } else {
            BTreeMap::new()
        };
        wanted.extend(changes.endpoints.upsert.iter().copied());
        for (key, value) in fail_closed(wanted.clone(), &shortage.refused) {
            if wanted.get(&key) != Some(&value) {
                shortage.starved += 1;
            }
            let stored = maps.endpoints.insert(key, value, 0);
            shortage.note(ENDPOINT_MAP, stored)?;
        }
        shortage.into_result()
    }
}

/// The three policy maps, writable at once.
struct PolicyMaps<'a> {
    identities: Identities<&'a mut MapData>,
    endpoints: Endpoints<&'a mut MapData>,
    policy: Policy<&'a mut MapData>,
}

impl PolicyMaps<'_> {
    fn remove_endpoints(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        for key in &changes.endpoints.remove {
            ignore_missing(self.endpoints.remove(key)).map_err(BpfError::map(ENDPOINT_MAP))?;
        }
        Ok(())
    }

    fn remove_identities(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        for key in &changes.identities.remove {
            ignore_missing(self.identities.remove(&ip_lpm_key(key)))
                .map_err(BpfError::map(IDENTITY_MAP))?;
        }
        Ok(())
    }

    fn remove_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        for key in &changes.policy.remove {
            ignore_missing(self.policy.remove(&policy_lpm_key(key)))
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        Ok(())
    }
}

/// What a write failing closed could not store.
#[derive(Default)]
struct Shortage {
    refused: Refused,
    /// Entries not stored, per map.
    not_stored: BTreeMap<&'static str, usize>,
    /// Isolated endpoints pointed at no profile for it.
    starved: usize,
}

impl Shortage {
    /// Whether the insert was refused for want of room; other errors fail.
    fn note(
        &mut self,
        map: &'static str,
        stored: Result<(), aya::maps::MapError>,
    ) -> Result<bool, BpfError> {
        match stored {
            Ok(()) => Ok(false),
            Err(error) if is_full(&error) => {
                *self.not_stored.entry(map).or_default() += 1;
                Ok(true)
            }
            Err(error) => Err(BpfError::map(map)(error)),
        }
    }

    fn into_result(self) -> Result<(), BpfError> {
        if self.not_stored.is_empty() {
            return Ok(());
        }
        Err(BpfError::MapsFull {
            not_stored: self
                .not_stored
                .iter()
                .map(|(map, count)| format!("{count} in {map}"))
                .collect::<Vec<_>>()
                .join(", "),
            starved: self.starved,
        })
    }
}

fn ip_lpm_key(key: &IpKey) -> Key<EndpointKey> {
    Key::new(key.prefixlen, key.data())
}

fn ip_key(key: &Key<EndpointKey>) -> IpKey {
    IpKey::from_data(key.prefix_len(), key.data())
}

fn policy_lpm_key(key: &PolicyKey) -> Key<PolicyKeyData> {
    Key::new(key.prefixlen, key.data())
}

fn policy_key(key: &Key<PolicyKeyData>) -> PolicyKey {
    PolicyKey::from_data(key.prefix_len(), key.data())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel sees aya's key bytes; they must be the shared key's bytes.
    fn bytes<T>(value: &T) -> &[u8] {
        // SAFETY: reading the plain-data keys' own bytes.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
    }

    #[test]
    fn identity_lpm_keys_have_the_ip_key_bytes() {
        let key = weft_policy::maps::ip_key("10.1.0.0/16".parse().unwrap());
        let lpm = ip_lpm_key(&key);
        assert_eq!(bytes(&lpm), bytes(&key));
        assert_eq!(ip_key(&lpm), key);
    }

    #[test]
    fn policy_lpm_keys_have_the_policy_key_bytes() {
        let key = weft_policy::maps::policy_key(
            7,
            300,
            weft_ebpf_common::DIRECTION_INGRESS,
            6,
            weft_policy::PortPrefix { value: 80, len: 16 },
        );
        let lpm = policy_lpm_key(&key);
        assert_eq!(bytes(&lpm), bytes(&key));
        assert_eq!(policy_key(&lpm), key);
    }
}
