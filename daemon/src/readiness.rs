//! Whether weftd is ready to serve ADDs, and why not, and which datastore
//! revisions it has put into effect (overall and per kind, see `applied`):
//! shared by the API's Status reply and /readyz. Two parts contribute:
//! startup (weftd's own steps, then shutdown) and every registered
//! reconciler, which counts once it has succeeded since start. A
//! reconciler failing later keeps its last state in effect: it shows in
//! its status and holds the applied revision back, but does not take the
//! node out of service.

mod applied;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;
use tokio::sync::watch;
use weft_api::Response;
use weft_datastore::{ClusterSnapshot, Revisions};

/// One reconciler's state as weftctl and the logs show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcilerStatus {
    /// Has it succeeded since weftd started?
    pub converged: bool,
    /// The datastore revisions its last success put in effect, for
    /// reconcilers whose input comes from the datastore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Revisions>,
    /// The last failure, until the next success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failures since the last success.
    pub failures: u32,
}

#[derive(Debug)]
pub struct Readiness {
    /// `None` once startup is done (until shutdown), else what is missing.
    startup: RwLock<Option<String>>,
    reconcilers: RwLock<BTreeMap<&'static str, ReconcilerStatus>>,
    /// Bumped on every change, for waiters.
    changes: watch::Sender<u64>,
    /// The datastore's latest snapshot and the highest revisions it stands
    /// for, where those differ (`kubernetes`: changes Weft does not keep).
    datastore: OnceLock<DatastoreRevisions>,
}

#[derive(Debug)]
struct DatastoreRevisions {
    snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
    revisions: watch::Receiver<Revisions>,
}

impl Readiness {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            startup: RwLock::new(Some(reason.into())),
            reconcilers: RwLock::new(BTreeMap::new()),
            changes: watch::Sender::new(0),
            datastore: OnceLock::new(),
        }
    }

    /// Counts a node that has put the latest snapshot in effect as having
    /// applied every revision that snapshot stands for (set once).
    pub fn follow_datastore(
        &self,
        snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
        revisions: watch::Receiver<Revisions>,
    ) {
        let _ = self.datastore.set(DatastoreRevisions {
            snapshots,
            revisions,
        });
    }

    /// weftd's own startup steps are done.
    pub fn set_started(&self) {
        *write(&self.startup) = None;
        self.changed();
    }

    pub fn set_not_ready(&self, reason: impl Into<String>) {
        *write(&self.startup) = Some(reason.into());
        self.changed();
    }

    /// weftd is not ready until `name` has succeeded once.
    pub fn register_reconciler(&self, name: &'static str) {
        write(&self.reconcilers).entry(name).or_default();
        self.changed();
    }

    /// `name` succeeded, with the datastore `revisions` its input stood for.
    pub fn reconciled(&self, name: &'static str, revisions: Option<Revisions>) {
        {
            let mut reconcilers = write(&self.reconcilers);
            let status = reconcilers.entry(name).or_default();
            status.converged = true;
            status.applied = revisions;
            status.error = None;
            status.failures = 0;
        }
        self.changed();
    }

    /// `name` failed; it keeps what it last put in effect.
    pub fn reconcile_failed(&self, name: &'static str, error: String) {
        {
            let mut reconcilers = write(&self.reconcilers);
            let status = reconcilers.entry(name).or_default();
            status.error = Some(error);
            status.failures = status.failures.saturating_add(1);
        }
        self.changed();
    }

    /// Every reconciler by name.
    pub fn reconcilers(&self) -> BTreeMap<&'static str, ReconcilerStatus> {
        read(&self.reconcilers).clone()
    }

    /// The lowest revision every revisioned reconciler has put in effect:
    /// objects written at revision R are in effect here once this is >= R.
    /// `None` while one of them has not succeeded yet, or none exists.
    pub fn applied_revision(&self) -> Option<u64> {
        self.applied_revisions().map(|applied| applied.revision)
    }

    /// [`Self::applied_revision`], and the same per kind: objects of a kind
    /// written at revision R are in effect once its revision is >= R.
    pub fn applied_revisions(&self) -> Option<Revisions> {
        let applied = self.applied_snapshot_revisions()?;
        let Some(datastore) = self.datastore.get() else {
            return Some(applied);
        };
        // The watch sends a snapshot before the revisions it holds: read
        // the revisions first, and the snapshot read after holds them.
        let seen = *datastore.revisions.borrow();
        let latest = datastore.snapshots.borrow().revisions();
        Some(applied::in_effect(applied, latest, seen))
    }

    fn applied_snapshot_revisions(&self) -> Option<Revisions> {
        let reconcilers = read(&self.reconcilers);
        let mut lowest: Option<Revisions> = None;
        for status in reconcilers.values() {
            match (status.converged, status.applied) {
                (false, _) => return None,
                (true, None) => {}
                (true, Some(applied)) => {
                    lowest = Some(lowest.map_or(applied, |l| applied::lowest(l, applied)));
                }
            }
        }
        lowest
    }

    pub fn is_ready(&self) -> bool {
        self.reason().is_none()
    }

    /// Why weftd is not ready, or `None` when it is.
    pub fn reason(&self) -> Option<String> {
        if let Some(reason) = read(&self.startup).clone() {
            return Some(reason);
        }
        let reconcilers = read(&self.reconcilers);
        let (name, status) = reconcilers.iter().find(|(_, s)| !s.converged)?;
        Some(match &status.error {
            Some(error) => format!("{name} has not converged yet: {error}"),
            None => format!("{name} has not converged yet"),
        })
    }

    /// Returns once every registered reconciler has succeeded once.
    pub async fn converged(&self) {
        let mut changes = self.changes.subscribe();
        let all_converged = |_: &u64| read(&self.reconcilers).values().all(|s| s.converged);
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = changes.wait_for(all_converged).await;
    }

    /// The API's answer to `Request::Status`.
    pub fn status_response(&self) -> Response {
        let reason = self.reason();
        let applied = self.applied_revisions();
        Response::Status {
            ready: reason.is_none(),
            reason,
            applied_revision: applied.map(|a| a.revision),
            applied_revisions: applied.map(|a| applied::wire(a.kinds)),
            api: Some(weft_api::API_VERSION),
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

// Plain values cannot be left half-written by a panicking writer.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_api::AppliedRevisions;
    use weft_datastore::KindRevisions;

    /// What a `dir` datastore snapshot at `revision` stands for.
    fn at(revision: u64) -> Option<Revisions> {
        Some(Revisions {
            revision,
            kinds: KindRevisions::uniform(revision),
        })
    }

    /// What a `kubernetes` view stands for: kinds in the order of
    /// [`KindRevisions`]' fields, the revision their highest.
    fn kube(kinds: [u64; 4]) -> Revisions {
        let [nodes, namespaces, pods, network_policies] = kinds;
        let kinds = KindRevisions {
            nodes,
            namespaces,
            pods,
            network_policies,
        };
        Revisions {
            revision: kinds.highest(),
            kinds,
        }
    }

    fn snapshot(revisions: Revisions) -> Arc<ClusterSnapshot> {
        Arc::new(ClusterSnapshot {
            revision: revisions.revision,
            kind_revisions: revisions.kinds,
            ..ClusterSnapshot::default()
        })
    }

    #[test]
    fn status_follows_startup() {
        let readiness = Readiness::new("starting");
        assert_eq!(
            readiness.status_response(),
            Response::Status {
                ready: false,
                reason: Some("starting".into()),
                applied_revision: None,
                applied_revisions: None,
                api: Some(weft_api::API_VERSION),
            }
        );
        readiness.set_started();
        assert!(readiness.is_ready());
        readiness.set_not_ready("shutting down");
        assert_eq!(readiness.reason().as_deref(), Some("shutting down"));
    }

    #[test]
    fn every_reconciler_must_succeed_once_and_a_later_failure_keeps_the_node_ready() {
        let readiness = Readiness::new("starting");
        readiness.register_reconciler("overlay");
        readiness.register_reconciler("masquerade");
        readiness.set_started();
        assert_eq!(
            readiness.reason().as_deref(),
            Some("masquerade has not converged yet")
        );
        readiness.reconcile_failed("masquerade", "nft: boom".into());
        assert_eq!(
            readiness.reason().as_deref(),
            Some("masquerade has not converged yet: nft: boom")
        );
        readiness.reconciled("masquerade", None);
        readiness.reconciled("overlay", at(4));
        assert!(readiness.is_ready());
        readiness.reconcile_failed("masquerade", "nft: boom again".into());
        assert!(readiness.is_ready());
        let masquerade = &readiness.reconcilers()["masquerade"];
        assert_eq!(masquerade.error.as_deref(), Some("nft: boom again"));
        assert_eq!(masquerade.failures, 1);
    }

    #[test]
    fn the_applied_revision_is_the_lowest_of_the_revisioned_reconcilers() {
        let readiness = Readiness::new("starting");
        readiness.register_reconciler("overlay");
        readiness.register_reconciler("policy");
        readiness.register_reconciler("masquerade");
        readiness.reconciled("overlay", at(9));
        assert_eq!(readiness.applied_revision(), None, "policy has not run");
        readiness.reconciled("policy", at(7));
        assert_eq!(readiness.applied_revision(), None, "masquerade has not run");
        readiness.reconciled("masquerade", None);
        assert_eq!(readiness.applied_revision(), Some(7));
        readiness.reconcile_failed("policy", "map full".into());
        readiness.reconciled("overlay", at(12));
        assert_eq!(
            readiness.applied_revision(),
            Some(7),
            "policy holds it back"
        );
        readiness.reconciled("policy", at(12));
        assert_eq!(readiness.applied_revision(), Some(12));
    }

    #[test]
    fn a_node_at_the_latest_snapshot_has_applied_every_revision_it_stands_for() {
        let readiness = Readiness::new("starting");
        readiness.register_reconciler("policy");
        let (snapshots, snapshots_rx) = watch::channel(snapshot(at(10).unwrap()));
        let (revisions, revisions_rx) = watch::channel(at(10).unwrap());
        readiness.follow_datastore(snapshots_rx, revisions_rx);
        readiness.reconciled("policy", at(10));
        revisions.send(at(14).unwrap()).unwrap();
        assert_eq!(
            readiness.applied_revision(),
            Some(14),
            "11..14 changed nothing kept"
        );
        snapshots.send(snapshot(at(15).unwrap())).unwrap();
        revisions.send(at(16).unwrap()).unwrap();
        assert_eq!(
            readiness.applied_revision(),
            Some(10),
            "15 is not in effect yet"
        );
        readiness.reconciled("policy", at(15));
        assert_eq!(readiness.applied_revision(), Some(16));
    }

    #[test]
    fn each_kind_is_applied_as_far_as_its_own_watch_and_the_reply_carries_it() {
        let readiness = Readiness::new("starting");
        readiness.register_reconciler("overlay");
        readiness.register_reconciler("policy");
        readiness.set_started();
        let before = kube([2, 3, 20, 10]);
        let (snapshots, snapshots_rx) = watch::channel(snapshot(before));
        let (revisions, revisions_rx) = watch::channel(before);
        readiness.follow_datastore(snapshots_rx, revisions_rx);
        readiness.reconciled("overlay", Some(before));
        readiness.reconciled("policy", Some(kube([2, 3, 18, 10])));
        assert_eq!(
            readiness.applied_revisions().map(|a| a.kinds),
            Some(kube([2, 3, 18, 10]).kinds),
            "the lowest per kind"
        );
        readiness.reconciled("policy", Some(before));
        // A policy is created at 30; its event is still on the way when
        // the pods' watch delivers a pod at 31, which a snapshot holds.
        let pod_first = kube([2, 3, 31, 10]);
        snapshots.send(snapshot(pod_first)).unwrap();
        revisions.send(pod_first).unwrap();
        readiness.reconciled("overlay", Some(pod_first));
        readiness.reconciled("policy", Some(pod_first));
        let applied = readiness.applied_revisions().unwrap();
        assert_eq!(applied.revision, 31, "past the policy's 30 overall");
        assert_eq!(applied.kinds.network_policies, 10, "but not of its kind");
        assert_eq!(
            readiness.status_response(),
            Response::Status {
                ready: true,
                reason: None,
                applied_revision: Some(31),
                applied_revisions: Some(AppliedRevisions {
                    nodes: 2,
                    namespaces: 3,
                    pods: 31,
                    network_policies: 10,
                }),
                api: Some(weft_api::API_VERSION),
            }
        );
        // Status-only pod bumps change nothing kept: pods rise, nothing else.
        revisions.send(kube([2, 3, 33, 10])).unwrap();
        assert_eq!(
            readiness.applied_revisions().map(|a| a.kinds),
            Some(kube([2, 3, 33, 10]).kinds)
        );
    }

    #[tokio::test]
    async fn converged_returns_once_all_have_succeeded() {
        let readiness = std::sync::Arc::new(Readiness::new("starting"));
        readiness.register_reconciler("overlay");
        let waiter = tokio::spawn({
            let readiness = readiness.clone();
            async move { readiness.converged().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        readiness.reconciled("overlay", at(1));
        waiter.await.unwrap();
    }
}
