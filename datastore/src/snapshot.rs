//! The whole cluster as one datastore revision holds it: what level-triggered
//! reconcilers recompute their desired state from.

use std::collections::BTreeMap;

use crate::error::ObjectError;
use crate::kind::Kind;
use crate::object::{Object, ObjectKey};
use crate::revisions::{KindRevisions, Revisions};
use crate::{ConfigMap, Namespace, NetworkPolicy, Node, Pod};

/// Everything the datastore holds at one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSnapshot {
    /// The store's write counter. Hand edits of the directory do not bump it,
    /// so two snapshots with one revision may still differ.
    pub revision: u64,
    /// Per watched kind, the highest revision of it the snapshot holds
    /// (the `dir` datastore: every kind at `revision`).
    pub kind_revisions: KindRevisions,
    pub nodes: BTreeMap<String, Node>,
    pub namespaces: BTreeMap<String, Namespace>,
    /// Keyed by (namespace, name).
    pub pods: BTreeMap<(String, String), Pod>,
    pub policies: BTreeMap<(String, String), NetworkPolicy>,
    pub config_maps: BTreeMap<(String, String), ConfigMap>,
    /// Files and objects that were skipped, and why.
    pub errors: Vec<ObjectError>,
}

impl ClusterSnapshot {
    /// How far the snapshot has come: what a reconciler that put it in
    /// effect has applied.
    pub fn revisions(&self) -> Revisions {
        Revisions {
            revision: self.revision,
            kinds: self.kind_revisions,
        }
    }

    /// Adds `object` (normalized, as the store holds it), replacing one with the same key.
    pub fn insert(&mut self, object: Object) {
        let key = object.key();
        let name = key.name;
        let namespaced = (key.namespace.unwrap_or_default(), name.clone());
        match object {
            Object::Node(o) => {
                self.nodes.insert(name, o);
            }
            Object::Namespace(o) => {
                self.namespaces.insert(name, o);
            }
            Object::Pod(o) => {
                self.pods.insert(namespaced, o);
            }
            Object::NetworkPolicy(o) => {
                self.policies.insert(namespaced, o);
            }
            Object::ConfigMap(o) => {
                self.config_maps.insert(namespaced, o);
            }
        }
    }

    /// The object with `key`, if present.
    pub fn get(&self, key: &ObjectKey) -> Option<Object> {
        let key = key.normalized();
        let namespaced = (key.namespace.unwrap_or_default(), key.name.clone());
        match key.kind {
            Kind::Node => self.nodes.get(&key.name).cloned().map(Object::Node),
            Kind::Namespace => self
                .namespaces
                .get(&key.name)
                .cloned()
                .map(Object::Namespace),
            Kind::Pod => self.pods.get(&namespaced).cloned().map(Object::Pod),
            Kind::NetworkPolicy => self
                .policies
                .get(&namespaced)
                .cloned()
                .map(Object::NetworkPolicy),
            Kind::ConfigMap => self
                .config_maps
                .get(&namespaced)
                .cloned()
                .map(Object::ConfigMap),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_objects;

    #[test]
    fn objects_go_into_the_map_of_their_kind_and_come_back_by_key() {
        let objects = parse_objects(
            "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: a}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\n",
        )
        .unwrap();
        let mut snapshot = ClusterSnapshot::default();
        for object in objects.clone() {
            snapshot.insert(object);
        }
        assert!(snapshot.pods.contains_key(&("x".into(), "a".into())));
        assert!(snapshot.nodes.contains_key("n1"));
        for object in objects {
            assert_eq!(snapshot.get(&object.key()), Some(object));
        }
        assert_eq!(
            snapshot.get(&ObjectKey::new(Kind::Pod, Some("y"), "a")),
            None
        );
    }
}
