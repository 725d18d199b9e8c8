//! Starting the kube-proxy of every lab node where none runs (kubernetes
//! datastore): its configuration written, the node's route to the Service
//! network in place, the pinned kube-proxy started detached in the node's
//! netns and recorded in the lab's state, so `down` stops it.

use std::time::Duration;

use anyhow::Context;

use super::binaries::k8s_binary;
use super::credentials::kube_proxy_kubeconfig;
use super::kube_proxy::{
    KUBE_PROXY, ProxySpec, config_path, log_path, proxy_args, render_config, service_route,
};
use crate::lab::Lab;
use crate::netns;
use crate::process::{DetachedSpec, spawn_detached};
use crate::state::LabState;

/// Starts each node's kube-proxy that is not running.
pub fn start_missing_kube_proxies(lab: &Lab, state: &mut LabState) -> anyhow::Result<()> {
    let program = k8s_binary(KUBE_PROXY)?;
    let kubeconfig = kube_proxy_kubeconfig(&lab.paths);
    for host in state.topology.nodes.clone() {
        match state.kube_proxies.get(&host.name) {
            Some(p) if p.is_running() => continue,
            // A dead one may still hold its ports while it exits.
            Some(p) => p
                .stop(Duration::ZERO)
                .with_context(|| format!("reaping the old kube-proxy on {}", host.name))?,
            None => {}
        }
        let underlay = host
            .attachments
            .first()
            .with_context(|| format!("node {} has no underlay interface", host.name))?;
        let cluster_cidrs = state.cluster_cidrs();
        let node_ip = state
            .topology
            .primary_ip(&host)
            .with_context(|| format!("node {} has no underlay address", host.name))?;
        let text = render_config(&ProxySpec {
            node: &host.name,
            node_ip,
            cluster_cidrs: &cluster_cidrs,
            kubeconfig: &kubeconfig,
        })?;
        let config = config_path(&lab.paths, &host.name);
        if let Some(dir) = config.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        netns::run_batch(&service_route(
            &host.netns,
            &underlay.ifname,
            state.cluster_cidr6.is_some(),
        ))?;
        let record = spawn_detached(&DetachedSpec {
            program: program.clone(),
            args: proxy_args(&config),
            netns: netns::path(&host.netns),
            log: log_path(&lab.paths, &host.name),
            env: Vec::new(),
            await_ready_line: None,
        })
        .with_context(|| format!("starting kube-proxy on {}", host.name))?;
        state.kube_proxies.insert(host.name.clone(), record);
        lab.save(state)?;
    }
    Ok(())
}
