//! `DirStore::watch`: new snapshots arrive after the store's writes and after
//! hand edits, bad files do not stop it, and it ends with its receivers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch::Receiver;
use weft_datastore::{ClusterSnapshot, DirStore, Kind, ObjectKey, StoreError, parse_objects};

const PATIENCE: Duration = Duration::from_secs(10);

fn namespace_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

async fn wait_for(
    snapshots: &mut Receiver<Arc<ClusterSnapshot>>,
    what: &str,
    condition: impl FnMut(&Arc<ClusterSnapshot>) -> bool,
) -> Arc<ClusterSnapshot> {
    let outcome = tokio::time::timeout(PATIENCE, snapshots.wait_for(condition))
        .await
        .map(|seen| Arc::clone(&seen.expect("the watch task ended")));
    let Ok(seen) = outcome else {
        panic!(
            "no snapshot with {what} within {PATIENCE:?}; the last one: {:?}",
            snapshots.borrow()
        )
    };
    seen
}

fn open() -> (tempfile::TempDir, DirStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::open(dir.path()).unwrap();
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_value_is_the_current_snapshot_and_writes_publish_new_ones() {
    let (_dir, store) = open();
    let writer = store.clone();
    writer
        .apply(&parse_objects(&namespace_yaml("before")).unwrap())
        .unwrap();

    let (mut snapshots, _task) = store.watch().unwrap();
    let first = snapshots.borrow_and_update().clone();
    assert_eq!(first.revision, 1);
    assert!(first.namespaces.contains_key("before"));

    let revision = writer
        .apply(&parse_objects(&namespace_yaml("after")).unwrap())
        .unwrap();
    let seen = wait_for(&mut snapshots, "the applied namespace", |s| {
        s.namespaces.contains_key("after")
    })
    .await;
    assert_eq!(seen.revision, revision);

    writer
        .delete(&[ObjectKey::new(Kind::Namespace, None, "before")], false)
        .unwrap();
    wait_for(&mut snapshots, "the namespace deleted", |s| {
        !s.namespaces.contains_key("before")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_are_published_and_a_bad_file_does_not_stop_the_watch() {
    let (_dir, store) = open();
    let root = store.root().to_owned();
    let (mut snapshots, _task) = store.watch().unwrap();

    std::fs::create_dir_all(root.join("team/a")).unwrap();
    std::fs::write(root.join("team/a/ns.yaml"), namespace_yaml("x")).unwrap();
    wait_for(&mut snapshots, "the hand-written namespace", |s| {
        s.namespaces.contains_key("x")
    })
    .await;

    std::fs::write(root.join("bad.yaml"), "apiVersion: v1\nkind: [\n").unwrap();
    let seen = wait_for(&mut snapshots, "the bad file reported", |s| {
        !s.errors.is_empty()
    })
    .await;
    assert!(seen.namespaces.contains_key("x"), "good objects are kept");

    std::fs::write(root.join("bad.yaml"), namespace_yaml("fixed")).unwrap();
    wait_for(&mut snapshots, "the fixed file read", |s| {
        s.errors.is_empty() && s.namespaces.contains_key("fixed")
    })
    .await;

    std::fs::remove_file(root.join("team/a/ns.yaml")).unwrap();
    wait_for(&mut snapshots, "the removed file forgotten", |s| {
        !s.namespaces.contains_key("x")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_ends_when_every_receiver_is_gone() {
    let (_dir, store) = open();
    let (snapshots, task) = store.watch().unwrap();
    drop(snapshots);
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the watch task outlived its receivers")
        .unwrap();
}

#[test]
fn watching_outside_a_runtime_is_an_error() {
    let (_dir, store) = open();
    assert!(matches!(store.watch(), Err(StoreError::NoRuntime { .. })));
}
