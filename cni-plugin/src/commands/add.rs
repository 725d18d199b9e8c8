//! ADD: validate, then wire the veth pair while IPAM reserves the pod IPs,
//! register the endpoint with weftd, and answer with the (chained) result.
//! Any failure after the wiring started undoes everything before the error
//! is returned.

use ipnet::IpNet;
use weft_api::{Endpoint, NodeNetwork, NodeNetworkError};
use weft_ipam::IpamStore;

use super::{ipam_error, kernel_error, netns_error, open_store, required_netns};
use crate::daemon;
use crate::env::AttachmentEnv;
use crate::error::{CniError, ErrorCode};
use crate::naming::VethNames;
use crate::netconf::NetConf;
use crate::netlink::wiring::Wiring;
use crate::netlink::{host, netns, run_netlink};
use crate::plan::{Families, VethPlan, WiringPlan, choose_mtu, one_subnet_per_family};
use crate::result::CniResult;

pub fn add(conf: &NetConf, env: &AttachmentEnv) -> Result<CniResult, CniError> {
    let netns_path = required_netns(env.netns.as_ref())?;
    let netns = netns::open(netns_path).map_err(netns_error)?;
    let (subnets, node_mtu) = pod_network(conf)?;
    let store = open_store(&conf.ipam_dir)?;
    let names = VethNames::derive(&env.key);
    let veth = VethPlan {
        host_ifname: names.host_ifname,
        host_mac: names.host_mac,
        pod_ifname: env.key.ifname.clone(),
        pod_mac: conf.pod_mac.unwrap_or(names.pod_mac),
        families: Families::of(&subnets),
    };
    let undo = Undo {
        conf,
        env,
        store: &store,
        host_ifname: veth.host_ifname.clone(),
    };

    let mtu = choose_mtu(conf.mtu, node_mtu);
    let wiring = Wiring::start(veth.clone(), mtu, netns).map_err(kernel_error)?;
    let attachment = match store.reserve(&subnets, &env.key, &veth.host_ifname) {
        Ok(attachment) => attachment,
        Err(err) => {
            wiring.abandon();
            return Err(undo.run(ipam_error(err), ToUndo::Veth));
        }
    };
    tracing::info!(ips = ?attachment.ips, host_ifname = %veth.host_ifname, "reserved the pod IPs");
    let mtu = match wiring.finish(attachment.ips.clone()) {
        Ok(mtu) => mtu,
        Err(err) => return Err(undo.run(kernel_error(err), ToUndo::VethAndIps)),
    };
    tracing::info!(mtu, "wired the veth pair");
    let plan = WiringPlan {
        veth,
        mtu,
        pod_ips: attachment.ips,
    };

    let netns_text = netns_path.display().to_string();
    if !conf.standalone {
        let endpoint = endpoint(env, &plan, &netns_text);
        if let Err(err) = daemon::register_endpoint(&conf.daemon_socket, endpoint) {
            return Err(undo.run(err, ToUndo::EndpointVethAndIps));
        }
        tracing::info!("weftd programmed the endpoint");
    }
    let mut result = conf.prev_result.clone().unwrap_or_default();
    result.append(plan.result(&netns_text, conf.dns.clone()));
    Ok(result)
}

/// The pod subnets (one per family) and the node's MTU, from the static
/// `subnet` or else weftd's node-network file.
fn pod_network(conf: &NetConf) -> Result<(Vec<IpNet>, Option<u32>), CniError> {
    if !conf.subnets.is_empty() {
        return Ok((conf.subnets.clone(), None));
    }
    let path = &conf.node_network_file;
    let unknown = |why: String| CniError::new(ErrorCode::NodeNetworkUnknown, why);
    let node = NodeNetwork::load(path).map_err(|err| match err {
        NodeNetworkError::Missing { .. } => unknown(format!(
            "node network not known yet: {} does not exist (is weftd running?) and no subnet is configured",
            path.display()
        )),
        other => unknown(format!("node network unreadable: {other}")),
    })?;
    let subnets = one_subnet_per_family(&node.pod_cidrs);
    if subnets.is_empty() {
        return Err(unknown(format!("{} lists no pod CIDRs", path.display())));
    }
    Ok((subnets, node.mtu))
}

fn endpoint(env: &AttachmentEnv, plan: &WiringPlan, netns: &str) -> Endpoint {
    Endpoint {
        key: env.key.clone(),
        pod_namespace: env.pod.namespace.clone(),
        pod_name: env.pod.name.clone(),
        pod_uid: env.pod.uid.clone(),
        ips: plan.pod_addresses(),
        host_ifname: plan.veth.host_ifname.clone(),
        mac: plan.veth.pod_mac.to_string(),
        host_mac: Some(plan.veth.host_mac.to_string()),
        netns: netns.to_string(),
    }
}

/// How far a failed ADD got, i.e. what must be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToUndo {
    Veth,
    VethAndIps,
    EndpointVethAndIps,
}

struct Undo<'a> {
    conf: &'a NetConf,
    env: &'a AttachmentEnv,
    store: &'a IpamStore,
    host_ifname: String,
}

impl Undo<'_> {
    /// Undoes a failed ADD: weftd forgets the endpoint, the veth pair goes
    /// (deleting the host end deletes the peer and every route and
    /// neighbour on them), the IPs are released. Problems undoing are
    /// added to the error's details.
    fn run(&self, mut err: CniError, what: ToUndo) -> CniError {
        tracing::warn!(error = %err, undo = ?what, "rolling back the ADD");
        if what == ToUndo::EndpointVethAndIps {
            // Best effort: weftd may have programmed the endpoint before failing.
            let _ = daemon::forget_endpoint(&self.conf.daemon_socket, self.env.key.clone());
        }
        let mut problems = Vec::new();
        let host_ifname = &self.host_ifname;
        let deleted =
            run_netlink(|handle| async move { host::delete_link(&handle, host_ifname).await });
        if let Err(problem) = deleted {
            problems.push(problem.to_string());
        }
        if what != ToUndo::Veth
            && let Err(problem) = self.store.release(&self.env.key)
        {
            problems.push(problem.to_string());
        }
        if !problems.is_empty() {
            let undo = format!("rollback incomplete: {}", problems.join("; "));
            tracing::error!("{undo}");
            err.details = Some(match err.details {
                Some(details) => format!("{details}; {undo}"),
                None => undo,
            });
        }
        err
    }
}
