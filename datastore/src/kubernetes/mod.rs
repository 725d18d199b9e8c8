//! The `kubernetes` datastore: the cluster as the API server holds it,
//! watched with kube-rs and assembled into the same [`ClusterSnapshot`]
//! the `dir` datastore publishes, so every reconciler is shared. Objects
//! are slimmed to what Weft reads before they are kept (`slim`; pods become
//! [`PodRecord`](crate::PodRecord)s), the cache
//! per kind follows the watch events with relists swapped in whole
//! (`cache`), and `watch` runs the watchers and publishes snapshots.
//!
//! [`ClusterSnapshot`]: crate::ClusterSnapshot

mod cache;
mod cluster_cache;
mod slim;
mod watch;

pub use cache::{KindCache, resource_version};
pub use cluster_cache::{ClusterCache, WatchUpdate};
pub use slim::{slim_namespace, slim_node, slim_policy};
pub use watch::{KubeWatch, WatchError};
