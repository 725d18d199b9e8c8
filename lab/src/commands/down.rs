//! `down`: stop the processes the lab started (by their recorded PID and
//! start time), delete its netns, remove its bpffs pins and state directory. Safe to run
//! twice, and on a lab that an `up` left half-made.

use anyhow::Context;

use crate::lab::Lab;
use crate::netns;
use crate::state::LabState;
use crate::wiring::STOP_GRACE;

pub fn down(lab: &Lab) -> anyhow::Result<()> {
    let root = lab.paths.root();
    if !root.exists() {
        println!("lab {} is not up", lab.name);
        return Ok(());
    }
    let _lock = lab.lock()?;
    if let Some(mut state) = LabState::load(&lab.paths.state_file())? {
        // Kubelets first, so that no pod is wired after its ledger is read.
        for kubelet in state.kubelets.values() {
            kubelet
                .stop(STOP_GRACE)
                .with_context(|| format!("stopping kubelet {}", kubelet.pid))?;
        }
        // The kubelets' pods: a ledger that cannot be read hides nothing
        // that the netns list would not show, so it is not fatal here.
        for node in state.topology.node_names() {
            match crate::kubelet::ledger::read(&lab.paths.node_kubelet_ledger(&node)) {
                Ok(wired) => state.pods.extend(wired),
                Err(err) => eprintln!("warning: {err:#}"),
            }
        }
        for process in state.all_processes() {
            process
                .stop(STOP_GRACE)
                .with_context(|| format!("stopping process {}", process.pid))?;
        }
        let mut all_netns = state.all_netns();
        // Pods first, then the nodes, the fabric last.
        all_netns.reverse();
        netns::delete_all(&all_netns)?;
    }
    // The pins keep the nodes' programs and maps alive; weftds are gone now.
    let pins = lab.paths.bpf_dir();
    match std::fs::remove_dir_all(&pins) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", pins.display()));
        }
        _ => {}
    }
    std::fs::remove_dir_all(root).with_context(|| format!("removing {}", root.display()))?;
    println!("lab {} is down", lab.name);
    Ok(())
}
