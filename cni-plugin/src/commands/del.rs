//! DEL: idempotent teardown. weftd forgets the endpoint (best effort), the
//! host veth is cut off, the IPs are released. Whatever is already gone is
//! skipped, so DEL repeats fine and works after the pod netns has gone.
//!
//! Unregistering a network device makes the kernel wait for an RCU grace
//! period (about 20 ms), far more than the rest of a DEL. So while the pod
//! netns still exists the host veth is only *retired*: set down (and marked
//! as retired), which makes the kernel drop its routes and neighbour
//! entries at once, cutting the pod off. The pair is destroyed with the pod netns when the runtime
//! removes it (the kernel does that in the background). Retired veths whose
//! netns outlives them are deleted by GC or replaced by a later ADD of the
//! same attachment. Without a live pod netns the veth is deleted outright.

use super::{ipam_error, kernel_error, open_store};
use crate::daemon;
use crate::env::AttachmentEnv;
use crate::error::CniError;
use crate::naming::VethNames;
use crate::netconf::NetConf;
use crate::netlink::{host, netns, run_netlink};

pub fn del(conf: &NetConf, env: &AttachmentEnv) -> Result<(), CniError> {
    if !conf.standalone {
        // Ignored on purpose: DEL must succeed while weftd is down, and
        // weftd drops endpoints whose pods are gone when it reconciles.
        let _ = daemon::forget_endpoint(&conf.daemon_socket, env.key.clone());
    }
    let store = open_store(&conf.ipam_dir)?;
    let derived = VethNames::derive(&env.key).host_ifname;
    let mut host_ifnames = vec![derived];
    if let Some(reserved) = store.get(&env.key).map_err(ipam_error)?
        && !host_ifnames.contains(&reserved.host_ifname)
    {
        host_ifnames.push(reserved.host_ifname);
    }
    let pod_netns_alive = env
        .netns
        .as_deref()
        .is_some_and(|path| netns::open(path).is_ok());

    // The veth is cut off before the IPs are released, so a released IP is
    // never still routed to this pod.
    run_netlink(|handle| async move {
        for name in &host_ifnames {
            if pod_netns_alive {
                host::retire_link(&handle, name).await?;
            } else {
                host::delete_link(&handle, name).await?;
            }
        }
        Ok(())
    })
    .map_err(kernel_error)?;
    store.release(&env.key).map_err(ipam_error)?;
    Ok(())
}
