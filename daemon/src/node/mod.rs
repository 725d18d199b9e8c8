//! This node in the cluster: joining through the datastore (pod CIDRs, the
//! Node's annotations), the pod MTU, the node network file and the CNI
//! conflist it hands to the plugin.

pub mod bootstrap;
pub mod conflist;
pub mod mtu;
pub mod network;
pub mod node_object;
pub mod subnet_claim;
pub mod underlay;
