//! Host-side netlink operations (run in the plugin's own netns, the node's):
//! creating the veth pair, routing and resolving the pod IPs onto it,
//! deleting it, and finding the default-route interface's MTU.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use futures::TryStreamExt;
use futures::future::{try_join, try_join_all};
use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkMessage,
};
use netlink_packet_route::neighbour::NeighbourState;
use netlink_packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::KernelError;
use super::error::{EEXIST, ENODEV, errno};
use weft_api::{RETIRED_VETH_ALIAS as RETIRED_ALIAS, RETIRED_VETH_GROUP};

use crate::naming::HOST_VETH_PREFIX;
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

/// Names of the weft host veths in this netns that DEL retired.
pub async fn retired_weft_links(handle: &Handle) -> Result<Vec<String>, KernelError> {
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(KernelError::netlink("listing links"))?;
    Ok(links
        .iter()
        .filter(|link| {
            link.attributes
                .iter()
                .any(|attr| matches!(attr, LinkAttribute::IfAlias(alias) if alias == RETIRED_ALIAS))
        })
        .filter_map(|link| {
            link.attributes.iter().find_map(|attr| match attr {
                LinkAttribute::IfName(name) if name.starts_with(HOST_VETH_PREFIX) => {
                    Some(name.clone())
                }
                _ => None,
            })
        })
        .collect())
}

/// The MTU of the interface the main table's default route leaves by
/// (IPv4 preferred, lowest metric first); `None` without a default route.
pub async fn default_route_mtu(handle: &Handle) -> Result<Option<u32>, KernelError> {
    let routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessage::default())
        .execute()
        .try_collect()
        .await
        .map_err(KernelError::netlink("listing routes"))?;
    let Some(oif) = default_route_oif(&routes) else {
        return Ok(None);
    };
    let link = handle
        .link()
        .get()
        .match_index(oif)
        .execute()
        .try_next()
        .await
        .map_err(KernelError::netlink(format!("looking up link {oif}")))?;
    Ok(link.and_then(|link| {
        link.attributes.into_iter().find_map(|attr| match attr {
            LinkAttribute::Mtu(mtu) => Some(mtu),
            _ => None,
        })
    }))
}

/// Picks the output interface of the main table's default route.
fn default_route_oif(routes: &[RouteMessage]) -> Option<u32> {
    routes
        .iter()
        .filter(|route| {
            route.header.destination_prefix_length == 0
                && route.header.table == RouteHeader::RT_TABLE_MAIN
                && route.header.kind == RouteType::Unicast
        })
        .filter_map(|route| {
            let is_v6 = route.header.address_family == AddressFamily::Inet6;
            let mut oif = None;
            let mut metric = 0;
            for attr in &route.attributes {
                match attr {
                    RouteAttribute::Oif(index) => oif = Some(*index),
                    RouteAttribute::Priority(priority) => metric = *priority,
                    _ => {}
                }
            }
            oif.map(|oif| ((is_v6, metric), oif))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, oif)| oif)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(family: AddressFamily, prefix: u8, oif: u32, metric: Option<u32>) -> RouteMessage {
        let mut route = RouteMessage::default();
        route.header.address_family = family;
        route.header.destination_prefix_length = prefix;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.kind = RouteType::Unicast;
        route.attributes.push(RouteAttribute::Oif(oif));
        if let Some(metric) = metric {
            route.attributes.push(RouteAttribute::Priority(metric));
        }
        route
    }

    #[test]
    fn prefers_the_ipv4_default_route_with_the_lowest_metric() {
        let routes = [
            route(AddressFamily::Inet, 24, 9, None),
            route(AddressFamily::Inet6, 0, 7, None),
            route(AddressFamily::Inet, 0, 3, Some(200)),
            route(AddressFamily::Inet, 0, 4, Some(100)),
        ];
        assert_eq!(default_route_oif(&routes), Some(4));
    }

    #[test]
    fn falls_back_to_the_ipv6_default_route() {
        let routes = [
            route(AddressFamily::Inet, 24, 9, None),
            route(AddressFamily::Inet6, 0, 7, None),
        ];
        assert_eq!(default_route_oif(&routes), Some(7));
    }

    #[test]
    fn ignores_other_tables_and_has_none_without_a_default_route() {
        let mut other_table = route(AddressFamily::Inet, 0, 5, None);
        other_table.header.table = 100;
        assert_eq!(default_route_oif(&[other_table]), None);
        assert_eq!(default_route_oif(&[]), None);
    }
}
