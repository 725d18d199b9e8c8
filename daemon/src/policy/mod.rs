//! NetworkPolicy on this node: compile the cluster's policies for the local
//! endpoints (crate weft-policy), keep the pinned eBPF maps equal to the
//! result (`enforcer`, through `datapath`), stream verdicts (`observe`), and
//! answer weftctl. Pure decisions (`desired`, `slots`, `pod_interface`,
//! `views`) are apart from the shell that writes maps and attaches programs.

mod datapath;
mod desired;
mod enforcer;
#[cfg(test)]
mod enforcer_tests;
mod error;
#[cfg(test)]
mod fake_datapath;
mod host_addresses;
mod interfaces;
pub mod observe;
mod pod_interface;
mod reconciler;
mod slots;
pub mod views;

pub use datapath::PolicyDatapath;
pub use desired::{PreparedPolicy, prepare_policy};
pub use enforcer::PolicyEnforcer;
pub use error::EnforcerError;
pub use host_addresses::host_addresses;
pub use pod_interface::{InvalidEndpoint, pod_interface};
pub use reconciler::PolicyReconciler;
pub use slots::{SlotTable, SlotsExhausted};
