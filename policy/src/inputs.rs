//! What the compiler reads: the cluster's namespaces, pods and policies (as a
//! datastore snapshot holds them), which pods are this node's endpoints, the
//! node's own addresses, and the addresses weftd wired itself.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use weft_datastore::{ClusterSnapshot, Namespace, NetworkPolicy, PodRecord};

/// (namespace, name) of a namespaced object, as `ClusterSnapshot` keys them.
pub type ObjectName = (String, String);

/// Which pods get endpoint entries (policy is enforced where a pod is attached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointScope<'a> {
    /// Every pod: a whole-cluster view (tests, `weftctl` "what if").
    Cluster,
    /// Pods whose `spec.nodeName` is this node: what one weftd programs.
    Node(&'a str),
}

/// Everything [`crate::compile`] depends on.
#[derive(Debug, Clone, Copy)]
pub struct ClusterInputs<'a> {
    pub namespaces: &'a BTreeMap<String, Namespace>,
    pub pods: &'a BTreeMap<ObjectName, Arc<PodRecord>>,
    pub policies: &'a BTreeMap<ObjectName, NetworkPolicy>,
    pub scope: EndpointScope<'a>,
    /// The local node's addresses: they get the host identity, which every
    /// endpoint accepts and may reach (Kubernetes: "traffic to and from the
    /// node where a Pod is running is always allowed").
    pub host_ips: &'a [IpAddr],
    /// Addresses weftd gave pods (from CNI ADD). They replace the pod's
    /// `status.podIPs`, which the kubelet publishes only after ADD returned,
    /// so policy is in place before the pod's first packet.
    pub wired_ips: &'a BTreeMap<ObjectName, Vec<IpAddr>>,
}

static NO_WIRED_IPS: BTreeMap<ObjectName, Vec<IpAddr>> = BTreeMap::new();

impl<'a> ClusterInputs<'a> {
    /// The objects of `snapshot`, every pod an endpoint, no host addresses.
    pub fn new(snapshot: &'a ClusterSnapshot) -> Self {
        ClusterInputs {
            namespaces: &snapshot.namespaces,
            pods: &snapshot.pods,
            policies: &snapshot.policies,
            scope: EndpointScope::Cluster,
            host_ips: &[],
            wired_ips: &NO_WIRED_IPS,
        }
    }

    pub fn with_scope(self, scope: EndpointScope<'a>) -> Self {
        ClusterInputs { scope, ..self }
    }

    pub fn with_host_ips(self, host_ips: &'a [IpAddr]) -> Self {
        ClusterInputs { host_ips, ..self }
    }

    pub fn with_wired_ips(self, wired_ips: &'a BTreeMap<ObjectName, Vec<IpAddr>>) -> Self {
        ClusterInputs { wired_ips, ..self }
    }
}
