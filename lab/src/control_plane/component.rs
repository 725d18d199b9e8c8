//! The four upstream processes of a lab's control plane, and the orders in
//! which they start and stop.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One control-plane process. The declaration order is the stop order:
/// the API server's clients first, as on SIGTERM it waits up to a minute
/// for their watches to end (measured: 60 s with the controller-manager
/// and scheduler still up, 1.1 s without); then the API server, while
/// etcd still serves it (without etcd it hangs for over 30 s); etcd last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    KubeControllerManager,
    KubeScheduler,
    KubeApiserver,
    Etcd,
}

impl Component {
    /// In the order they start: each needs the one before it serving.
    pub const START_ORDER: [Component; 4] = [
        Component::Etcd,
        Component::KubeApiserver,
        Component::KubeControllerManager,
        Component::KubeScheduler,
    ];

    /// Whether it must find the API server ready when it starts: the
    /// controller-manager exits if the RBAC roles the API server makes at
    /// start are not there yet.
    pub fn needs_ready_api(self) -> bool {
        matches!(
            self,
            Component::KubeControllerManager | Component::KubeScheduler
        )
    }

    /// The binary's name, which also names its log and kubeconfig.
    pub fn name(self) -> &'static str {
        match self {
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeScheduler => "kube-scheduler",
            Component::Etcd => "etcd",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_server_stops_after_its_clients_and_before_etcd() {
        let mut stop = Component::START_ORDER.to_vec();
        stop.sort();
        assert_eq!(
            stop,
            vec![
                Component::KubeControllerManager,
                Component::KubeScheduler,
                Component::KubeApiserver,
                Component::Etcd
            ]
        );
        assert_eq!(Component::START_ORDER[0], Component::Etcd);
        assert_eq!(Component::START_ORDER[1], Component::KubeApiserver);
        let first_client = Component::START_ORDER
            .iter()
            .position(|c| c.needs_ready_api())
            .unwrap();
        assert!(
            Component::START_ORDER[first_client..]
                .iter()
                .all(|c| c.needs_ready_api())
        );
    }

    #[test]
    fn components_are_named_like_their_binaries_in_the_state_file() {
        assert_eq!(
            Component::KubeControllerManager.to_string(),
            "kube-controller-manager"
        );
        assert_eq!(
            serde_json::to_string(&Component::KubeApiserver).unwrap(),
            "\"kube-apiserver\""
        );
    }
}
