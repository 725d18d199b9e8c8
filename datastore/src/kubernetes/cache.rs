//! One kind's objects as its watch has delivered them (pure: events in,
//! state out). A relist (Init .. InitDone, after a restart or a 410 Gone)
//! is buffered and swapped in whole, so a consumer never sees half a list
//! and objects deleted while the watch was down disappear. Objects are kept
//! behind `Arc`, so the snapshots built from the cache share them with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;

/// (namespace, name); the namespace is empty for cluster-scoped kinds.
pub type CacheKey = (String, String);

/// The objects of kind `K` as kept: `V`, what the cache makes of each.
pub struct KindCache<K, V = K> {
    objects: BTreeMap<CacheKey, Arc<V>>,
    relisting: Option<BTreeMap<CacheKey, Arc<V>>>,
    synced: bool,
    kind: std::marker::PhantomData<fn(&K)>,
}

impl<K, V> Default for KindCache<K, V> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
            kind: std::marker::PhantomData,
        }
    }
}

impl<K: Metadata<Ty = ObjectMeta>, V: PartialEq> KindCache<K, V> {
    /// Follows one event, keeping what `slim` makes of each object (`None`:
    /// not kept). Returns whether the visible objects changed.
    pub fn apply(&mut self, event: Event<K>, slim: impl Fn(&K) -> Option<V>) -> bool {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                if let (Some(list), Some(slim)) = (self.relisting.as_mut(), slim(&object)) {
                    list.insert(key_of(object.metadata()), Arc::new(slim));
                }
                false
            }
            Event::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                let changed = !self.synced || listed != self.objects;
                self.objects = listed;
                self.synced = true;
                changed
            }
            Event::Apply(object) => {
                let key = key_of(object.metadata());
                match slim(&object) {
                    Some(slim) => {
                        let changed = self.objects.get(&key).map(|kept| &**kept) != Some(&slim);
                        if changed {
                            self.objects.insert(key, Arc::new(slim));
                        }
                        changed
                    }
                    None => self.objects.remove(&key).is_some(),
                }
            }
            Event::Delete(object) => self.objects.remove(&key_of(object.metadata())).is_some(),
        }
    }

    /// Has the first list completed?
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    pub fn objects(&self) -> &BTreeMap<CacheKey, Arc<V>> {
        &self.objects
    }
}

fn key_of(meta: &ObjectMeta) -> CacheKey {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The object's resourceVersion as a number: the API server's are etcd
/// revisions, which only grow, so the highest one seen says how far the
/// watches have come (the lab waits on it; nothing in the datapath does).
pub fn resource_version(meta: &ObjectMeta) -> Option<u64> {
    meta.resource_version.as_deref()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;

    fn ns(name: &str, label: &str) -> Namespace {
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.into());
        ns.metadata.labels = Some([("l".to_owned(), label.to_owned())].into());
        ns
    }

    fn keep(ns: &Namespace) -> Option<Namespace> {
        Some(ns.clone())
    }

    fn names(cache: &KindCache<Namespace>) -> Vec<String> {
        cache
            .objects()
            .keys()
            .map(|(_, name)| name.clone())
            .collect()
    }

    #[test]
    fn a_relist_is_swapped_in_whole_and_drops_what_it_did_not_list() {
        let mut cache = KindCache::default();
        assert!(!cache.apply(Event::Init, keep));
        assert!(!cache.apply(Event::InitApply(ns("a", "1")), keep));
        assert!(!cache.is_synced());
        assert!(cache.apply(Event::InitDone, keep), "the first list is news");
        assert!(cache.is_synced());
        assert!(cache.apply(Event::Apply(ns("b", "1")), keep));
        // The watch restarts (410 Gone): b was deleted meanwhile.
        assert!(!cache.apply(Event::Init, keep));
        assert!(!cache.apply(Event::InitApply(ns("a", "1")), keep));
        assert_eq!(names(&cache), ["a", "b"], "the old state until InitDone");
        assert!(cache.apply(Event::InitDone, keep));
        assert_eq!(names(&cache), ["a"]);
        // A relist that lists the same is no news.
        cache.apply(Event::Init, keep);
        cache.apply(Event::InitApply(ns("a", "1")), keep);
        assert!(!cache.apply(Event::InitDone, keep));
    }

    #[test]
    fn applies_that_change_nothing_are_no_news_and_unkept_objects_leave() {
        let mut cache = KindCache::default();
        cache.apply(Event::InitDone, keep);
        assert!(cache.apply(Event::Apply(ns("a", "1")), keep));
        assert!(!cache.apply(Event::Apply(ns("a", "1")), keep));
        assert!(cache.apply(Event::Apply(ns("a", "2")), keep));
        assert!(
            cache.apply(Event::Apply(ns("a", "2")), |_| None),
            "no longer kept"
        );
        assert!(names(&cache).is_empty());
        assert!(!cache.apply(Event::Delete(ns("a", "2")), keep));
    }

    #[test]
    fn resource_versions_are_numbers_or_nothing() {
        let mut meta = ObjectMeta::default();
        assert_eq!(resource_version(&meta), None);
        meta.resource_version = Some("1234".into());
        assert_eq!(resource_version(&meta), Some(1234));
        meta.resource_version = Some("opaque".into());
        assert_eq!(resource_version(&meta), None);
    }
}
