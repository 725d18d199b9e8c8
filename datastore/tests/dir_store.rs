//! The `dir` datastore through its public API, on temp directories: writes,
//! revisions, compare-and-swap, hand-written files, and several writers at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use weft_datastore::{
    ConfigMap, DirStore, Kind, Object, ObjectKey, ObjectProblem, ParseProblem, StoreError,
    parse_objects,
};

fn object(yaml: &str) -> Object {
    let mut objects = parse_objects(yaml).unwrap();
    assert_eq!(objects.len(), 1);
    objects.remove(0)
}

fn pod(namespace: &str, name: &str, label: &str) -> Object {
    object(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{namespace: {namespace}, name: {name}, labels: {{app: \"{label}\"}}}}\nspec: {{containers: [{{name: c, image: none}}]}}\n"
    ))
}

fn pod_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(Kind::Pod, Some(namespace), name)
}

fn label(object: &Object) -> String {
    object.metadata().labels.as_ref().unwrap()["app"].clone()
}

fn counter(value: u64) -> Object {
    object(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{namespace: x, name: counter}}\ndata: {{n: \"{value}\"}}\n"
    ))
}

fn counter_value(object: &Object) -> u64 {
    let Object::ConfigMap(ConfigMap {
        data: Some(data), ..
    }) = object
    else {
        panic!("not the counter: {object:?}")
    };
    data["n"].parse().unwrap()
}

fn store() -> (tempfile::TempDir, DirStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(&dir.path().join("cluster")).unwrap();
    (dir, store)
}

#[test]
fn an_empty_store_is_at_revision_zero() {
    let (_dir, store) = store();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.revision, 0);
    assert!(snapshot.pods.is_empty() && snapshot.errors.is_empty());
}

#[test]
fn apply_get_delete_round_trip() {
    let (_dir, store) = store();
    let revision = store
        .apply(&[pod("x", "a", "web"), pod("x", "b", "db")])
        .unwrap();
    assert_eq!(revision, 1);

    let stored = store.get(&pod_key("x", "a")).unwrap().unwrap();
    assert_eq!(label(&stored), "web");
    assert_eq!(stored.resource_version(), Some("1"));
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.revision, 1);
    assert_eq!(snapshot.pods.len(), 2);
    assert!(snapshot.errors.is_empty(), "{:?}", snapshot.errors);
    assert!(store.root().join("pods/x/a.yaml").is_file());

    assert_eq!(store.delete(&[pod_key("x", "a")], false).unwrap(), 2);
    assert_eq!(store.get(&pod_key("x", "a")).unwrap(), None);
    assert!(store.get(&pod_key("x", "b")).unwrap().is_some());
    assert!(!store.root().join("pods/x/a.yaml").exists());
}

#[test]
fn each_batch_is_one_revision_and_stamps_what_it_writes() {
    let (_dir, store) = store();
    store
        .apply(&[pod("x", "a", "1"), pod("x", "b", "1")])
        .unwrap();
    assert_eq!(
        store
            .apply(&[pod("x", "a", "2"), pod("x", "c", "1")])
            .unwrap(),
        2
    );
    let snapshot = store.snapshot().unwrap();
    let versions: BTreeMap<_, _> = snapshot
        .pods
        .iter()
        .map(|((_, name), pod)| {
            (
                name.as_str(),
                pod.metadata.resource_version.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        BTreeMap::from([("a", "2"), ("b", "1"), ("c", "2")])
    );
    assert_eq!(
        store
            .delete(&[pod_key("x", "a"), pod_key("x", "b")], false)
            .unwrap(),
        3
    );
    assert_eq!(store.snapshot().unwrap().revision, 3);
}

#[test]
fn applying_what_is_stored_changes_nothing() {
    let (_dir, store) = store();
    store.apply(&[pod("x", "a", "web")]).unwrap();
    assert_eq!(store.apply(&[pod("x", "a", "web")]).unwrap(), 1);
    assert_eq!(
        store
            .get(&pod_key("x", "a"))
            .unwrap()
            .unwrap()
            .resource_version(),
        Some("1")
    );
}

#[test]
fn apply_replaces_the_whole_object() {
    let (_dir, store) = store();
    let with_two_labels = object(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {a: \"1\", b: \"2\"}}\n",
    );
    let with_one_label =
        object("apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {a: \"1\"}}\n");
    store.apply(&[with_two_labels]).unwrap();
    store.apply(&[with_one_label]).unwrap();
    let snapshot = store.snapshot().unwrap();
    let labels = snapshot.namespaces["x"].metadata.labels.clone().unwrap();
    assert_eq!(labels, BTreeMap::from([("a".to_owned(), "1".to_owned())]));
}

#[test]
fn values_yaml_would_read_as_other_types_survive_the_round_trip() {
    let (_dir, store) = store();
    let tricky = [
        "true",
        "yes",
        "on",
        "no",
        "y",
        "n",
        "Y",
        "NO",
        "off",
        "False",
        "null",
        "Null",
        "0o17",
        "012",
        "1_000",
        "2024-01-01",
        "~",
        "",
        "1",
        "0x1F",
        "1e3",
        "1.0",
        ".inf",
        "-",
        "a: b",
        "#x",
        "'q'",
        "\"dq\"",
        "multi\nline",
        " padded ",
    ];
    let labels: String = tricky
        .iter()
        .enumerate()
        .map(|(i, value)| format!("l{i}: {}, ", serde_json::to_string(value).unwrap()))
        .collect();
    let namespace = object(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: x, labels: {{{labels}}}}}\n"
    ));
    store.apply(std::slice::from_ref(&namespace)).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert!(snapshot.errors.is_empty(), "{:?}", snapshot.errors);
    assert_eq!(
        snapshot.namespaces["x"].metadata.labels,
        namespace.metadata().labels
    );
}

#[test]
fn create_fails_when_the_object_exists() {
    let (_dir, store) = store();
    let created = store.create(&pod("x", "a", "web")).unwrap();
    assert_eq!(created.resource_version(), Some("1"));
    assert!(matches!(
        store.create(&pod("x", "a", "other")),
        Err(StoreError::AlreadyExists(key)) if key == pod_key("x", "a")
    ));
    assert_eq!(
        label(&store.get(&pod_key("x", "a")).unwrap().unwrap()),
        "web"
    );
}

#[test]
fn delete_of_a_missing_object_fails_unless_ignored_and_then_deletes_the_rest() {
    let (_dir, store) = store();
    store.apply(&[pod("x", "a", "web")]).unwrap();
    let keys = [pod_key("x", "a"), pod_key("x", "gone")];
    assert!(matches!(
        store.delete(&keys, false),
        Err(StoreError::NotFound(key)) if key == pod_key("x", "gone")
    ));
    assert!(
        store.get(&pod_key("x", "a")).unwrap().is_some(),
        "nothing deleted"
    );
    assert_eq!(store.delete(&keys, true).unwrap(), 2);
    assert_eq!(store.get(&pod_key("x", "a")).unwrap(), None);
    assert_eq!(
        store.delete(&keys, true).unwrap(),
        2,
        "nothing left to delete"
    );
}

#[test]
fn a_batch_with_one_invalid_object_writes_nothing() {
    let (_dir, store) = store();
    let mut invalid = pod("x", "b", "web");
    invalid.metadata_mut().name = Some("../escape".into());
    let result = store.apply(&[pod("x", "a", "web"), invalid]);
    assert!(
        matches!(
            result,
            Err(StoreError::Invalid {
                problem: ParseProblem::InvalidName { .. },
                ..
            })
        ),
        "{result:?}"
    );
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.revision, 0);
    assert!(snapshot.pods.is_empty());
    assert!(!store.root().join("pods").exists());
}

#[test]
fn replace_is_a_compare_and_swap_exactly_one_of_two_writers_wins() {
    let (_dir, store) = store();
    let first = store.create(&counter(0)).unwrap();
    let other_writer = DirStore::open(store.root()).unwrap();

    let replaced = store.replace(&counter(1).with_version(&first)).unwrap();
    assert_eq!(replaced.resource_version(), Some("2"));
    match other_writer.replace(&counter(2).with_version(&first)) {
        Err(StoreError::Conflict { stored, given, .. }) => {
            assert_eq!(stored.as_deref(), Some("2"));
            assert_eq!(given.as_deref(), Some("1"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = store.get(&first.key()).unwrap().unwrap();
    assert_eq!(counter_value(&stored), 1);
    assert!(matches!(
        store.replace(&pod("x", "nope", "web")),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn concurrent_compare_and_swap_from_one_version_has_one_winner() {
    let (_dir, store) = store();
    let first = store.create(&counter(0)).unwrap();
    let writers = 8;
    let barrier = Arc::new(Barrier::new(writers));
    let results: Vec<Result<Object, StoreError>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|i| {
                let (store, barrier, first) = (store.clone(), barrier.clone(), first.clone());
                scope.spawn(move || {
                    barrier.wait();
                    store.replace(&counter(i as u64 + 1).with_version(&first))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<&Object> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Conflict { .. }))
    );
    assert_eq!(
        counter_value(&store.get(&first.key()).unwrap().unwrap()),
        counter_value(winners[0])
    );
}

#[test]
fn concurrent_increments_with_retry_never_lose_an_update() {
    let (_dir, store) = store();
    let key = store.create(&counter(0)).unwrap().key();
    let (threads, increments) = (4, 25);
    thread::scope(|scope| {
        for _ in 0..threads {
            // Each thread has its own handle, as separate processes would.
            let store = DirStore::open(store.root()).unwrap();
            let key = key.clone();
            scope.spawn(move || {
                for _ in 0..increments {
                    loop {
                        let current = store.get(&key).unwrap().unwrap();
                        let next = counter(counter_value(&current) + 1).with_version(&current);
                        match store.replace(&next) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let stored = store.get(&key).unwrap().unwrap();
    assert_eq!(counter_value(&stored), threads * increments);
    assert_eq!(store.snapshot().unwrap().revision, 1 + threads * increments);
}

#[test]
fn readers_never_see_half_a_batch() {
    let (_dir, store) = store();
    store
        .apply(&[pod("x", "a", "0"), pod("x", "b", "0")])
        .unwrap();
    let rounds = 40;
    thread::scope(|scope| {
        let writer = store.clone();
        scope.spawn(move || {
            for round in 1..=rounds {
                let round = round.to_string();
                writer
                    .apply(&[pod("x", "a", &round), pod("x", "b", &round)])
                    .unwrap();
            }
        });
        let reader = store.clone();
        scope.spawn(move || {
            loop {
                let snapshot = reader.snapshot().unwrap();
                let a = &snapshot.pods[&("x".to_owned(), "a".to_owned())];
                let b = &snapshot.pods[&("x".to_owned(), "b".to_owned())];
                let labels =
                    |p: &weft_datastore::Pod| p.metadata.labels.clone().unwrap()["app"].clone();
                assert_eq!(labels(a), labels(b), "a batch seen half applied");
                if labels(a) == rounds.to_string() {
                    break;
                }
            }
        });
    });
}

#[test]
fn hand_written_files_anywhere_are_read_and_bad_ones_reported() {
    let (_dir, store) = store();
    let root = store.root();
    std::fs::create_dir_all(root.join("apps/tier")).unwrap();
    std::fs::write(
        root.join("apps/tier/app.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("policy.json"),
        r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"namespace": "x", "name": "p"}, "spec": {"podSelector": {}}}"#,
    )
    .unwrap();
    std::fs::write(root.join("broken.yml"), "kind: [unclosed\n").unwrap();
    std::fs::write(root.join("notes.txt"), "not yaml at all: [").unwrap();
    std::fs::write(root.join(".hidden.yaml"), "kind: [unclosed\n").unwrap();

    let snapshot = store.snapshot().unwrap();
    assert!(snapshot.namespaces.contains_key("x"));
    assert!(
        snapshot
            .pods
            .contains_key(&("x".to_owned(), "a".to_owned()))
    );
    assert!(
        snapshot
            .policies
            .contains_key(&("x".to_owned(), "p".to_owned()))
    );
    let errors: Vec<(&Path, String)> = snapshot
        .errors
        .iter()
        .map(|e| (e.file.as_path(), e.to_string()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, Path::new("apps/tier/app.yaml"));
    assert!(
        errors[0].1.contains("document 3") && errors[0].1.contains("Service"),
        "{}",
        errors[0].1
    );
    assert_eq!(errors[1].0, Path::new("broken.yml"));
}

#[test]
fn the_stored_copy_shadows_a_hand_written_one_and_hand_written_objects_are_not_deleted() {
    let (_dir, store) = store();
    std::fs::write(
        store.root().join("mine.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x, name: a, labels: {app: hand}}\n",
    )
    .unwrap();
    assert!(matches!(
        store.delete(&[pod_key("x", "a")], false),
        Err(StoreError::HandWritten { .. })
    ));

    store.apply(&[pod("x", "a", "stored")]).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(
        label(&store.get(&pod_key("x", "a")).unwrap().unwrap()),
        "stored"
    );
    assert!(matches!(
        &snapshot.errors[..],
        [error] if error.file == Path::new("mine.yaml")
            && matches!(&error.problem, ObjectProblem::Duplicate { kept, .. } if kept == Path::new("pods/x/a.yaml"))
    ));
    assert!(
        matches!(
            store.delete(&[pod_key("x", "a")], false),
            Err(StoreError::HandWritten { .. })
        ),
        "deleting the stored copy would bring the hand-written one back"
    );
}

#[test]
fn revisions_continue_after_objects_a_crashed_batch_stamped() {
    let (_dir, store) = store();
    store.apply(&[pod("x", "a", "web")]).unwrap();
    store.apply(&[pod("x", "a", "db")]).unwrap();
    // As if the process died after renaming a's file of revision 2 into
    // place but before writing the revision file.
    std::fs::write(store.root().join("revision"), "1\n").unwrap();
    assert_eq!(store.snapshot().unwrap().revision, 2);
    assert_eq!(store.apply(&[pod("x", "a", "api")]).unwrap(), 3);
}

#[test]
fn a_corrupt_revision_file_is_an_error() {
    let (_dir, store) = store();
    std::fs::write(store.root().join("revision"), "twelve").unwrap();
    assert!(matches!(
        store.snapshot(),
        Err(StoreError::BadRevision { .. })
    ));
    assert!(matches!(
        store.apply(&[pod("x", "a", "web")]),
        Err(StoreError::BadRevision { .. })
    ));
}

trait WithVersion {
    fn with_version(self, of: &Object) -> Self;
}

impl WithVersion for Object {
    /// This object carrying `of`'s resourceVersion, as a read-modify-write does.
    fn with_version(mut self, of: &Object) -> Object {
        self.metadata_mut().resource_version = of.resource_version().map(str::to_owned);
        self
    }
}

#[test]
fn a_cached_snapshot_sees_every_change_like_a_fresh_one() {
    let (_dir, store) = store();
    let mut cache = weft_datastore::ParseCache::default();
    store
        .apply(&[pod("x", "a", "one"), pod("x", "b", "one")])
        .unwrap();
    assert_eq!(
        store.snapshot_cached(&mut cache).unwrap(),
        store.snapshot().unwrap()
    );

    store.apply(&[pod("x", "a", "two")]).unwrap();
    let hand_written = store.root().join("extra.yaml");
    std::fs::write(
        &hand_written,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hand}\n",
    )
    .unwrap();
    let cached = store.snapshot_cached(&mut cache).unwrap();
    assert_eq!(cached, store.snapshot().unwrap());
    assert_eq!(
        label(&Object::Pod(
            (*cached.pods[&("x".into(), "a".into())]).clone()
        )),
        "two"
    );
    assert!(cached.namespaces.contains_key("hand"));

    std::fs::write(
        &hand_written,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: edited}\n",
    )
    .unwrap();
    let cached = store.snapshot_cached(&mut cache).unwrap();
    assert_eq!(cached, store.snapshot().unwrap());
    assert!(cached.namespaces.contains_key("edited"));
    std::fs::remove_file(&hand_written).unwrap();
    let cached = store.snapshot_cached(&mut cache).unwrap();
    assert_eq!(cached, store.snapshot().unwrap());
    assert!(!cached.namespaces.contains_key("hand"));
    assert!(!cached.namespaces.contains_key("edited"));
}
