//! ADD's wiring, overlapped with the IPAM reservation (whose fsyncs are
//! the slowest part of an ADD): a host thread settles the MTU and creates
//! the veth pair, a thread inside the pod netns configures the pod end as
//! soon as it exists; both then wait for the reserved IPs to add what
//! depends on them.

use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::netns::{self, NetnsThread};
use super::{KernelError, host, pod, run_netlink};
use crate::plan::{FALLBACK_MTU, MtuChoice, VethPlan, WiringPlan};

/// Wiring in progress; [`Wiring::finish`] or [`Wiring::abandon`] it.
pub struct Wiring {
    /// Yields the MTU the pair was created with.
    host: JoinHandle<Result<u32, KernelError>>,
    pod: NetnsThread<()>,
    host_ips: oneshot::Sender<Vec<IpAddr>>,
    pod_ips: oneshot::Sender<Vec<IpAddr>>,
}

impl Wiring {
    /// Starts creating and configuring the veth pair of `veth` into `netns`.
    pub fn start(veth: VethPlan, mtu: MtuChoice, netns: OwnedFd) -> Result<Wiring, KernelError> {
        // Carries the MTU once the pair exists.
        let (created_tx, created_rx) = oneshot::channel::<u32>();
        let (host_ips, host_ips_rx) = oneshot::channel::<Vec<IpAddr>>();
        let (pod_ips, pod_ips_rx) = oneshot::channel::<Vec<IpAddr>>();

        // The pod thread starts first: until told the veth exists it does
        // nothing visible, so if the host thread cannot start, nothing leaks.
        let pod_veth = veth.clone();
        let pod_netns = netns.try_clone().map_err(KernelError::NetnsFd)?;
        let pod = netns::spawn_in(pod_netns, move || {
            run_netlink(|handle| async move {
                let Ok(mtu) = created_rx.await else {
                    return Ok(()); // the veth was never created
                };
                let index = pod::configure_link(&handle, &pod_veth).await?;
                let Ok(pod_ips) = pod_ips_rx.await else {
                    return Ok(()); // abandoned
                };
                let plan = WiringPlan {
                    veth: pod_veth,
                    mtu,
                    pod_ips,
                };
                pod::configure_ips(&handle, index, &plan).await
            })
        })?;

        let host = std::thread::Builder::new()
            .name("weft-host".into())
            .spawn(move || {
                run_netlink(|handle| async move {
                    let mtu = match mtu {
                        MtuChoice::Fixed(mtu) => mtu,
                        MtuChoice::FromDefaultRoute => weft_netlink::default_route_mtu(&handle)
                            .await?
                            .unwrap_or(FALLBACK_MTU),
                    };
                    host::create_veth(&handle, &veth, mtu, netns.as_fd()).await?;
                    drop(netns);
                    // The pod thread only fails to receive if it already gave up.
                    let _ = created_tx.send(mtu);
                    let index = host::link_index(&handle, &veth.host_ifname).await?;
                    let Ok(pod_ips) = host_ips_rx.await else {
                        return Ok(mtu); // abandoned
                    };
                    let plan = WiringPlan { veth, mtu, pod_ips };
                    host::configure_ips(&handle, index, &plan).await?;
                    Ok(mtu)
                })
            })
            .map_err(|err| KernelError::Thread(format!("cannot start: {err}")))?;

        Ok(Wiring {
            host,
            pod,
            host_ips,
            pod_ips,
        })
    }

    /// Hands both sides the reserved IPs and waits until they are done;
    /// returns the MTU the pair has.
    pub fn finish(self, pod_ips: Vec<IpAddr>) -> Result<u32, KernelError> {
        // A side that already failed has dropped its receiver; its error
        // comes back from joining it.
        let _ = self.host_ips.send(pod_ips.clone());
        let _ = self.pod_ips.send(pod_ips);
        join_both(self.host, self.pod)
    }

    /// Stops both sides after what they are doing now; the veth pair may
    /// exist afterwards (the caller deletes it).
    pub fn abandon(self) {
        let Wiring {
            host,
            pod,
            host_ips,
            pod_ips,
        } = self;
        // Closing the channels is what tells both sides to stop.
        drop((host_ips, pod_ips));
        // Errors are moot: the caller undoes whatever was done.
        let _ = join_both(host, pod);
    }
}

fn join_both(
    host: JoinHandle<Result<u32, KernelError>>,
    pod: NetnsThread<()>,
) -> Result<u32, KernelError> {
    let host = host
        .join()
        .map_err(|_| KernelError::Thread("host thread panicked".into()))
        .and_then(|result| result);
    let pod = pod.join();
    // The host side's error is usually the cause of the pod side's.
    let mtu = host?;
    pod.map(|()| mtu)
}
