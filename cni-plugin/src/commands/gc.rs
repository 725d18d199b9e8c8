//! GC (CNI 1.1): release every reservation whose attachment is not in
//! `cni.dev/valid-attachments` and delete its host veth; also delete host
//! veths DEL retired (see [`super::del`]) that have no reservation (again).
//! Any other `weft*` link without a reservation is left alone: it may be an
//! ADD in flight or belong to another weft network.

use std::collections::HashSet;

use weft_api::ApiError;

use super::{ipam_error, kernel_error, open_store};
use crate::daemon;
use crate::error::{CniError, ErrorCode};
use crate::netconf::NetConf;
use crate::netlink::{host, run_netlink};

pub fn gc(conf: &NetConf) -> Result<(), CniError> {
    let valid: HashSet<_> = conf
        .valid_attachments
        .as_ref()
        .ok_or_else(|| {
            CniError::new(
                ErrorCode::InvalidNetworkConfig,
                "GC needs cni.dev/valid-attachments",
            )
        })?
        .iter()
        .cloned()
        .collect();
    let store = open_store(&conf.ipam_dir)?;
    let released = store.gc(&valid).map_err(ipam_error)?;
    let reserved: HashSet<String> = store
        .list()
        .map_err(ipam_error)?
        .into_iter()
        .map(|attachment| attachment.host_ifname)
        .collect();

    let released_ifnames: Vec<String> = released.iter().map(|a| a.host_ifname.clone()).collect();
    tracing::info!(released = ?released_ifnames, "released the IPs of attachments no longer valid");
    // Try every veth even when one fails, then report all failures.
    let failures = run_netlink(|handle| async move {
        let mut stale = released_ifnames;
        for name in weft_netlink::retired_veths(&handle).await? {
            if !reserved.contains(&name) && !stale.contains(&name) {
                stale.push(name);
            }
        }
        tracing::info!(?stale, "deleting stale host veths");
        let mut failures = Vec::new();
        for name in &stale {
            if let Err(err) = host::delete_link(&handle, name).await {
                failures.push(err.to_string());
            }
        }
        Ok(failures)
    })
    .map_err(kernel_error)?;

    if !conf.standalone {
        for attachment in released {
            let forgotten = daemon::forget_endpoint(&conf.daemon_socket, attachment.key);
            if matches!(forgotten, Err(ApiError::Unreachable { .. })) {
                break; // weftd is down; it reconciles on start.
            }
        }
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(
            ErrorCode::KernelOperationFailed,
            "GC could not delete every stale veth",
        )
        .with_details(failures.join("; ")))
    }
}
