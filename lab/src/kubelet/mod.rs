//! The lab's kubelet stand-in (kubernetes datastore), the one part of the
//! lab that is not the real component: one process per node that wires the
//! Pods bound to its node with the real `weft` CNI plugin, as kubelet and
//! containerd would, starts their listeners, writes their status, and
//! completes their deletion. `plan` and `status` decide; `agent` watches
//! the API server and acts; `ledger` records each step first.

pub mod agent;
pub mod ledger;
pub mod plan;
pub mod status;
