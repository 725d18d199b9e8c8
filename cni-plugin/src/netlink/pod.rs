//! Pod-side netlink operations; these run on a thread inside the pod netns
//! (see [`super::netns`]): bringing the interfaces up, the /32 and /128
//! addresses, the gateway neighbours and default routes, and reading the
//! interface back for CHECK.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use futures::TryStreamExt;
use futures::future::{try_join, try_join_all};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::RouteMessage;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use super::KernelError;
use super::host::{add_permanent_neighbour, find_link, is_up, link_index};
use crate::naming::Mac;
use crate::plan::{GatewayRoute, VethPlan, WiringPlan};
use crate::verify::ObservedInterface;

/// Configures what does not depend on the pod IPs: both interfaces up, the
/// gateway neighbours, and the default routes (last: an onlink next hop
/// needs its device up). Returns the pod interface's index.
pub async fn configure_link(handle: &Handle, veth: &VethPlan) -> Result<u32, KernelError> {
    let index = link_index(handle, &veth.pod_ifname).await?;
    let links_up = try_join(
        set_up(
            handle,
            LinkUnspec::new_with_index(index).up().build(),
            &veth.pod_ifname,
        ),
        set_up(handle, LinkUnspec::new_with_name("lo").up().build(), "lo"),
    );
    let neighbours = try_join_all(
        veth.pod_neighbours()
            .into_iter()
            .map(|neighbour| add_permanent_neighbour(handle, index, neighbour)),
    );
    try_join(links_up, neighbours).await?;

    try_join_all(veth.pod_routes().into_iter().map(|route| async move {
        handle
            .route()
            .add(gateway_route(route, index))
            .replace()
            .execute()
            .await
            .map_err(KernelError::netlink(format!(
                "adding route {} via {}",
                route.dst, route.gateway
            )))
    }))
    .await?;
    Ok(index)
}

/// Adds the pod's addresses (/32, /128) to its interface.
pub async fn configure_ips(
    handle: &Handle,
    index: u32,
    plan: &WiringPlan,
) -> Result<(), KernelError> {
    try_join_all(plan.pod_addresses().into_iter().map(|address| {
        let mut request = handle
            .address()
            .add(index, address.addr(), address.prefix_len());
        if address.addr().is_ipv6() {
            // The address is ours alone on a point-to-point link: skip DAD
            // so it is usable at once.
            request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        async move {
            request
                .replace()
                .execute()
                .await
                .map_err(KernelError::netlink(format!("adding address {address}")))
        }
    }))
    .await?;
    if plan.veth.families.v6 {
        disable_router_advertisements(&plan.veth.pod_ifname)?;
    }
    Ok(())
}

async fn set_up(
    handle: &Handle,
    message: netlink_packet_route::link::LinkMessage,
    name: &str,
) -> Result<(), KernelError> {
    handle
        .link()
        .set(message)
        .execute()
        .await
        .map_err(KernelError::netlink(format!("setting {name} up")))
}

/// `default via <gateway> dev <index> onlink`
fn gateway_route(route: GatewayRoute, index: u32) -> RouteMessage {
    match route.gateway {
        IpAddr::V4(gateway) => RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .onlink()
            .build(),
        IpAddr::V6(gateway) => RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build(),
    }
}

/// The pod's IPv6 default route is static; a stray router advertisement
/// must not add another.
fn disable_router_advertisements(ifname: &str) -> Result<(), KernelError> {
    // /proc/sys/net resolves against the calling thread's netns.
    let path = PathBuf::from(format!("/proc/sys/net/ipv6/conf/{ifname}/accept_ra"));
    std::fs::write(&path, b"0").map_err(|source| KernelError::Sysctl { path, source })
}

/// Reads the pod interface `ifname`; `None` when it does not exist.
pub async fn inspect(
    handle: &Handle,
    ifname: &str,
) -> Result<Option<ObservedInterface>, KernelError> {
    let Some(link) = find_link(handle, ifname).await? else {
        return Ok(None);
    };
    let mac = link.attributes.iter().find_map(|attr| match attr {
        LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok().map(Mac),
        _ => None,
    });
    let addresses = handle
        .address()
        .get()
        .set_link_index_filter(link.header.index)
        .execute()
        .try_filter_map(|message| {
            let prefix = message.header.prefix_len;
            let address = message.attributes.into_iter().find_map(|attr| match attr {
                AddressAttribute::Address(ip) => IpNet::new(ip, prefix).ok(),
                _ => None,
            });
            futures::future::ready(Ok(address))
        })
        .try_collect()
        .await
        .map_err(KernelError::netlink(format!(
            "listing addresses of {ifname}"
        )))?;
    Ok(Some(ObservedInterface {
        mac,
        up: is_up(&link),
        addresses,
    }))
}
