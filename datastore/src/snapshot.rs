//! The whole cluster as one datastore revision holds it: what level-triggered
//! reconcilers recompute their desired state from. weftd's snapshots keep
//! each pod as a [`PodRecord`]; the lab, which stores and compares whole
//! pods, uses `ClusterSnapshot<Pod>` and turns it into weftd's shape with
//! [`ClusterSnapshot::records`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::ObjectError;
use crate::kind::Kind;
use crate::object::{Object, ObjectKey};
use crate::pod_record::PodRecord;
use crate::revisions::{KindRevisions, Revisions};
use crate::{ConfigMap, Namespace, NetworkPolicy, Node, Pod};

/// Everything the datastore holds at one revision, each pod as a `P`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSnapshot<P = PodRecord> {
    /// The store's write counter. Hand edits of the directory do not bump it,
    /// so two snapshots with one revision may still differ.
    pub revision: u64,
    /// Per watched kind, the highest revision of it the snapshot holds
    /// (the `dir` datastore: every kind at `revision`).
    pub kind_revisions: KindRevisions,
    pub nodes: BTreeMap<String, Node>,
    pub namespaces: BTreeMap<String, Namespace>,
    /// Keyed by (namespace, name). Shared: pods are by far the most
    /// objects, and a snapshot follows every burst of changes, so two
    /// snapshots (and the kubernetes datastore's cache) hold one copy.
    pub pods: BTreeMap<(String, String), Arc<P>>,
    pub policies: BTreeMap<(String, String), NetworkPolicy>,
    pub config_maps: BTreeMap<(String, String), ConfigMap>,
    /// Files and objects that were skipped, and why.
    pub errors: Vec<ObjectError>,
}

impl<P> Default for ClusterSnapshot<P> {
    fn default() -> Self {
        ClusterSnapshot {
            revision: 0,
            kind_revisions: KindRevisions::default(),
            nodes: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            pods: BTreeMap::new(),
            policies: BTreeMap::new(),
            config_maps: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

/// How a snapshot keeps the pods it is given.
pub trait KeptPod: Sized {
    /// What is kept of `pod`, if anything.
    fn keep(pod: Pod) -> Option<Self>;
}

impl KeptPod for Pod {
    fn keep(pod: Pod) -> Option<Self> {
        Some(pod)
    }
}

impl KeptPod for PodRecord {
    fn keep(pod: Pod) -> Option<Self> {
        PodRecord::of(&pod)
    }
}

impl<P: KeptPod> ClusterSnapshot<P> {
    /// How far the snapshot has come: what a reconciler that put it in
    /// effect has applied.
    pub fn revisions(&self) -> Revisions {
        Revisions {
            revision: self.revision,
            kinds: self.kind_revisions,
        }
    }

    /// Adds `object` (normalized, as the store holds it), replacing one
    /// with the same key; a pod `P` does not keep is removed instead.
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
            Object::Pod(o) => match P::keep(o) {
                Some(kept) => {
                    self.pods.insert(namespaced, Arc::new(kept));
                }
                None => {
                    self.pods.remove(&namespaced);
                }
            },
            Object::NetworkPolicy(o) => {
                self.policies.insert(namespaced, o);
            }
            Object::ConfigMap(o) => {
                self.config_maps.insert(namespaced, o);
            }
        }
    }
}

impl ClusterSnapshot<Pod> {
    /// The same cluster as weftd keeps it.
    pub fn records(&self) -> ClusterSnapshot {
        let pods = self.pods.iter().filter_map(|(key, pod)| {
            PodRecord::of(pod).map(|record| (key.clone(), Arc::new(record)))
        });
        ClusterSnapshot {
            revision: self.revision,
            kind_revisions: self.kind_revisions,
            nodes: self.nodes.clone(),
            namespaces: self.namespaces.clone(),
            pods: pods.collect(),
            policies: self.policies.clone(),
            config_maps: self.config_maps.clone(),
            errors: self.errors.clone(),
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
            Kind::Pod => self
                .pods
                .get(&namespaced)
                .map(|pod| Object::Pod(Pod::clone(pod))),
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
        let mut snapshot = ClusterSnapshot::<Pod>::default();
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

    #[test]
    fn weftd_keeps_records_of_the_pods_it_needs() {
        let objects = parse_objects(
            "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: a, labels: {app: a}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: h}\nspec: {hostNetwork: true, containers: []}\n",
        )
        .unwrap();
        let mut full = ClusterSnapshot::<Pod>::default();
        let mut records = ClusterSnapshot::<PodRecord>::default();
        for object in objects {
            full.insert(object.clone());
            records.insert(object);
        }
        assert_eq!(full.pods.len(), 2);
        assert_eq!(full.records(), records);
        let kept: Vec<_> = records.pods.keys().map(|(_, name)| name.as_str()).collect();
        assert_eq!(kept, ["a"], "a host-network pod is not kept");
        assert_eq!(records.pods[&("x".into(), "a".into())].labels["app"], "a");
    }
}
