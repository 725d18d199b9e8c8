//! `delete`: remove objects named by a file, by KIND NS/NAME, or every
//! policy. A namespace takes its pods and policies with it. A missing
//! object fails the command (exit 3) before anything is deleted, unless
//! `--ignore-not-found`. Pods are torn down once gone from the store.

use anyhow::{Context, bail};
use weft_datastore::{ClusterSnapshot, Kind, ObjectKey, Pod, parse_objects};

use super::NotFound;
use crate::apply_plan::describe;
use crate::lab::Lab;
use crate::state::Datastore;

pub enum Target {
    File(String),
    Object { kind: String, object: String },
    AllPolicies,
}

pub fn delete(lab: &Lab, target: &Target, ignore_not_found: bool) -> anyhow::Result<()> {
    let state = lab.state()?;
    if state.datastore == Datastore::Kubernetes {
        return super::kube_objects::delete(lab, &state, target, ignore_not_found);
    }
    let requested = match target {
        Target::File(file) => keys_in_file(file)?,
        Target::Object { kind, object } => vec![key_of(kind, object)?],
        Target::AllPolicies => Vec::new(),
    };
    let _lock = lab.lock()?;
    let mut state = lab.state()?;
    let store = lab.store()?;
    let stored = store.snapshot()?;
    let requested = match target {
        Target::AllPolicies => stored
            .policies
            .keys()
            .map(|(ns, name)| ObjectKey::new(Kind::NetworkPolicy, Some(ns), name))
            .collect(),
        _ => requested,
    };
    let plan = plan_delete(&requested, &stored);
    if !plan.missing.is_empty() && !ignore_not_found {
        let names: Vec<String> = plan.missing.iter().map(ToString::to_string).collect();
        return Err(NotFound(format!("{} not found; nothing deleted", names.join(", "))).into());
    }
    if plan.delete.is_empty() {
        return Ok(());
    }
    store.delete(&plan.delete, true)?;
    for key in &plan.delete {
        println!("{} deleted", describe(key));
    }
    let revision = super::reconcile::reconcile_pods(lab, &mut state, &store)?;
    crate::wait::revision_applied(lab, &state, revision)
}

fn keys_in_file(file: &str) -> anyhow::Result<Vec<ObjectKey>> {
    let text = super::read_input(file)?;
    let objects = parse_objects(&text).with_context(|| super::shown(file).to_owned())?;
    objects
        .iter()
        .map(|o| {
            let key = o.key();
            check_deletable(key.kind)?;
            Ok(key)
        })
        .collect()
}

/// KIND and NS/NAME (or NAME) from the command line.
fn key_of(kind: &str, object: &str) -> anyhow::Result<ObjectKey> {
    let kind: Kind = kind.parse()?;
    check_deletable(kind)?;
    if kind == Kind::Namespace {
        return Ok(ObjectKey::new(kind, None, object));
    }
    let (namespace, name) = super::split_ref(object);
    Ok(ObjectKey::new(kind, Some(&namespace), &name))
}

fn check_deletable(kind: Kind) -> anyhow::Result<()> {
    match kind {
        Kind::Namespace | Kind::Pod | Kind::NetworkPolicy => Ok(()),
        other => bail!("the lab deletes Namespaces, Pods and NetworkPolicies, not {other}s"),
    }
}

#[derive(Debug, PartialEq, Eq)]
struct DeletePlan {
    /// Existing objects to delete, a namespace's contents included.
    delete: Vec<ObjectKey>,
    missing: Vec<ObjectKey>,
}

fn plan_delete(requested: &[ObjectKey], stored: &ClusterSnapshot<Pod>) -> DeletePlan {
    let mut delete = Vec::new();
    let mut missing = Vec::new();
    let mut add = |key: ObjectKey| {
        if !delete.contains(&key) {
            delete.push(key);
        }
    };
    for key in requested {
        if stored.get(key).is_none() {
            missing.push(key.clone());
            continue;
        }
        if key.kind == Kind::Namespace {
            let inside = |(ns, _): &&(String, String)| *ns == key.name;
            for (ns, name) in stored.pods.keys().filter(inside) {
                add(ObjectKey::new(Kind::Pod, Some(ns), name));
            }
            for (ns, name) in stored.policies.keys().filter(inside) {
                add(ObjectKey::new(Kind::NetworkPolicy, Some(ns), name));
            }
            for (ns, name) in stored.config_maps.keys().filter(inside) {
                add(ObjectKey::new(Kind::ConfigMap, Some(ns), name));
            }
        }
        add(key.clone());
    }
    DeletePlan { delete, missing }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> ClusterSnapshot<Pod> {
        let yaml = "
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: z}
spec: {containers: [{name: c}]}
";
        let mut snapshot = ClusterSnapshot::<Pod>::default();
        for object in parse_objects(yaml).unwrap() {
            snapshot.insert(object);
        }
        snapshot
    }

    #[test]
    fn a_namespace_takes_its_objects_along() {
        let plan = plan_delete(&[ObjectKey::new(Kind::Namespace, None, "x")], &stored());
        assert_eq!(
            plan.delete,
            vec![
                ObjectKey::new(Kind::Pod, Some("x"), "a"),
                ObjectKey::new(Kind::NetworkPolicy, Some("x"), "p"),
                ObjectKey::new(Kind::Namespace, None, "x"),
            ]
        );
        assert!(plan.missing.is_empty());
    }

    #[test]
    fn missing_objects_are_reported_apart() {
        let plan = plan_delete(
            &[
                ObjectKey::new(Kind::Pod, Some("z"), "b"),
                ObjectKey::new(Kind::Pod, Some("z"), "zz"),
            ],
            &stored(),
        );
        assert_eq!(plan.delete, vec![ObjectKey::new(Kind::Pod, Some("z"), "b")]);
        assert_eq!(
            plan.missing,
            vec![ObjectKey::new(Kind::Pod, Some("z"), "zz")]
        );
    }

    #[test]
    fn command_line_objects_parse_like_kubectl() {
        assert_eq!(
            key_of("po", "x/a").unwrap(),
            ObjectKey::new(Kind::Pod, Some("x"), "a")
        );
        assert_eq!(
            key_of("netpol", "p").unwrap(),
            ObjectKey::new(Kind::NetworkPolicy, Some("default"), "p")
        );
        assert_eq!(
            key_of("namespace", "x").unwrap(),
            ObjectKey::new(Kind::Namespace, None, "x")
        );
        assert!(key_of("node", "n1").is_err());
        assert!(key_of("deployment", "x/a").is_err());
    }
}
