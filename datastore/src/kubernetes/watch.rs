//! Runs the watches (Nodes, Namespaces, Pods, NetworkPolicies) and
//! publishes a snapshot after every burst of events that changed the
//! cluster as Weft sees it. kube-runtime's watcher resumes after
//! disconnects from the last resourceVersion (bookmarks keep it fresh) and
//! relists only on 410 Gone; its backoff has jitter. Every list is logged
//! ("listing", then "relisting"), so relists can be counted. While the API
//! server is down nothing is published, so the datapath keeps the last state.

use std::sync::Arc;

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
    pub task: JoinHandle<()>,
}

impl KubeWatch {
    /// Starts the watches; returns once every kind has been listed.
    pub async fn start(client: Client) -> Result<Self, WatchError> {
        let updates = updates(client);
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(run(updates, ready_tx));
        let (snapshots, revisions) = ready_rx.await.map_err(|_| WatchError::EndedBeforeSync)?;
        Ok(Self {
            snapshots,
            revisions,
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
) {
    let mut cache = ClusterCache::default();
    let mut ready = Some(ready);
    let mut channels: Option<(
        watch::Sender<Arc<ClusterSnapshot>>,
        watch::Sender<Revisions>,
    )> = None;
    let mut changed = false;
    while let Some(first) = updates.next().await {
        changed |= follow(&mut cache, first);
        // Coalesce a burst: take everything already waiting before publishing.
        while let Some(Some(next)) = updates.next().now_or_never() {
            changed |= follow(&mut cache, next);
        }
        if !cache.is_synced() {
            continue;
        }
        match &channels {
            None => {
                let (snapshots, snapshots_rx) = watch::channel(Arc::new(cache.snapshot()));
                let (revisions, revisions_rx) = watch::channel(cache.revisions());
                tracing::info!(revision = cache.revisions().revision, "listed the cluster");
                if let Some(ready) = ready.take()
                    && ready.send((snapshots_rx, revisions_rx)).is_err()
                {
                    return;
                }
                channels = Some((snapshots, revisions));
            }
            Some((snapshots, revisions)) => {
                if changed && snapshots.send(Arc::new(cache.snapshot())).is_err() {
                    return;
                }
                // The cache's revisions only grow: any difference is news.
                revisions.send_if_modified(|seen| {
                    let newer = cache.revisions() != *seen;
                    *seen = cache.revisions();
                    newer
                });
            }
        }
        changed = false;
    }
    tracing::error!("the Kubernetes watches ended");
}

fn follow(cache: &mut ClusterCache, update: Result<WatchUpdate, watcher::Error>) -> bool {
    match update {
        Ok(update) => {
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
            false
        }
    }
}
