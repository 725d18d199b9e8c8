//! The watched kinds together (pure): one watch event in, the caches and
//! the highest resourceVersion seen of that kind updated; a
//! [`ClusterSnapshot`] out once every kind has been listed. It also says
//! which event starts a list, and whether that list is a relist.

use k8s_openapi::Metadata;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::watcher::Event;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::cache::{CacheKey, KindCache, resource_version};
use super::slim::{slim_namespace, slim_node, slim_policy};
use crate::kind::Kind;
use crate::pod_record::PodRecord;
use crate::revisions::{KindRevisions, Revisions};
use crate::snapshot::ClusterSnapshot;

/// One event of one of the watched kinds.
#[derive(Debug)]
pub enum WatchUpdate {
    Node(Box<Event<Node>>),
    Namespace(Box<Event<Namespace>>),
    Pod(Box<Event<Pod>>),
    Policy(Box<Event<NetworkPolicy>>),
}

impl WatchUpdate {
    /// The kind whose (re)list this event starts, if it starts one: the
    /// watcher sends `Init` before its first list, and again after it lost
    /// its place (410 Gone) or a list failed.
    pub fn starts_list(&self) -> Option<Kind> {
        match self {
            WatchUpdate::Node(event) if matches!(**event, Event::Init) => Some(Kind::Node),
            WatchUpdate::Namespace(event) if matches!(**event, Event::Init) => {
                Some(Kind::Namespace)
            }
            WatchUpdate::Pod(event) if matches!(**event, Event::Init) => Some(Kind::Pod),
            WatchUpdate::Policy(event) if matches!(**event, Event::Init) => {
                Some(Kind::NetworkPolicy)
            }
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct ClusterCache {
    nodes: KindCache<Node>,
    namespaces: KindCache<Namespace>,
    pods: KindCache<Pod, PodRecord>,
    policies: KindCache<NetworkPolicy>,
    /// Per kind, the highest resourceVersion its events carried. Each
    /// kind's watch is ordered, so everything of that kind written up to
    /// it has arrived; another kind's watch may lag behind it.
    kinds: KindRevisions,
}

impl ClusterCache {
    /// Follows one event; returns whether the cluster as Weft sees it changed.
    pub fn apply(&mut self, update: WatchUpdate) -> bool {
        match update {
            WatchUpdate::Node(event) => {
                let event = *event;
                note_revision(&mut self.kinds.nodes, &event);
                self.nodes.apply(event, |n| Some(slim_node(n)))
            }
            WatchUpdate::Namespace(event) => {
                let event = *event;
                note_revision(&mut self.kinds.namespaces, &event);
                self.namespaces.apply(event, |n| Some(slim_namespace(n)))
            }
            WatchUpdate::Pod(event) => {
                let event = *event;
                note_revision(&mut self.kinds.pods, &event);
                self.pods.apply(event, PodRecord::of)
            }
            WatchUpdate::Policy(event) => {
                let event = *event;
                note_revision(&mut self.kinds.network_policies, &event);
                self.policies.apply(event, |p| Some(slim_policy(p)))
            }
        }
    }

    /// Has every kind been listed once?
    pub fn is_synced(&self) -> bool {
        self.nodes.is_synced()
            && self.namespaces.is_synced()
            && self.pods.is_synced()
            && self.policies.is_synced()
    }

    /// Has `kind` been listed once (so a list it starts now is a relist)?
    /// Kinds Weft does not watch never are.
    pub fn has_listed(&self, kind: Kind) -> bool {
        match kind {
            Kind::Node => self.nodes.is_synced(),
            Kind::Namespace => self.namespaces.is_synced(),
            Kind::Pod => self.pods.is_synced(),
            Kind::NetworkPolicy => self.policies.is_synced(),
            Kind::ConfigMap => false,
        }
    }

    /// The highest resourceVersion seen, of any kind and per kind.
    pub fn revisions(&self) -> Revisions {
        Revisions {
            revision: self.kinds.highest(),
            kinds: self.kinds,
        }
    }

    /// The cluster as of the last event, at [`Self::revisions`].
    pub fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            revision: self.kinds.highest(),
            kind_revisions: self.kinds,
            nodes: by_name(self.nodes.objects()),
            namespaces: by_name(self.namespaces.objects()),
            // The pods are shared with the cache, not copied: a snapshot
            // costs their keys and pointers. Collected, not cloned: a map
            // built from sorted entries has full nodes; the cache's, grown
            // one insert at a time, does not.
            pods: shared(self.pods.objects()),
            policies: copied(self.policies.objects()),
            ..ClusterSnapshot::default()
        }
    }
}

/// Raises `seen` to the resourceVersion `event` carries, if higher.
fn note_revision<K: Metadata<Ty = ObjectMeta>>(seen: &mut u64, event: &Event<K>) {
    let object = match event {
        Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => o,
        Event::Init | Event::InitDone => return,
    };
    if let Some(revision) = resource_version(object.metadata()) {
        *seen = (*seen).max(revision);
    }
}

fn shared<V>(objects: &BTreeMap<CacheKey, Arc<V>>) -> BTreeMap<CacheKey, Arc<V>> {
    objects
        .iter()
        .map(|(key, value)| (key.clone(), Arc::clone(value)))
        .collect()
}

fn copied<V: Clone>(objects: &BTreeMap<CacheKey, Arc<V>>) -> BTreeMap<CacheKey, V> {
    objects
        .iter()
        .map(|(key, value)| (key.clone(), V::clone(value)))
        .collect()
}

/// Cluster-scoped objects by name.
fn by_name<V: Clone>(objects: &BTreeMap<CacheKey, Arc<V>>) -> BTreeMap<String, V> {
    objects
        .iter()
        .map(|((_, name), object)| (name.clone(), V::clone(object)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, rv: &str, ip: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "resourceVersion": rv},
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"podIPs": [{"ip": ip}]}
        }))
        .unwrap()
    }

    fn policy(name: &str, rv: &str) -> NetworkPolicy {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "x", "resourceVersion": rv},
            "spec": {"podSelector": {}}
        }))
        .unwrap()
    }

    fn pods(event: Event<Pod>) -> WatchUpdate {
        WatchUpdate::Pod(Box::new(event))
    }

    fn list_all_empty(cache: &mut ClusterCache) {
        cache.apply(WatchUpdate::Node(Box::new(Event::InitDone)));
        cache.apply(WatchUpdate::Namespace(Box::new(Event::InitDone)));
        cache.apply(WatchUpdate::Policy(Box::new(Event::InitDone)));
    }

    #[test]
    fn a_snapshot_is_ready_once_every_kind_is_listed_and_carries_the_highest_revision() {
        let mut cache = ClusterCache::default();
        list_all_empty(&mut cache);
        assert!(!cache.is_synced());
        cache.apply(pods(Event::Init));
        cache.apply(pods(Event::InitApply(pod("a", "10", "10.244.1.5"))));
        cache.apply(pods(Event::InitDone));
        assert!(cache.is_synced());
        assert!(cache.apply(pods(Event::Apply(pod("b", "12", "10.244.1.6")))));
        let snapshot = cache.snapshot();
        assert_eq!(snapshot.revision, 12);
        assert_eq!(snapshot.pods.len(), 2);
        assert!(snapshot.pods.contains_key(&("x".into(), "b".into())));
    }

    #[test]
    fn a_status_only_bump_is_no_news_but_advances_the_revision() {
        let mut cache = ClusterCache::default();
        list_all_empty(&mut cache);
        cache.apply(pods(Event::InitDone));
        assert!(cache.apply(pods(Event::Apply(pod("a", "20", "10.244.1.5")))));
        assert!(!cache.apply(pods(Event::Apply(pod("a", "21", "10.244.1.5")))));
        assert_eq!(cache.revisions().revision, 21);
        assert!(cache.apply(pods(Event::Delete(pod("a", "22", "10.244.1.5")))));
        assert_eq!(cache.revisions().revision, 22);
    }

    #[test]
    fn each_kind_keeps_the_highest_revision_its_own_watch_delivered() {
        let mut cache = ClusterCache::default();
        list_all_empty(&mut cache);
        cache.apply(pods(Event::InitDone));
        // A policy written at 30 whose event has not arrived yet, while
        // the pods' watch already delivered 31.
        cache.apply(pods(Event::Apply(pod("a", "31", "10.244.1.5"))));
        let revisions = cache.revisions();
        assert_eq!(revisions.revision, 31);
        assert_eq!(
            revisions.kinds,
            KindRevisions {
                pods: 31,
                ..KindRevisions::default()
            },
            "31 on the pods' watch says nothing of the policies'"
        );
        cache.apply(WatchUpdate::Policy(Box::new(Event::Apply(policy(
            "p", "30",
        )))));
        let snapshot = cache.snapshot();
        assert_eq!(snapshot.revision, 31);
        assert_eq!(
            snapshot.kind_revisions,
            KindRevisions {
                pods: 31,
                network_policies: 30,
                ..KindRevisions::default()
            }
        );
        assert_eq!(snapshot.revisions(), cache.revisions());
        // A relist replays older objects: no kind goes back.
        cache.apply(pods(Event::Init));
        cache.apply(pods(Event::InitApply(pod("a", "25", "10.244.1.5"))));
        cache.apply(pods(Event::InitDone));
        assert_eq!(cache.revisions().kinds.pods, 31);
    }

    #[test]
    fn a_list_started_after_the_first_one_is_a_relist() {
        let mut cache = ClusterCache::default();
        let init = pods(Event::Init);
        assert_eq!(init.starts_list(), Some(Kind::Pod));
        assert!(!cache.has_listed(Kind::Pod), "the first list");
        cache.apply(init);
        assert!(!cache.has_listed(Kind::Pod), "still the first list");
        cache.apply(pods(Event::InitDone));
        assert!(cache.has_listed(Kind::Pod));
        assert!(!cache.has_listed(Kind::Node));
        assert_eq!(
            WatchUpdate::Policy(Box::new(Event::Init)).starts_list(),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(pods(Event::InitDone).starts_list(), None);
        assert_eq!(
            pods(Event::Apply(pod("a", "3", "10.244.1.5"))).starts_list(),
            None
        );
        let relist = pods(Event::Init);
        assert!(relist.starts_list().is_some_and(|k| cache.has_listed(k)));
    }
}
