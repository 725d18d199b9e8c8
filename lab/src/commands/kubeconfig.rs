//! `kubeconfig`: print the path of the lab's admin kubeconfig for the
//! host: its server is the loopback relay `up` starts
//! (`control_plane::host_access`), so any kubectl on the host works.

use crate::lab::Lab;

pub fn kubeconfig(lab: &Lab) -> anyhow::Result<()> {
    let state = lab.state()?;
    super::cluster::control_plane_host(&state)?;
    println!("{}", lab.paths.host_kubeconfig().display());
    Ok(())
}
