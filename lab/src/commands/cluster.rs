//! `up`'s part on the kubernetes datastore: start what is not running of
//! the control plane and wait for the API server, register the nodes as
//! their kubelets would and wait for the controller-manager to give them
//! pod CIDRs (weftd would claim some itself without), install Weft from
//! its manifest (RBAC, ServiceAccount, ConfigMap) and give weftd a token
//! of its ServiceAccount, and once the weftds are ready, mark the Nodes
//! Ready.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::jiff::Timestamp;

use crate::control_plane::binaries::kubernetes_version;
use crate::control_plane::client::with_client;
use crate::control_plane::component::Component;
use crate::control_plane::credentials::{CA_CERT, SECRET, write};
use crate::control_plane::endpoint::api_server_url;
use crate::control_plane::flags::ControlPlaneSpec;
use crate::control_plane::install::{
    CLUSTER_CIDR_KEY, HOST_ROUTING_KEY, MANIFEST, MODE_KEY, TOKEN_LIFETIME, install, lab_objects,
    service_account_token, token_kubeconfig,
};
use crate::control_plane::node_object::{lab_node_info, registered_node, with_internal_ip};
use crate::control_plane::registration::{await_pod_cidrs, machine_capacity, mark_ready, register};
use crate::control_plane::start::{start, wait_api_ready};
use crate::lab::Lab;
use crate::netns;
use crate::process::ProcessRecord;
use crate::state::LabState;
use crate::topology::{Host, IpFamily};

/// How long the controller-manager may take to give every node its CIDRs.
const POD_CIDRS_TIMEOUT: Duration = Duration::from_secs(60);

/// The control-plane host of a kubernetes lab.
pub fn control_plane_host(state: &LabState) -> anyhow::Result<&Host> {
    state.topology.control_plane.as_ref().with_context(|| {
        format!(
            "lab {name} has no control plane (it runs the {} datastore); \
             `weft-lab down --name {name}`, then `weft-lab up --name {name} --datastore kubernetes`",
            state.datastore,
            name = state.name
        )
    })
}

/// Starts every component that is not running, in order, the API
/// server's clients once it is ready.
pub fn start_control_plane(lab: &Lab, state: &mut LabState) -> anyhow::Result<()> {
    let host = control_plane_host(state)?.clone();
    let ip = state
        .topology
        .primary_ip(&host)
        .context("the control-plane host has no underlay address")?;
    let spec = ControlPlaneSpec {
        advertise_ip: ip,
        cluster_cidrs: state.cluster_cidrs(),
    };
    let netns_path = netns::path(&host.netns);
    let mut api_ready = false;
    for component in Component::START_ORDER {
        if component.needs_ready_api() && !api_ready {
            wait_api_ready(&lab.paths, &netns_path, running(state))?;
            api_ready = true;
        }
        match state.control_plane.get(&component) {
            Some(p) if p.is_running() => continue,
            // A dead one still holds its ports while it exits.
            Some(p) => p
                .stop(Duration::ZERO)
                .with_context(|| format!("reaping the old {component}"))?,
            None => {}
        }
        let record = start(component, &spec, &lab.paths, &netns_path)?;
        state.control_plane.insert(component, record);
        lab.save(state)?;
    }
    Ok(())
}

/// The control plane's processes, to watch while waiting on them.
fn running(state: &LabState) -> Vec<(Component, ProcessRecord)> {
    state.control_plane.iter().map(|(c, p)| (*c, *p)).collect()
}

/// Creates each node's Node (with that node's credentials, from inside
/// the node) unless it exists, then waits until all have pod CIDRs.
pub fn register_nodes(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    let capacity = machine_capacity().context("reading this machine's CPUs and memory")?;
    let info = lab_node_info(
        kubernetes_version().unwrap_or_default(),
        nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default()
            .as_str(),
    );
    for host in &state.topology.nodes {
        let ip = state
            .topology
            .primary_ip(host)
            .with_context(|| format!("node {} has no underlay address", host.name))?;
        let mut node = registered_node(&host.name, ip, capacity, info.clone(), Timestamp::now());
        if state.topology.family == IpFamily::Dual
            && let Some(ip6) = host.underlay_ip6()
        {
            node = with_internal_ip(node, ip6.into());
        }
        with_client(
            &netns::path(&host.netns),
            &lab.paths.node_kubeconfig(&host.name),
            move |client| register(client, node),
        )
        .with_context(|| format!("registering node {}", host.name))?;
    }
    let host = control_plane_host(state)?;
    let names = state.topology.node_names();
    with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        move |client| await_pod_cidrs(client, names, POD_CIDRS_TIMEOUT),
    )
    .with_context(|| {
        format!(
            "waiting for the nodes' pod CIDRs (see {})",
            lab.paths
                .component_log(Component::KubeControllerManager.name())
                .display()
        )
    })
}

/// Sets each Node's Ready condition, as its kubelet would once the node's
/// network plugin is ready.
pub fn mark_nodes_ready(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    for host in &state.topology.nodes {
        let name = host.name.clone();
        with_client(
            &netns::path(&host.netns),
            &lab.paths.node_kubeconfig(&host.name),
            move |client| mark_ready(client, name),
        )
        .with_context(|| format!("marking node {} Ready", host.name))?;
    }
    Ok(())
}

/// Server-side applies manifests/daemonset.yaml but its DaemonSet, the
/// ConfigMap's cluster CIDR, mode and host routing set to the lab's, and returns the
/// ConfigMap's data as the API server holds it: weftd's environment.
pub fn install_weft(lab: &Lab, state: &LabState) -> anyhow::Result<Vec<(String, String)>> {
    let objects = lab_objects(
        MANIFEST,
        &[
            (
                CLUSTER_CIDR_KEY,
                state
                    .cluster_cidrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (MODE_KEY, state.topology.mode.to_string()),
            (HOST_ROUTING_KEY, state.host_routing.to_string()),
        ],
    )
    .context("reading manifests/daemonset.yaml (compiled in)")?;
    let host = control_plane_host(state)?;
    let data = with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        move |client| install(client, objects),
    )
    .context("applying Weft's RBAC, ServiceAccount and ConfigMap (manifests/daemonset.yaml)")?;
    Ok(data.into_iter().collect())
}

/// Asks the TokenRequest API for a token of weftd's ServiceAccount and
/// writes the kubeconfig every weftd of the lab uses (root only).
pub fn write_weft_kubeconfig(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    let host = control_plane_host(state)?;
    let ip = state
        .topology
        .primary_ip(host)
        .context("the control-plane host has no underlay address")?;
    let token = with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        move |client| service_account_token(client, TOKEN_LIFETIME),
    )
    .context("requesting a token of ServiceAccount kube-system/weft")?;
    let config = token_kubeconfig(
        lab.name.as_str(),
        &api_server_url(ip),
        &lab.paths.pki_file(CA_CERT),
        &token,
    );
    let text = serde_saphyr::to_string(&config).context("rendering weftd's kubeconfig")?;
    write(&lab.paths.weft_kubeconfig(), &text, SECRET)?;
    Ok(())
}
