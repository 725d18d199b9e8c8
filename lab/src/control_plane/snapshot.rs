//! The cluster as the lab's API server holds it, in the snapshot shape the
//! `dir` datastore gives, so `status` reads either the same way.

use kube::api::ListParams;
use kube::{Api, Client};
use weft_datastore::{ClusterSnapshot, Namespace, NetworkPolicy, Node, Object, Pod};

use super::client::ApiError;

/// Lists Nodes, Namespaces, Pods and NetworkPolicies.
pub async fn cluster_snapshot(client: Client) -> Result<ClusterSnapshot<Pod>, ApiError> {
    let all = ListParams::default();
    let mut snapshot = ClusterSnapshot::<Pod>::default();
    for node in Api::<Node>::all(client.clone()).list(&all).await? {
        snapshot.insert(Object::Node(node));
    }
    for namespace in Api::<Namespace>::all(client.clone()).list(&all).await? {
        snapshot.insert(Object::Namespace(namespace));
    }
    for pod in Api::<Pod>::all(client.clone()).list(&all).await? {
        snapshot.insert(Object::Pod(pod));
    }
    for policy in Api::<NetworkPolicy>::all(client).list(&all).await? {
        snapshot.insert(Object::NetworkPolicy(policy));
    }
    Ok(snapshot)
}
