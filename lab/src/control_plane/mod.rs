//! The lab's Kubernetes control plane: per-lab certificates (`pki`), the
//! kubeconfigs that carry them, and the upstream processes (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler) in the
//! control-plane netns.

pub mod pki;
