//! Who an address belongs to and which identity and endpoint entries it
//! gets, for any set of addresses weftd has wired: what a CNI ADD or DEL
//! changes, worked out from one compile instead of compiling again.
//!
//! The rules are the compiler's (see `pods`): a wired address is its pod's,
//! before any pod publishing it; among pods claiming one address the first
//! by name keeps it; a wired pod's published addresses are not its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::address_entries::AddressEntries;
use crate::compiled::EndpointPolicy;
use crate::identity::IdentityId;
use crate::inputs::ObjectName;
use crate::ipblock::PrefixTable;
use crate::maps::{EndpointValue, IDENTITY_HOST};
use crate::pods::PodFacts;
use crate::universe::Universe;

/// Everything a compile knows that decides the entries of an address.
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressBook {
    /// Every pod that takes part in policy.
    pods: HashMap<ObjectName, PodAddressing>,
    /// The pods publishing each address, in name order.
    published: HashMap<IpAddr, Vec<ObjectName>>,
    /// Numbers of pod identities by (workload, ipBlock groups of the address).
    pod_identities: HashMap<(usize, Vec<usize>), IdentityId>,
    table: PrefixTable,
    /// Identity entries of ipBlock prefixes, which no pod decides.
    block_prefixes: BTreeMap<IpNet, IdentityId>,
    host_ips: BTreeSet<IpAddr>,
}

#[derive(Debug, Clone)]
struct PodAddressing {
    workload: usize,
    published: Vec<IpAddr>,
    /// Its endpoint entry, if it is an endpoint in scope.
    endpoint: Option<EndpointValue>,
}

impl AddressBook {
    pub(crate) fn new(
        pods: &[PodFacts],
        universe: &Universe,
        table: PrefixTable,
        endpoints: &BTreeMap<ObjectName, EndpointPolicy>,
        host_ips: &[IpAddr],
    ) -> Self {
        let mut published: HashMap<IpAddr, Vec<ObjectName>> = HashMap::new();
        let mut addressing = HashMap::with_capacity(pods.len());
        for (pod, &workload) in pods.iter().zip(&universe.pod_workloads) {
            for ip in &pod.published {
                published.entry(*ip).or_default().push(pod.name.clone());
            }
            let endpoint = endpoints.get(pod.name).map(|e| EndpointValue {
                profile: e.profile,
                flags: e.flags(),
            });
            let pod_addressing = PodAddressing {
                workload,
                published: pod.published.clone(),
                endpoint,
            };
            addressing.insert(pod.name.clone(), pod_addressing);
        }
        let numbered = universe.keys.iter().zip(&universe.numbers);
        let pod_identities = numbered
            .filter_map(|((workload, groups), number)| {
                Some((((*workload)?, groups.clone()), *number))
            })
            .collect();
        AddressBook {
            pods: addressing,
            published,
            pod_identities,
            table,
            block_prefixes: universe.block_prefixes.clone(),
            host_ips: host_ips.iter().copied().collect(),
        }
    }

    /// The addresses `pod` publishes (none if it takes no part in policy).
    pub(crate) fn published_by(&self, pod: &ObjectName) -> &[IpAddr] {
        self.pods.get(pod).map_or(&[], |p| p.published.as_slice())
    }

    /// The entries of `addresses` with `wired` the addresses weftd wired,
    /// by pod.
    pub(crate) fn entries(
        &self,
        addresses: &BTreeSet<IpAddr>,
        wired: &BTreeMap<ObjectName, Vec<IpAddr>>,
    ) -> AddressEntries {
        let mut entries = AddressEntries::default();
        for &address in addresses {
            let owner = self.owner(address, wired);
            let block = self.block_prefixes.get(&IpNet::from(address)).copied();
            let identity = match owner {
                _ if self.host_ips.contains(&address) => Some(IDENTITY_HOST),
                None => block,
                Some((name, pod)) => {
                    let groups = self.table.groups_of(address).to_vec();
                    match self.pod_identities.get(&(pod.workload, groups)) {
                        Some(number) => Some(*number),
                        None => {
                            entries.unnumbered.insert(name.clone());
                            block
                        }
                    }
                }
            };
            entries.identities.insert(address, identity);
            let endpoint = owner.and_then(|(_, pod)| pod.endpoint);
            entries.endpoints.insert(address, endpoint);
        }
        entries
    }

    /// The pod `address` belongs to: the first by name that wired it, else
    /// the first by name publishing it that is not wired.
    fn owner<'s>(
        &'s self,
        address: IpAddr,
        wired: &BTreeMap<ObjectName, Vec<IpAddr>>,
    ) -> Option<(&'s ObjectName, &'s PodAddressing)> {
        let mut wiring = wired.iter().filter(|(_, ips)| ips.contains(&address));
        let wired_owner = wiring.find_map(|(name, _)| self.pods.get_key_value(name));
        wired_owner.or_else(|| {
            let publishing = self.published.get(&address)?.iter();
            let mut unwired = publishing.filter(|name| !wired.contains_key(*name));
            unwired.find_map(|name| self.pods.get_key_value(name))
        })
    }
}
