//! The contract between the CNI plugin and weftd. The endpoint API spoken
//! over weftd's unix socket: one JSON request line, one JSON response line,
//! one connection per call (the plugin uses the blocking client here; weftd
//! decodes the same types). The node-network file weftd publishes for the
//! plugin, the pod MTU bounds both check, the node status weftctl shows,
//! and the protocol version every component reports.

mod build_info;
mod client;
mod messages;
mod mtu;
mod node_network;
mod node_status;
mod revisions;

pub use build_info::{API_VERSION, BuildInfo, Incompatible, compatibility};
pub use client::{ApiError, call};
pub use messages::{Endpoint, EndpointKey, ErrorKind, Request, Response};
pub use mtu::{MtuOutOfRange, check_mtu};
pub use node_network::{NODE_NETWORK_FILE, NodeNetwork, NodeNetworkError};
pub use node_status::{
    DatastoreStatus, MAP_PRESSURE_PERCENT, MapFill, NetworkStatus, NodeStatus, PeerStatus,
    PolicySummary, Probe, ReconcilerState,
};
pub use revisions::{AppliedRevisions, RevisionKind};

/// File name of the endpoint API socket inside weftd's run directory.
pub const SOCKET_FILE: &str = "weftd.sock";

/// Every host-side veth the plugin makes starts with this.
pub const HOST_VETH_PREFIX: &str = "weft";

/// Alias of a host veth that DEL cut off (set down) but did not delete:
/// unregistering a device costs an RCU grace period, so weftd deletes
/// retired veths off the CNI path.
pub const RETIRED_VETH_ALIAS: &str = "weft:retired";

/// Link group of retired veths: one RTM_DELLINK for the group unregisters
/// them all behind a single RCU grace period, which the kernel waits out
/// holding the RTNL lock that every other netlink change needs.
pub const RETIRED_VETH_GROUP: u32 = 0x5745_4654;
