//! The three policy maps (identities, endpoints, policy) read as
//! `weft_policy::MapContents` and written from `weft_policy::MapChanges`.
//! The LPM maps hold aya's `Key { prefix_len, data }`: the same bytes as
//! `IpKey`/`PolicyKey`, whose first field is the prefix length.

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData};
use weft_ebpf_common::{
    CONFIG_MAP, CONFIG_POLICY_GENERATION, ENDPOINT_MAP, EndpointKey, EndpointValue, IDENTITY_MAP,
    IdentityValue, IpKey, POLICY_MAP, PolicyKey, PolicyKeyData, PolicyValue,
};
use weft_policy::maps::current_policy_key;
use weft_policy::{MapChanges, MapContents};

use super::BpfError;
use super::datapath::Datapath;
use super::error::ignore_missing;

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
    pub fn apply_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        let [identities, endpoints, policy] =
            self.ebpf
                .maps_disjoint_mut([IDENTITY_MAP, ENDPOINT_MAP, POLICY_MAP]);
        let mut identities = Identities::<&mut MapData>::try_from(
            identities.ok_or(BpfError::Missing(IDENTITY_MAP))?,
        )
        .map_err(BpfError::map(IDENTITY_MAP))?;
        let mut endpoints =
            Endpoints::<&mut MapData>::try_from(endpoints.ok_or(BpfError::Missing(ENDPOINT_MAP))?)
                .map_err(BpfError::map(ENDPOINT_MAP))?;
        let mut policy =
            Policy::<&mut MapData>::try_from(policy.ok_or(BpfError::Missing(POLICY_MAP))?)
                .map_err(BpfError::map(POLICY_MAP))?;

        for (key, value) in &changes.policy.upsert {
            policy
                .insert(&policy_lpm_key(key), value, 0)
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        for (key, value) in &changes.identities.upsert {
            identities
                .insert(&ip_lpm_key(key), value, 0)
                .map_err(BpfError::map(IDENTITY_MAP))?;
        }
        for (key, value) in &changes.endpoints.upsert {
            endpoints
                .insert(key, value, 0)
                .map_err(BpfError::map(ENDPOINT_MAP))?;
        }
        for key in &changes.endpoints.remove {
            ignore_missing(endpoints.remove(key)).map_err(BpfError::map(ENDPOINT_MAP))?;
        }
        for key in &changes.identities.remove {
            ignore_missing(identities.remove(&ip_lpm_key(key)))
                .map_err(BpfError::map(IDENTITY_MAP))?;
        }
        for key in &changes.policy.remove {
            ignore_missing(policy.remove(&policy_lpm_key(key)))
                .map_err(BpfError::map(POLICY_MAP))?;
        }
        if !changes.is_empty() {
            self.bump_policy_generation()?;
        }
        Ok(())
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
