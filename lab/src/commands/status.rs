//! `status [-o json]`: the lab's nodes, namespaces, pods and policies, from
//! its datastore: the directory, or the API server (read as admin from the
//! control-plane netns).

use anyhow::Context;

use crate::cli::Output;
use crate::control_plane::client::with_client;
use crate::control_plane::snapshot::cluster_snapshot;
use crate::lab::Lab;
use crate::netns;
use crate::state::Datastore;
use crate::status_view::lab_status;
use crate::weftd::health;

pub fn status(lab: &Lab, output: Output) -> anyhow::Result<()> {
    let state = lab.state()?;
    let stored = match state.datastore {
        Datastore::Dir => lab.store()?.snapshot()?,
        Datastore::Kubernetes => {
            let host = super::cluster::control_plane_host(&state)?;
            with_client(
                &netns::path(&host.netns),
                &lab.paths.admin_kubeconfig(),
                cluster_snapshot,
            )
            .context("reading the cluster from the lab's API server")?
        }
    };
    let report = lab_status(&state.topology, &stored, |node| {
        health(&lab.paths, node).is_ready()
    });
    match output {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Text => print!("{}", report.render_text()),
    }
    Ok(())
}
