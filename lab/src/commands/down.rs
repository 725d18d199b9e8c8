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
    if let Some(state) = LabState::load(&lab.paths.state_file())? {
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
