//! Which pods take part in policy, and what of each one matters: labels,
//! node, addresses and named container ports. Host-network pods are not
//! endpoints (their address is the node's); finished pods (Succeeded,
//! Failed) have given their addresses back.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use weft_datastore::Pod;

use crate::identity::NamedPort;
use crate::inputs::{ClusterInputs, ObjectName};
use crate::problem::{Issue, Problem, Subject};
use crate::protocol::Protocol;

/// A pod as the compiler sees it.
#[derive(Debug, Clone)]
pub(crate) struct PodFacts<'a> {
    pub name: &'a ObjectName,
    pub labels: &'a BTreeMap<String, String>,
    pub node: Option<&'a str>,
    /// Its addresses: the ones weftd wired if it wired the pod, else the
    /// published ones; each belongs to this pod only.
    pub ips: Vec<IpAddr>,
    /// The addresses its status publishes, wired or not (they are the
    /// pod's again once weftd unwires it).
    pub published: Vec<IpAddr>,
    pub named_ports: Vec<NamedPort>,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// The pods that take part, in name order. An address two pods claim stays
/// with the first (addresses weftd wired itself win over published ones).
pub(crate) fn pod_facts<'a>(
    inputs: &ClusterInputs<'a>,
    problems: &mut Vec<Problem>,
) -> Vec<PodFacts<'a>> {
    let mut pods: Vec<PodFacts<'a>> = Vec::new();
    // A wired pod's published addresses are not used, so not reported.
    let mut unreported = Vec::new();
    for (name, pod) in inputs.pods {
        let spec = pod.spec.as_ref();
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let host_network = spec.and_then(|s| s.host_network) == Some(true);
        if host_network || matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let wired = inputs.wired_ips.get(name);
        let report = if wired.is_some() {
            &mut unreported
        } else {
            &mut *problems
        };
        let facts = PodFacts {
            name,
            labels: pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS),
            node: spec.and_then(|s| s.node_name.as_deref()),
            ips: wired.cloned().unwrap_or_default(),
            published: published_ips(name, pod, report),
            named_ports: named_ports(pod),
        };
        pods.push(facts);
    }
    let mut owners: HashMap<IpAddr, &ObjectName> = HashMap::new();
    let mut claim = |name: &'a ObjectName, ip: IpAddr, problems: &mut Vec<Problem>| {
        let owner = *owners.entry(ip).or_insert(name);
        let free = owner == name;
        if !free {
            problems.push(Problem {
                subject: Subject::Pod(name.clone()),
                issue: Issue::DuplicatePodIp {
                    ip,
                    owner: owner.clone(),
                },
            });
        }
        free
    };
    for pod in &mut pods {
        let (name, wired) = (pod.name, std::mem::take(&mut pod.ips));
        pod.ips = wired
            .into_iter()
            .filter(|ip| claim(name, *ip, problems))
            .collect();
    }
    for pod in &mut pods {
        if inputs.wired_ips.contains_key(pod.name) {
            continue;
        }
        let claimed = pod.published.iter().copied();
        let claimed: Vec<IpAddr> = claimed
            .filter(|ip| claim(pod.name, *ip, problems))
            .collect();
        pod.ips.extend(claimed);
    }
    pods
}

/// `status.podIPs`, or `status.podIP` when the list is missing.
fn published_ips(name: &ObjectName, pod: &Pod, problems: &mut Vec<Problem>) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return vec![];
    };
    let texts: Vec<&str> = match (&status.pod_ips, &status.pod_ip) {
        (Some(ips), _) if !ips.is_empty() => ips.iter().map(|ip| ip.ip.as_str()).collect(),
        (_, Some(ip)) => vec![ip.as_str()],
        _ => vec![],
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for text in texts {
        match text.parse() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) => problems.push(Problem {
                subject: Subject::Pod(name.clone()),
                issue: Issue::BadPodIp(text.to_owned()),
            }),
        }
    }
    ips
}

/// Named ports of all containers (init containers too: sidecars serve).
fn named_ports(pod: &Pod) -> Vec<NamedPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return vec![];
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let ports = containers.flat_map(|c| c.ports.iter().flatten());
    ports
        .filter_map(|port| {
            Some(NamedPort {
                name: port.name.clone()?,
                protocol: Protocol::from_name(port.protocol.as_deref().unwrap_or("TCP"))?,
                port: u16::try_from(port.container_port)
                    .ok()
                    .filter(|p| *p != 0)?,
            })
        })
        .collect()
}
