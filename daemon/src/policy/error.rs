//! How putting policy in effect on this node can fail.

use crate::bpf::BpfError;

#[derive(Debug, thiserror::Error)]
pub enum EnforcerError {
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error("policy is not in effect yet: weftd waits for the cluster's first datastore snapshot")]
    NoSnapshotYet,
    #[error("reading the node's addresses: {0}")]
    HostAddresses(std::io::Error),
    #[error("interface {ifname}: {source}")]
    Interface { ifname: String, source: nix::Error },
    #[error(transparent)]
    Slots(#[from] super::slots::SlotsExhausted),
    #[error(transparent)]
    Endpoint(#[from] super::pod_interface::InvalidEndpoint),
}
