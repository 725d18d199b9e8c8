//! How weftd's datastore is doing, for `weftctl status`: whether it
//! answers now (a live probe), how long ago weftd last took a change from
//! it, and the watch's last failure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use weft_api::DatastoreStatus;

use super::cluster_store::{ClusterStore, DatastoreWatch};

/// A probe that takes longer than this counts as no answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Shared by the node's setup, which follows the datastore once it is
/// open, and the API, which reports it. Empty until then.
#[derive(Clone, Default)]
pub struct DatastoreHealth(Arc<Mutex<Option<Followed>>>);

struct Followed {
    store: ClusterStore,
    last_change: Instant,
    failure: Option<String>,
}

impl DatastoreHealth {
    /// Follows `watch` of `store`: each new snapshot or revision is a
    /// change taken, each failure the watch reports is kept until it clears.
    pub fn follow(&self, store: ClusterStore, watch: &DatastoreWatch) {
        *self.lock() = Some(Followed {
            store,
            last_change: Instant::now(),
            failure: None,
        });
        self.spawn_change_tracker(watch.snapshots.clone());
        if let Some(revisions) = &watch.revisions {
            self.spawn_change_tracker(revisions.clone());
        }
        if let Some(failure) = &watch.failure {
            let health = self.clone();
            let mut failure = failure.clone();
            tokio::spawn(async move {
                while failure.changed().await.is_ok() {
                    let now = failure.borrow_and_update().clone();
                    if let Some(followed) = health.lock().as_mut() {
                        followed.failure = now;
                    }
                }
            });
        }
    }

    fn spawn_change_tracker<T: Send + Sync + 'static>(&self, mut changes: watch::Receiver<T>) {
        let health = self.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if let Some(followed) = health.lock().as_mut() {
                    followed.last_change = Instant::now();
                }
            }
        });
    }

    /// The datastore's status now, probing it; `None` before it is followed.
    pub async fn status(&self) -> Option<DatastoreStatus> {
        let (store, last_change, failure) = {
            let followed = self.lock();
            let followed = followed.as_ref()?;
            (
                followed.store.clone(),
                followed.last_change,
                followed.failure.clone(),
            )
        };
        let probed = match tokio::time::timeout(PROBE_TIMEOUT, store.probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("{error:#}")),
            Err(_) => Err(format!("no answer in {} s", PROBE_TIMEOUT.as_secs())),
        };
        Some(DatastoreStatus {
            kind: store.kind().to_owned(),
            reachable: probed.is_ok(),
            error: probed.err(),
            last_change_seconds_ago: Some(last_change.elapsed().as_secs()),
            watch_error: failure,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Followed>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
