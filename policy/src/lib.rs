//! Kubernetes NetworkPolicy for Weft's datapath: [`compile`] turns
//! namespaces, pods and `networking.k8s.io/v1` NetworkPolicies into
//! identities, endpoints and allow rules ([`CompiledPolicy`], the logical
//! form), [`CompiledPolicy::map_contents`] encodes them as the eBPF maps'
//! entries ([`maps`]), [`diff`] gives the writes between two contents, and
//! [`evaluate`] decides a packet exactly as the eBPF program will.
//! [`prepare`] compiles and keeps what decides single addresses, so the
//! entries of a pod weftd wires or unwires (CNI ADD, DEL) come from
//! [`PreparedCluster::address_entries`] without compiling again.
//!
//! The encoding makes per-packet cost constant: one endpoint hash lookup,
//! one identity LPM lookup of the peer address, and at most two policy LPM
//! lookups (protocol and port are the LPM part), whatever the number of
//! policies, rules and pods.
//!
//! Design:
//! - An identity is what selectors and ipBlocks can see of an address: the
//!   pod's namespace, namespace labels and labels, the ipBlock groups
//!   containing the address, and the pod's container ports whose names
//!   egress rules use (so a named egress port allows exactly each peer's own
//!   number). Reserved: 0 any (in policy keys), 1 world, 2 host.
//! - Numbers (identities, profiles) come from a hash of what they stand
//!   for: stable across restarts and unrelated changes, so diffs stay small.
//! - Endpoints with equal rules share a profile; the policy map is keyed by
//!   profile, so replicas cost no policy entries. A changed profile gets a
//!   new number: weftd writes its entries, then switches endpoints with one
//!   write each, then deletes the old entries ([`MapChanges::apply`]).
//! - Broken parts of objects (the API server would reject them) fail
//!   closed: a broken peer or port matches nothing; they are reported in
//!   [`CompiledPolicy::problems`].
//!
//! Semantics beyond the API reference, as Kubernetes documents them:
//! traffic between a pod and its own node always passes (node addresses get
//! the reserved host identity, allowed in every enforced direction), and a
//! pod cannot block traffic with itself.

mod address_entries;
mod addresses;
mod compile;
mod compiled;
mod diff;
mod encode;
mod evaluate;
mod expand;
mod fail_closed;
mod identity;
mod inputs;
mod ipblock;
pub mod maps;
mod numbering;
mod pods;
mod ports;
mod prepared;
mod problem;
mod protocol;
mod resolve;
mod rules;
mod selector;
mod spec;
mod universe;
mod validate;

pub use address_entries::AddressEntries;
pub use compile::{compile, prepare};
pub use compiled::{CompiledPolicy, EndpointPolicy, ProfileId};
pub use diff::{Changes, MapChanges, diff};
pub use encode::MapContents;
pub use evaluate::{Packet, Verdict, evaluate, lookup_identity};
pub use fail_closed::{Refused, fail_closed};
pub use identity::{Identity, IdentityId, NamedPort, PodIdentity};
pub use inputs::{ClusterInputs, EndpointScope, ObjectName};
pub use ipblock::IpBlockGroup;
pub use ports::{PortPrefix, port_prefixes};
pub use prepared::PreparedCluster;
pub use problem::{Issue, Problem, Subject};
pub use protocol::Protocol;
pub use rules::{AllowRule, Direction, Peer, Profile, Traffic};
pub use validate::{
    FieldError, check_label_key, check_label_value, check_port_name, check_port_number,
    is_dns_label, validate_policy,
};
