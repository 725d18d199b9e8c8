//! This node in the cluster: joining through the datastore (pod CIDRs, the
//! Node's annotations), the reconcilers that keep it converged, releasing
//! the subnet claims of deleted Nodes, the pod MTU, and the CNI conflist it
//! hands to the plugin.

pub mod bootstrap;
pub mod claim_release;
pub mod claim_releaser;
pub mod cluster_store;
pub mod conflist;
pub mod datastore_health;
pub mod device_news;
pub mod join;
pub mod kube_writes;
pub mod mtu;
pub mod node_object;
pub mod publication;
pub mod reconcilers;
pub mod skipped_objects;
pub mod subnet_claim;
