//! NetworkPolicy on this node: compile the cluster's policies for the local
//! endpoints (crate weft-policy), keep the pinned eBPF maps equal to the
//! result (`enforcer`), stream verdicts (`observe`), and answer weftctl.
//! Pure decisions (`desired`, `slots`, `pod_interface`, `views`) are apart
//! from the shell that writes maps and attaches programs.

mod desired;
mod enforcer;
mod host_addresses;
pub mod observe;
mod pod_interface;
mod reconciler;
mod slots;
pub mod views;

pub use desired::{DesiredPolicy, desired_policy};
pub use enforcer::{EnforcerError, PolicyEnforcer};
pub use host_addresses::host_addresses;
pub use pod_interface::{InvalidEndpoint, pod_interface};
pub use reconciler::PolicyReconciler;
pub use slots::{SlotTable, SlotsExhausted};
