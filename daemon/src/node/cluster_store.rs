//! The datastore a cluster node works with, whichever it is: where its
//! snapshots come from and where its claim, the release of deleted Nodes'
//! claims, its publication and its network condition go. `dir` writes the
//! lab's directory, `kubernetes` the API server; the decisions behind the
//! writes are shared.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Context;
use ipnet::IpNet;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_datastore::kubernetes::KubeWatch;
use weft_datastore::{ClusterSnapshot, DirStore, Revisions};

use super::bootstrap;
use super::kube_writes;
use super::node_object::NodePublication;
use crate::config::Datastore;

#[derive(Clone)]
pub enum ClusterStore {
    Dir(Arc<DirStore>),
    Kubernetes(Client),
}

/// A running watch of the datastore.
pub struct DatastoreWatch {
    pub snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
    /// The highest revisions the latest snapshot stands for, where changes
    /// Weft does not keep advance them without a snapshot (`kubernetes`).
    pub revisions: Option<watch::Receiver<Revisions>>,
    /// The watch's last failure, until it takes an update again
    /// (`kubernetes`; a directory's watch does not fail that way).
    pub failure: Option<watch::Receiver<Option<String>>>,
    pub task: JoinHandle<()>,
}

impl ClusterStore {
    pub async fn open(datastore: &Datastore) -> anyhow::Result<Self> {
        match datastore {
            Datastore::Dir(dir) => {
                let store = DirStore::open(dir)
                    .with_context(|| format!("opening the datastore {}", dir.display()))?;
                Ok(Self::Dir(Arc::new(store)))
            }
            Datastore::Kubernetes { kubeconfig } => {
                let config = match kubeconfig {
                    Some(path) => {
                        let file = Kubeconfig::read_from(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                            .await
                            .with_context(|| format!("using {}", path.display()))?
                    }
                    None => kube::Config::infer()
                        .await
                        .context("finding the API server (in-cluster or $KUBECONFIG)")?,
                };
                let client = Client::try_from(config).context("making a Kubernetes client")?;
                Ok(Self::Kubernetes(client))
            }
        }
    }

    /// Starts watching; returns once the first snapshot is there.
    pub async fn watch(&self) -> anyhow::Result<DatastoreWatch> {
        match self {
            Self::Dir(store) => {
                let (snapshots, task) = DirStore::clone(store)
                    .watch()
                    .context("watching the datastore")?;
                Ok(DatastoreWatch {
                    snapshots,
                    revisions: None,
                    failure: None,
                    task,
                })
            }
            Self::Kubernetes(client) => {
                let watch = KubeWatch::start(client.clone())
                    .await
                    .context("watching the API server")?;
                Ok(DatastoreWatch {
                    snapshots: watch.snapshots,
                    revisions: Some(watch.revisions),
                    failure: Some(watch.failure),
                    task: watch.task,
                })
            }
        }
    }

    /// `kubernetes` or `directory`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Dir(_) => "directory",
            Self::Kubernetes(_) => "kubernetes",
        }
    }

    /// Whether the datastore answers now: the API server's /version, or
    /// the directory's metadata.
    pub async fn probe(&self) -> anyhow::Result<()> {
        match self {
            Self::Dir(store) => {
                let root = store.root().to_path_buf();
                tokio::fs::metadata(&root)
                    .await
                    .with_context(|| format!("reading {}", root.display()))?;
                Ok(())
            }
            Self::Kubernetes(client) => {
                client
                    .apiserver_version()
                    .await
                    .context("asking the API server for its version")?;
                Ok(())
            }
        }
    }

    /// Claims one subnet per cluster CIDR for `node` (stable across calls).
    pub async fn claim_pod_cidrs(
        &self,
        node: &str,
        cluster_cidrs: &[IpNet],
        mask_v4: u8,
        mask_v6: u8,
    ) -> anyhow::Result<Vec<IpNet>> {
        match self {
            Self::Dir(store) => {
                let (store, node, cidrs) = (store.clone(), node.to_owned(), cluster_cidrs.to_vec());
                let claimed = tokio::task::spawn_blocking(move || {
                    bootstrap::claim_pod_cidrs(&store, &node, &cidrs, mask_v4, mask_v6)
                })
                .await??;
                Ok(claimed)
            }
            Self::Kubernetes(client) => {
                Ok(
                    kube_writes::claim_pod_cidrs(client, node, cluster_cidrs, mask_v4, mask_v6)
                        .await?,
                )
            }
        }
    }

    /// Releases the claims of the nodes not among `nodes` (the Nodes as
    /// watched) whose Node the datastore confirms is gone; returns them.
    pub async fn release_claims(
        &self,
        nodes: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeSet<String>> {
        match self {
            Self::Dir(store) => {
                let (store, nodes) = (store.clone(), nodes.clone());
                let released =
                    tokio::task::spawn_blocking(move || bootstrap::release_claims(&store, &nodes))
                        .await??;
                Ok(released)
            }
            Self::Kubernetes(client) => Ok(kube_writes::release_claims(client, nodes).await?),
        }
    }

    /// Puts `publication` on `node`'s Node object unless `snapshot` shows
    /// it there already; returns whether it wrote.
    pub async fn publish_node(
        &self,
        node: &str,
        snapshot: &ClusterSnapshot,
        publication: &NodePublication,
    ) -> anyhow::Result<bool> {
        let current = snapshot.nodes.get(node);
        if current.is_some_and(|n| super::node_object::publish_on(n, publication).is_none()) {
            return Ok(false);
        }
        match self {
            Self::Dir(store) => {
                let (store, node, publication) =
                    (store.clone(), node.to_owned(), publication.clone());
                tokio::task::spawn_blocking(move || {
                    bootstrap::publish_node(&store, &node, &publication)
                })
                .await??;
                Ok(true)
            }
            Self::Kubernetes(client) => {
                Ok(kube_writes::publish_node(client, node, current, publication).await?)
            }
        }
    }

    /// Tells the cluster this node's network works (the Node's
    /// NetworkUnavailable condition; the dir datastore has none), unless
    /// `snapshot` shows it already said so: a restart keeps the condition's
    /// transition time.
    pub async fn mark_network_available(
        &self,
        node: &str,
        snapshot: &ClusterSnapshot,
    ) -> anyhow::Result<()> {
        match self {
            Self::Dir(_) => Ok(()),
            Self::Kubernetes(_) if network_marked_available(snapshot, node) => Ok(()),
            Self::Kubernetes(client) => {
                Ok(kube_writes::mark_network_available(client, node).await?)
            }
        }
    }
}

/// Does `node` carry NetworkUnavailable=False in `snapshot`?
fn network_marked_available(snapshot: &ClusterSnapshot, node: &str) -> bool {
    let conditions = snapshot
        .nodes
        .get(node)
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "NetworkUnavailable" && c.status == "False")
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_datastore::parse_objects;

    #[test]
    fn a_node_already_marked_available_is_left_alone() {
        let mut snapshot = ClusterSnapshot::default();
        for object in parse_objects(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'False'}]}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'True'}]}\n",
        )
        .unwrap()
        {
            snapshot.insert(object);
        }
        assert!(network_marked_available(&snapshot, "n1"));
        assert!(!network_marked_available(&snapshot, "n2"));
        assert!(!network_marked_available(&snapshot, "n3"));
    }
}
