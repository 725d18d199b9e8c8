//! Which pods take part in policy, and what of each one matters: labels,
//! node, addresses and named container ports. Every pod the datastore
//! keeps a record of does: host-network pods (their address is the node's)
//! and finished ones (they gave their addresses back) have none.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use weft_datastore::PodRecord;

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
        let wired = inputs.wired_ips.get(name);
        let report = if wired.is_some() {
            &mut unreported
        } else {
            &mut *problems
        };
        let facts = PodFacts {
            name,
            labels: &pod.labels,
            node: pod.node_name.as_deref(),
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

/// The addresses `pod` publishes, parsed, each once.
fn published_ips(name: &ObjectName, pod: &PodRecord, problems: &mut Vec<Problem>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for text in &pod.ips {
        match text.parse() {
            Ok(ip) if !ips.contains(&ip) => ips.push(ip),
            Ok(_) => {}
            Err(_) => problems.push(Problem {
                subject: Subject::Pod(name.clone()),
                issue: Issue::BadPodIp(text.clone()),
            }),
        }
    }
    ips
}

/// The pod's named ports the compiler can use.
fn named_ports(pod: &PodRecord) -> Vec<NamedPort> {
    pod.named_ports
        .iter()
        .filter_map(|port| {
            Some(NamedPort {
                name: port.name.clone(),
                protocol: Protocol::from_name(port.protocol.as_deref().unwrap_or("TCP"))?,
                port: u16::try_from(port.container_port)
                    .ok()
                    .filter(|p| *p != 0)?,
            })
        })
        .collect()
}
