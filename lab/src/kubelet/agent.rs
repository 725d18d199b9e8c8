//! The kubelet stand-in's process (`weft-lab kubelet --node NODE`, started
//! by `up` in the node's netns): it watches the Pods bound to its node with
//! the node's own credentials and keeps them wired (see `plan`), re-running
//! its sync on every change, every `RESYNC`, and sooner after a failure.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};

use super::ledger::KubeletLedger;
use super::plan::{api_plan, sandbox_plan};
use super::status::{running_patch, sandbox_error, sandbox_failed_patch};
use crate::control_plane::client::client;
use crate::lab::Lab;
use crate::names::pod_ref;
use crate::wiring::{unwire, wire};

/// A sync with nothing new still runs this often, so hand-made damage heals.
const RESYNC: Duration = Duration::from_secs(10);
/// After a failed step, the next sync comes this soon.
const RETRY: Duration = Duration::from_secs(1);
/// The field manager of the status writes: kubelet's own.
const FIELD_MANAGER: &str = "kubelet";

pub fn run(lab: &Lab, node: &str) -> anyhow::Result<()> {
    let state = lab.state()?;
    let host_ip: IpAddr = state
        .topology
        .node(node)
        .and_then(|host| state.topology.primary_ip(host))
        .with_context(|| {
            format!(
                "lab {} has no node {node} with an underlay address",
                lab.name
            )
        })?;
    let ledger = KubeletLedger::load(&lab.paths.node_kubelet_ledger(node))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting an async runtime")?;
    runtime.block_on(async {
        let client = client(&lab.paths.node_kubeconfig(node)).await?;
        Kubelet {
            lab,
            node,
            host_ip,
            ledger,
            pods: Api::all(client),
        }
        .run()
        .await
    })
}

struct Kubelet<'a> {
    lab: &'a Lab,
    node: &'a str,
    host_ip: IpAddr,
    ledger: KubeletLedger,
    pods: Api<Pod>,
}

impl Kubelet<'_> {
    async fn run(mut self) -> anyhow::Result<()> {
        let config = watcher::Config::default().fields(&format!("spec.nodeName={}", self.node));
        let mut events = watcher::watcher(self.pods.clone(), config)
            .default_backoff()
            .boxed();
        let mut bound: BTreeMap<String, Pod> = BTreeMap::new();
        let mut listing: BTreeMap<String, Pod> = BTreeMap::new();
        let mut synced = false;
        let mut healthy = true;
        loop {
            let pause = if healthy { RESYNC } else { RETRY };
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Init)) => listing.clear(),
                    Some(Ok(Event::InitApply(pod))) => {
                        listing.insert(key(&pod), pod);
                    }
                    Some(Ok(Event::InitDone)) => {
                        bound = std::mem::take(&mut listing);
                        if !synced {
                            synced = true;
                            // The only stdout line: `up` waits for it, then stops reading.
                            println!("{}", crate::process::READY_LINE);
                        }
                    }
                    Some(Ok(Event::Apply(pod))) => {
                        bound.insert(key(&pod), pod);
                    }
                    Some(Ok(Event::Delete(pod))) => {
                        bound.remove(&key(&pod));
                    }
                    // The watcher backs off and resumes by itself.
                    Some(Err(err)) => eprintln!("kubelet: watching pods: {err}"),
                    None => anyhow::bail!("the watch of pods ended"),
                },
                () = tokio::time::sleep(pause), if synced => {}
            }
            if synced {
                healthy = self.sync(&bound).await;
            }
        }
    }

    /// One pass of the plan; false when a step failed.
    async fn sync(&mut self, bound: &BTreeMap<String, Pod>) -> bool {
        let mut healthy = true;
        let plan = sandbox_plan(bound, self.ledger.pods());
        for key in &plan.unwire {
            if let Err(err) = unwire(self.lab, &mut self.ledger, key) {
                eprintln!("kubelet: tearing down {key}: {err:#}");
                healthy = false;
            }
        }
        for key in &plan.wire {
            let Some(pod) = bound.get(key) else { continue };
            match wire(self.lab, &mut self.ledger, pod) {
                Ok(()) => eprintln!("kubelet: wired {key}"),
                Err(err) => {
                    let message = format!("{err:#}");
                    eprintln!("kubelet: {message}");
                    healthy = false;
                    if sandbox_error(pod) != Some(message.as_str()) {
                        let patch = sandbox_failed_patch(&message, &now());
                        healthy &= self.patch_status(key, pod, patch).await;
                    }
                }
            }
        }
        let plan = api_plan(bound, self.ledger.pods());
        for key in &plan.report {
            let (Some(pod), Some(record)) = (bound.get(key), self.ledger.pods().get(key)) else {
                continue;
            };
            let patch = running_patch(pod, &record.ips, self.host_ip, &now());
            healthy &= self.patch_status(key, pod, patch).await;
        }
        for (key, uid) in &plan.finalize {
            healthy &= self.finalize(key, bound.get(key), uid).await;
        }
        healthy
    }

    async fn patch_status(&self, key: &str, pod: &Pod, patch: serde_json::Value) -> bool {
        let api: Api<Pod> = Api::namespaced(
            self.pods.clone().into_client(),
            &pod.namespace().unwrap_or_default(),
        );
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match api
            .patch_status(&pod.name_any(), &params, &Patch::Strategic(patch))
            .await
        {
            Ok(_) => true,
            Err(err) => {
                eprintln!("kubelet: writing the status of {key}: {err}");
                false
            }
        }
    }

    /// Deletes a terminating pod for good (grace 0), this very pod only.
    async fn finalize(&self, key: &str, pod: Option<&Pod>, uid: &str) -> bool {
        let Some(pod) = pod else { return true };
        let api: Api<Pod> = Api::namespaced(
            self.pods.clone().into_client(),
            &pod.namespace().unwrap_or_default(),
        );
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&pod.name_any(), &params).await {
            Ok(_) => {
                eprintln!("kubelet: removed {key}");
                true
            }
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => true,
            Err(err) => {
                eprintln!("kubelet: deleting {key}: {err}");
                false
            }
        }
    }
}

fn key(pod: &Pod) -> String {
    pod_ref(&pod.namespace().unwrap_or_default(), &pod.name_any())
}

fn now() -> String {
    Timestamp::now().to_string()
}
