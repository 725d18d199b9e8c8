//! Helpers for Weft's integration tests: uniquely named network namespaces
//! that are always removed, the workspace's built binaries, and running the
//! CNI plugin the way a container runtime does.

mod binaries;
mod daemon;
mod figures;
mod lab_cli;
mod netns;
mod plugin;
mod spawned;
mod wait;

pub use binaries::binary;
pub use daemon::Weftd;
pub use figures::thousands;
pub use lab_cli::run_weft_lab;
pub use netns::{Netns, unique_name};
pub use plugin::{CniCall, CniOutput};
pub use spawned::Spawned;
pub use wait::{eventually, wait_until};
