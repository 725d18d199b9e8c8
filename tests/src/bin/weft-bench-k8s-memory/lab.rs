//! A kubernetes-datastore weft-lab for one benchmark run, driven through
//! its command line (the LAB.md contract), read through its state file,
//! and always taken down when dropped.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use weft_lab::lab::Lab;
use weft_lab::names::LabName;
use weft_lab::process::ProcessRecord;
use weft_lab::state::LabState;

/// How long a weftd may take to exit on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct K8sLab {
    bin: PathBuf,
    pub name: String,
    nodes: usize,
    pub lab: Lab,
}

impl K8sLab {
    /// `weft-lab up --datastore kubernetes` (vxlan) with `nodes` nodes,
    /// under a name unique to this run.
    pub fn up(bin: PathBuf, nodes: usize) -> anyhow::Result<Self> {
        let name = format!("km{}", std::process::id());
        let lab_name: LabName = name.parse().context("the lab's name")?;
        let lab = K8sLab {
            bin,
            name,
            nodes,
            lab: Lab::new(lab_name),
        };
        lab.start()?;
        Ok(lab)
    }

    /// `up` again: a lab that is up is left as it is, a weftd that died
    /// is started again.
    pub fn start(&self) -> anyhow::Result<()> {
        self.run(
            &[
                "up",
                "--nodes",
                &self.nodes.to_string(),
                "--mode",
                "vxlan",
                "--datastore",
                "kubernetes",
            ],
            None,
        )
        .map(drop)
    }

    pub fn state(&self) -> anyhow::Result<LabState> {
        self.lab.state()
    }

    /// The weftd of `node` as the state file records it.
    pub fn weftd(&self, node: &str) -> anyhow::Result<ProcessRecord> {
        self.state()?
            .weftds
            .get(node)
            .copied()
            .with_context(|| format!("the lab records no weftd on {node}"))
    }

    /// Stops the lab's weftds on `nodes` (the processes it recorded, by
    /// PID and start time) and has `up` start them again.
    pub fn restart_weftds(&self, nodes: &[String]) -> anyhow::Result<()> {
        for node in nodes {
            self.weftd(node)?
                .stop(STOP_GRACE)
                .with_context(|| format!("stopping weftd on {node}"))?;
        }
        self.start()
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        weft_tests::run_weft_lab(&self.bin, &self.name, args, stdin)
    }

    /// Lines of a command's output in a node's netns.
    pub fn node_lines(&self, node: &str, command: &[&str]) -> anyhow::Result<usize> {
        let mut args = vec!["exec", "--node", node, "--"];
        args.extend_from_slice(command);
        Ok(self.run(&args, None)?.lines().count())
    }
}

impl Drop for K8sLab {
    fn drop(&mut self) {
        if let Err(e) = self.run(&["down"], None) {
            eprintln!("taking lab {} down: {e:#}", self.name);
        }
    }
}
