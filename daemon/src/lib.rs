//! weftd, the weft node agent: it publishes the node's pod network for the
//! CNI plugin, serves the endpoint API on a unix socket, writes the CNI
//! conflist once it serves, and exposes health and metrics over HTTP.
//! Decisions live in pure modules; `daemon` wires the shell around them.

pub mod api;
pub mod bpf;
pub mod bugtool;
pub mod build_info;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod endpoints;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod overlay;
pub mod policy;
pub mod probe;
pub mod readiness;
pub mod reconcile;
pub mod versions;
