//! `kubectl -- ARGS...`: the kubectl `make deps` built, as the lab's
//! admin, run in the control-plane netns (the root netns has no route into
//! the lab); its exit code is ours.

use std::process::ExitCode;

use crate::control_plane::binaries::k8s_binary;
use crate::lab::Lab;

pub fn kubectl(lab: &Lab, args: &[String]) -> anyhow::Result<ExitCode> {
    let state = lab.state()?;
    let host = super::cluster::control_plane_host(&state)?;
    let kubectl = k8s_binary("kubectl")?;
    let mut full = vec![
        "--kubeconfig".to_owned(),
        lab.paths.admin_kubeconfig().display().to_string(),
    ];
    full.extend_from_slice(args);
    super::exec::run_in_netns(&host.netns, &kubectl, &full)
}
