//! One NetworkPolicy checked and reduced to what enforcement needs, with the
//! API's defaults applied: which pods it selects, and per direction it
//! isolates, its rules (peers OR-ed, ports OR-ed, peers AND ports).
//! A broken peer or port matches nothing; a broken podSelector drops the
//! policy. Both are reported.

use std::collections::BTreeSet;

use ipnet::IpNet;
use weft_datastore::NetworkPolicy;
use weft_datastore::k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use weft_datastore::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::inputs::ObjectName;
use crate::ipblock::IpBlockGroup;
use crate::problem::{Issue, Problem, Subject};
use crate::protocol::Protocol;
use crate::rules::Direction;
use crate::selector::Selector;

/// A policy as the compiler uses it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedPolicy {
    pub name: ObjectName,
    /// Selects pods of the policy's namespace.
    pub selector: Selector,
    /// Present when the policy isolates selected pods for ingress.
    pub ingress: Option<Vec<Rule>>,
    /// Present when the policy isolates selected pods for egress.
    pub egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// None: any peer, inside or outside the cluster (`from`/`to` absent or empty).
    pub peers: Option<Vec<PeerSpec>>,
    /// None: any protocol and port (`ports` absent or empty).
    pub ports: Option<Vec<PortSpec>>,
}

#[derive(Debug, Clone)]
pub(crate) enum PeerSpec {
    Pods {
        /// None: the policy's own namespace.
        namespaces: Option<Selector>,
        pods: Selector,
    },
    Block(IpBlockGroup),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortSpec {
    Range {
        protocol: Protocol,
        first: u16,
        last: u16,
    },
    /// A container port name, resolved on the pod that receives the traffic.
    Named { protocol: Protocol, name: String },
}

impl ParsedPolicy {
    /// Checks `policy`; None when its podSelector is unusable.
    pub(crate) fn parse(
        name: &ObjectName,
        policy: &NetworkPolicy,
        problems: &mut Vec<Problem>,
    ) -> Option<ParsedPolicy> {
        let mut report = |issue| {
            problems.push(Problem {
                subject: Subject::Policy(name.clone()),
                issue,
            })
        };
        let default_spec = NetworkPolicySpec::default();
        let spec = policy.spec.as_ref().unwrap_or(&default_spec);
        let selector = match spec.pod_selector.as_ref().map(Selector::parse) {
            None => Selector::default(),
            Some(Ok(selector)) => selector,
            Some(Err(issue)) => {
                report(issue);
                return None;
            }
        };
        let (isolates_ingress, isolates_egress) = policy_types(spec, &mut report);
        let ingress = isolates_ingress.then(|| {
            let rules = spec.ingress.iter().flatten();
            rules
                .map(|r| Rule::parse(r.from.as_deref(), r.ports.as_deref(), &mut report))
                .collect()
        });
        let egress = isolates_egress.then(|| {
            let rules = spec.egress.iter().flatten();
            rules
                .map(|r| Rule::parse(r.to.as_deref(), r.ports.as_deref(), &mut report))
                .collect()
        });
        Some(ParsedPolicy {
            name: name.clone(),
            selector,
            ingress,
            egress,
        })
    }

    /// The rules for `direction`, if the policy isolates it.
    pub(crate) fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

/// Named ports used by `direction`'s rules, as (protocol, name).
pub(crate) fn named_ports_used(
    policies: &[ParsedPolicy],
    direction: Direction,
) -> BTreeSet<(Protocol, &str)> {
    let rules = policies
        .iter()
        .flat_map(|p| p.rules(direction).into_iter().flatten());
    let ports = rules.flat_map(|r| r.ports.iter().flatten());
    ports
        .filter_map(|port| match port {
            PortSpec::Named { protocol, name } => Some((*protocol, name.as_str())),
            PortSpec::Range { .. } => None,
        })
        .collect()
}

/// (ingress, egress) isolation. Without policyTypes the API defaults to
/// Ingress always, plus Egress when the policy has egress rules.
fn policy_types(spec: &NetworkPolicySpec, report: &mut impl FnMut(Issue)) -> (bool, bool) {
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => {
            let (mut ingress, mut egress) = (false, false);
            for kind in types {
                match kind.as_str() {
                    "Ingress" => ingress = true,
                    "Egress" => egress = true,
                    other => report(Issue::UnknownPolicyType(other.to_owned())),
                }
            }
            (ingress, egress)
        }
        _ => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    }
}

impl Rule {
    fn parse(
        peers: Option<&[NetworkPolicyPeer]>,
        ports: Option<&[NetworkPolicyPort]>,
        report: &mut impl FnMut(Issue),
    ) -> Rule {
        // A non-empty list whose entries are all broken must stay a list
        // (matching nothing), not become "absent" (matching everything).
        let peers = peers.filter(|p| !p.is_empty()).map(|peers| {
            let parsed = peers.iter().map(PeerSpec::parse);
            parsed
                .filter_map(|p| p.map_err(&mut *report).ok())
                .collect()
        });
        let ports = ports.filter(|p| !p.is_empty()).map(|ports| {
            let parsed = ports.iter().map(PortSpec::parse);
            parsed
                .filter_map(|p| p.map_err(&mut *report).ok())
                .collect()
        });
        Rule { peers, ports }
    }
}

impl PeerSpec {
    fn parse(peer: &NetworkPolicyPeer) -> Result<PeerSpec, Issue> {
        match (&peer.pod_selector, &peer.namespace_selector, &peer.ip_block) {
            (None, None, None) => Err(Issue::EmptyPeer),
            (None, None, Some(block)) => parse_block(block).map(PeerSpec::Block),
            (_, _, Some(_)) => Err(Issue::IpBlockWithSelector),
            (pods, namespaces, None) => Ok(PeerSpec::Pods {
                namespaces: namespaces.as_ref().map(Selector::parse).transpose()?,
                pods: pods
                    .as_ref()
                    .map(Selector::parse)
                    .transpose()?
                    .unwrap_or_default(),
            }),
        }
    }
}

fn parse_block(block: &IPBlock) -> Result<IpBlockGroup, Issue> {
    let parse = |text: &str| {
        text.parse::<IpNet>()
            .map(|net| net.trunc())
            .map_err(|_| Issue::BadCidr(text.to_owned()))
    };
    let cidr = parse(&block.cidr)?;
    let mut except = Vec::new();
    for text in block.except.iter().flatten() {
        let net = parse(text)?;
        if !cidr.contains(&net) || net.prefix_len() <= cidr.prefix_len() {
            return Err(Issue::ExceptOutsideCidr {
                cidr: block.cidr.clone(),
                except: text.clone(),
            });
        }
        except.push(net);
    }
    Ok(IpBlockGroup::new(cidr, except))
}

impl PortSpec {
    fn parse(port: &NetworkPolicyPort) -> Result<PortSpec, Issue> {
        let protocol_name = port.protocol.as_deref().unwrap_or("TCP");
        let protocol = Protocol::from_name(protocol_name)
            .ok_or_else(|| Issue::UnknownProtocol(protocol_name.to_owned()))?;
        let number = |n: i32| u16::try_from(n).ok().filter(|n| *n != 0);
        match (&port.port, port.end_port) {
            (None, None) => Ok(PortSpec::Range {
                protocol,
                first: 0,
                last: u16::MAX,
            }),
            (Some(IntOrString::Int(n)), end) => {
                let first = number(*n).ok_or(Issue::PortOutOfRange(*n))?;
                let last = match end {
                    None => first,
                    Some(e) => number(e)
                        .filter(|e| *e >= first)
                        .ok_or(Issue::BadEndPort { port: *n, end: e })?,
                };
                Ok(PortSpec::Range {
                    protocol,
                    first,
                    last,
                })
            }
            (Some(IntOrString::String(name)), None) => Ok(PortSpec::Named {
                protocol,
                name: name.clone(),
            }),
            (_, Some(_)) => Err(Issue::EndPortWithoutNumericPort),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(protocol: Option<&str>, port: Option<IntOrString>, end: Option<i32>) -> PortSpec {
        PortSpec::parse(&NetworkPolicyPort {
            protocol: protocol.map(str::to_owned),
            port,
            end_port: end,
        })
        .unwrap()
    }

    #[test]
    fn ports_default_to_tcp_and_all_port_numbers() {
        assert_eq!(
            port(None, None, None),
            PortSpec::Range {
                protocol: Protocol::Tcp,
                first: 0,
                last: u16::MAX
            }
        );
        assert_eq!(
            port(Some("SCTP"), Some(IntOrString::Int(80)), Some(81)),
            PortSpec::Range {
                protocol: Protocol::Sctp,
                first: 80,
                last: 81
            }
        );
        assert_eq!(
            port(Some("UDP"), Some(IntOrString::String("dns".into())), None),
            PortSpec::Named {
                protocol: Protocol::Udp,
                name: "dns".into()
            }
        );
    }

    #[test]
    fn invalid_ports_are_rejected() {
        let parse = |protocol: &str, port, end_port| {
            PortSpec::parse(&NetworkPolicyPort {
                protocol: Some(protocol.into()),
                port,
                end_port,
            })
        };
        assert_eq!(
            parse("ICMP", None, None),
            Err(Issue::UnknownProtocol("ICMP".into()))
        );
        assert_eq!(
            parse("TCP", Some(IntOrString::Int(0)), None),
            Err(Issue::PortOutOfRange(0))
        );
        assert_eq!(
            parse("TCP", Some(IntOrString::Int(81)), Some(80)),
            Err(Issue::BadEndPort { port: 81, end: 80 })
        );
        assert_eq!(
            parse("TCP", Some(IntOrString::String("http".into())), Some(90)),
            Err(Issue::EndPortWithoutNumericPort)
        );
    }

    #[test]
    fn ip_blocks_are_normalized_and_checked() {
        let block = |cidr: &str, except: &[&str]| {
            parse_block(&IPBlock {
                cidr: cidr.into(),
                except: Some(except.iter().map(|e| e.to_string()).collect()),
            })
        };
        let group = block("10.0.0.7/24", &["10.0.0.128/25"]).unwrap();
        assert_eq!(group.cidr, "10.0.0.0/24".parse().unwrap());
        assert_eq!(group.except, vec!["10.0.0.128/25".parse().unwrap()]);
        assert_eq!(
            block("10.0.0/24", &[]),
            Err(Issue::BadCidr("10.0.0/24".into()))
        );
        assert!(matches!(
            block("10.0.0.0/24", &["10.0.1.0/25"]),
            Err(Issue::ExceptOutsideCidr { .. })
        ));
        assert!(matches!(
            block("10.0.0.0/24", &["10.0.0.0/24"]),
            Err(Issue::ExceptOutsideCidr { .. })
        ));
    }
}
