//! `status [-o json]`: the lab's nodes, namespaces, pods and policies.

use crate::cli::Output;
use crate::lab::Lab;
use crate::status_view::lab_status;
use crate::weftd::health;

pub fn status(lab: &Lab, output: Output) -> anyhow::Result<()> {
    let state = lab.state()?;
    let stored = lab.store()?.snapshot()?;
    let report = lab_status(&state.topology, &stored, |node| {
        health(&lab.paths, node).is_ready()
    });
    match output {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Text => print!("{}", report.render_text()),
    }
    Ok(())
}
