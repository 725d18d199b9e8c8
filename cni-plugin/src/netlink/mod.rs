//! The imperative shell towards the kernel: netlink requests on the host
//! and inside the pod netns. Each function applies part of a computed
//! [`crate::plan::WiringPlan`] (or reads state back for CHECK) and nothing more.

mod connection;
mod error;
pub mod host;
pub mod netns;
pub mod pod;
pub mod wiring;

pub use connection::run_netlink;
pub use error::KernelError;
