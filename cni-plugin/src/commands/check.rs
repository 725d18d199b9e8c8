//! CHECK: the attachment still looks the way ADD left it: the reservation
//! exists and matches prevResult, the host veth is up, and the pod
//! interface is up with the reserved addresses and the reported MAC.

use std::net::IpAddr;

use super::{ipam_error, kernel_error, netns_error, open_store, required_netns};
use crate::env::AttachmentEnv;
use crate::error::{CniError, ErrorCode};
use crate::netconf::NetConf;
use crate::netlink::{host, netns, pod, run_netlink};
use crate::verify::{host_problems, pod_problems, prev_result_problems};

pub fn check(conf: &NetConf, env: &AttachmentEnv) -> Result<(), CniError> {
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| CniError::new(ErrorCode::InvalidNetworkConfig, "CHECK needs prevResult"))?;
    let netns_path = required_netns(env.netns.as_ref())?;
    let netns = netns::open(netns_path).map_err(netns_error)?;
    let failed = |problems: Vec<String>| {
        CniError::new(
            ErrorCode::CheckFailed,
            "attachment differs from what ADD set up",
        )
        .with_details(problems.join("; "))
    };
    let attachment = open_store(&conf.ipam_dir)?
        .get(&env.key)
        .map_err(ipam_error)?
        .ok_or_else(|| {
            failed(vec![format!(
                "no IP reservation for container {} interface {}",
                env.key.container_id, env.key.ifname
            )])
        })?;
    let reserved: &[IpAddr] = &attachment.ips;

    let netns_text = netns_path.display().to_string();
    let (expected, mut problems) =
        prev_result_problems(prev, &env.key.ifname, &netns_text, reserved);

    let host_ifname = attachment.host_ifname.clone();
    let host_up = run_netlink(|handle| async move {
        Ok(host::find_link(&handle, &host_ifname)
            .await?
            .map(|link| host::is_up(&link)))
    })
    .map_err(kernel_error)?;
    problems.extend(host_problems(&attachment.host_ifname, host_up));

    let ifname = env.key.ifname.clone();
    let observed = netns::run_in(netns, move || {
        run_netlink(|handle| async move { pod::inspect(&handle, &ifname).await })
    })
    .map_err(kernel_error)?;
    problems.extend(pod_problems(
        &env.key.ifname,
        observed.as_ref(),
        reserved,
        &expected,
    ));

    if problems.is_empty() {
        Ok(())
    } else {
        Err(failed(problems))
    }
}
