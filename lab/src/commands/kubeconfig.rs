//! `kubeconfig`: print the path of the lab's admin kubeconfig. Its server
//! is the API server's fabric address, which only the lab's own netns
//! reach (`weft-lab kubectl` runs kubectl in one).

use crate::lab::Lab;

pub fn kubeconfig(lab: &Lab) -> anyhow::Result<()> {
    let state = lab.state()?;
    super::cluster::control_plane_host(&state)?;
    println!("{}", lab.paths.admin_kubeconfig().display());
    Ok(())
}
