//! The compiler: namespaces, pods and NetworkPolicies in, identities,
//! prefixes, endpoints and profiles out. A pure function of its inputs.
//! [`prepare`] also keeps what decides single addresses' entries, so weftd
//! can wire a pod without compiling again (see [`PreparedCluster`]).
//!
//! Work is shared wherever the outcome cannot differ: selectors run once per
//! workload (pods with equal identity-relevant facts), peers resolve once
//! per policy, and allow rules are built once per endpoint class (equal
//! selecting policies and equal ingress named ports).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::addresses::AddressBook;
use crate::compiled::{CompiledPolicy, EndpointPolicy, ProfileId};
use crate::expand::ClassKey;
use crate::identity::NamedPort;
use crate::inputs::{ClusterInputs, EndpointScope, ObjectName};
use crate::ipblock::{IpBlockGroup, PrefixTable};
use crate::numbering::{StableHasher, assign_numbers};
use crate::pods::{PodFacts, pod_facts};
use crate::prepared::PreparedCluster;
use crate::resolve::ResolvedPolicy;
use crate::rules::{AllowRule, Direction, Peer, Profile, Traffic};
use crate::spec::{ParsedPolicy, PeerSpec, named_ports_used};
use crate::universe::Universe;

/// The label the API server puts on every namespace, naming it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Compiles `inputs` into what the policy maps should hold.
pub fn compile(inputs: &ClusterInputs) -> CompiledPolicy {
    Compilation::run(inputs).compiled
}

/// Compiles `inputs` and keeps what decides the entries of single addresses.
pub fn prepare(inputs: &ClusterInputs) -> PreparedCluster {
    let Compilation {
        compiled,
        pods,
        universe,
        table,
    } = Compilation::run(inputs);
    let addresses = AddressBook::new(
        &pods,
        &universe,
        table,
        &compiled.endpoints,
        inputs.host_ips,
    );
    PreparedCluster {
        compiled: Arc::new(compiled),
        addresses,
    }
}

/// A compile's result and the parts of its work that decide addresses.
struct Compilation<'a> {
    compiled: CompiledPolicy,
    pods: Vec<PodFacts<'a>>,
    universe: Universe,
    table: PrefixTable,
}

impl<'a> Compilation<'a> {
    fn run(inputs: &ClusterInputs<'a>) -> Self {
        let mut problems = Vec::new();
        let policies: Vec<ParsedPolicy> = inputs
            .policies
            .iter()
            .filter_map(|(name, policy)| ParsedPolicy::parse(name, policy, &mut problems))
            .collect();
        let pods = pod_facts(inputs, &mut problems);
        let namespaces = namespace_labels(inputs, &pods);
        let table = PrefixTable::new(ip_block_groups(&policies));
        let mut universe = Universe::new(&pods, &namespaces, &table, &policies, inputs);
        let resolved: Vec<ResolvedPolicy> = policies
            .iter()
            .map(|policy| universe.resolve(policy, &namespaces, &table))
            .collect();

        let (endpoints, classes) = endpoint_classes(inputs, &pods, &universe, &policies);
        let class_rules: Vec<Vec<AllowRule>> = classes
            .iter()
            .map(|class| universe.class_rules(class, &resolved))
            .collect();
        let (class_profiles, profiles) = number_profiles(class_rules);

        let endpoints: BTreeMap<ObjectName, EndpointPolicy> = endpoints
            .into_iter()
            .map(|(pod, class)| {
                let names = |selecting: &[usize]| -> Vec<ObjectName> {
                    selecting
                        .iter()
                        .map(|&p| policies[p].name.clone())
                        .collect()
                };
                let policy = EndpointPolicy {
                    ips: pod.ips.clone(),
                    ingress_policies: names(&classes[class].ingress),
                    egress_policies: names(&classes[class].egress),
                    profile: class_profiles[class],
                };
                (pod.name.clone(), policy)
            })
            .collect();
        problems.sort();
        let compiled = CompiledPolicy {
            identities: universe.identity_table(),
            prefixes: std::mem::take(&mut universe.prefixes),
            endpoints,
            profiles,
            problems,
        };
        Compilation {
            compiled,
            pods,
            universe,
            table,
        }
    }
}

/// Labels per namespace, for every namespace object and every namespace a
/// pod is in, with the name label the API server always sets.
fn namespace_labels(
    inputs: &ClusterInputs,
    pods: &[PodFacts],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut labels: BTreeMap<String, BTreeMap<String, String>> = inputs
        .namespaces
        .iter()
        .map(|(name, ns)| (name.clone(), ns.metadata.labels.clone().unwrap_or_default()))
        .collect();
    for pod in pods {
        labels.entry(pod.name.0.clone()).or_default();
    }
    for (name, labels) in &mut labels {
        labels.insert(NAMESPACE_NAME_LABEL.to_owned(), name.clone());
    }
    labels
}

fn ip_block_groups(policies: &[ParsedPolicy]) -> BTreeSet<IpBlockGroup> {
    let rules = policies.iter().flat_map(|p| {
        let ingress = p.ingress.iter().flatten();
        ingress.chain(p.egress.iter().flatten())
    });
    let peers = rules.flat_map(|r| r.peers.iter().flatten());
    peers
        .filter_map(|peer| match peer {
            PeerSpec::Block(group) => Some(group.clone()),
            PeerSpec::Pods { .. } => None,
        })
        .collect()
}

/// The in-scope pods with their class, and the classes.
fn endpoint_classes<'a, 'p>(
    inputs: &ClusterInputs,
    pods: &'p [PodFacts<'a>],
    universe: &Universe,
    policies: &[ParsedPolicy],
) -> (Vec<(&'p PodFacts<'a>, usize)>, Vec<ClassKey>) {
    let ingress_names = named_ports_used(policies, Direction::Ingress);
    let mut policies_by_namespace: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, policy) in policies.iter().enumerate() {
        let namespace = policy.name.0.as_str();
        policies_by_namespace
            .entry(namespace)
            .or_default()
            .push(index);
    }
    // Selection depends on the workload only, so it is computed once per workload.
    let mut selections: HashMap<usize, (Vec<usize>, Vec<usize>)> = HashMap::new();
    let mut class_index: HashMap<ClassKey, usize> = HashMap::new();
    let mut classes = Vec::new();
    let mut endpoints = Vec::new();
    for (pod, &workload) in pods.iter().zip(&universe.pod_workloads) {
        let in_scope = match inputs.scope {
            EndpointScope::Cluster => true,
            EndpointScope::Node(node) => pod.node == Some(node),
        };
        if !in_scope {
            continue;
        }
        let (ingress, egress) = selections
            .entry(workload)
            .or_insert_with(|| {
                let candidates = policies_by_namespace.get(pod.name.0.as_str());
                let labels = &universe.workloads[workload].labels;
                let selecting: Vec<usize> = candidates
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&p| policies[p].selector.matches(labels))
                    .collect();
                let isolating = |direction| {
                    let isolates = |p: &usize| policies[*p].rules(direction).is_some();
                    selecting.iter().copied().filter(isolates).collect()
                };
                (isolating(Direction::Ingress), isolating(Direction::Egress))
            })
            .clone();
        let mut ingress_ports: Vec<NamedPort> = pod
            .named_ports
            .iter()
            .filter(|p| ingress_names.contains(&(p.protocol, p.name.as_str())))
            .cloned()
            .collect();
        ingress_ports.sort();
        let key = ClassKey {
            ingress,
            egress,
            ingress_ports,
        };
        let class = *class_index.entry(key).or_insert_with_key(|key| {
            classes.push(key.clone());
            classes.len() - 1
        });
        endpoints.push((pod, class));
    }
    (endpoints, classes)
}

/// Profiles from each class's rules: equal rules share one profile, whose
/// number comes from a hash of the rules, so a changed profile gets a new
/// number and weftd can switch endpoints to it in one write.
fn number_profiles(
    class_rules: Vec<Vec<AllowRule>>,
) -> (Vec<ProfileId>, BTreeMap<ProfileId, Profile>) {
    let distinct: BTreeSet<&Vec<AllowRule>> = class_rules.iter().collect();
    let hashes = distinct.iter().map(|rules| profile_hash(rules));
    let numbers: HashMap<&Vec<AllowRule>, ProfileId> = distinct
        .iter()
        .copied()
        .zip(assign_numbers(hashes, 1))
        .collect();
    let class_profiles: Vec<ProfileId> = class_rules.iter().map(|rules| numbers[rules]).collect();
    let profiles = numbers
        .iter()
        .map(|(rules, number)| {
            (
                *number,
                Profile {
                    rules: (*rules).clone(),
                },
            )
        })
        .collect();
    (class_profiles, profiles)
}

fn profile_hash(rules: &[AllowRule]) -> u32 {
    let mut hasher = StableHasher::default();
    hasher.len(rules.len());
    for rule in rules {
        let peer = match rule.peer {
            Peer::Any => 0,
            Peer::Identity(identity) => identity,
        };
        let (protocol, first, last) = match rule.traffic {
            Traffic::Any => (0, 0, u16::MAX),
            Traffic::Ports {
                protocol,
                first,
                last,
            } => (protocol.number(), first, last),
        };
        hasher
            .u8(rule.direction.code())
            .u32(peer)
            .u8(protocol)
            .u16(first)
            .u16(last);
    }
    hasher.finish()
}
