//! weftd, the weft node agent: it publishes the node's pod network for the
//! CNI plugin, serves the endpoint API on a unix socket, writes the CNI
//! conflist once it serves, and exposes health and metrics over HTTP.
//! Decisions live in pure modules; `daemon` wires the shell around them.

pub mod api_server;
pub mod bpf;
pub mod cluster_network;
pub mod cluster_nodes;
pub mod config;
pub mod conflist;
pub mod ctl;
pub mod daemon;
pub mod endpoints;
pub mod handler;
pub mod http;
pub mod key_locks;
pub mod metrics;
pub mod mtu;
pub mod node_bootstrap;
pub mod overlay;
pub mod policy;
pub mod programmer;
pub mod readiness;
pub mod registry;
pub mod store;
pub mod subnet_claim;
pub mod underlay;
pub mod veth_reaper;
