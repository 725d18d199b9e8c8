//! The store's whole state as one value, and the pure operations on it:
//! reserve, release and garbage-collect attachments. The store only loads
//! it, applies one operation and saves it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::allocator::next_free;
use crate::{Attachment, AttachmentKey, IpamError};

/// Version of the on-disk layout; bumped on incompatible changes.
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocations {
    attachments: BTreeMap<AttachmentKey, Attachment>,
    /// Per subnet, the last address handed out (the round-robin cursor).
    cursors: BTreeMap<IpNet, IpAddr>,
}

/// The JSON layout. Attachments are a list because JSON object keys must be
/// strings and the key is a (container ID, ifname) pair.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateFile {
    version: u32,
    attachments: Vec<Attachment>,
    cursors: BTreeMap<IpNet, IpAddr>,
}

impl Allocations {
    /// Parses and validates the state file's content. The error is the
    /// reason the content cannot be trusted.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let file: StateFile = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
        if file.version != FORMAT_VERSION {
            return Err(format!(
                "format version {} is not the supported {FORMAT_VERSION}",
                file.version
            ));
        }
        let mut attachments = BTreeMap::new();
        let mut ips = BTreeSet::new();
        for attachment in file.attachments {
            if let Some(ip) = attachment.ips.iter().find(|ip| !ips.insert(**ip)) {
                return Err(format!("address {ip} is reserved twice"));
            }
            let key = &attachment.key;
            if attachments.contains_key(key) {
                return Err(format!(
                    "attachment {}/{} appears twice",
                    key.container_id, key.ifname
                ));
            }
            attachments.insert(key.clone(), attachment);
        }
        Ok(Self {
            attachments,
            cursors: file.cursors,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let file = StateFile {
            version: FORMAT_VERSION,
            attachments: self.attachments.values().cloned().collect(),
            cursors: self.cursors.clone(),
        };
        // Subnets serialise as strings, so every map key is a string and
        // encoding cannot fail.
        let mut json = serde_json::to_vec(&file).expect("state encodes to JSON");
        json.push(b'\n');
        json
    }

    pub fn get(&self, key: &AttachmentKey) -> Option<&Attachment> {
        self.attachments.get(key)
    }

    pub fn attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments.values()
    }

    /// Returns the key's attachment, reserving one address in each subnet
    /// for it first if it has none. The flag says whether anything changed.
    /// An existing attachment is returned as it is, so repeating an ADD
    /// yields the same addresses. Either every subnet gets an address or the
    /// state is left untouched.
    pub fn reserve(
        &mut self,
        subnets: &[IpNet],
        key: &AttachmentKey,
        host_ifname: &str,
    ) -> Result<(Attachment, bool), IpamError> {
        if let Some(existing) = self.attachments.get(key) {
            return Ok((existing.clone(), false));
        }
        if subnets.is_empty() {
            return Err(IpamError::NoSubnet);
        }
        let mut used: BTreeSet<IpAddr> = self
            .attachments
            .values()
            .flat_map(|a| a.ips.iter().copied())
            .collect();
        let mut picked = Vec::with_capacity(subnets.len());
        for subnet in subnets.iter().map(IpNet::trunc) {
            let cursor = self.cursors.get(&subnet).copied();
            let ip = next_free(subnet, &used, cursor).ok_or(IpamError::Exhausted { subnet })?;
            used.insert(ip);
            picked.push((subnet, ip));
        }
        self.cursors.extend(picked.iter().copied());
        let attachment = Attachment {
            key: key.clone(),
            ips: picked.into_iter().map(|(_, ip)| ip).collect(),
            host_ifname: host_ifname.to_owned(),
        };
        self.attachments.insert(key.clone(), attachment.clone());
        Ok((attachment, true))
    }

    pub fn release(&mut self, key: &AttachmentKey) -> Option<Attachment> {
        self.attachments.remove(key)
    }

    /// Releases every attachment whose key is not in `valid`.
    pub fn gc(&mut self, valid: &HashSet<AttachmentKey>) -> Vec<Attachment> {
        let stale: Vec<AttachmentKey> = self
            .attachments
            .keys()
            .filter(|key| !valid.contains(*key))
            .cloned()
            .collect();
        stale
            .iter()
            .filter_map(|key| self.attachments.remove(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> AttachmentKey {
        AttachmentKey {
            container_id: id.into(),
            ifname: "eth0".into(),
        }
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reserves_one_address_per_subnet() {
        let mut state = Allocations::default();
        let (a, changed) = state
            .reserve(&[net("10.0.0.0/24"), net("fd00::/64")], &key("a"), "veth-a")
            .unwrap();
        assert!(changed);
        assert_eq!(a.ips, vec![ip("10.0.0.2"), ip("fd00::2")]);
        assert_eq!(a.host_ifname, "veth-a");
        assert_eq!(state.get(&key("a")), Some(&a));
    }

    #[test]
    fn reserve_is_idempotent_per_key() {
        let mut state = Allocations::default();
        let subnets = [net("10.0.0.0/24")];
        let (first, _) = state.reserve(&subnets, &key("a"), "veth-a").unwrap();
        let (again, changed) = state.reserve(&subnets, &key("a"), "veth-a").unwrap();
        assert!(!changed);
        assert_eq!(again, first);
        assert_eq!(state.attachments().count(), 1);
    }

    #[test]
    fn the_same_container_on_another_ifname_is_another_attachment() {
        let mut state = Allocations::default();
        let subnets = [net("10.0.0.0/24")];
        let (eth0, _) = state.reserve(&subnets, &key("a"), "v0").unwrap();
        let net1 = AttachmentKey {
            ifname: "net1".into(),
            ..key("a")
        };
        let (other, changed) = state.reserve(&subnets, &net1, "v1").unwrap();
        assert!(changed);
        assert_ne!(other.ips, eth0.ips);
    }

    #[test]
    fn released_address_is_reused_only_after_the_rest() {
        let mut state = Allocations::default();
        let subnets = [net("10.0.0.0/29")]; // .2 ..= .6
        for id in ["a", "b", "c"] {
            state.reserve(&subnets, &key(id), "v").unwrap();
        }
        assert_eq!(state.release(&key("a")).unwrap().ips, vec![ip("10.0.0.2")]);
        let next =
            |state: &mut Allocations, id| state.reserve(&subnets, &key(id), "v").unwrap().0.ips;
        assert_eq!(next(&mut state, "d"), vec![ip("10.0.0.5")]);
        assert_eq!(next(&mut state, "e"), vec![ip("10.0.0.6")]);
        assert_eq!(next(&mut state, "f"), vec![ip("10.0.0.2")]);
    }

    #[test]
    fn exhaustion_names_the_subnet_and_changes_nothing() {
        let mut state = Allocations::default();
        let v4 = net("10.0.0.0/30"); // only .2
        state.reserve(&[v4], &key("a"), "v").unwrap();
        let before = state.clone();
        match state.reserve(&[net("fd00::/64"), v4], &key("b"), "v") {
            Err(IpamError::Exhausted { subnet }) => assert_eq!(subnet, v4),
            other => panic!("expected Exhausted, got {other:?}"),
        }
        assert_eq!(state, before, "the IPv6 pick must not be kept");
    }

    #[test]
    fn too_small_subnets_are_exhausted() {
        for subnet in ["10.0.0.0/31", "10.0.0.7/32", "fd00::/127", "fd00::1/128"] {
            let mut state = Allocations::default();
            assert!(
                matches!(
                    state.reserve(&[net(subnet)], &key("a"), "v"),
                    Err(IpamError::Exhausted { .. })
                ),
                "{subnet}"
            );
        }
    }

    #[test]
    fn no_subnet_is_an_error() {
        let mut state = Allocations::default();
        assert!(matches!(
            state.reserve(&[], &key("a"), "v"),
            Err(IpamError::NoSubnet)
        ));
    }

    #[test]
    fn subnets_with_host_bits_share_one_cursor() {
        let mut state = Allocations::default();
        state
            .reserve(&[net("10.0.0.0/24")], &key("a"), "v")
            .unwrap();
        let (b, _) = state
            .reserve(&[net("10.0.0.9/24")], &key("b"), "v")
            .unwrap();
        assert_eq!(b.ips, vec![ip("10.0.0.3")]);
    }

    #[test]
    fn release_of_an_unknown_key_is_none() {
        let mut state = Allocations::default();
        assert_eq!(state.release(&key("nope")), None);
    }

    #[test]
    fn gc_releases_exactly_the_keys_not_valid() {
        let mut state = Allocations::default();
        let subnets = [net("10.0.0.0/24")];
        for id in ["a", "b", "c"] {
            state.reserve(&subnets, &key(id), "v").unwrap();
        }
        let valid: HashSet<_> = [key("b"), key("zz")].into_iter().collect();
        let mut released: Vec<_> = state
            .gc(&valid)
            .into_iter()
            .map(|a| a.key.container_id)
            .collect();
        released.sort();
        assert_eq!(released, ["a", "c"]);
        assert_eq!(
            state
                .attachments()
                .map(|a| a.key.clone())
                .collect::<Vec<_>>(),
            vec![key("b")]
        );
    }

    #[test]
    fn json_round_trip_keeps_attachments_and_cursors() {
        let mut state = Allocations::default();
        state
            .reserve(&[net("10.0.0.0/24"), net("fd00::/64")], &key("a"), "v")
            .unwrap();
        state
            .reserve(&[net("10.0.0.0/24")], &key("b"), "v")
            .unwrap();
        state.release(&key("b"));
        let loaded = Allocations::from_json(&state.to_json()).unwrap();
        assert_eq!(loaded, state);
        assert_eq!(
            loaded.cursors.get(&net("10.0.0.0/24")),
            Some(&ip("10.0.0.3"))
        );
    }

    #[test]
    fn rejects_untrustworthy_content() {
        let attachment = |id: &str, ip: &str| {
            format!(
                r#"{{"key":{{"containerId":"{id}","ifname":"eth0"}},"ips":["{ip}"],"hostIfname":"v"}}"#
            )
        };
        let file = |version: u32, attachments: &[String]| {
            format!(
                r#"{{"version":{version},"attachments":[{}],"cursors":{{}}}}"#,
                attachments.join(",")
            )
        };
        let ok = file(1, &[attachment("a", "10.0.0.2")]);
        assert!(Allocations::from_json(ok.as_bytes()).is_ok());
        let bad = [
            String::new(),
            "{\"version\":1,\"attach".to_owned(),
            file(2, &[]),
            file(
                1,
                &[attachment("a", "10.0.0.2"), attachment("b", "10.0.0.2")],
            ),
            file(
                1,
                &[attachment("a", "10.0.0.2"), attachment("a", "10.0.0.3")],
            ),
        ];
        for content in bad {
            assert!(
                Allocations::from_json(content.as_bytes()).is_err(),
                "accepted {content:?}"
            );
        }
    }
}
