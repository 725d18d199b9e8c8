//! Runs the watches (Nodes, Namespaces, Pods, NetworkPolicies) and
//! publishes a snapshot after every burst of events that changed the
//! cluster as Weft sees it, pausing between two in proportion to what a
//! snapshot costs (`PUBLISH_PAUSE_FACTOR`). kube-runtime's watcher resumes after
//! disconnects from the last resourceVersion (bookmarks keep it fresh) and
//! relists only on 410 Gone; its backoff has jitter. Every list is logged
//! ("listing", then "relisting"), so relists can be counted. While the API
//! server is down nothing is published, so the datapath keeps the last state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt};
use futures::{FutureExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::cluster_cache::{ClusterCache, WatchUpdate};
use crate::revisions::Revisions;
use crate::snapshot::ClusterSnapshot;

/// While events stream in, a snapshot waits after the last one this many
/// times as long as the last one took to copy: each is a copy of the
/// cluster (tens of MB and tens of milliseconds at 10,000 pods), and one
/// per burst made weftd fall minutes behind a busy API server. At most a
/// third of the time goes into copies, and a small cluster, whose copies
/// take microseconds, waits next to nothing.
const PUBLISH_PAUSE_FACTOR: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the Kubernetes watches ended before the first full list")]
    EndedBeforeSync,
}

/// What a running watch publishes.
pub struct KubeWatch {
    /// A new snapshot after every change Weft can see.
    pub snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
    /// The highest resourceVersions, of any kind and per kind, whose
    /// effects the latest snapshot holds (events that changed nothing Weft
    /// keeps advance them without a new snapshot). Sent after the snapshot
    /// that holds them.
    pub revisions: watch::Receiver<Revisions>,
    /// The watches' last failure, until one of them takes an update again.
    pub failure: watch::Receiver<Option<String>>,
    pub task: JoinHandle<()>,
}

impl KubeWatch {
    /// Starts the watches; returns once every kind has been listed.
    pub async fn start(client: Client) -> Result<Self, WatchError> {
        let updates = updates(client);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (failure_tx, failure) = watch::channel(None);
        let task = tokio::spawn(run(updates, ready_tx, failure_tx));
        let (snapshots, revisions) = ready_rx.await.map_err(|_| WatchError::EndedBeforeSync)?;
        Ok(Self {
            snapshots,
            revisions,
            failure,
            task,
        })
    }
}

type Published = (
    watch::Receiver<Arc<ClusterSnapshot>>,
    watch::Receiver<Revisions>,
);

fn updates(client: Client) -> BoxStream<'static, Result<WatchUpdate, watcher::Error>> {
    let config = watcher::Config::default();
    let nodes = watcher(Api::<Node>::all(client.clone()), config.clone())
        .default_backoff()
        .map_ok(|event| WatchUpdate::Node(Box::new(event)));
    let namespaces = watcher(Api::<Namespace>::all(client.clone()), config.clone())
        .default_backoff()
        .map_ok(|event| WatchUpdate::Namespace(Box::new(event)));
    let pods = watcher(Api::<Pod>::all(client.clone()), config.clone())
        .default_backoff()
        .map_ok(|event| WatchUpdate::Pod(Box::new(event)));
    let policies = watcher(Api::<NetworkPolicy>::all(client), config)
        .default_backoff()
        .map_ok(|event| WatchUpdate::Policy(Box::new(event)));
    stream::select_all([
        nodes.boxed(),
        namespaces.boxed(),
        pods.boxed(),
        policies.boxed(),
    ])
    .boxed()
}

async fn run(
    mut updates: BoxStream<'static, Result<WatchUpdate, watcher::Error>>,
    ready: oneshot::Sender<Published>,
    failure: watch::Sender<Option<String>>,
) {
    let mut cache = ClusterCache::default();
    let mut ready = Some(ready);
    let mut channels: Option<(
        watch::Sender<Arc<ClusterSnapshot>>,
        watch::Sender<Revisions>,
    )> = None;
    // A change the cache holds and no snapshot does yet.
    let mut pending = false;
    let mut next_publish: Option<Instant> = None;
    loop {
        let update = match next_publish.filter(|_| pending) {
            Some(at) => tokio::select! {
                update = updates.next() => Some(update),
                () = tokio::time::sleep_until(at.into()) => None,
            },
            None => Some(updates.next().await),
        };
        match update {
            Some(None) => break,
            Some(Some(first)) => {
                pending |= follow(&mut cache, first, &failure);
                // Coalesce a burst: take everything already waiting.
                while let Some(Some(next)) = updates.next().now_or_never() {
                    pending |= follow(&mut cache, next, &failure);
                }
            }
            // The pause after the last snapshot is over.
            None => {}
        }
        if !cache.is_synced() {
            continue;
        }
        match &channels {
            None => {
                let (snapshot, pause) = timed_snapshot(&cache);
                let (snapshots, snapshots_rx) = watch::channel(Arc::new(snapshot));
                let (revisions, revisions_rx) = watch::channel(cache.revisions());
                tracing::info!(revision = cache.revisions().revision, "listed the cluster");
                if let Some(ready) = ready.take()
                    && ready.send((snapshots_rx, revisions_rx)).is_err()
                {
                    return;
                }
                channels = Some((snapshots, revisions));
                pending = false;
                next_publish = Some(Instant::now() + pause);
            }
            Some((snapshots, revisions)) => {
                if pending {
                    if next_publish.is_some_and(|at| Instant::now() < at) {
                        // Revisions wait with the change: they must not
                        // claim what no snapshot holds yet.
                        continue;
                    }
                    let (snapshot, pause) = timed_snapshot(&cache);
                    if snapshots.send(Arc::new(snapshot)).is_err() {
                        return;
                    }
                    pending = false;
                    next_publish = Some(Instant::now() + pause);
                }
                // The cache's revisions only grow: any difference is news.
                revisions.send_if_modified(|seen| {
                    let newer = cache.revisions() != *seen;
                    *seen = cache.revisions();
                    newer
                });
            }
        }
    }
    tracing::error!("the Kubernetes watches ended");
}

/// The cache's snapshot, and how long to pause before the next one.
fn timed_snapshot(cache: &ClusterCache) -> (ClusterSnapshot, Duration) {
    let started = Instant::now();
    let snapshot = cache.snapshot();
    (snapshot, started.elapsed() * PUBLISH_PAUSE_FACTOR)
}

fn follow(
    cache: &mut ClusterCache,
    update: Result<WatchUpdate, watcher::Error>,
    failure: &watch::Sender<Option<String>>,
) -> bool {
    match update {
        Ok(update) => {
            failure.send_if_modified(|failed| failed.take().is_some());
            if let Some(kind) = update.starts_list() {
                if cache.has_listed(kind) {
                    tracing::info!(kind = kind.as_str(), "relisting");
                } else {
                    tracing::info!(kind = kind.as_str(), "listing");
                }
            }
            cache.apply(update)
        }
        Err(error) => {
            tracing::warn!(%error, "a Kubernetes watch failed; it retries with backoff");
            failure.send_replace(Some(error.to_string()));
            false
        }
    }
}
