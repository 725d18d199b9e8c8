//! Host-side netlink operations (run in the plugin's own netns, the node's):
//! creating the veth pair, routing and resolving the pod IPs onto it,
//! retiring and deleting it. Reading the default route's MTU and finding
//! retired veths are in `weft_netlink`, shared with weftd.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use futures::future::{try_join, try_join_all};
use ipnet::IpNet;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::NeighbourState;
use netlink_packet_route::route::{RouteMessage, RouteScope};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::KernelError;
use super::error::{EEXIST, ENODEV, errno};
use weft_api::{RETIRED_VETH_ALIAS as RETIRED_ALIAS, RETIRED_VETH_GROUP};

use crate::plan::{Neighbour, VethPlan, WiringPlan};

/// Creates the veth pair in one request: the host end (named, MAC, MTU, up)
/// in this netns and its peer (named CNI_IFNAME, MAC, MTU) directly in the
/// pod netns. The kernel cannot bring the peer up in the same request (it
/// is not yet tied to its other end), so the pod side does that.
///
/// A host veth of the same name can only be a leftover of an earlier ADD of
/// this attachment (the name is derived from it), e.g. one DEL retired: it
/// is replaced.
pub async fn create_veth(
    handle: &Handle,
    veth: &VethPlan,
    mtu: u32,
    pod_netns: BorrowedFd<'_>,
) -> Result<(), KernelError> {
    let what = || format!("creating veth {} <-> {}", veth.host_ifname, veth.pod_ifname);
    match handle
        .link()
        .add(veth_message(veth, mtu, pod_netns))
        .execute()
        .await
    {
        Err(err) if errno(&err) == Some(EEXIST) => {
            delete_link(handle, &veth.host_ifname).await?;
            handle
                .link()
                .add(veth_message(veth, mtu, pod_netns))
                .execute()
                .await
                .map_err(KernelError::netlink(format!(
                    "{} (is {} already taken in the pod netns?)",
                    what(),
                    veth.pod_ifname
                )))
        }
        result => result.map_err(KernelError::netlink(what())),
    }
}

fn veth_message(veth: &VethPlan, mtu: u32, pod_netns: BorrowedFd<'_>) -> LinkMessage {
    let peer = LinkUnspec::new_with_name(&veth.pod_ifname)
        .mtu(mtu)
        .address(veth.pod_mac.0.to_vec())
        .setns_by_fd(pod_netns.as_raw_fd())
        .build();
    LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(veth.host_ifname.clone())
        .mtu(mtu)
        .address(veth.host_mac.0.to_vec())
        .up()
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build()
}

/// The index of link `name`, which must exist.
pub async fn link_index(handle: &Handle, name: &str) -> Result<u32, KernelError> {
    Ok(find_link(handle, name)
        .await?
        .ok_or_else(|| KernelError::Netlink {
            what: format!("{name} vanished while being set up"),
            source: rtnetlink::Error::RequestFailed,
        })?
        .header
        .index)
}

/// Routes each pod IP to the host veth (scope link) and pins the pod's MAC
/// for it, so the host never ARPs for pods.
pub async fn configure_ips(
    handle: &Handle,
    index: u32,
    plan: &WiringPlan,
) -> Result<(), KernelError> {
    let routes = plan.host_routes().into_iter().map(|dst| {
        handle
            .route()
            .add(link_route(dst, index))
            .replace()
            .execute()
    });
    let routes = async {
        try_join_all(routes)
            .await
            .map_err(KernelError::netlink(format!(
                "routing pod IPs to {}",
                plan.veth.host_ifname
            )))
    };
    let neighbours = try_join_all(
        plan.host_neighbours()
            .into_iter()
            .map(|neighbour| add_permanent_neighbour(handle, index, neighbour)),
    );
    try_join(routes, neighbours).await.map(drop)
}

fn link_route(dst: IpNet, oif: u32) -> RouteMessage {
    match dst {
        IpNet::V4(dst) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .output_interface(oif)
            .scope(RouteScope::Link)
            .build(),
        IpNet::V6(dst) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(dst.addr(), dst.prefix_len())
            .output_interface(oif)
            .build(),
    }
}

/// `ip neigh replace <ip> lladdr <mac> dev <index> nud permanent`
pub(super) async fn add_permanent_neighbour(
    handle: &Handle,
    index: u32,
    neighbour: Neighbour,
) -> Result<(), KernelError> {
    handle
        .neighbours()
        .add(index, neighbour.ip)
        .link_layer_address(&neighbour.mac.0)
        .state(NeighbourState::Permanent)
        .replace()
        .execute()
        .await
        .map_err(KernelError::netlink(format!(
            "adding neighbour {} -> {}",
            neighbour.ip, neighbour.mac
        )))
}

/// The link called `name` in this netns, if any.
pub async fn find_link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, KernelError> {
    match handle
        .link()
        .get()
        .match_name(name)
        .execute()
        .try_next()
        .await
    {
        Ok(link) => Ok(link),
        Err(err) if errno(&err) == Some(ENODEV) => Ok(None),
        Err(err) => Err(KernelError::netlink(format!("looking up {name}"))(err)),
    }
}

/// Whether a link message says the link is administratively up.
pub fn is_up(link: &LinkMessage) -> bool {
    link.header.flags.contains(LinkFlags::Up)
}

/// Deletes the link called `name` (with a veth, its peer goes too).
/// Returns whether it existed.
pub async fn delete_link(handle: &Handle, name: &str) -> Result<bool, KernelError> {
    let message = LinkUnspec::new_with_name(name).build();
    match handle.link().del_with_message(message).execute().await {
        Ok(()) => Ok(true),
        Err(err) if errno(&err) == Some(ENODEV) => Ok(false),
        Err(err) => Err(KernelError::netlink(format!("deleting {name}"))(err)),
    }
}

/// Sets link `name` down, which makes the kernel drop every route and
/// neighbour entry on it: the pod behind it is cut off at once, without the
/// cost of unregistering the device. The same request marks it with
/// [`RETIRED_ALIAS`] so GC can tell it from anything else that is down.
/// Returns whether it existed.
pub async fn retire_link(handle: &Handle, name: &str) -> Result<bool, KernelError> {
    let message = LinkUnspec::new_with_name(name)
        .down()
        .alias(RETIRED_ALIAS)
        .link_group(RETIRED_VETH_GROUP)
        .build();
    match handle.link().set(message).execute().await {
        Ok(()) => Ok(true),
        Err(err) if errno(&err) == Some(ENODEV) => Ok(false),
        Err(err) => Err(KernelError::netlink(format!("setting {name} down"))(err)),
    }
}
