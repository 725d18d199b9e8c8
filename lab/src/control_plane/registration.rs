//! The lab's kubelet part toward the API server, each call made with the
//! node's own credentials (the Node authorizer and NodeRestriction let a
//! node create and update only its own Node): register the Node, then mark
//! it Ready once its weftd is. Also waiting, as admin, for the
//! controller-manager to give every Node its pod CIDRs.

use std::time::Duration;

use futures::future::try_join_all;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use weft_datastore::Node;

use super::client::ApiError;
use super::node_object::{MAX_PODS, NodeCapacity, has_pod_cidrs, meminfo_total_kib, ready_patch};

/// The field manager the lab's writes are recorded under (kubelet's own).
const FIELD_MANAGER: &str = "kubelet";
/// HTTP status of a create that finds the object there already.
const CONFLICT: u16 = 409;

/// This machine's CPUs and memory, shared by every node of the lab.
pub fn machine_capacity() -> std::io::Result<NodeCapacity> {
    let cpus = std::thread::available_parallelism()?.get();
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let memory_kib = meminfo_total_kib(&meminfo).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "/proc/meminfo has no MemTotal",
        )
    })?;
    Ok(NodeCapacity {
        cpus,
        memory_kib,
        pods: MAX_PODS,
    })
}

/// Creates the Node unless it exists (a lab being repaired keeps its Nodes).
pub async fn register(client: Client, node: Node) -> Result<(), ApiError> {
    let api: Api<Node> = Api::all(client);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, &node).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == CONFLICT => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Sets the Node's Ready condition to True.
pub async fn mark_ready(client: Client, name: String) -> Result<(), ApiError> {
    let api: Api<Node> = Api::all(client);
    let current = api.get_opt(&name).await?;
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let patch = ready_patch(current.as_ref(), Timestamp::now());
    api.patch_status(&name, &params, &Patch::Strategic(patch))
        .await?;
    Ok(())
}

/// Returns once each namespace has its `default` ServiceAccount, which
/// the controller-manager makes and pod admission needs.
pub async fn await_default_service_accounts(
    client: Client,
    namespaces: Vec<String>,
    timeout: Duration,
) -> Result<(), ApiError> {
    let waits = namespaces.iter().map(|namespace| {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
        await_condition(api, "default", |account: Option<&ServiceAccount>| {
            account.is_some()
        })
    });
    await_all(
        waits,
        timeout,
        format!(
            "the controller-manager making the default ServiceAccount of {}",
            namespaces.join(", ")
        ),
    )
    .await
}

/// Returns once every named Node has spec.podCIDRs, watching them.
pub async fn await_pod_cidrs(
    client: Client,
    names: Vec<String>,
    timeout: Duration,
) -> Result<(), ApiError> {
    let api: Api<Node> = Api::all(client);
    let waits = names
        .iter()
        .map(|name| await_condition(api.clone(), name, |node: Option<&Node>| has_pod_cidrs(node)));
    await_all(
        waits,
        timeout,
        format!(
            "the controller-manager allocating pod CIDRs to {}",
            names.join(", ")
        ),
    )
    .await
}

/// Waits for every condition at once, failing on the first watch error or
/// when `timeout` passes (naming `what` was awaited).
async fn await_all<T>(
    waits: impl IntoIterator<Item = impl Future<Output = Result<T, kube::runtime::wait::Error>>>,
    timeout: Duration,
    what: String,
) -> Result<(), ApiError> {
    match tokio::time::timeout(timeout, try_join_all(waits)).await {
        Ok(done) => done.map(|_| ()).map_err(ApiError::Wait),
        Err(_) => Err(ApiError::Timeout { what, timeout }),
    }
}
