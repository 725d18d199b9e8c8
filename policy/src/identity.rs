//! Identities: what a peer address tells policy about who sent or receives a
//! packet. Addresses that no selector or ipBlock can tell apart share one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::ipblock::IpBlockGroup;
use crate::numbering::StableHasher;
use crate::protocol::Protocol;

/// An identity's number, as in the identity and policy maps.
pub type IdentityId = u32;

/// A container port with a name, as named ports in policies refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NamedPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// What selectors can see of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodIdentity {
    pub namespace: String,
    /// Includes `kubernetes.io/metadata.name`, which the API server always sets.
    pub namespace_labels: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// Only ports whose name an egress rule uses: those rules allow a port
    /// number per peer pod, so pods with other numbers need other identities.
    pub named_ports: BTreeSet<NamedPort>,
}

/// One identity: the pod behind an address (if any) and the ipBlock groups
/// containing the address. No pod and no group is [`crate::maps::IDENTITY_WORLD`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identity {
    pub pod: Option<PodIdentity>,
    /// Sorted.
    pub groups: Vec<IpBlockGroup>,
}

impl Identity {
    pub fn is_world(&self) -> bool {
        self.pod.is_none() && self.groups.is_empty()
    }

    /// Hash of a canonical form: the basis of the identity's number.
    pub(crate) fn stable_hash(&self) -> u32 {
        let mut hasher = StableHasher::default();
        match &self.pod {
            None => {
                hasher.u8(0);
            }
            Some(pod) => {
                hasher.u8(1).str(&pod.namespace);
                for labels in [&pod.namespace_labels, &pod.labels] {
                    hasher.len(labels.len());
                    for (key, value) in labels {
                        hasher.str(key).str(value);
                    }
                }
                hasher.len(pod.named_ports.len());
                for port in &pod.named_ports {
                    let protocol = port.protocol.number();
                    hasher.str(&port.name).u8(protocol).u16(port.port);
                }
            }
        }
        hasher.len(self.groups.len());
        for group in &self.groups {
            hasher.str(&group.cidr.to_string()).len(group.except.len());
            for except in &group.except {
                hasher.str(&except.to_string());
            }
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, labels: &[(&str, &str)]) -> Identity {
        Identity {
            pod: Some(PodIdentity {
                namespace: namespace.into(),
                namespace_labels: BTreeMap::new(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                named_ports: BTreeSet::new(),
            }),
            groups: vec![],
        }
    }

    #[test]
    fn hashes_tell_apart_what_selectors_tell_apart() {
        let a = pod("x", &[("pod", "a")]);
        assert_eq!(a.stable_hash(), a.clone().stable_hash());
        assert_ne!(a.stable_hash(), pod("y", &[("pod", "a")]).stable_hash());
        assert_ne!(a.stable_hash(), pod("x", &[("pod", "b")]).stable_hash());
        assert_ne!(a.stable_hash(), pod("x", &[("po", "da")]).stable_hash());
        let mut grouped = a.clone();
        grouped
            .groups
            .push(IpBlockGroup::new("10.0.0.0/8".parse().unwrap(), vec![]));
        assert_ne!(a.stable_hash(), grouped.stable_hash());
    }
}
