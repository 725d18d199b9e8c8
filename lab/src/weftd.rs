//! The lab's weftds: the command line each node's weftd gets, and asking
//! one over its socket whether it is ready and which datastore revisions it
//! has put in effect, overall and per kind.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use weft_api::{AppliedRevisions, Request, Response, RevisionKind};

use crate::paths::LabPaths;
use crate::state::{Datastore, HostRouting};
use crate::topology::{Mode, UNDERLAY_IFNAME};

/// weftd's arguments for `node` of a lab. On the kubernetes datastore it
/// runs as the manifest's ServiceAccount and takes its cluster CIDR and
/// mode and host routing from the environment the manifest's ConfigMap gives it (as the
/// DaemonSet's `envFrom` does), so neither is a flag.
pub fn weftd_args(
    paths: &LabPaths,
    node: &str,
    cluster_cidrs: &[IpNet],
    mode: Mode,
    datastore: Datastore,
    host_routing: HostRouting,
) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let (where_flag, where_path) = match datastore {
        Datastore::Dir => ("--datastore-dir", paths.store_dir()),
        Datastore::Kubernetes => ("--kubeconfig", paths.weft_kubeconfig()),
    };
    let mut args: Vec<String> = vec![
        "--node-name".into(),
        node.into(),
        "--datastore".into(),
        datastore.to_string(),
        where_flag.into(),
        path(&where_path),
    ];
    if datastore == Datastore::Dir {
        args.extend([
            "--cluster-cidr".into(),
            cluster_cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "--mode".into(),
            mode.to_string(),
            "--host-routing".into(),
            host_routing.to_string(),
        ]);
    }
    args.extend([
        "--underlay-interface".into(),
        UNDERLAY_IFNAME.into(),
        "--cni-conf-dir".into(),
        path(&paths.node_conf_dir(node)),
        "--state-dir".into(),
        path(&paths.node_state_dir(node)),
        "--run-dir".into(),
        path(&paths.node_run_dir(node)),
        "--bpf-dir".into(),
        path(&paths.node_bpf_dir(node)),
        "--metrics-addr".into(),
        "off".into(),
    ]);
    args
}

/// Per kind, the datastore revision a node must have put in effect (what
/// was written of that kind); a kind absent is no requirement. On the
/// kubernetes datastore each kind has a watch of its own, so only this,
/// not one revision, says that an object of a kind is in effect.
pub type KindRequirement = BTreeMap<RevisionKind, u64>;

/// What a node's weftd says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Serving, with the CNI conflist written.
    Ready {
        applied_revision: Option<u64>,
        /// The same per kind; `None` from a weftd that does not say.
        applied_revisions: Option<AppliedRevisions>,
    },
    NotReady(String),
}

impl Health {
    pub fn is_ready(&self) -> bool {
        matches!(self, Health::Ready { .. })
    }

    /// Whether objects written at `revision` are in effect on the node.
    pub fn has_applied(&self, revision: u64) -> bool {
        matches!(self, Health::Ready { applied_revision: Some(r), .. } if *r >= revision)
    }

    /// The revisions per kind a ready node has put in effect.
    pub fn applied_revisions(&self) -> Option<&AppliedRevisions> {
        match self {
            Health::Ready {
                applied_revisions, ..
            } => applied_revisions.as_ref(),
            Health::NotReady(_) => None,
        }
    }

    /// Whether the node is ready and every kind of `wanted` is in effect.
    pub fn has_applied_kinds(&self, wanted: &KindRequirement) -> bool {
        self.is_ready() && self.lagging_kind(wanted).is_none()
    }

    /// The first kind of `wanted` not in effect on the node, with the
    /// revision wanted of it; every kind lags on a node that does not say.
    pub fn lagging_kind(&self, wanted: &KindRequirement) -> Option<(RevisionKind, u64)> {
        let applied = self.applied_revisions();
        wanted
            .iter()
            .map(|(&kind, &revision)| (kind, revision))
            .find(|&(kind, revision)| applied.is_none_or(|a| a.get(kind) < revision))
    }
}

/// How long one Status call may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the node's weftd; a node is ready when weftd says so and its
/// conflist exists.
pub fn health(paths: &LabPaths, node: &str) -> Health {
    let reply = weft_api::call(&paths.node_socket(node), &Request::Status, STATUS_TIMEOUT);
    interpret(reply, paths.node_conflist(node).exists())
}

fn interpret(reply: Result<Response, weft_api::ApiError>, conflist_written: bool) -> Health {
    match reply {
        Ok(Response::Status {
            ready: true,
            applied_revision,
            applied_revisions,
            ..
        }) if conflist_written => Health::Ready {
            applied_revision,
            applied_revisions,
        },
        Ok(Response::Status { ready: true, .. }) => {
            Health::NotReady("weftd is ready but has not written its CNI conflist".into())
        }
        Ok(Response::Status { reason, .. }) => {
            Health::NotReady(reason.unwrap_or_else(|| "weftd is not ready".into()))
        }
        Ok(other) => Health::NotReady(format!("weftd answered Status with {other:?}")),
        Err(err) => Health::NotReady(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ready: bool, applied_revision: Option<u64>) -> Result<Response, weft_api::ApiError> {
        Ok(Response::Status {
            ready,
            reason: (!ready).then(|| "claiming a pod CIDR".into()),
            applied_revision,
            applied_revisions: None,
            api: None,
        })
    }

    /// A ready node's reply with revisions per kind.
    fn per_kind(applied: AppliedRevisions) -> Result<Response, weft_api::ApiError> {
        Ok(Response::Status {
            ready: true,
            reason: None,
            applied_revision: Some(applied.pods),
            applied_revisions: Some(applied),
            api: None,
        })
    }

    const APPLIED: AppliedRevisions = AppliedRevisions {
        nodes: 2,
        namespaces: 3,
        pods: 31,
        network_policies: 10,
    };

    #[test]
    fn ready_needs_weftd_ready_and_the_conflist() {
        assert_eq!(
            interpret(status(true, Some(4)), true),
            Health::Ready {
                applied_revision: Some(4),
                applied_revisions: None,
            }
        );
        assert!(!interpret(status(true, Some(4)), false).is_ready());
        assert_eq!(
            interpret(status(false, None), true),
            Health::NotReady("claiming a pod CIDR".into())
        );
        assert!(!interpret(Err(weft_api::ApiError::NoReply), true).is_ready());
    }

    #[test]
    fn a_revision_is_in_effect_once_applied() {
        let health = interpret(status(true, Some(7)), true);
        assert!(health.has_applied(7));
        assert!(health.has_applied(3));
        assert!(!health.has_applied(8));
        assert!(!interpret(status(true, None), true).has_applied(1));
        assert!(!interpret(status(false, Some(9)), true).has_applied(1));
    }

    #[test]
    fn the_revisions_per_kind_are_taken_from_the_reply() {
        let health = interpret(per_kind(APPLIED), true);
        assert_eq!(health.applied_revisions(), Some(&APPLIED));
        assert!(health.has_applied(31));
        assert_eq!(
            interpret(status(true, Some(4)), true).applied_revisions(),
            None
        );
        assert_eq!(
            interpret(per_kind(APPLIED), false).applied_revisions(),
            None
        );
    }

    #[test]
    fn a_requirement_is_met_once_every_kind_it_names_is_in_effect() {
        let health = interpret(per_kind(APPLIED), true);
        let met = KindRequirement::from([
            (RevisionKind::Pods, 31),
            (RevisionKind::NetworkPolicies, 10),
        ]);
        assert!(health.has_applied_kinds(&met));
        assert_eq!(health.lagging_kind(&met), None);
        assert!(health.has_applied_kinds(&KindRequirement::new()));
        // The pods' 31 says nothing of a policy written at 30.
        let policy =
            KindRequirement::from([(RevisionKind::Pods, 5), (RevisionKind::NetworkPolicies, 30)]);
        assert!(!health.has_applied_kinds(&policy));
        assert_eq!(
            health.lagging_kind(&policy),
            Some((RevisionKind::NetworkPolicies, 30))
        );
        let silent = interpret(status(true, Some(40)), true);
        assert!(silent.has_applied_kinds(&KindRequirement::new()));
        assert_eq!(
            silent.lagging_kind(&met),
            Some((RevisionKind::Pods, 31)),
            "a node that does not say lags in every kind"
        );
        let not_ready = interpret(status(false, None), true);
        assert!(!not_ready.has_applied_kinds(&KindRequirement::new()));
    }

    #[test]
    fn weftd_gets_the_lab_layout() {
        let paths = LabPaths::new("/run/weft-lab/t1");
        let args = weftd_args(
            &paths,
            "n2",
            &[
                "10.244.0.0/16".parse().unwrap(),
                "fd00:10:244::/56".parse().unwrap(),
            ],
            Mode::Auto,
            Datastore::Dir,
            HostRouting::Kernel,
        );
        let joined = args.join(" ");
        assert_eq!(
            joined,
            "--node-name n2 --datastore dir --datastore-dir /run/weft-lab/t1/store \
             --cluster-cidr 10.244.0.0/16,fd00:10:244::/56 --mode auto --host-routing kernel \
             --underlay-interface eth0 \
             --cni-conf-dir /run/weft-lab/t1/nodes/n2/net.d \
             --state-dir /run/weft-lab/t1/nodes/n2/state \
             --run-dir /run/weft-lab/t1/nodes/n2/run \
             --bpf-dir /sys/fs/bpf/weft-lab/t1/n2 --metrics-addr off"
        );
    }

    #[test]
    fn on_the_kubernetes_datastore_weftd_watches_the_api_server() {
        let paths = LabPaths::new("/run/weft-lab/t1");
        let args = weftd_args(
            &paths,
            "n1",
            &["10.244.0.0/16".parse().unwrap()],
            Mode::Vxlan,
            Datastore::Kubernetes,
            HostRouting::Ebpf,
        );
        let joined = args.join(" ");
        assert!(
            joined.starts_with(
                "--node-name n1 --datastore kubernetes \
                 --kubeconfig /run/weft-lab/t1/control-plane/weft.kubeconfig \
                 --underlay-interface eth0 "
            ),
            "{joined}"
        );
        for absent in [
            "--datastore-dir",
            "--cluster-cidr",
            "--mode",
            "--host-routing",
        ] {
            assert!(!joined.contains(absent), "{joined}");
        }
    }
}
