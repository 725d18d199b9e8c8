//! The plan that takes the kernel from what it holds to what is desired
//! (pure). Entries already right are left alone; stale entries Weft owns
//! (routes of its protocol, anything on its VXLAN device) are removed;
//! nothing else is ever looked at, so nothing else is ever touched.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::desired::DesiredNetwork;
use super::state::{
    FdbEntry, Neighbour, ObservedDevice, ObservedNeighbour, ObservedNetwork, Route, VxlanDevice,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    Add(T),
    /// Overwrite the entry of Weft's that holds the same key.
    Replace(T),
    Delete(T),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeighbourChange {
    Add(Neighbour),
    Replace(Neighbour),
    Delete(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    Create(VxlanDevice),
    /// Delete and create again: a setting fixed at creation differs (or the
    /// name is taken by another kind of device, or its MAC changed).
    Recreate(VxlanDevice),
    Update(DeviceUpdate),
    Delete(String),
}

/// Changes an existing device can take in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUpdate {
    pub name: String,
    pub mtu: Option<u32>,
    pub bring_up: bool,
    pub add_addresses: Vec<IpNet>,
    pub remove_addresses: Vec<IpNet>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub device: Option<DeviceChange>,
    pub routes: Vec<Change<Route>>,
    /// On the VXLAN device.
    pub neighbours: Vec<NeighbourChange>,
    /// On the VXLAN device; never `Replace` (a changed entry is deleted and added).
    pub fdb: Vec<Change<FdbEntry>>,
}

/// The plan from `observed` to `desired`.
pub fn diff(desired: &DesiredNetwork, observed: &ObservedNetwork) -> Plan {
    let device = diff_device(desired.device.as_ref(), observed.device.as_ref());
    // Deleting a device takes its routes, neighbours and FDB entries with it.
    let vanishing = match (&device, &observed.device) {
        (Some(DeviceChange::Delete(_) | DeviceChange::Recreate(_)), Some(old)) => {
            Some(old.name.as_str())
        }
        _ => None,
    };
    let surviving_routes: Vec<&Route> = observed
        .routes
        .iter()
        .filter(|route| vanishing.is_none() || route.next_hop.device() != vanishing)
        .collect();
    let (neighbours, fdb) = match vanishing {
        Some(_) => (&[][..], &[][..]),
        None => (&observed.neighbours[..], &observed.fdb[..]),
    };
    Plan {
        device,
        routes: diff_routes(&desired.routes, &surviving_routes),
        neighbours: diff_neighbours(&desired.neighbours, neighbours),
        fdb: diff_fdb(&desired.fdb, fdb),
    }
}

fn diff_device(
    desired: Option<&VxlanDevice>,
    observed: Option<&ObservedDevice>,
) -> Option<DeviceChange> {
    match (desired, observed) {
        (None, None) => None,
        (None, Some(old)) => Some(DeviceChange::Delete(old.name.clone())),
        (Some(new), None) => Some(DeviceChange::Create(new.clone())),
        (Some(new), Some(old)) => {
            if old.params.as_ref() != Some(&new.params) || old.mac != Some(new.mac) {
                return Some(DeviceChange::Recreate(new.clone()));
            }
            let update = DeviceUpdate {
                name: new.name.clone(),
                mtu: (old.mtu != Some(new.mtu)).then_some(new.mtu),
                bring_up: !old.up,
                add_addresses: missing_from(&new.addresses, &old.addresses),
                remove_addresses: missing_from(&old.addresses, &new.addresses),
            };
            let unchanged = update.mtu.is_none()
                && !update.bring_up
                && update.add_addresses.is_empty()
                && update.remove_addresses.is_empty();
            (!unchanged).then_some(DeviceChange::Update(update))
        }
    }
}

/// Routes are keyed by destination: Weft has at most one route per prefix.
fn diff_routes(desired: &[Route], observed: &[&Route]) -> Vec<Change<Route>> {
    let mut changes = Vec::new();
    for route in desired {
        let same_destination: Vec<&Route> = observed
            .iter()
            .copied()
            .filter(|old| old.destination == route.destination)
            .collect();
        if same_destination.contains(&route) {
            continue;
        }
        changes.push(match same_destination.is_empty() {
            true => Change::Add(route.clone()),
            false => Change::Replace(route.clone()),
        });
    }
    let mut stale: Vec<Route> = observed
        .iter()
        .filter(|old| !desired.iter().any(|new| new.destination == old.destination))
        .map(|old| (*old).clone())
        .collect();
    stale.sort();
    changes.extend(stale.into_iter().map(Change::Delete));
    changes
}

/// Neighbours are keyed by address; only permanent entries with the right MAC count as right.
fn diff_neighbours(desired: &[Neighbour], observed: &[ObservedNeighbour]) -> Vec<NeighbourChange> {
    let mut changes = Vec::new();
    for neighbour in desired {
        let same_address: Vec<&ObservedNeighbour> = observed
            .iter()
            .filter(|old| old.address == neighbour.address)
            .collect();
        if same_address
            .iter()
            .any(|old| old.permanent && old.mac == Some(neighbour.mac))
        {
            continue;
        }
        changes.push(match same_address.is_empty() {
            true => NeighbourChange::Add(neighbour.clone()),
            false => NeighbourChange::Replace(neighbour.clone()),
        });
    }
    let mut stale: Vec<IpAddr> = observed
        .iter()
        .map(|old| old.address)
        .filter(|address| !desired.iter().any(|new| new.address == *address))
        .collect();
    stale.sort();
    stale.dedup();
    changes.extend(stale.into_iter().map(NeighbourChange::Delete));
    changes
}

fn diff_fdb(desired: &[FdbEntry], observed: &[FdbEntry]) -> Vec<Change<FdbEntry>> {
    let mut stale = missing_from(observed, desired);
    stale.sort();
    missing_from(desired, observed)
        .into_iter()
        .map(Change::Add)
        .chain(stale.into_iter().map(Change::Delete))
        .collect()
}

/// The items of `items` that `other` lacks, in order, without repeats.
fn missing_from<T: Clone + PartialEq>(items: &[T], other: &[T]) -> Vec<T> {
    let mut missing: Vec<T> = Vec::new();
    for item in items {
        if !other.contains(item) && !missing.contains(item) {
            missing.push(item.clone());
        }
    }
    missing
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.summary().is_empty()
    }

    pub fn summary(&self) -> PlanSummary {
        let mut summary = PlanSummary {
            device: self.device.as_ref().map(|change| match change {
                DeviceChange::Create(_) => DeviceAction::Created,
                DeviceChange::Recreate(_) => DeviceAction::Recreated,
                DeviceChange::Update(_) => DeviceAction::Updated,
                DeviceChange::Delete(_) => DeviceAction::Deleted,
            }),
            ..PlanSummary::default()
        };
        for change in &self.routes {
            match change {
                Change::Add(_) => summary.routes_added += 1,
                Change::Replace(_) => summary.routes_replaced += 1,
                Change::Delete(_) => summary.routes_deleted += 1,
            }
        }
        for change in &self.neighbours {
            match change {
                NeighbourChange::Add(_) => summary.neighbours_added += 1,
                NeighbourChange::Replace(_) => summary.neighbours_replaced += 1,
                NeighbourChange::Delete(_) => summary.neighbours_deleted += 1,
            }
        }
        for change in &self.fdb {
            match change {
                Change::Add(_) | Change::Replace(_) => summary.fdb_added += 1,
                Change::Delete(_) => summary.fdb_deleted += 1,
            }
        }
        summary
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    Created,
    Recreated,
    Updated,
    Deleted,
}

/// How many entries of each kind a plan changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub device: Option<DeviceAction>,
    pub routes_added: usize,
    pub routes_replaced: usize,
    pub routes_deleted: usize,
    pub neighbours_added: usize,
    pub neighbours_replaced: usize,
    pub neighbours_deleted: usize,
    pub fdb_added: usize,
    pub fdb_deleted: usize,
}

impl PlanSummary {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(action) = self.device {
            write!(f, "device {action:?}; ")?;
        }
        write!(
            f,
            "routes +{} ~{} -{}; neighbours +{} ~{} -{}; fdb +{} -{}",
            self.routes_added,
            self.routes_replaced,
            self.routes_deleted,
            self.neighbours_added,
            self.neighbours_replaced,
            self.neighbours_deleted,
            self.fdb_added,
            self.fdb_deleted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::desired::desired_network;
    use crate::overlay::model::{NetworkMode, PeerNode};
    use crate::overlay::state::NextHop;
    use crate::overlay::test_support::{local, net, observed_as_applied, peer, settings};
    use crate::overlay::vtep::vtep_mac;

    fn three_peers() -> Vec<PeerNode> {
        vec![
            peer("n2", "10.244.2.0/24", "198.18.0.12"),
            peer("n3", "10.244.3.0/24", "198.19.0.13"),
        ]
    }

    fn desired(peers: &[PeerNode], mode: NetworkMode) -> DesiredNetwork {
        desired_network(&local(), peers, &settings(mode))
    }

    fn vxlan_route(cidr: &str, vtep: &str) -> Route {
        Route {
            destination: net(cidr),
            next_hop: NextHop::Gateway {
                address: vtep.parse().unwrap(),
                device: "weft.vxlan".into(),
                onlink: true,
            },
        }
    }

    fn direct_route(cidr: &str, via: &str) -> Route {
        Route {
            destination: net(cidr),
            next_hop: NextHop::Gateway {
                address: via.parse().unwrap(),
                device: "eth0".into(),
                onlink: false,
            },
        }
    }

    fn neighbour(address: &str, node: &str) -> Neighbour {
        Neighbour {
            address: address.parse().unwrap(),
            mac: vtep_mac(node),
        }
    }

    fn fdb(node: &str, remote: &str) -> FdbEntry {
        FdbEntry {
            mac: vtep_mac(node),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn applied_state_gives_an_empty_plan_in_every_mode() {
        for mode in [NetworkMode::Vxlan, NetworkMode::Direct, NetworkMode::Auto] {
            let want = desired(&three_peers(), mode);
            let plan = diff(&want, &observed_as_applied(&want));
            assert_eq!(plan, Plan::default(), "{mode}");
            assert!(plan.is_empty());
        }
    }

    #[test]
    fn an_empty_node_gets_everything_created() {
        let want = desired(&three_peers(), NetworkMode::Vxlan);
        let plan = diff(&want, &ObservedNetwork::default());
        assert_eq!(
            plan.device,
            Some(DeviceChange::Create(want.device.clone().unwrap()))
        );
        assert_eq!(
            plan.summary(),
            PlanSummary {
                device: Some(DeviceAction::Created),
                routes_added: 3,
                neighbours_added: 2,
                fdb_added: 2,
                ..PlanSummary::default()
            }
        );
    }

    #[test]
    fn a_joining_node_adds_exactly_its_route_neighbour_and_fdb_entry() {
        let before = desired(&three_peers()[..1], NetworkMode::Vxlan);
        let after = desired(&three_peers(), NetworkMode::Vxlan);
        let plan = diff(&after, &observed_as_applied(&before));
        assert_eq!(
            plan,
            Plan {
                device: None,
                routes: vec![Change::Add(vxlan_route("10.244.3.0/24", "10.244.3.0"))],
                neighbours: vec![NeighbourChange::Add(neighbour("10.244.3.0", "n3"))],
                fdb: vec![Change::Add(fdb("n3", "198.19.0.13"))],
            }
        );
    }

    #[test]
    fn a_leaving_node_removes_exactly_its_route_neighbour_and_fdb_entry() {
        let before = desired(&three_peers(), NetworkMode::Vxlan);
        let after = desired(&three_peers()[..1], NetworkMode::Vxlan);
        let plan = diff(&after, &observed_as_applied(&before));
        assert_eq!(
            plan,
            Plan {
                device: None,
                routes: vec![Change::Delete(vxlan_route("10.244.3.0/24", "10.244.3.0"))],
                neighbours: vec![NeighbourChange::Delete("10.244.3.0".parse().unwrap())],
                fdb: vec![Change::Delete(fdb("n3", "198.19.0.13"))],
            }
        );
    }

    #[test]
    fn a_new_underlay_ip_moves_only_the_fdb_entry() {
        let before = desired(&three_peers(), NetworkMode::Vxlan);
        let mut peers = three_peers();
        peers[0].underlay_ips = vec!["198.18.0.22".parse().unwrap()];
        let after = desired(&peers, NetworkMode::Vxlan);
        let plan = diff(&after, &observed_as_applied(&before));
        assert_eq!(
            plan,
            Plan {
                fdb: vec![
                    Change::Add(fdb("n2", "198.18.0.22")),
                    Change::Delete(fdb("n2", "198.18.0.12")),
                ],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_new_vtep_mac_replaces_the_neighbour_and_moves_the_fdb_entry() {
        let before = desired(&three_peers(), NetworkMode::Vxlan);
        let mut peers = three_peers();
        let new_mac = [0x02, 0, 0, 0, 0, 0x22];
        peers[0].vtep_mac = Some(new_mac);
        let after = desired(&peers, NetworkMode::Vxlan);
        let plan = diff(&after, &observed_as_applied(&before));
        assert_eq!(
            plan,
            Plan {
                neighbours: vec![NeighbourChange::Replace(Neighbour {
                    address: "10.244.2.0".parse().unwrap(),
                    mac: new_mac,
                })],
                fdb: vec![
                    Change::Add(FdbEntry {
                        mac: new_mac,
                        remote: "198.18.0.12".parse().unwrap(),
                    }),
                    Change::Delete(fdb("n2", "198.18.0.12")),
                ],
                ..Plan::default()
            }
        );
    }

    #[test]
    fn in_auto_a_peer_moving_into_the_subnet_switches_from_vxlan_to_direct() {
        let before = desired(&three_peers(), NetworkMode::Auto);
        let mut peers = three_peers();
        peers[1].underlay_ips = vec!["198.18.0.13".parse().unwrap()];
        let after = desired(&peers, NetworkMode::Auto);
        let plan = diff(&after, &observed_as_applied(&before));
        assert_eq!(
            plan,
            Plan {
                device: None,
                routes: vec![Change::Replace(direct_route(
                    "10.244.3.0/24",
                    "198.18.0.13"
                ))],
                neighbours: vec![NeighbourChange::Delete("10.244.3.0".parse().unwrap())],
                fdb: vec![Change::Delete(fdb("n3", "198.19.0.13"))],
            }
        );
    }

    #[test]
    fn switching_to_direct_deletes_the_device_and_adds_direct_routes() {
        let before = desired(&three_peers(), NetworkMode::Vxlan);
        let after = desired(&three_peers(), NetworkMode::Direct);
        let plan = diff(&after, &observed_as_applied(&before));
        // The routes, neighbours and FDB entries on the device go with it.
        assert_eq!(
            plan,
            Plan {
                device: Some(DeviceChange::Delete("weft.vxlan".into())),
                routes: vec![
                    Change::Add(direct_route("10.244.2.0/24", "198.18.0.12")),
                    Change::Add(direct_route("10.244.3.0/24", "198.19.0.13")),
                ],
                neighbours: vec![],
                fdb: vec![],
            }
        );
    }

    #[test]
    fn a_device_with_another_vni_is_recreated_and_refilled() {
        let want = desired(&three_peers(), NetworkMode::Vxlan);
        let mut observed = observed_as_applied(&want);
        if let Some(device) = observed.device.as_mut() {
            device.params.as_mut().unwrap().vni = 7;
        }
        let plan = diff(&want, &observed);
        assert_eq!(
            plan.summary(),
            PlanSummary {
                device: Some(DeviceAction::Recreated),
                routes_added: 2,
                neighbours_added: 2,
                fdb_added: 2,
                ..PlanSummary::default()
            },
            "the unreachable route does not use the device and stays"
        );
    }

    #[test]
    fn a_foreign_device_kind_or_another_mac_means_recreating() {
        let want = desired(&three_peers(), NetworkMode::Vxlan);
        for spoil in [
            |d: &mut ObservedDevice| d.params = None,
            |d: &mut ObservedDevice| d.mac = Some([2, 0, 0, 0, 0, 1]),
            |d: &mut ObservedDevice| d.params.as_mut().unwrap().learning = true,
            |d: &mut ObservedDevice| d.params.as_mut().unwrap().underlay_ifname = "eth1".into(),
        ] {
            let mut observed = observed_as_applied(&want);
            spoil(observed.device.as_mut().unwrap());
            let plan = diff(&want, &observed);
            assert_eq!(plan.summary().device, Some(DeviceAction::Recreated));
        }
    }

    #[test]
    fn mtu_state_and_addresses_are_fixed_in_place() {
        let want = desired(&three_peers(), NetworkMode::Vxlan);
        let mut observed = observed_as_applied(&want);
        let device = observed.device.as_mut().unwrap();
        device.mtu = Some(1500);
        device.up = false;
        device.addresses = vec![net("10.99.0.1/32")];
        let plan = diff(&want, &observed);
        assert_eq!(
            plan,
            Plan {
                device: Some(DeviceChange::Update(DeviceUpdate {
                    name: "weft.vxlan".into(),
                    mtu: Some(1450),
                    bring_up: true,
                    add_addresses: vec![net("10.244.1.0/32")],
                    remove_addresses: vec![net("10.99.0.1/32")],
                })),
                ..Plan::default()
            }
        );
    }

    #[test]
    fn entries_on_the_device_that_are_not_wanted_are_removed_or_corrected() {
        let want = desired(&three_peers(), NetworkMode::Vxlan);
        let mut observed = observed_as_applied(&want);
        observed.neighbours[0].permanent = false;
        observed.neighbours.push(ObservedNeighbour {
            address: "10.244.9.0".parse().unwrap(),
            mac: None,
            permanent: false,
        });
        observed.fdb.push(fdb("n9", "198.18.0.19"));
        observed.routes.push(Route {
            destination: net("10.244.9.0/24"),
            next_hop: NextHop::Unrecognised,
        });
        observed.routes[0].next_hop = NextHop::Unrecognised;
        let plan = diff(&want, &observed);
        assert_eq!(
            plan,
            Plan {
                device: None,
                routes: vec![
                    Change::Replace(want.routes[0].clone()),
                    Change::Delete(Route {
                        destination: net("10.244.9.0/24"),
                        next_hop: NextHop::Unrecognised,
                    }),
                ],
                neighbours: vec![
                    NeighbourChange::Replace(want.neighbours[0].clone()),
                    NeighbourChange::Delete("10.244.9.0".parse().unwrap()),
                ],
                fdb: vec![Change::Delete(fdb("n9", "198.18.0.19"))],
            }
        );
    }

    #[test]
    fn summaries_print_their_counts() {
        let summary = PlanSummary {
            device: Some(DeviceAction::Created),
            routes_added: 2,
            fdb_deleted: 1,
            ..PlanSummary::default()
        };
        assert_eq!(
            summary.to_string(),
            "device Created; routes +2 ~0 -0; neighbours +0 ~0 -0; fdb +0 -1"
        );
    }
}
