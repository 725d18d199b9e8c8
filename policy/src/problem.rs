//! What the compiler could not use, and how it dealt with it. The API server
//! rejects such objects, but a `dir` datastore can hold anything, so the
//! compiler never fails: it fails closed on the broken part and reports it.

use std::net::IpAddr;

use serde::Serialize;

use crate::inputs::ObjectName;

/// One thing the compiler skipped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub subject: Subject,
    pub issue: Issue,
}

/// The object a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Subject {
    Policy(ObjectName),
    Pod(ObjectName),
}

/// What was wrong. The `Display` text says what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, thiserror::Error)]
pub enum Issue {
    #[error("selector requirement on {0:?} needs values; the selector matches nothing")]
    SelectorValuesMissing(String),
    #[error("selector requirement on {0:?} takes no values; the selector matches nothing")]
    SelectorValuesNotAllowed(String),
    #[error("unknown selector operator {0:?}; the selector matches nothing")]
    UnknownSelectorOperator(String),
    #[error("unknown policy type {0:?}; ignored")]
    UnknownPolicyType(String),
    #[error("peer names no podSelector, namespaceSelector or ipBlock; it matches nothing")]
    EmptyPeer,
    #[error("peer combines ipBlock with a selector; it matches nothing")]
    IpBlockWithSelector,
    #[error("invalid CIDR {0:?}; the peer matches nothing")]
    BadCidr(String),
    #[error("except {except:?} is not strictly inside cidr {cidr:?}; the peer matches nothing")]
    ExceptOutsideCidr { cidr: String, except: String },
    #[error("unknown protocol {0:?}; the port matches nothing")]
    UnknownProtocol(String),
    #[error("port {0} is not in 1-65535; the port matches nothing")]
    PortOutOfRange(i32),
    #[error("endPort needs a numeric port; the port matches nothing")]
    EndPortWithoutNumericPort,
    #[error("endPort {end} is below port {port} or above 65535; the port matches nothing")]
    BadEndPort { port: i32, end: i32 },
    #[error("pod IP {0:?} is not an IP address; ignored")]
    BadPodIp(String),
    #[error("pod IP {ip} is already pod {owner:?}'s; ignored for this pod")]
    DuplicatePodIp { ip: IpAddr, owner: ObjectName },
}
