//! DEL: idempotent teardown. weftd forgets the endpoint (best effort), the
//! host veth is cut off, the IPs are released. Whatever is already gone is
//! skipped, so DEL repeats fine and works after the pod netns has gone.
//!
//! Unregistering a network device makes the kernel wait for an RCU grace
//! period (about 20 ms), far more than the rest of a DEL. So with weftd
//! running and the pod netns still there, the host veth is only *retired*:
//! set down and marked, which makes the kernel drop its routes and
//! neighbour entries at once, cutting the pod off; weftd deletes the pair
//! right after, off the runtime's clock (GC and a later ADD of the same
//! attachment also remove retired veths). Standalone, or without a live pod
//! netns, the veth is deleted here.

use super::{ipam_error, kernel_error, open_store};
use crate::daemon;
use crate::env::AttachmentEnv;
use crate::error::CniError;
use crate::naming::VethNames;
use crate::netconf::NetConf;
use crate::netlink::{host, netns, run_netlink};

pub fn del(conf: &NetConf, env: &AttachmentEnv) -> Result<(), CniError> {
    let store = open_store(&conf.ipam_dir)?;
    let derived = VethNames::derive(&env.key).host_ifname;
    let mut host_ifnames = vec![derived];
    if let Some(reserved) = store.get(&env.key).map_err(ipam_error)?
        && !host_ifnames.contains(&reserved.host_ifname)
    {
        host_ifnames.push(reserved.host_ifname);
    }
    let retire = !conf.standalone
        && env
            .netns
            .as_deref()
            .is_some_and(|path| netns::open(path).is_ok());

    // The veth is cut off before the IPs are released, so a released IP is
    // never still routed to this pod.
    tracing::info!(?host_ifnames, retire, "cutting off the host veth");
    run_netlink(|handle| async move {
        for name in &host_ifnames {
            if retire {
                host::retire_link(&handle, name).await?;
            } else {
                host::delete_link(&handle, name).await?;
            }
        }
        Ok(())
    })
    .map_err(kernel_error)?;
    store.release(&env.key).map_err(ipam_error)?;
    tracing::info!("released the pod IPs");
    if !conf.standalone {
        // Not an error on purpose: DEL must succeed while weftd is down.
        // Told last, so weftd's reaper finds the veth already retired.
        match daemon::forget_endpoint(&conf.daemon_socket, env.key.clone()) {
            Ok(reply) => tracing::info!(?reply, "told weftd"),
            Err(err) => tracing::info!(error = %err, "weftd not told; it reconciles on its own"),
        }
    }
    Ok(())
}
