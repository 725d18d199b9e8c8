//! One run: a kubernetes lab, then the cluster written to its API server
//! in steps (fake Nodes; namespaces and pods; policies), each measured
//! until every weftd has it in effect; then the settled state, and a weftd
//! restarted into the full cluster (its first list and compile).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weft_datastore::k8s_openapi::jiff::Timestamp;
use weft_lab::process::ProcessRecord;

use crate::api::AdminApi;
use crate::cluster::{self, LabFacts, Shape};
use crate::lab::K8sLab;
use crate::report::{PhaseFigures, Report};
use crate::rss::{self, Memory};
use crate::wait;
use weft_tests::thousands;

#[derive(Debug, Clone)]
pub struct Settings {
    pub shape: Shape,
    pub lab_nodes: usize,
    /// How long to leave weftd alone before the settled figure.
    pub settle: Duration,
    /// Whether to restart the weftds into the full cluster at the end.
    pub restart: bool,
    /// How long a step may take to be in effect everywhere.
    pub timeout: Duration,
}

pub fn run(settings: &Settings) -> anyhow::Result<Report> {
    let shape = settings.shape;
    eprintln!("starting a {}-node kubernetes lab", settings.lab_nodes);
    let lab = K8sLab::up(weft_tests::binary("weft-lab"), settings.lab_nodes)?;
    let state = lab.state()?;
    let api = AdminApi::new(&lab.lab, &state)?;
    let lab_nodes = state.topology.node_names();
    let facts = LabFacts {
        cluster_cidr: state.cluster_cidr,
        lab_nodes: lab_nodes.clone(),
        taken_cidrs: api.node_cidrs(lab_nodes.clone())?,
        underlay_subnets: state.topology.subnets.iter().map(|s| s.cidr).collect(),
    };
    let plan = cluster::plan(&shape, &facts, Timestamp::now())?;
    let local_pods = plan.local_pods.clone();
    let mut steps = Steps {
        lab: &lab,
        api: &api,
        weftds: state.weftds.clone(),
        timeout: settings.timeout,
        phases: Vec::new(),
        pods_not_running: 0,
    };

    steps.measure("empty lab", None)?;
    let nodes = plan.nodes;
    steps.measure(
        &format!("+ {} fake Nodes", plan.fake_nodes.len()),
        Some(Box::new(move |api| api.create_nodes(nodes))),
    )?;
    let (namespaces, pods, statuses) = (plan.namespaces, plan.pods, plan.statuses);
    let local_nodes: Vec<String> = local_pods.keys().cloned().collect();
    steps.measure(
        &format!(
            "+ {} namespaces, {} pods",
            shape.namespaces,
            thousands(pods.len())
        ),
        Some(Box::new(move |api| {
            api.create_namespaces(namespaces)?;
            api.create_pods(pods, statuses)?;
            eprintln!("  waiting for the lab's kubelets to run their pods");
            wait::local_pods_run(api, &local_nodes, settings.timeout)
        })),
    )?;
    let policies = plan.policies;
    steps.measure(
        &format!("+ {} NetworkPolicies", thousands(policies.len())),
        Some(Box::new(move |api| api.create_policies(policies))),
    )?;
    std::thread::sleep(settings.settle);
    steps.measure(
        &format!("settled ({} s later)", settings.settle.as_secs()),
        None,
    )?;
    if settings.restart {
        eprintln!("restarting every weftd into the full cluster");
        let started = Instant::now();
        lab.restart_weftds(&lab_nodes)?;
        steps.weftds = lab.state()?.weftds;
        // The new weftds' peak is their whole life: no reset.
        steps.finish("weftd restarted (first list and compile)", None, started)?;
        std::thread::sleep(settings.settle);
        steps.measure(
            &format!("restarted, settled ({} s later)", settings.settle.as_secs()),
            None,
        )?;
    }
    let mut routes = BTreeMap::new();
    for node in &lab_nodes {
        let count = lab.node_lines(node, &["ip", "-4", "route", "show", "proto", "87"])?;
        routes.insert(node.clone(), count);
    }
    Ok(Report {
        shape,
        lab_nodes,
        local_pods,
        pods_not_running: steps.pods_not_running,
        phases: steps.phases,
        routes,
    })
}

type Write<'a> = Box<dyn FnOnce(&AdminApi) -> anyhow::Result<()> + 'a>;

/// The measured steps of a run.
struct Steps<'a> {
    lab: &'a K8sLab,
    api: &'a AdminApi,
    weftds: BTreeMap<String, ProcessRecord>,
    timeout: Duration,
    phases: Vec<PhaseFigures>,
    /// Pods that should run but do not, as of the last step.
    pods_not_running: usize,
}

impl Steps<'_> {
    /// Resets each weftd's peak, runs `write`, and measures once every
    /// weftd has put all the cluster holds in effect.
    fn measure(&mut self, label: &str, write: Option<Write<'_>>) -> anyhow::Result<()> {
        for (node, weftd) in &self.weftds {
            if !weftd.is_running() {
                bail!(
                    "weftd on {node} exited; see {}",
                    self.lab.lab.paths.node_log(node).display()
                );
            }
            rss::reset_peak(weftd.pid)?;
        }
        self.finish(label, write, Instant::now())
    }

    fn finish(
        &mut self,
        label: &str,
        write: Option<Write<'_>>,
        started: Instant,
    ) -> anyhow::Result<()> {
        eprintln!("{label}");
        let written = match write {
            Some(write) => {
                write(self.api).with_context(|| format!("step {label}"))?;
                Some(started.elapsed())
            }
            None => None,
        };
        let (required, pods) = self.api.requirement()?;
        self.pods_not_running = pods.waiting.len() + pods.failed.len();
        wait::applied(self.lab, &self.weftds, &required, self.timeout)
            .with_context(|| format!("step {label}"))?;
        let in_effect = started.elapsed();
        let memory = self
            .weftds
            .iter()
            .map(|(node, weftd)| Ok((node.clone(), rss::read(weftd.pid)?)))
            .collect::<anyhow::Result<BTreeMap<String, Memory>>>()?;
        for (node, m) in &memory {
            eprintln!(
                "  in effect after {:.1} s; weftd on {node}: RSS {} MiB, peak {} MiB",
                in_effect.as_secs_f64(),
                rss::mib(m.rss),
                rss::mib(m.peak)
            );
        }
        self.phases.push(PhaseFigures {
            label: label.to_owned(),
            written,
            in_effect,
            memory,
        });
        Ok(())
    }
}
