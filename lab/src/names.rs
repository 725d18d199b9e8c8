//! Everything a lab names is derived from its NAME, so two labs coexist and
//! `down` finds exactly what `up` made: network namespaces, the CNI container
//! IDs of its pods, and its state directory.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use weft_policy::is_dns_label;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where every lab keeps its state: `<STATE_ROOT>/<NAME>/`.
pub const STATE_ROOT: &str = "/run/weft-lab";
/// The lab name used when `--name` is not given.
pub const DEFAULT_LAB_NAME: &str = "weft";
/// Longest lab name: keeps every derived name short enough to read.
const MAX_LAB_NAME_LEN: usize = 24;
/// Longest pod netns name before it is shortened to a hash.
const MAX_POD_NETNS_LEN: usize = 64;
/// Hex digits of the hash in a shortened pod netns name.
const POD_NETNS_HASH_DIGITS: usize = 16;

/// A lab's NAME: a DNS label, so derived names never contain the `.` that
/// separates a pod's namespace from its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabNameError {
    #[error(
        "lab name {0:?} must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit"
    )]
    NotDnsLabel(String),
    #[error("lab name {0:?} is longer than {MAX_LAB_NAME_LEN} characters")]
    TooLong(String),
}

impl FromStr for LabName {
    type Err = LabNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_LAB_NAME_LEN {
            return Err(LabNameError::TooLong(text.to_owned()));
        }
        if !is_dns_label(text) {
            return Err(LabNameError::NotDnsLabel(text.to_owned()));
        }
        Ok(LabName(text.to_owned()))
    }
}

impl TryFrom<String> for LabName {
    type Error = LabNameError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<LabName> for String {
    fn from(name: LabName) -> String {
        name.0
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LabName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lab's state directory.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(STATE_ROOT).join(&self.0)
    }

    /// The netns holding the underlay bridges.
    pub fn fabric_netns(&self) -> String {
        format!("{}-fabric", self.0)
    }

    /// The netns routing between the two underlay subnets of `--mode auto`.
    pub fn router_netns(&self) -> String {
        format!("{}-router", self.0)
    }

    /// The netns standing for "outside the cluster".
    pub fn world_netns(&self) -> String {
        format!("{}-world", self.0)
    }

    /// The netns of the Kubernetes control plane (kubernetes datastore).
    pub fn control_plane_netns(&self) -> String {
        format!("{}-control-plane", self.0)
    }

    pub fn node_netns(&self, node: &str) -> String {
        format!("{}-{node}", self.0)
    }

    /// `<NAME>-p.<ns>.<pod>`: the dots keep it unambiguous (DNS labels have
    /// none), and a stable hash replaces the tail when it would be too long.
    pub fn pod_netns(&self, namespace: &str, pod: &str) -> String {
        let readable = format!("{}-p.{namespace}.{pod}", self.0);
        if readable.len() <= MAX_POD_NETNS_LEN {
            return readable;
        }
        let digest = Sha256::digest(format!("{namespace}/{pod}").as_bytes());
        let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-p.{}", self.0, &hash[..POD_NETNS_HASH_DIGITS])
    }
}

/// Name of the node with 1-based `index`.
pub fn node_name(index: usize) -> String {
    format!("n{index}")
}

/// The CNI container ID of a pod: `_` cannot occur in DNS labels, so the
/// pair (namespace, name) maps to exactly one ID.
pub fn container_id(namespace: &str, pod: &str) -> String {
    format!("lab_{namespace}_{pod}")
}

/// `ns/name`, the way the lab prints and accepts pods.
pub fn pod_ref(namespace: &str, pod: &str) -> String {
    format!("{namespace}/{pod}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(name: &str) -> LabName {
        name.parse().unwrap()
    }

    #[test]
    fn infrastructure_names_derive_from_the_lab_name() {
        let name = lab("t42");
        assert_eq!(name.fabric_netns(), "t42-fabric");
        assert_eq!(name.router_netns(), "t42-router");
        assert_eq!(name.world_netns(), "t42-world");
        assert_eq!(name.control_plane_netns(), "t42-control-plane");
        assert_eq!(name.node_netns(&node_name(1)), "t42-n1");
        assert_eq!(name.dir(), PathBuf::from("/run/weft-lab/t42"));
    }

    #[test]
    fn pod_netns_names_are_unambiguous() {
        let name = lab("weft");
        assert_eq!(name.pod_netns("shop", "web"), "weft-p.shop.web");
        assert_ne!(name.pod_netns("a-b", "c"), name.pod_netns("a", "b-c"));
        assert_ne!(container_id("a-b", "c"), container_id("a", "b-c"));
    }

    #[test]
    fn long_pod_netns_names_become_a_stable_hash() {
        let name = lab("weft");
        let pod = "p".repeat(60);
        let shortened = name.pod_netns("shop", &pod);
        assert_eq!(shortened.len(), "weft-p.".len() + POD_NETNS_HASH_DIGITS);
        assert!(shortened.starts_with("weft-p."));
        assert_eq!(shortened, name.pod_netns("shop", &pod));
        assert_ne!(shortened, name.pod_netns("shop2", &pod));
    }

    #[test]
    fn lab_names_must_be_short_dns_labels() {
        assert!("weft".parse::<LabName>().is_ok());
        assert!("t-1234".parse::<LabName>().is_ok());
        for bad in ["", "Weft", "-a", "a-", "a.b", "a_b", "a b"] {
            assert_eq!(
                bad.parse::<LabName>(),
                Err(LabNameError::NotDnsLabel(bad.into())),
                "{bad:?}"
            );
        }
        assert!(matches!(
            "a".repeat(25).parse::<LabName>(),
            Err(LabNameError::TooLong(_))
        ));
    }
}
