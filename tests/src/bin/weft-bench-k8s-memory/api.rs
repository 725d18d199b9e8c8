//! Writing the benchmark's cluster to the lab's API server as the admin,
//! from inside the control-plane netns, many requests in flight at once
//! (each pod is created, then its status written through the status
//! subresource, as kubelet does); and reading back what the lab holds and
//! what every weftd must have applied.

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use ipnet::Ipv4Net;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_api::RevisionKind;
use weft_datastore::k8s_openapi::api::core::v1::ServiceAccount;
use weft_datastore::{ClusterSnapshot, Namespace, NetworkPolicy, Node, Object, Pod};
use weft_lab::control_plane::client::{ApiError, with_client};
use weft_lab::control_plane::progress::{PodsProgress, pods_progress, required_revisions};
use weft_lab::control_plane::snapshot::cluster_snapshot;
use weft_lab::lab::Lab;
use weft_lab::netns;
use weft_lab::state::LabState;
use weft_lab::weftd::KindRequirement;

use crate::cluster::StatusPatch;

/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// Tries per request when the server is busy or the connection broke.
const ATTEMPTS: u32 = 6;
const FIELD_MANAGER: &str = "weft-bench";
/// How long the controller-manager may take to give every namespace its
/// `default` ServiceAccount (pod admission needs it).
const SERVICE_ACCOUNTS_TIMEOUT: Duration = Duration::from_secs(300);

/// The lab's API server, as its admin.
pub struct AdminApi {
    netns: PathBuf,
    kubeconfig: PathBuf,
}

impl AdminApi {
    pub fn new(lab: &Lab, state: &LabState) -> anyhow::Result<Self> {
        let host = state
            .topology
            .control_plane
            .as_ref()
            .context("the lab has no control plane (not a kubernetes lab)")?;
        Ok(Self {
            netns: netns::path(&host.netns),
            kubeconfig: lab.paths.admin_kubeconfig(),
        })
    }

    fn run<T, F, Fut>(&self, job: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        Ok(with_client(&self.netns, &self.kubeconfig, job)?)
    }

    /// The pod CIDRs of the named Nodes.
    pub fn node_cidrs(&self, names: Vec<String>) -> anyhow::Result<Vec<Ipv4Net>> {
        let cidrs = self.run(move |client| async move {
            let api: Api<Node> = Api::all(client);
            let mut cidrs = Vec::new();
            for name in &names {
                let node = api.get(name).await?;
                cidrs.extend(node.spec.and_then(|s| s.pod_cidrs).unwrap_or_default());
            }
            Ok(cidrs)
        })?;
        cidrs
            .iter()
            .map(|c| c.parse().with_context(|| format!("pod CIDR {c}")))
            .collect()
    }

    pub fn create_nodes(&self, nodes: Vec<Node>) -> anyhow::Result<()> {
        self.run(|client| create_each("nodes", nodes, move |_| Api::all(client.clone())))
    }

    /// Creates the namespaces, then waits for their `default`
    /// ServiceAccounts.
    pub fn create_namespaces(&self, namespaces: Vec<Namespace>) -> anyhow::Result<()> {
        let names: Vec<String> = namespaces
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        self.run(|client| async move {
            create_each("namespaces", namespaces, |_| Api::all(client.clone())).await?;
            default_service_accounts(client, names).await
        })
    }

    /// Creates every pod, then writes the statuses given for some of them.
    pub fn create_pods(&self, pods: Vec<Pod>, statuses: Vec<StatusPatch>) -> anyhow::Result<()> {
        self.run(|client| async move {
            let api = client.clone();
            create_each("pods", pods, move |pod: &Pod| {
                Api::namespaced(api.clone(), namespace_of(pod))
            })
            .await?;
            write_statuses(client, statuses).await
        })
    }

    pub fn create_policies(&self, policies: Vec<NetworkPolicy>) -> anyhow::Result<()> {
        self.run(|client| {
            create_each("networkpolicies", policies, move |p: &NetworkPolicy| {
                Api::namespaced(client.clone(), namespace_of(p))
            })
        })
    }

    /// Which pods bound to the named nodes do not run yet.
    pub fn pods_on(&self, nodes: Vec<String>) -> anyhow::Result<PodsProgress> {
        self.run(move |client| async move {
            let api: Api<Pod> = Api::all(client);
            let mut snapshot = ClusterSnapshot::<Pod>::default();
            for node in &nodes {
                let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
                for pod in api.list(&params).await? {
                    snapshot.insert(Object::Pod(pod));
                }
            }
            Ok(pods_progress(&snapshot))
        })
    }

    /// Per kind, the newest resourceVersion the cluster holds (Nodes
    /// included), and whether every pod runs.
    pub fn requirement(&self) -> anyhow::Result<(KindRequirement, PodsProgress)> {
        let snapshot = self.run(cluster_snapshot)?;
        let mut required = required_revisions(&snapshot, &KindRequirement::new());
        let nodes = snapshot
            .nodes
            .values()
            .filter_map(|n| n.metadata.resource_version.as_deref()?.parse::<u64>().ok())
            .max();
        if let Some(newest) = nodes {
            required.insert(RevisionKind::Nodes, newest);
        }
        Ok((required, pods_progress(&snapshot)))
    }
}

fn namespace_of<K: Resource>(object: &K) -> &str {
    object.meta().namespace.as_deref().unwrap_or("default")
}

/// Creates every object, `CONCURRENCY` at a time; one that exists already
/// (a retried create that had gone through) is fine.
async fn create_each<K>(
    what: &'static str,
    objects: Vec<K>,
    api_for: impl Fn(&K) -> Api<K>,
) -> Result<(), ApiError>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let progress = Progress::new(what, objects.len());
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    stream::iter(objects)
        .map(|object| {
            let api = api_for(&object);
            let (params, progress) = (&params, &progress);
            async move {
                match retrying(|| api.create(params, &object)).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 409 => {}
                    Err(err) => return Err(ApiError::from(err)),
                }
                progress.one_done();
                Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// Writes each pod's status (a strategic merge patch of the status
/// subresource, as kubelet does), `CONCURRENCY` at a time.
async fn write_statuses(client: Client, statuses: Vec<StatusPatch>) -> Result<(), ApiError> {
    let progress = Progress::new("pod statuses", statuses.len());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    stream::iter(statuses)
        .map(|status| {
            let api: Api<Pod> = Api::namespaced(client.clone(), &status.namespace);
            let (params, progress) = (&params, &progress);
            async move {
                let patch = Patch::Strategic(&status.patch);
                retrying(|| api.patch_status(&status.name, params, &patch)).await?;
                progress.one_done();
                Ok::<_, ApiError>(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// Returns once every namespace has its `default` ServiceAccount.
async fn default_service_accounts(client: Client, names: Vec<String>) -> Result<(), ApiError> {
    let api: Api<ServiceAccount> = Api::all(client);
    let params = ListParams::default().fields("metadata.name=default");
    let deadline = Instant::now() + SERVICE_ACCOUNTS_TIMEOUT;
    loop {
        let listed = api.list_metadata(&params).await?;
        let missing = names
            .iter()
            .filter(|name| {
                !listed
                    .items
                    .iter()
                    .any(|a| a.metadata.namespace.as_ref() == Some(*name))
            })
            .count();
        if missing == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ApiError::Timeout {
                what: format!("the default ServiceAccount of {missing} namespaces"),
                timeout: SERVICE_ACCOUNTS_TIMEOUT,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Calls again, backing off, while the server is overloaded or the
/// connection failed.
async fn retrying<T, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, kube::Error>
where
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if attempt < ATTEMPTS && transient(&err) => {
                eprintln!("  retrying in {delay:?}: {err}");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            done => return done,
        }
    }
}

fn transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Prints how far a batch has come, every tenth of it.
struct Progress {
    what: &'static str,
    total: usize,
    done: AtomicUsize,
    started: Instant,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Self {
        Self {
            what,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    fn one_done(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let step = (self.total / 10).max(1);
        if done.is_multiple_of(step) || done == self.total {
            eprintln!(
                "  {} {done}/{} ({:.1} s)",
                self.what,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
