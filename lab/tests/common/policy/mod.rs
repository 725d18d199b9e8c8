//! Shared by the policy tests (policy_conformance, policy_datapath):
//! expected and measured reachability, packet capture inside a pod,
//! clients with a chosen source address, long-lived connections, SIGKILL
//! of weftd, and kube-proxy-shaped Service rules.

pub mod capture;
pub mod connection;
pub mod forge;
pub mod kill;
pub mod kube_proxy;
pub mod reachability;
pub mod source_bound;
