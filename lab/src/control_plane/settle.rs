//! Waiting, as admin, for a change made through the API server to settle:
//! every pod that should run runs (see `progress`), and for deletions, the
//! resourceVersions at which the objects went away, read from each kind's
//! watch (a list no longer shows them); and the Services kube-proxy must
//! have programmed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use weft_api::RevisionKind;
use weft_datastore::{ClusterSnapshot, Namespace, NetworkPolicy, Pod};

use super::client::ApiError;
use super::progress::pods_progress;
use super::snapshot::cluster_snapshot;
use crate::weftd::KindRequirement;

/// Pause between two looks at the pods.
const POLL: Duration = Duration::from_millis(50);

/// Returns the cluster once no pod is still waiting for its sandbox; fails
/// at once on a pod whose sandbox cannot be made, or at the deadline.
pub async fn pods_settled(
    client: Client,
    timeout: Duration,
) -> Result<ClusterSnapshot<Pod>, ApiError> {
    let deadline = Instant::now() + timeout;
    loop {
        let snapshot = cluster_snapshot(client.clone()).await?;
        let progress = pods_progress(&snapshot);
        if let Some((pod, reason)) = progress.failed.first() {
            return Err(ApiError::Unexpected(format!(
                "pod {pod} cannot start: {reason}"
            )));
        }
        match progress.waiting.first() {
            None => return Ok(snapshot),
            Some((pod, waits_for)) if Instant::now() >= deadline => {
                return Err(ApiError::Timeout {
                    what: format!(
                        "pod {pod} waiting for {waits_for} ({} pods waiting)",
                        progress.waiting.len()
                    ),
                    timeout,
                });
            }
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// What exists of each kind weftd acts on, before a deletion.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Per kind: the list's resourceVersion and the uids it held.
    kinds: BTreeMap<RevisionKind, (String, BTreeSet<String>)>,
}

pub async fn inventory(client: Client) -> Result<Inventory, ApiError> {
    let mut kinds = BTreeMap::new();
    kinds.insert(
        RevisionKind::Namespaces,
        listed::<Namespace>(&client).await?,
    );
    kinds.insert(RevisionKind::Pods, listed::<Pod>(&client).await?);
    kinds.insert(
        RevisionKind::NetworkPolicies,
        listed::<NetworkPolicy>(&client).await?,
    );
    Ok(Inventory { kinds })
}

/// Per kind, the highest resourceVersion at which an object of `before`
/// that is gone now was deleted.
pub async fn deletion_revisions(
    client: Client,
    before: &Inventory,
    timeout: Duration,
) -> Result<KindRequirement, ApiError> {
    let mut required = KindRequirement::new();
    for (kind, (since, uids)) in &before.kinds {
        let revision = match kind {
            RevisionKind::Namespaces => gone::<Namespace>(&client, since, uids, timeout).await?,
            RevisionKind::Pods => gone::<Pod>(&client, since, uids, timeout).await?,
            RevisionKind::NetworkPolicies => {
                gone::<NetworkPolicy>(&client, since, uids, timeout).await?
            }
            RevisionKind::Nodes => None,
        };
        if let Some(revision) = revision {
            required.insert(*kind, revision);
        }
    }
    Ok(required)
}

async fn listed<K>(client: &Client) -> Result<(String, BTreeSet<String>), ApiError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let list = Api::<K>::all(client.clone())
        .list_metadata(&ListParams::default())
        .await?;
    let uids = list.items.iter().filter_map(|o| o.uid()).collect();
    Ok((list.metadata.resource_version.unwrap_or_default(), uids))
}

/// The deletion revision of the newest deletion among `uids`, read from a
/// watch that starts at `since`; `None` when none of them is gone.
async fn gone<K>(
    client: &Client,
    since: &str,
    uids: &BTreeSet<String>,
    timeout: Duration,
) -> Result<Option<u64>, ApiError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let api = Api::<K>::all(client.clone());
    let (_, now) = listed::<K>(client).await?;
    let mut pending: BTreeSet<&String> = uids.difference(&now).collect();
    if pending.is_empty() {
        return Ok(None);
    }
    let mut newest = 0;
    let watch = async {
        let mut events = api.watch(&WatchParams::default(), since).await?.boxed();
        while let Some(event) = events.try_next().await? {
            match event {
                WatchEvent::Deleted(object) => {
                    if let Some(uid) = object.uid() {
                        pending.remove(&uid);
                    }
                    let revision = object.resource_version().and_then(|r| r.parse().ok());
                    newest = newest.max(revision.unwrap_or(0));
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                WatchEvent::Error(status) => {
                    return Err(ApiError::Unexpected(format!(
                        "watching deletions: {}",
                        status.message
                    )));
                }
                _ => {}
            }
        }
        Err(ApiError::Unexpected("the watch of deletions ended".into()))
    };
    match tokio::time::timeout(timeout, watch).await {
        Ok(result) => result.map(|()| Some(newest)),
        Err(_) => Err(ApiError::Timeout {
            what: "seeing the deletions in the API server's watch".into(),
            timeout,
        }),
    }
}

/// What kube-proxy programs from: every Service, EndpointSlice and Pod.
pub type ServiceInputs = (Vec<Service>, Vec<EndpointSlice>, Vec<Pod>);

pub async fn service_inputs(client: Client) -> Result<ServiceInputs, ApiError> {
    let all = ListParams::default();
    let services = Api::<Service>::all(client.clone()).list(&all).await?;
    let slices = Api::<EndpointSlice>::all(client.clone()).list(&all).await?;
    let pods = Api::<Pod>::all(client).list(&all).await?;
    Ok((services.items, slices.items, pods.items))
}
