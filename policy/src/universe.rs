//! Every workload and identity of the cluster: distinct pod facts that
//! selectors can see, the identities of pod addresses and ipBlock prefixes
//! with their stable numbers, and the identity LPM content.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;

use crate::identity::{Identity, IdentityId, PodIdentity};
use crate::inputs::ClusterInputs;
use crate::ipblock::PrefixTable;
use crate::maps::{FIRST_COMPUTED_IDENTITY, IDENTITY_HOST, IDENTITY_WORLD};
use crate::numbering::assign_numbers;
use crate::pods::PodFacts;
use crate::protocol::Protocol;
use crate::rules::Direction;
use crate::selector::Selector;
use crate::spec::{ParsedPolicy, named_ports_used};

/// Every workload and identity of the cluster and the identity LPM content.
pub(crate) struct Universe {
    /// Distinct pod facts that selectors and egress named ports can see.
    pub(crate) workloads: Vec<PodIdentity>,
    pub(crate) workloads_by_namespace: HashMap<String, Vec<usize>>,
    /// Workloads by (namespace, label key, label value), so a selector with
    /// `matchLabels` checks only the workloads carrying one of its labels
    /// (a policy with 10,000 peers would otherwise check every workload
    /// 10,000 times).
    workloads_by_label: HashMap<(String, String, String), Vec<usize>>,
    /// Per pod (as in the pod list), its workload.
    pub(crate) pod_workloads: Vec<usize>,
    pub(crate) identities: Vec<Identity>,
    /// Per identity, (its workload if it is a pod's, its ipBlock groups).
    pub(crate) keys: Vec<(Option<usize>, Vec<usize>)>,
    pub(crate) numbers: Vec<IdentityId>,
    pub(crate) identities_of_workload: Vec<Vec<usize>>,
    pub(crate) identities_of_group: Vec<Vec<usize>>,
    /// Per egress named port, the identities having it and its number there.
    pub(crate) egress_named: HashMap<(Protocol, String), Vec<(usize, u16)>>,
    /// The identity LPM entries of ipBlock prefixes alone.
    pub(crate) block_prefixes: BTreeMap<IpNet, IdentityId>,
    /// The whole identity LPM content.
    pub(crate) prefixes: BTreeMap<IpNet, IdentityId>,
}

impl Universe {
    pub(crate) fn new<'t>(
        pods: &[PodFacts],
        namespaces: &BTreeMap<String, BTreeMap<String, String>>,
        table: &'t PrefixTable,
        policies: &[ParsedPolicy],
        inputs: &ClusterInputs,
    ) -> Self {
        let egress_names = named_ports_used(policies, Direction::Egress);
        let mut workload_index: HashMap<PodIdentity, usize> = HashMap::new();
        let mut workloads = Vec::new();
        let mut pod_workloads = Vec::with_capacity(pods.len());
        // Identities keyed by (workload, group indices) while collecting.
        let mut identity_index: HashMap<(Option<usize>, &'t [usize]), usize> = HashMap::new();
        let mut identity_keys: Vec<(Option<usize>, &'t [usize])> = Vec::new();
        let mut intern = |key: (Option<usize>, &'t [usize])| {
            *identity_index.entry(key).or_insert_with(|| {
                identity_keys.push(key);
                identity_keys.len() - 1
            })
        };
        let mut pod_addresses: Vec<(IpNet, usize)> = Vec::new();
        for pod in pods {
            let namespace = &pod.name.0;
            let named_ports = pod
                .named_ports
                .iter()
                .filter(|port| egress_names.contains(&(port.protocol, port.name.as_str())));
            let identity = PodIdentity {
                namespace: namespace.clone(),
                namespace_labels: namespaces.get(namespace).cloned().unwrap_or_default(),
                labels: pod.labels.clone(),
                named_ports: named_ports.cloned().collect(),
            };
            let workload = *workload_index
                .entry(identity)
                .or_insert_with_key(|identity| {
                    workloads.push(identity.clone());
                    workloads.len() - 1
                });
            pod_workloads.push(workload);
            for ip in &pod.ips {
                let identity = intern((Some(workload), table.groups_of(*ip)));
                pod_addresses.push((IpNet::from(*ip), identity));
            }
        }
        let mut block_prefixes: Vec<(IpNet, Option<usize>)> = Vec::new();
        for (prefix, groups) in &table.prefixes {
            let identity = (!groups.is_empty()).then(|| intern((None, groups)));
            block_prefixes.push((*prefix, identity));
        }

        let identities: Vec<Identity> = identity_keys
            .iter()
            .map(|(workload, groups)| Identity {
                pod: workload.map(|w| workloads[w].clone()),
                groups: groups.iter().map(|&g| table.groups[g].clone()).collect(),
            })
            .collect();
        let numbers = number_identities(&identities);
        let mut identities_of_workload = vec![Vec::new(); workloads.len()];
        let mut identities_of_group = vec![Vec::new(); table.groups.len()];
        let mut egress_named: HashMap<(Protocol, String), Vec<(usize, u16)>> = HashMap::new();
        for (index, (workload, groups)) in identity_keys.iter().enumerate() {
            for &group in *groups {
                identities_of_group[group].push(index);
            }
            if let Some(workload) = workload {
                identities_of_workload[*workload].push(index);
                for port in &workloads[*workload].named_ports {
                    let key = (port.protocol, port.name.clone());
                    egress_named
                        .entry(key)
                        .or_default()
                        .push((index, port.port));
                }
            }
        }

        // Later entries win: pod addresses over ipBlock prefixes, the node
        // over everything.
        let block_prefixes: BTreeMap<IpNet, IdentityId> = block_prefixes
            .into_iter()
            .map(|(prefix, identity)| (prefix, identity.map_or(IDENTITY_WORLD, |i| numbers[i])))
            .collect();
        let mut prefixes = block_prefixes.clone();
        for (prefix, identity) in pod_addresses {
            prefixes.insert(prefix, numbers[identity]);
        }
        for ip in inputs.host_ips {
            prefixes.insert(IpNet::from(*ip), IDENTITY_HOST);
        }

        let mut workloads_by_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut workloads_by_label: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
        for (index, workload) in workloads.iter().enumerate() {
            let namespace = workload.namespace.clone();
            for (key, value) in &workload.labels {
                let label = (namespace.clone(), key.clone(), value.clone());
                workloads_by_label.entry(label).or_default().push(index);
            }
            workloads_by_namespace
                .entry(namespace)
                .or_default()
                .push(index);
        }
        let keys = identity_keys
            .into_iter()
            .map(|(workload, groups)| (workload, groups.to_vec()))
            .collect();
        Universe {
            workloads,
            workloads_by_namespace,
            workloads_by_label,
            pod_workloads,
            identities,
            keys,
            numbers,
            identities_of_workload,
            identities_of_group,
            egress_named,
            block_prefixes,
            prefixes,
        }
    }

    /// Identities by number, for the output.
    pub(crate) fn identity_table(&self) -> BTreeMap<IdentityId, Identity> {
        let numbered = self
            .numbers
            .iter()
            .copied()
            .zip(self.identities.iter().cloned());
        numbered.collect()
    }

    pub(crate) fn workloads_in<'s>(&'s self, namespace: &str) -> impl Iterator<Item = usize> + 's {
        let workloads = self.workloads_by_namespace.get(namespace);
        workloads.into_iter().flatten().copied()
    }

    /// The workloads of `namespace` that `selector` selects.
    pub(crate) fn selected_in(&self, namespace: &str, selector: &Selector) -> Vec<usize> {
        let narrowest = selector
            .required_labels()
            .map(|(key, value)| {
                let label = (namespace.to_owned(), key.to_owned(), value.to_owned());
                self.workloads_by_label
                    .get(&label)
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|candidates| candidates.len());
        let candidates: Box<dyn Iterator<Item = usize>> = match narrowest {
            Some(candidates) => Box::new(candidates.iter().copied()),
            None => Box::new(self.workloads_in(namespace)),
        };
        candidates
            .filter(|&w| selector.matches(&self.workloads[w].labels))
            .collect()
    }
}

/// Numbers from each identity's hash, assigned in identity order.
fn number_identities(identities: &[Identity]) -> Vec<IdentityId> {
    let mut order: Vec<usize> = (0..identities.len()).collect();
    order.sort_by(|&a, &b| identities[a].cmp(&identities[b]));
    let hashes = order.iter().map(|&i| identities[i].stable_hash());
    let assigned = assign_numbers(hashes, FIRST_COMPUTED_IDENTITY);
    let mut numbers = vec![0; identities.len()];
    for (index, number) in order.into_iter().zip(assigned) {
        numbers[index] = number;
    }
    numbers
}
