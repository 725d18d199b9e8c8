//! Publishes the store's snapshot whenever the directory changes: the
//! store's own writes and files edited by hand alike.
//!
//! inotify (via notify) wakes the task through a channel of capacity one, so
//! a burst of events coalesces into one pending wake-up: after it, the task
//! takes one snapshot (under the shared lock, so never half a batch) and
//! publishes it if it differs from the last one. A failed read is logged and
//! retried on the next event; nothing in the directory can end the task. It
//! ends when every receiver is gone.

use std::path::Path;
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, CreateKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::dir_store::DirStore;
use crate::error::StoreError;
use crate::layout::is_hidden;
use crate::load::ParseCache;
use crate::snapshot::ClusterSnapshot;

impl DirStore {
    /// Watches the directory (inotify) and publishes a new snapshot after
    /// every change that alters it: the store's writes and hand edits alike.
    /// Bursts of events coalesce into one snapshot. The first value is the
    /// current snapshot. Read errors are logged and retried on the next
    /// event; malformed objects land in [`ClusterSnapshot::errors`]. The task
    /// ends when every receiver is dropped. Must be called inside a tokio
    /// runtime ([`StoreError::NoRuntime`] otherwise).
    pub fn watch(
        self,
    ) -> Result<(watch::Receiver<Arc<ClusterSnapshot>>, JoinHandle<()>), StoreError> {
        spawn(self)
    }
}

fn spawn(
    store: DirStore,
) -> Result<(watch::Receiver<Arc<ClusterSnapshot>>, JoinHandle<()>), StoreError> {
    let root = store.root().to_owned();
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| StoreError::NoRuntime { path: root.clone() })?;
    let (wake_tx, wake_rx) = mpsc::channel(1);
    let watch_error = |source| StoreError::Watch {
        path: root.clone(),
        source,
    };
    let rescans = runtime.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let wake = match &event {
            Ok(event) => changes_contents(event),
            Err(error) => {
                // Events may have been lost (e.g. queue overflow): re-read.
                tracing::warn!(%error, "datastore directory watch error");
                true
            }
        };
        if wake {
            // Full means a wake-up is already pending, which covers this event.
            let _ = wake_tx.try_send(());
        }
        if event.as_ref().is_ok_and(creates_directory) {
            // Files written into a new directory before notify has added its
            // watch make no event: read once more after it has.
            let wake_tx = wake_tx.clone();
            rescans.spawn(async move {
                tokio::time::sleep(NEW_DIRECTORY_RESCAN).await;
                let _ = wake_tx.try_send(());
            });
        }
    })
    .map_err(watch_error)?;
    // Watch before the first read, so no change after that read is missed.
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(watch_error)?;
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(store.snapshot()?.records()));
    let task = runtime.spawn(publish(store, watcher, wake_rx, snapshot_tx));
    Ok((snapshot_rx, task))
}

async fn publish(
    store: DirStore,
    // Kept alive for as long as the task runs: dropping it stops the events.
    _watcher: RecommendedWatcher,
    mut wakes: mpsc::Receiver<()>,
    snapshots: watch::Sender<Arc<ClusterSnapshot>>,
) {
    let mut cache = ParseCache::default();
    loop {
        tokio::select! {
            wake = wakes.recv() => if wake.is_none() { return },
            () = snapshots.closed() => return,
        }
        let reader = store.clone();
        let mut taken = std::mem::take(&mut cache);
        let read = tokio::task::spawn_blocking(move || {
            let snapshot = reader.snapshot_cached(&mut taken);
            (snapshot, taken)
        })
        .await
        .map(|(snapshot, used)| {
            cache = used;
            snapshot
        });
        match read {
            Ok(Ok(snapshot)) => {
                snapshots.send_if_modified(|current| {
                    let changed = **current != snapshot;
                    if changed {
                        *current = Arc::new(snapshot);
                    }
                    changed
                });
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, root = %store.root().display(), "cannot read the datastore directory; retrying on the next change");
            }
            Err(error) => {
                tracing::error!(%error, "datastore snapshot task failed");
            }
        }
    }
}

/// How long after a directory appears it is read again; notify adds the
/// new directory's watch right after it reports it.
const NEW_DIRECTORY_RESCAN: std::time::Duration = std::time::Duration::from_millis(200);

fn creates_directory(event: &Event) -> bool {
    matches!(event.kind, EventKind::Create(CreateKind::Folder))
}

/// Whether an event may change what a snapshot reads. Opening and reading
/// files (every snapshot does) and the store's hidden files (lock, temp
/// files) do not: waking on them would make snapshots wake themselves.
fn changes_contents(event: &Event) -> bool {
    let relevant_kind = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    // An event naming no file (e.g. a rescan request) may mean anything.
    relevant_kind
        && (event.paths.is_empty() || event.paths.iter().any(|path| !names_hidden_file(path)))
}

fn names_hidden_file(path: &Path) -> bool {
    path.file_name().is_some_and(is_hidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn reads_and_hidden_files_do_not_wake_the_watch() {
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert!(!changes_contents(&event(open, "/s/pods/x/a.yaml")));
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(!changes_contents(&event(written, "/s/.lock")));
        assert!(!changes_contents(&event(
            EventKind::Modify(ModifyKind::Any),
            "/s/pods/x/.a.yaml.tmp"
        )));
    }

    #[test]
    fn only_a_new_directory_asks_for_a_second_read() {
        assert!(creates_directory(&event(
            EventKind::Create(CreateKind::Folder),
            "/s/team"
        )));
        assert!(!creates_directory(&event(
            EventKind::Create(CreateKind::File),
            "/s/team/ns.yaml"
        )));
    }

    #[test]
    fn writes_renames_creations_and_removals_wake_the_watch() {
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Create(CreateKind::Folder),
            EventKind::Remove(notify::event::RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(
                changes_contents(&event(kind, "/s/pods/x/a.yaml")),
                "{kind:?}"
            );
        }
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path("/s/pods/x/.a.yaml.tmp".into())
            .add_path("/s/pods/x/a.yaml".into());
        assert!(changes_contents(&rename));
        assert!(changes_contents(&Event::new(EventKind::Other)));
    }
}
