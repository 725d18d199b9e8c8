//! The kinds of object Weft reads, as the API names them (kind, apiVersion,
//! plural) and as users name them on a command line.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::Resource;

use crate::{ConfigMap, Namespace, NetworkPolicy, Node, Pod};

/// The supported kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    Namespace,
    Pod,
    NetworkPolicy,
    ConfigMap,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Node,
        Kind::Namespace,
        Kind::Pod,
        Kind::NetworkPolicy,
        Kind::ConfigMap,
    ];

    /// The `kind` field of objects of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => Node::KIND,
            Kind::Namespace => Namespace::KIND,
            Kind::Pod => Pod::KIND,
            Kind::NetworkPolicy => NetworkPolicy::KIND,
            Kind::ConfigMap => ConfigMap::KIND,
        }
    }

    /// The `apiVersion` field of objects of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Node => Node::API_VERSION,
            Kind::Namespace => Namespace::API_VERSION,
            Kind::Pod => Pod::API_VERSION,
            Kind::NetworkPolicy => NetworkPolicy::API_VERSION,
            Kind::ConfigMap => ConfigMap::API_VERSION,
        }
    }

    /// The plural resource name (`pods`), as in the API's URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Node => Node::URL_PATH_SEGMENT,
            Kind::Namespace => Namespace::URL_PATH_SEGMENT,
            Kind::Pod => Pod::URL_PATH_SEGMENT,
            Kind::NetworkPolicy => NetworkPolicy::URL_PATH_SEGMENT,
            Kind::ConfigMap => ConfigMap::URL_PATH_SEGMENT,
        }
    }

    pub fn is_namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }

    /// The kind an object's `apiVersion` and `kind` fields name, if supported.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.api_version() == api_version && k.as_str() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind a user names on a command line, as kubectl accepts it: the kind
/// (`Pod`), its plural (`pods`) or its short name (`po`), in any case.
impl FromStr for Kind {
    type Err = UnknownKindName;

    fn from_str(name: &str) -> Result<Kind, UnknownKindName> {
        let lower = name.to_ascii_lowercase();
        let short = |kind| match kind {
            Kind::Node => "no",
            Kind::Namespace => "ns",
            Kind::Pod => "po",
            Kind::NetworkPolicy => "netpol",
            Kind::ConfigMap => "cm",
        };
        Kind::ALL
            .into_iter()
            .find(|&k| {
                lower == k.as_str().to_ascii_lowercase() || lower == k.plural() || lower == short(k)
            })
            .ok_or_else(|| UnknownKindName(name.to_owned()))
    }
}

/// A kind name that [`Kind::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?} (known: Node, Namespace, Pod, NetworkPolicy, ConfigMap)")]
pub struct UnknownKindName(pub String);
