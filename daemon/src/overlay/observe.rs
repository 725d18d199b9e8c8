//! Asking the kernel (rtnetlink) what it holds of Weft's node network: the
//! VXLAN device, Weft's routes and the device's neighbours and FDB entries.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use rtnetlink::{Handle, RouteMessageBuilder};

use super::error::{OverlayError, netlink};
use super::parse::{
    device_fdb, device_neighbour, link_name, link_names, observed_device, own_route,
};
use super::state::ObservedNetwork;

/// Weft's entries in the calling thread's network namespace, and every
/// interface's index by name (the plan names interfaces, netlink wants indexes).
pub struct Observation {
    pub network: ObservedNetwork,
    pub ifindexes: HashMap<String, u32>,
}

pub async fn observe(handle: &Handle, device: &str) -> Result<Observation, OverlayError> {
    let links = list_links(handle).await?;
    let names = link_names(&links);
    let mut routes = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect::<Vec<_>>()
        .await
        .map_err(netlink("listing IPv4 routes"))?;
    routes.extend(
        handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect::<Vec<_>>()
            .await
            .map_err(netlink("listing IPv6 routes"))?,
    );
    let mut network = ObservedNetwork {
        routes: routes.iter().filter_map(|r| own_route(r, &names)).collect(),
        ..ObservedNetwork::default()
    };
    network.routes.sort();

    if let Some(link) = links.iter().find(|link| link_name(link) == Some(device)) {
        let index = link.header.index;
        let addresses = handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect::<Vec<_>>()
            .await
            .map_err(netlink(format!("listing the addresses of {device}")))?;
        network.device = Some(observed_device(link, &names, &addresses));
        let mut neighbours = list_neighbours(handle, AddressFamily::Inet).await?;
        neighbours.extend(list_neighbours(handle, AddressFamily::Inet6).await?);
        network.neighbours = neighbours
            .iter()
            .filter_map(|n| device_neighbour(n, index))
            .collect();
        network.fdb = list_neighbours(handle, AddressFamily::Bridge)
            .await?
            .iter()
            .filter_map(|n| device_fdb(n, index))
            .collect();
    }
    Ok(Observation {
        network,
        ifindexes: names
            .into_iter()
            .map(|(index, name)| (name, index))
            .collect(),
    })
}

pub async fn list_links(handle: &Handle) -> Result<Vec<LinkMessage>, OverlayError> {
    handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(netlink("listing links"))
}

async fn list_neighbours(
    handle: &Handle,
    family: AddressFamily,
) -> Result<Vec<NeighbourMessage>, OverlayError> {
    handle
        .neighbours()
        .get()
        .set_address_family(family)
        .execute()
        .try_collect()
        .await
        .map_err(netlink(format!("listing {family:?} neighbours")))
}
