//! Weft's view of the cluster: typed Kubernetes objects (Node, Namespace,
//! Pod, NetworkPolicy, ConfigMap), parsed from the YAML `kubectl apply`
//! takes, and the `dir` datastore, a directory of such YAML that the lab
//! writes and every node's weftd watches. Consumers get a level-triggered
//! [`ClusterSnapshot`] of everything at one revision.

mod dir_store;
mod error;
mod kind;
pub mod kubernetes;
mod layout;
mod load;
mod lock;
mod object;
mod parse;
mod parse_error;
mod plan;
mod pod_record;
mod revisions;
mod snapshot;
mod watch;

pub use k8s_openapi;
pub use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod};
pub use k8s_openapi::api::networking::v1::NetworkPolicy;

pub use dir_store::DirStore;
pub use error::{ObjectError, ObjectProblem, StoreError};
pub use kind::{Kind, UnknownKindName};
pub use load::ParseCache;
pub use object::{DEFAULT_NAMESPACE, Object, ObjectKey};
pub use parse::{parse_objects, parse_values};
pub use parse_error::{ParseError, ParseProblem};
pub use pod_record::{PodPort, PodRecord};
pub use revisions::{KindRevisions, Revisions};
pub use snapshot::{ClusterSnapshot, KeptPod};
