//! Weft's IP address management: picks pod addresses from the node's pod
//! subnets and records them in a crash-safe on-disk store that the CNI
//! plugin (many concurrent short-lived processes) and weftd share.

mod allocations;
mod allocator;
mod error;
mod store;

use serde::{Deserialize, Serialize};

pub use error::IpamError;
pub use store::IpamStore;
/// Attachment identity: CNI's (container ID, ifname).
pub use weft_api::EndpointKey as AttachmentKey;

/// One container interface's reserved addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub key: AttachmentKey,
    /// One address per subnet, in the order the subnets were given.
    pub ips: Vec<std::net::IpAddr>,
    /// The host-side veth, so GC can remove it.
    pub host_ifname: String,
}
