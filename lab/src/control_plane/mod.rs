//! The lab's Kubernetes control plane (kubernetes datastore): per-lab
//! certificates (`pki`) and the kubeconfigs that carry them
//! (`credentials`, `kubeconfig`), the upstream processes (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler) and their
//! flags and address (`endpoint`), started in the control-plane netns
//! (`component`, `flags`,
//! `binaries`, `start`), kube-rs from inside the lab (`client`), and the
//! lab's kubelet part: registering its Nodes and marking them Ready
//! (`node_object`, `registration`), installing Weft from its manifest
//! (`install`), and reading the cluster (`snapshot`). Each node runs the
//! upstream kube-proxy (`kube_proxy`, `kube_proxy_start`).

pub mod binaries;
pub mod client;
pub mod component;
pub mod credentials;
pub mod endpoint;
pub mod flags;
pub mod host_access;
pub mod install;
pub mod kube_proxy;
pub mod kube_proxy_start;
pub mod kubeconfig;
pub mod node_object;
pub mod pki;
pub mod progress;
pub mod registration;
pub mod service_rules;
pub mod settle;
pub mod snapshot;
pub mod start;
