//! The network between nodes: everything a node needs so that every pod
//! reaches every pod on other nodes by its own IP, without NAT (a VXLAN
//! overlay, direct routes, or both by subnet), and masquerade of traffic
//! leaving the cluster. Pure modules decide (`desired`, `diff`, `parse`,
//! `masquerade::masquerade_ruleset`, `discover::choose_underlay`); `observe`,
//! `apply`, `sysctl` and `reconcile` are the shell, run by the overlay and
//! masquerade reconcilers.

pub mod apply;
pub mod desired;
pub mod diff;
pub mod discover;
pub mod error;
pub mod exits;
pub mod masquerade;
pub mod masquerade_reconciler;
pub mod model;
pub mod observe;
pub mod parse;
pub mod probe;
pub mod reconcile;
pub mod reconciler;
pub mod report;
pub mod state;
pub mod sysctl;
pub mod vtep;

#[cfg(test)]
mod test_support;

pub use desired::{DesiredNetwork, SkipReason, SkippedPeer, desired_network};
pub use diff::{DeviceAction, Plan, PlanSummary, diff};
pub use discover::local_node_from_interface;
pub use error::OverlayError;
pub use exits::{current_node_exits, is_node_exit, node_exits};
pub use masquerade_reconciler::{HookedExits, MasqueradeReconciler};
pub use model::{DEFAULT_VXLAN_DEVICE, LocalNode, NetworkMode, OverlaySettings, PeerNode};
pub use reconcile::reconcile;
pub use reconciler::{OverlayInputs, OverlayReconciler, OverlayView};
pub use state::ROUTE_PROTOCOL;
pub use vtep::{format_mac, parse_mac, vtep_mac};
