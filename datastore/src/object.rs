//! The Kubernetes objects Weft reads from a datastore, their kinds and keys,
//! and the normalisation every stored object goes through (default namespace,
//! valid names), shared by parsing and by writes.

use std::fmt;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::kind::Kind;
use crate::parse_error::ParseProblem;
use crate::{ConfigMap, Namespace, NetworkPolicy, Node, Pod};

/// The namespace kubectl gives a namespaced object that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// One object of a supported kind.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "callers match and build the k8s-openapi types directly; objects are few"
)]
pub enum Object {
    Node(Node),
    Namespace(Namespace),
    Pod(Pod),
    NetworkPolicy(NetworkPolicy),
    ConfigMap(ConfigMap),
}

/// Identifies one object: kind, namespace (None for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// A key with kubectl's namespace rules applied: a namespaced kind without
    /// a namespace is in `default`; a cluster-scoped kind has no namespace.
    pub fn new(kind: Kind, namespace: Option<&str>, name: &str) -> ObjectKey {
        let namespace = kind
            .is_namespaced()
            .then(|| namespace.unwrap_or(DEFAULT_NAMESPACE).to_owned());
        ObjectKey {
            kind,
            namespace,
            name: name.to_owned(),
        }
    }

    /// This key with the namespace rules of [`ObjectKey::new`] applied.
    pub fn normalized(&self) -> ObjectKey {
        ObjectKey::new(self.kind, self.namespace.as_deref(), &self.name)
    }

    /// Checks that name and namespace are valid Kubernetes names (which also
    /// makes them safe as file names).
    pub(crate) fn validate(&self) -> Result<(), ParseProblem> {
        if self.name.is_empty() {
            return Err(ParseProblem::MissingName);
        }
        if let Some(namespace) = &self.namespace {
            check_name("metadata.namespace", namespace, NameRule::Label)?;
        }
        let rule = if self.kind == Kind::Namespace {
            NameRule::Label
        } else {
            NameRule::Subdomain
        };
        check_name("metadata.name", &self.name, rule)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind, namespace, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Namespace(_) => Kind::Namespace,
            Object::Pod(_) => Kind::Pod,
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
            Object::ConfigMap(_) => Kind::ConfigMap,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Node(o) => o.metadata(),
            Object::Namespace(o) => o.metadata(),
            Object::Pod(o) => o.metadata(),
            Object::NetworkPolicy(o) => o.metadata(),
            Object::ConfigMap(o) => o.metadata(),
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Node(o) => o.metadata_mut(),
            Object::Namespace(o) => o.metadata_mut(),
            Object::Pod(o) => o.metadata_mut(),
            Object::NetworkPolicy(o) => o.metadata_mut(),
            Object::ConfigMap(o) => o.metadata_mut(),
        }
    }

    /// The object's key, with kubectl's namespace defaulting (see [`ObjectKey::new`]).
    pub fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        ObjectKey::new(
            self.kind(),
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    pub fn resource_version(&self) -> Option<&str> {
        self.metadata().resource_version.as_deref()
    }

    pub(crate) fn set_resource_version(&mut self, revision: u64) {
        self.metadata_mut().resource_version = Some(revision.to_string());
    }

    /// The object as stored: `metadata.namespace` set as in [`Object::key`],
    /// and name and namespace checked to be valid Kubernetes names.
    pub(crate) fn normalized(mut self) -> Result<Object, ParseProblem> {
        let key = self.key();
        key.validate()?;
        self.metadata_mut().namespace = key.namespace;
        Ok(self)
    }

    /// The object as a YAML document.
    pub(crate) fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        match self {
            Object::Node(o) => serde_saphyr::to_string(o),
            Object::Namespace(o) => serde_saphyr::to_string(o),
            Object::Pod(o) => serde_saphyr::to_string(o),
            Object::NetworkPolicy(o) => serde_saphyr::to_string(o),
            Object::ConfigMap(o) => serde_saphyr::to_string(o),
        }
    }
}

macro_rules! object_from {
    ($($kind:ident),*) => {$(
        impl From<$kind> for Object {
            fn from(object: $kind) -> Object {
                Object::$kind(object)
            }
        }
    )*};
}
object_from!(Node, Namespace, Pod, NetworkPolicy, ConfigMap);

#[derive(Clone, Copy)]
enum NameRule {
    /// RFC 1123 label: at most 63 characters, `[a-z0-9-]`, alphanumeric at both ends.
    Label,
    /// RFC 1123 subdomain: at most 253 characters, dot-separated labels.
    Subdomain,
}

fn check_name(field: &'static str, value: &str, rule: NameRule) -> Result<(), ParseProblem> {
    let invalid = |why: &str| ParseProblem::InvalidName {
        field,
        value: value.to_owned(),
        why: why.to_owned(),
    };
    let (max, labels): (usize, Vec<&str>) = match rule {
        NameRule::Label => (63, vec![value]),
        NameRule::Subdomain => (253, value.split('.').collect()),
    };
    if value.len() > max {
        return Err(invalid(&format!("longer than {max} characters")));
    }
    let label_ok = |label: &str| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        label.starts_with(alnum)
            && label.ends_with(alnum)
            && label.chars().all(|c| alnum(c) || c == '-')
    };
    if labels.into_iter().all(label_ok) {
        Ok(())
    } else {
        Err(invalid(match rule {
            NameRule::Label => {
                "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
            }
            NameRule::Subdomain => {
                "must be lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit"
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: Option<&str>, name: &str) -> Object {
        Object::Pod(Pod {
            metadata: ObjectMeta {
                namespace: namespace.map(str::to_owned),
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        })
    }

    #[test]
    fn namespaced_kinds_default_to_the_default_namespace() {
        assert_eq!(
            pod(None, "a").key(),
            ObjectKey {
                kind: Kind::Pod,
                namespace: Some("default".into()),
                name: "a".into()
            }
        );
        let normalized = pod(None, "a").normalized().unwrap();
        assert_eq!(normalized.metadata().namespace.as_deref(), Some("default"));
    }

    #[test]
    fn cluster_scoped_kinds_drop_a_namespace() {
        let node = Object::Node(Node {
            metadata: ObjectMeta {
                namespace: Some("x".into()),
                name: Some("n1".into()),
                ..ObjectMeta::default()
            },
            ..Node::default()
        });
        assert_eq!(node.key(), ObjectKey::new(Kind::Node, None, "n1"));
        assert_eq!(node.normalized().unwrap().metadata().namespace, None);
    }

    #[test]
    fn names_that_are_not_kubernetes_names_are_rejected() {
        assert_eq!(pod(None, "").normalized(), Err(ParseProblem::MissingName));
        for bad in [
            "../etc",
            "A",
            "a/b",
            "-a",
            "a-",
            "a..b",
            ".a",
            &"a".repeat(254),
        ] {
            assert!(
                matches!(
                    pod(None, bad).normalized(),
                    Err(ParseProblem::InvalidName {
                        field: "metadata.name",
                        ..
                    })
                ),
                "{bad:?} accepted"
            );
        }
        assert!(pod(None, "a.b-1").normalized().is_ok());
        assert!(matches!(
            pod(Some("a.b"), "a").normalized(),
            Err(ParseProblem::InvalidName {
                field: "metadata.namespace",
                ..
            })
        ));
        let dotted_namespace = Object::Namespace(Namespace {
            metadata: ObjectMeta {
                name: Some("a.b".into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        });
        assert!(dotted_namespace.normalized().is_err());
    }

    #[test]
    fn kinds_parse_from_kind_plural_and_short_names() {
        for (name, kind) in [
            ("Pod", Kind::Pod),
            ("pods", Kind::Pod),
            ("po", Kind::Pod),
            ("networkpolicy", Kind::NetworkPolicy),
            ("netpol", Kind::NetworkPolicy),
            ("NetworkPolicies", Kind::NetworkPolicy),
            ("ns", Kind::Namespace),
            ("nodes", Kind::Node),
            ("cm", Kind::ConfigMap),
        ] {
            assert_eq!(name.parse::<Kind>(), Ok(kind), "{name}");
        }
        assert!("service".parse::<Kind>().is_err());
    }

    #[test]
    fn kinds_know_their_type_meta() {
        assert_eq!(
            Kind::from_type_meta("networking.k8s.io/v1", "NetworkPolicy"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(Kind::from_type_meta("v1", "NetworkPolicy"), None);
        assert_eq!(
            Kind::from_type_meta("v1", "ConfigMap"),
            Some(Kind::ConfigMap)
        );
    }

    #[test]
    fn keys_display_like_kubectl_names_them() {
        assert_eq!(pod(Some("x"), "a").key().to_string(), "Pod x/a");
        assert_eq!(
            ObjectKey::new(Kind::Node, None, "n1").to_string(),
            "Node n1"
        );
    }
}
