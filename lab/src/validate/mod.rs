//! Checks a whole file of objects before anything of it is applied, the way
//! the API server would: kinds the lab applies, names, labels, namespaces
//! that exist, and each kind's own rules (NetworkPolicies': weft-policy's).
//! The first problem rejects the file.

mod meta;
mod pod;

use std::collections::BTreeSet;
use std::fmt;

use weft_datastore::{ClusterSnapshot, Kind, Object, Pod};

pub use meta::check_dns_label;
pub use weft_policy::FieldError;

/// Why an object of the file is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// "Pod shop/web"
    pub object: String,
    pub error: FieldError,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: {}: {}",
            self.object, self.error.field, self.error.reason
        )
    }
}

/// What objects are checked against: the lab's nodes and the stored objects.
pub struct Cluster<'a> {
    pub nodes: &'a [String],
    pub stored: &'a ClusterSnapshot<Pod>,
}

pub fn check_objects(objects: &[Object], cluster: &Cluster<'_>) -> Result<(), Invalid> {
    let new_namespaces: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.kind() == Kind::Namespace)
        .filter_map(|o| o.metadata().name.as_deref())
        .collect();
    let mut seen = BTreeSet::new();
    for object in objects {
        let key = object.key();
        let invalid = |error: FieldError| Invalid {
            object: key.to_string(),
            error,
        };
        if !seen.insert(key.clone()) {
            return Err(invalid(FieldError::new(
                "metadata.name",
                "the file defines this object twice",
            )));
        }
        check_dns_label("metadata.name", &key.name).map_err(invalid)?;
        meta::check_labels("metadata.labels", object.metadata().labels.as_ref())
            .map_err(invalid)?;
        if let Some(namespace) = &key.namespace
            && !new_namespaces.contains(namespace.as_str())
            && !cluster.stored.namespaces.contains_key(namespace)
        {
            return Err(invalid(FieldError::new(
                "metadata.namespace",
                format!(
                    "namespace {namespace:?} does not exist (apply it first, or in the same file)"
                ),
            )));
        }
        match object {
            Object::Namespace(_) => Ok(()),
            Object::Pod(p) => {
                let stored = key
                    .namespace
                    .as_ref()
                    .and_then(|ns| cluster.stored.pods.get(&(ns.clone(), key.name.clone())))
                    .map(|pod| &**pod);
                pod::check_pod(p, cluster.nodes, stored)
            }
            Object::NetworkPolicy(p) => weft_policy::validate_policy(p),
            Object::Node(_) | Object::ConfigMap(_) => Err(FieldError::new(
                "kind",
                "the lab applies Namespace, Pod and NetworkPolicy objects (it makes its Nodes itself)",
            )),
        }
        .map_err(invalid)?;
    }
    Ok(())
}

fn check_protocol(field: &str, protocol: &str) -> Result<(), FieldError> {
    match crate::pods::PortProtocol::parse(protocol) {
        Some(_) => Ok(()),
        None => Err(FieldError::new(
            field,
            format!("{protocol:?} is not TCP, UDP or SCTP"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(yaml: &str) -> Vec<Object> {
        weft_datastore::parse_objects(yaml).unwrap()
    }

    fn check(yaml: &str, stored: &ClusterSnapshot<Pod>) -> Result<(), Invalid> {
        let nodes = vec!["n1".to_string()];
        check_objects(
            &objects(yaml),
            &Cluster {
                nodes: &nodes,
                stored,
            },
        )
    }

    const NS_AND_POD: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec:
  containers: [{name: c, ports: [{containerPort: 80}]}]
";

    #[test]
    fn a_namespace_and_its_pod_in_one_file_are_valid() {
        assert_eq!(
            check(NS_AND_POD, &ClusterSnapshot::<Pod>::default()),
            Ok(())
        );
    }

    #[test]
    fn objects_in_unknown_namespaces_are_rejected() {
        let err = check(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: z}\nspec: {containers: [{name: c}]}\n",
            &ClusterSnapshot::<Pod>::default(),
        )
        .unwrap_err();
        assert_eq!(err.object, "Pod z/a");
        assert_eq!(err.error.field, "metadata.namespace");
        assert!(
            err.to_string()
                .starts_with("invalid Pod z/a: metadata.namespace: ")
        );
    }

    #[test]
    fn stored_namespaces_count() {
        let mut stored = ClusterSnapshot::<Pod>::default();
        for object in objects("apiVersion: v1\nkind: Namespace\nmetadata: {name: z}\n") {
            stored.insert(object);
        }
        assert_eq!(
            check(
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: z}\nspec: {containers: [{name: c}]}\n",
                &stored
            ),
            Ok(())
        );
    }

    #[test]
    fn nodes_duplicates_dotted_names_and_bad_labels_are_rejected() {
        let none = ClusterSnapshot::<Pod>::default();
        let node = check("apiVersion: v1\nkind: Node\nmetadata: {name: n5}\n", &none).unwrap_err();
        assert_eq!(node.error.field, "kind");
        let twice = format!(
            "{NS_AND_POD}---\n{}",
            NS_AND_POD.split("---").nth(1).unwrap()
        );
        assert_eq!(
            check(&twice, &none).unwrap_err().error.field,
            "metadata.name"
        );
        let dotted = check(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a.b, namespace: x}\nspec: {containers: [{name: c}]}\n",
            &none,
        )
        .unwrap_err();
        assert_eq!(dotted.error.field, "metadata.name");
        let label = check(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {'a b': c}}\n",
            &none,
        )
        .unwrap_err();
        assert_eq!(label.error.field, "metadata.labels");
    }

    #[test]
    fn policies_are_checked() {
        let err = check(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]\n",
            &ClusterSnapshot::<Pod>::default(),
        )
        .unwrap_err();
        assert_eq!(err.object, "NetworkPolicy x/p");
        assert_eq!(err.error.field, "spec.ingress[0].from[0].ipBlock.cidr");
    }
}
