//! The set of endpoints this node serves, keyed by container ID + ifname
//! (pure: the store and the programmer act on what it decides).

use std::collections::BTreeMap;

use weft_api::{Endpoint, EndpointKey};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointRegistry {
    endpoints: BTreeMap<EndpointKey, Endpoint>,
}

impl EndpointRegistry {
    /// A registry holding `endpoints`; a later one with the same key wins.
    pub fn from_endpoints(endpoints: impl IntoIterator<Item = Endpoint>) -> Self {
        let mut registry = Self::default();
        for endpoint in endpoints {
            registry.insert(endpoint);
        }
        registry
    }

    /// Records `endpoint`, replacing (and returning) any endpoint with the
    /// same key: a repeated ADD for one attachment describes it anew.
    pub fn insert(&mut self, endpoint: Endpoint) -> Option<Endpoint> {
        self.endpoints.insert(endpoint.key.clone(), endpoint)
    }

    /// Forgets the endpoint with `key`, returning it if it was known.
    pub fn remove(&mut self, key: &EndpointKey) -> Option<Endpoint> {
        self.endpoints.remove(key)
    }

    pub fn get(&self, key: &EndpointKey) -> Option<&Endpoint> {
        self.endpoints.get(key)
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Endpoints in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.values()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn endpoint(container_id: &str, ip: &str) -> Endpoint {
        Endpoint {
            key: EndpointKey {
                container_id: container_id.into(),
                ifname: "eth0".into(),
            },
            pod_namespace: Some("default".into()),
            pod_name: Some(format!("pod-{container_id}")),
            pod_uid: None,
            ips: vec![ip.parse().unwrap()],
            host_ifname: format!("weft{container_id}"),
            mac: "02:00:00:00:00:01".into(),
            host_mac: Some("02:00:00:00:00:02".into()),
            netns: format!("/var/run/netns/{container_id}"),
        }
    }

    #[test]
    fn add_then_del_leaves_nothing() {
        let mut registry = EndpointRegistry::default();
        assert_eq!(registry.insert(endpoint("a", "10.0.0.2/32")), None);
        assert_eq!(registry.len(), 1);
        let key = endpoint("a", "10.0.0.2/32").key;
        assert_eq!(registry.remove(&key), Some(endpoint("a", "10.0.0.2/32")));
        assert!(registry.is_empty());
    }

    #[test]
    fn re_add_with_the_same_key_replaces() {
        let mut registry = EndpointRegistry::default();
        registry.insert(endpoint("a", "10.0.0.2/32"));
        let replaced = registry.insert(endpoint("a", "10.0.0.3/32"));
        assert_eq!(replaced, Some(endpoint("a", "10.0.0.2/32")));
        assert_eq!(registry.len(), 1);
        assert_eq!(
            registry.get(&endpoint("a", "10.0.0.9/32").key),
            Some(&endpoint("a", "10.0.0.3/32"))
        );
    }

    #[test]
    fn same_container_on_another_ifname_is_another_endpoint() {
        let mut registry = EndpointRegistry::default();
        let eth0 = endpoint("a", "10.0.0.2/32");
        let mut net1 = endpoint("a", "10.0.0.3/32");
        net1.key.ifname = "net1".into();
        registry.insert(eth0.clone());
        registry.insert(net1.clone());
        assert_eq!(registry.iter().collect::<Vec<_>>(), vec![&eth0, &net1]);
    }

    #[test]
    fn deleting_an_unknown_key_is_a_no_op() {
        let mut registry = EndpointRegistry::from_endpoints([endpoint("a", "10.0.0.2/32")]);
        assert_eq!(registry.remove(&endpoint("b", "10.0.0.2/32").key), None);
        assert_eq!(registry.len(), 1);
    }
}
