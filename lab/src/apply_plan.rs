//! What `apply` writes for a (valid) file: each object as given, plus what
//! the API server, scheduler and kubelet would add: the namespace name
//! label, a pod's uid, node and status. Also what kubectl would print.

use std::collections::BTreeMap;

use weft_datastore::{ClusterSnapshot, Object, ObjectKey, Pod};

use crate::placement::place;
use crate::pods;

/// The label the API server puts on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    /// Objects to write, in file order.
    pub objects: Vec<Object>,
    /// One line per object, like kubectl: "pod/shop/web created".
    pub summary: Vec<String>,
}

/// Plans the write; `new_uid(namespace, name)` makes the uid of a new pod.
pub fn plan_apply(
    objects: Vec<Object>,
    stored: &ClusterSnapshot<Pod>,
    nodes: &[String],
    mut new_uid: impl FnMut(&str, &str) -> String,
) -> ApplyPlan {
    let new_pods: Vec<Option<String>> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Pod(p)
                if stored_pod(stored, &o.key())
                    .and_then(pods::node_name)
                    .is_none() =>
            {
                Some(pods::node_name(p).map(str::to_owned))
            }
            _ => None,
        })
        .collect();
    let load = pods_per_node(stored);
    let mut placed = place(nodes, &load, &new_pods).into_iter();
    let mut planned = Vec::with_capacity(objects.len());
    let mut summary = Vec::with_capacity(objects.len());
    for object in objects {
        let key = object.key();
        let object = match object {
            Object::Namespace(mut ns) => {
                let name = key.name.clone();
                ns.metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(NAMESPACE_NAME_LABEL.to_owned(), name);
                Object::Namespace(ns)
            }
            Object::Pod(pod) => {
                let namespace = key.namespace.clone().unwrap_or_default();
                let stored = stored_pod(stored, &key);
                let node = match stored.and_then(pods::node_name) {
                    Some(node) => node.to_owned(),
                    None => placed.next().unwrap_or_default(),
                };
                let uid = new_uid(&namespace, &key.name);
                Object::Pod(pods::with_cluster_fields(pod, stored, &node, &uid))
            }
            other => other,
        };
        summary.push(format!("{} {}", describe(&key), verdict(stored, &object)));
        planned.push(object);
    }
    ApplyPlan {
        objects: planned,
        summary,
    }
}

fn stored_pod<'a>(
    stored: &'a ClusterSnapshot<Pod>,
    key: &ObjectKey,
) -> Option<&'a k8s_openapi::api::core::v1::Pod> {
    let namespace = key.namespace.clone().unwrap_or_default();
    stored
        .pods
        .get(&(namespace, key.name.clone()))
        .map(|pod| &**pod)
}

/// Pods already on each node.
pub fn pods_per_node(stored: &ClusterSnapshot<Pod>) -> BTreeMap<String, usize> {
    let mut load = BTreeMap::new();
    for pod in stored.pods.values() {
        if let Some(node) = pods::node_name(pod) {
            *load.entry(node.to_owned()).or_insert(0) += 1;
        }
    }
    load
}

/// kubectl's "pod/web", with the namespace: "pod/shop/web".
pub fn describe(key: &ObjectKey) -> String {
    let kind = key.kind.as_str().to_ascii_lowercase();
    match &key.namespace {
        Some(namespace) => format!("{kind}/{namespace}/{}", key.name),
        None => format!("{kind}/{}", key.name),
    }
}

fn verdict(stored: &ClusterSnapshot<Pod>, object: &Object) -> &'static str {
    match stored.get(&object.key()) {
        None => "created",
        Some(mut current) => {
            current.metadata_mut().resource_version = None;
            if current == *object {
                "unchanged"
            } else {
                "configured"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::Kind;

    const FILE: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec: {nodeName: n1, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: x}
spec: {containers: [{name: c}]}
";

    fn nodes() -> Vec<String> {
        vec!["n1".into(), "n2".into()]
    }

    fn plan(stored: &ClusterSnapshot<Pod>) -> ApplyPlan {
        let objects = weft_datastore::parse_objects(FILE).unwrap();
        plan_apply(objects, stored, &nodes(), |ns, name| {
            format!("uid-{ns}-{name}")
        })
    }

    fn pod<'a>(plan: &'a ApplyPlan, name: &str) -> &'a k8s_openapi::api::core::v1::Pod {
        plan.objects
            .iter()
            .find_map(|o| match o {
                Object::Pod(p) if p.metadata.name.as_deref() == Some(name) => Some(p),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn new_objects_get_cluster_fields() {
        let plan = plan(&ClusterSnapshot::<Pod>::default());
        let Object::Namespace(ns) = &plan.objects[0] else {
            panic!("namespace first")
        };
        assert_eq!(
            ns.metadata.labels.as_ref().unwrap()[NAMESPACE_NAME_LABEL],
            "x"
        );
        assert_eq!(pods::node_name(pod(&plan, "a")), Some("n2"));
        assert_eq!(pods::node_name(pod(&plan, "b")), Some("n1"));
        assert_eq!(pods::node_name(pod(&plan, "c")), Some("n1"));
        assert_eq!(pod(&plan, "a").metadata.uid.as_deref(), Some("uid-x-a"));
        assert_eq!(
            plan.summary,
            vec![
                "namespace/x created",
                "pod/x/a created",
                "pod/x/b created",
                "pod/x/c created"
            ]
        );
    }

    #[test]
    fn reapplying_keeps_node_and_uid_and_reports_unchanged() {
        let first = plan(&ClusterSnapshot::<Pod>::default());
        let mut stored = ClusterSnapshot::<Pod>::default();
        for (i, mut object) in first.objects.clone().into_iter().enumerate() {
            object.metadata_mut().resource_version = Some(i.to_string());
            stored.insert(object);
        }
        let second = plan(&stored);
        assert_eq!(second.objects, first.objects);
        assert!(
            second.summary.iter().all(|l| l.ends_with(" unchanged")),
            "{:?}",
            second.summary
        );
    }

    #[test]
    fn relabelling_is_configured_in_place() {
        let first = plan(&ClusterSnapshot::<Pod>::default());
        let mut stored = ClusterSnapshot::<Pod>::default();
        for object in first.objects.clone() {
            stored.insert(object);
        }
        let objects = weft_datastore::parse_objects(&FILE.replace("{app: a}", "{app: z}")).unwrap();
        let second = plan_apply(objects, &stored, &["n2".into()], |_, _| "new".into());
        assert_eq!(pods::node_name(pod(&second, "a")), Some("n2"));
        assert_eq!(pod(&second, "a").metadata.uid.as_deref(), Some("uid-x-a"));
        assert_eq!(second.summary[1], "pod/x/a configured");
    }

    #[test]
    fn keys_are_described_like_kubectl() {
        assert_eq!(
            describe(&ObjectKey::new(Kind::NetworkPolicy, Some("x"), "deny")),
            "networkpolicy/x/deny"
        );
        assert_eq!(
            describe(&ObjectKey::new(Kind::Namespace, None, "x")),
            "namespace/x"
        );
    }
}
