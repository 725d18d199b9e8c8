//! What weftd writes to the API server (the `kubernetes` datastore): its
//! subnet claim in the shared ConfigMap (compare-and-swap on its
//! resourceVersion: a 409 re-reads and decides again), the release there
//! of the claims of deleted Nodes (the same CAS), its Node's
//! annotations (a merge patch of only Weft's keys), and the Node's
//! NetworkUnavailable condition, set to False once the node network works,
//! as flannel and Calico do. The decisions are the dir datastore's.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::bootstrap::{
    CLAIMS_NAME, CLAIMS_NAMESPACE, MAX_ATTEMPTS, claims_of, plan_claim, record_claim,
};
use super::claim_release::{stale_claimants, without_claims};
use super::node_object::{NodePublication, publish_on};
use super::subnet_claim::ClaimError;

/// The field manager Weft's writes are recorded under.
const FIELD_MANAGER: &str = "weftd";

#[derive(Debug, thiserror::Error)]
pub enum KubeWriteError {
    #[error(transparent)]
    Api(#[from] kube::Error),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("gave up after {MAX_ATTEMPTS} conflicting writes of {CLAIMS_NAMESPACE}/{CLAIMS_NAME}")]
    TooManyConflicts,
}

/// One subnet per cluster CIDR for `node`, claimed in the shared record.
pub async fn claim_pod_cidrs(
    client: &Client,
    node: &str,
    cluster_cidrs: &[IpNet],
    mask_v4: u8,
    mask_v6: u8,
) -> Result<Vec<IpNet>, KubeWriteError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), CLAIMS_NAMESPACE);
    for _ in 0..MAX_ATTEMPTS {
        let record = api.get_opt(CLAIMS_NAME).await?;
        let plan = plan_claim(
            node,
            cluster_cidrs,
            mask_v4,
            mask_v6,
            &claims_of(record.as_ref()),
        )?;
        if !plan.changed {
            return Ok(plan.subnets);
        }
        let exists = record.is_some();
        // Keeps the read resourceVersion: the write fails if anyone wrote since.
        let updated = record_claim(record, node, &plan.subnets);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        let written = if exists {
            api.replace(CLAIMS_NAME, &params, &updated).await
        } else {
            api.create(&params, &updated).await
        };
        match written {
            Ok(_) => return Ok(plan.subnets),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KubeWriteError::TooManyConflicts)
}

/// Removes from the shared record the claims of the nodes not among
/// `nodes` (the Nodes as watched) that the API server confirms have no
/// Node, as the watch may lag one created since; returns those released.
pub async fn release_claims(
    client: &Client,
    nodes: &BTreeSet<String>,
) -> Result<BTreeSet<String>, KubeWriteError> {
    let records: Api<ConfigMap> = Api::namespaced(client.clone(), CLAIMS_NAMESPACE);
    let node_api: Api<Node> = Api::all(client.clone());
    for _ in 0..MAX_ATTEMPTS {
        let Some(record) = records.get_opt(CLAIMS_NAME).await? else {
            return Ok(BTreeSet::new());
        };
        let mut gone = BTreeSet::new();
        for claimant in stale_claimants(Some(&record), nodes) {
            if node_api.get_opt(&claimant).await?.is_none() {
                gone.insert(claimant);
            }
        }
        // Keeps the read resourceVersion: the write fails if anyone wrote since.
        let Some(updated) = without_claims(&record, &gone) else {
            return Ok(BTreeSet::new());
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PostParams::default()
        };
        match records.replace(CLAIMS_NAME, &params, &updated).await {
            Ok(_) => return Ok(gone),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KubeWriteError::TooManyConflicts)
}

/// Puts the publication's annotations on `node` unless `current` (the
/// Node as last watched) already carries them.
pub async fn publish_node(
    client: &Client,
    node: &str,
    current: Option<&Node>,
    publication: &NodePublication,
) -> Result<bool, KubeWriteError> {
    let base = current.cloned().unwrap_or_default();
    let Some(updated) = publish_on(&base, publication) else {
        return Ok(false);
    };
    let annotations: BTreeMap<String, String> = updated
        .metadata
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| key.starts_with("weft.dev/"))
        .collect();
    let api: Api<Node> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": annotations}});
    api.patch(node, &patch_params(), &Patch::Merge(&patch))
        .await?;
    Ok(true)
}

/// Sets the Node's NetworkUnavailable condition to False.
pub async fn mark_network_available(client: &Client, node: &str) -> Result<(), KubeWriteError> {
    let api: Api<Node> = Api::all(client.clone());
    let now = k8s_openapi::jiff::Timestamp::now();
    let patch = json!({"status": {"conditions": [{
        "type": "NetworkUnavailable",
        "status": "False",
        "reason": "WeftIsUp",
        "message": "weftd has programmed this node's network",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }]}});
    api.patch_status(node, &patch_params(), &Patch::Strategic(&patch))
        .await?;
    Ok(())
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}
