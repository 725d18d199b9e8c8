//! Applying a plan with rtnetlink, in an order that never leaves a route
//! pointing at a device that is about to change: stale routes go first, then
//! the device changes, then stale neighbours and FDB entries, then new FDB
//! entries and neighbours, and new routes last. A refused change does not
//! stop the others (except a device change, which the rest depends on); all
//! refusals are reported together and the next pass retries them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressHeaderFlags, AddressMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::{AddressMessageBuilder, Handle, LinkUnspec, LinkVxlan};

use super::diff::{Change, DeviceChange, DeviceUpdate, NeighbourChange, Plan};
use super::error::{ApplyFailure, OverlayError, netlink};
use super::observe::list_links;
use super::parse::link_names;
use super::state::{FdbEntry, NextHop, ROUTE_PROTOCOL, Route, VxlanDevice};

/// Applies `plan` in the calling thread's network namespace. `device` names
/// the VXLAN device the plan's neighbours and FDB entries live on;
/// `ifindexes` are the interfaces as observed when the plan was made.
pub async fn apply(
    handle: &Handle,
    plan: &Plan,
    device: &str,
    mut ifindexes: HashMap<String, u32>,
) -> Result<(), OverlayError> {
    let mut failures = Vec::new();
    for change in &plan.routes {
        if let Change::Delete(route) = change {
            let result = handle
                .route()
                .del(route_delete_message(route))
                .execute()
                .await;
            record(
                &mut failures,
                change,
                result.map_err(netlink("deleting a route")),
            );
        }
    }

    if let Some(change) = &plan.device {
        if let Err(error) = apply_device(handle, change, &ifindexes).await {
            failures.push(ApplyFailure {
                change: format!("{change:?}"),
                error,
            });
            return Err(OverlayError::Apply(failures));
        }
        let links = list_links(handle).await?;
        ifindexes = link_names(&links)
            .into_iter()
            .map(|(index, name)| (name, index))
            .collect();
    }

    let on_device = || {
        ifindexes
            .get(device)
            .copied()
            .ok_or_else(|| OverlayError::NoSuchInterface(device.to_owned()))
    };
    for change in &plan.fdb {
        if let Change::Delete(entry) = change {
            let result = match on_device() {
                Ok(index) => handle
                    .neighbours()
                    .del(fdb_delete_message(index, entry))
                    .execute()
                    .await
                    .map_err(netlink("deleting an FDB entry")),
                Err(e) => Err(e),
            };
            record(&mut failures, change, result);
        }
    }
    for change in &plan.neighbours {
        if let NeighbourChange::Delete(address) = change {
            let result = match on_device() {
                Ok(index) => handle
                    .neighbours()
                    .del(neighbour_delete_message(index, *address))
                    .execute()
                    .await
                    .map_err(netlink("deleting a neighbour")),
                Err(e) => Err(e),
            };
            record(&mut failures, change, result);
        }
    }
    for change in &plan.fdb {
        if let Change::Add(entry) | Change::Replace(entry) = change {
            let result = match on_device() {
                Ok(index) => handle
                    .neighbours()
                    .add_bridge(index, &entry.mac)
                    .flags(NeighbourFlags::Own)
                    .state(NeighbourState::Permanent)
                    .destination(entry.remote)
                    .execute()
                    .await
                    .map_err(netlink("adding an FDB entry")),
                Err(e) => Err(e),
            };
            record(&mut failures, change, result);
        }
    }
    for change in &plan.neighbours {
        if let NeighbourChange::Add(neighbour) | NeighbourChange::Replace(neighbour) = change {
            // Replace even when adding: the kernel may have made an
            // incomplete entry for the address meanwhile.
            let result = match on_device() {
                Ok(index) => handle
                    .neighbours()
                    .add(index, neighbour.address)
                    .link_layer_address(&neighbour.mac)
                    .state(NeighbourState::Permanent)
                    .replace()
                    .execute()
                    .await
                    .map_err(netlink("setting a neighbour")),
                Err(e) => Err(e),
            };
            record(&mut failures, change, result);
        }
    }
    for change in &plan.routes {
        let (route, replace) = match change {
            Change::Add(route) => (route, false),
            Change::Replace(route) => (route, true),
            Change::Delete(_) => continue,
        };
        let result = match route_add_message(route, &ifindexes) {
            Ok(message) => {
                let request = handle.route().add(message);
                let request = if replace { request.replace() } else { request };
                request
                    .execute()
                    .await
                    .map_err(netlink("installing a route"))
            }
            Err(e) => Err(e),
        };
        record(&mut failures, change, result);
    }

    match failures.is_empty() {
        true => Ok(()),
        false => Err(OverlayError::Apply(failures)),
    }
}

fn record(
    failures: &mut Vec<ApplyFailure>,
    change: &impl std::fmt::Debug,
    result: Result<(), OverlayError>,
) {
    if let Err(error) = result {
        failures.push(ApplyFailure {
            change: format!("{change:?}"),
            error,
        });
    }
}

async fn apply_device(
    handle: &Handle,
    change: &DeviceChange,
    ifindexes: &HashMap<String, u32>,
) -> Result<(), OverlayError> {
    let index_of = |name: &str| {
        ifindexes
            .get(name)
            .copied()
            .ok_or_else(|| OverlayError::NoSuchInterface(name.to_owned()))
    };
    match change {
        DeviceChange::Create(device) => create_device(handle, device, ifindexes).await,
        DeviceChange::Recreate(device) => {
            delete_link(handle, index_of(&device.name)?).await?;
            create_device(handle, device, ifindexes).await
        }
        DeviceChange::Update(update) => {
            update_device(handle, update, index_of(&update.name)?).await
        }
        DeviceChange::Delete(name) => delete_link(handle, index_of(name)?).await,
    }
}

async fn delete_link(handle: &Handle, index: u32) -> Result<(), OverlayError> {
    handle
        .link()
        .del(index)
        .execute()
        .await
        .map_err(netlink("deleting the VXLAN device"))
}

async fn create_device(
    handle: &Handle,
    device: &VxlanDevice,
    ifindexes: &HashMap<String, u32>,
) -> Result<(), OverlayError> {
    let params = &device.params;
    let underlay = ifindexes
        .get(&params.underlay_ifname)
        .copied()
        .ok_or_else(|| OverlayError::NoSuchInterface(params.underlay_ifname.clone()))?;
    let builder = LinkVxlan::new(&device.name, params.vni)
        .dev(underlay)
        .port(params.port)
        .learning(params.learning);
    let builder = match params.local {
        IpAddr::V4(ip) => builder.local(ip),
        IpAddr::V6(ip) => builder.local6(ip),
    };
    let message = builder
        .mtu(device.mtu)
        .address(device.mac.to_vec())
        .up()
        .build();
    handle
        .link()
        .add(message)
        .execute()
        .await
        .map_err(netlink(format!("creating {}", device.name)))?;
    let created = handle
        .link()
        .get()
        .match_name(device.name.clone())
        .execute()
        .try_next()
        .await
        .map_err(netlink(format!("finding {}", device.name)))?
        .ok_or_else(|| OverlayError::NoSuchInterface(device.name.clone()))?;
    for address in &device.addresses {
        add_address(handle, created.header.index, *address).await?;
    }
    Ok(())
}

async fn update_device(
    handle: &Handle,
    update: &DeviceUpdate,
    index: u32,
) -> Result<(), OverlayError> {
    if update.mtu.is_some() || update.bring_up {
        let mut builder = LinkUnspec::new_with_index(index);
        if let Some(mtu) = update.mtu {
            builder = builder.mtu(mtu);
        }
        if update.bring_up {
            builder = builder.up();
        }
        handle
            .link()
            .change(builder.build())
            .execute()
            .await
            .map_err(netlink(format!("updating {}", update.name)))?;
    }
    for address in &update.remove_addresses {
        handle
            .address()
            .del(address_message(index, *address))
            .execute()
            .await
            .map_err(netlink(format!("removing {address} from {}", update.name)))?;
    }
    for address in &update.add_addresses {
        add_address(handle, index, *address).await?;
    }
    Ok(())
}

async fn add_address(handle: &Handle, index: u32, address: IpNet) -> Result<(), OverlayError> {
    let mut request = handle
        .address()
        .add(index, address.addr(), address.prefix_len());
    if address.addr().is_ipv6() {
        // A VTEP address is this node's by construction; duplicate address
        // detection would keep it tentative, unusable, for a second.
        request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
    }
    request
        .execute()
        .await
        .map_err(netlink(format!("adding {address}")))
}

fn address_message(index: u32, address: IpNet) -> AddressMessage {
    match address {
        IpNet::V4(net) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(net.addr(), net.prefix_len())
            .build(),
        IpNet::V6(net) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(index)
            .address(net.addr(), net.prefix_len())
            .build(),
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The header and destination every message about one of Weft's routes carries.
fn own_route_message(destination: IpNet) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = family(destination.addr());
    message.header.destination_prefix_length = destination.prefix_len();
    message.header.table = RouteHeader::RT_TABLE_MAIN;
    message.header.protocol = RouteProtocol::Other(ROUTE_PROTOCOL);
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            destination.network(),
        )));
    message
}

/// The message installing `route`; its device must be in `ifindexes`.
fn route_add_message(
    route: &Route,
    ifindexes: &HashMap<String, u32>,
) -> Result<RouteMessage, OverlayError> {
    let mut message = own_route_message(route.destination);
    message.header.scope = RouteScope::Universe;
    match &route.next_hop {
        NextHop::Gateway {
            address,
            device,
            onlink,
        } => {
            let index = ifindexes
                .get(device)
                .copied()
                .ok_or_else(|| OverlayError::NoSuchInterface(device.clone()))?;
            message.header.kind = RouteType::Unicast;
            if *onlink {
                message.header.flags.insert(RouteFlags::Onlink);
            }
            message
                .attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(*address)));
            message.attributes.push(RouteAttribute::Oif(index));
        }
        NextHop::Unreachable => message.header.kind = RouteType::Unreachable,
        // Never desired; should it be, the kernel refuses it and the refusal is reported.
        NextHop::Unrecognised => message.header.kind = RouteType::Unspec,
    }
    Ok(message)
}

/// Matches the first route of Weft's protocol to the destination, whatever its type or scope.
fn route_delete_message(route: &Route) -> RouteMessage {
    let mut message = own_route_message(route.destination);
    message.header.scope = RouteScope::NoWhere;
    message.header.kind = RouteType::Unspec;
    message
}

fn neighbour_delete_message(index: u32, address: IpAddr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = family(address);
    message.header.ifindex = index;
    message
        .attributes
        .push(NeighbourAttribute::Destination(neighbour_address(address)));
    message
}

/// Deletes the one remote `entry.remote` of `entry.mac` on the device.
fn fdb_delete_message(index: u32, entry: &FdbEntry) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = index;
    message.header.flags = NeighbourFlags::Own;
    message.header.state = NeighbourState::Permanent;
    message
        .attributes
        .push(NeighbourAttribute::LinkLayerAddress(entry.mac.to_vec()));
    message
        .attributes
        .push(NeighbourAttribute::Destination(neighbour_address(
            entry.remote,
        )));
    message
}

fn neighbour_address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(ip) => NeighbourAddress::Inet(ip),
        IpAddr::V6(ip) => NeighbourAddress::Inet6(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::parse::{device_fdb, own_route};

    fn ifindexes() -> HashMap<String, u32> {
        HashMap::from([("eth0".to_owned(), 2), ("weft.vxlan".to_owned(), 5)])
    }

    fn names() -> HashMap<u32, String> {
        ifindexes()
            .into_iter()
            .map(|(name, index)| (index, name))
            .collect()
    }

    #[test]
    fn installed_routes_read_back_as_the_same_routes_of_weft() {
        for route in [
            Route {
                destination: "10.244.2.0/24".parse().unwrap(),
                next_hop: NextHop::Gateway {
                    address: "10.244.2.0".parse().unwrap(),
                    device: "weft.vxlan".into(),
                    onlink: true,
                },
            },
            Route {
                destination: "10.244.3.0/24".parse().unwrap(),
                next_hop: NextHop::Gateway {
                    address: "198.18.0.13".parse().unwrap(),
                    device: "eth0".into(),
                    onlink: false,
                },
            },
            Route {
                destination: "10.244.1.0/24".parse().unwrap(),
                next_hop: NextHop::Unreachable,
            },
        ] {
            let message = route_add_message(&route, &ifindexes()).unwrap();
            assert_eq!(message.header.protocol, RouteProtocol::Other(87));
            assert_eq!(own_route(&message, &names()), Some(route));
        }
    }

    #[test]
    fn a_route_through_an_unknown_device_is_refused() {
        let route = Route {
            destination: "10.244.2.0/24".parse().unwrap(),
            next_hop: NextHop::Gateway {
                address: "198.18.0.12".parse().unwrap(),
                device: "eth9".into(),
                onlink: false,
            },
        };
        assert!(matches!(
            route_add_message(&route, &ifindexes()),
            Err(OverlayError::NoSuchInterface(name)) if name == "eth9"
        ));
    }

    #[test]
    fn route_deletion_matches_weft_protocol_in_any_scope() {
        let route = Route {
            destination: "10.244.2.0/24".parse().unwrap(),
            next_hop: NextHop::Unrecognised,
        };
        let message = route_delete_message(&route);
        assert_eq!(message.header.protocol, RouteProtocol::Other(87));
        assert_eq!(message.header.scope, RouteScope::NoWhere);
        assert_eq!(message.header.kind, RouteType::Unspec);
        assert_eq!(message.header.destination_prefix_length, 24);
    }

    #[test]
    fn fdb_deletion_names_the_mac_and_the_one_remote() {
        let entry = FdbEntry {
            mac: [2, 0, 0, 0, 0, 2],
            remote: "198.18.0.12".parse().unwrap(),
        };
        let message = fdb_delete_message(5, &entry);
        assert_eq!(message.header.flags, NeighbourFlags::Own);
        assert_eq!(device_fdb(&message, 5), Some(entry));
    }

    #[test]
    fn addresses_are_addressed_in_their_family() {
        let v4 = address_message(5, "10.244.1.0/32".parse().unwrap());
        assert_eq!(
            (v4.header.family, v4.header.prefix_len, v4.header.index),
            (AddressFamily::Inet, 32, 5)
        );
        let v6 = address_message(5, "fd00::1/128".parse().unwrap());
        assert_eq!(v6.header.family, AddressFamily::Inet6);
    }
}
