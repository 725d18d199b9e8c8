//! The command line of each control-plane process of a lab: etcd on
//! loopback, the API server on the control-plane host's fabric address with
//! the lab's PKI, and the controller-manager (which allocates the nodes'
//! pod CIDRs) and scheduler as clients of it. Pure: paths and flags out.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use super::component::Component;
use super::credentials::{API_SERVER_CERT, API_SERVER_KEY, CA_CERT, SA_KEY, SA_PUBLIC_KEY};
use super::endpoint::{API_PORT, SERVICE_CIDR, SERVICE_CIDR6};
use crate::paths::LabPaths;

/// Issuer (and audience) of ServiceAccount tokens, as in kubeadm clusters.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Prefix length of the pod CIDR the controller-manager gives each node.
pub const NODE_CIDR_MASK: u8 = 24;
/// The same for a node's IPv6 pod CIDR.
pub const NODE_CIDR_MASK6: u8 = 64;
/// etcd serves only the API server, beside it in the control-plane netns.
const ETCD_CLIENT_URL: &str = "http://127.0.0.1:2379";
const ETCD_PEER_URL: &str = "http://127.0.0.1:2380";
/// The etcd member's name (a one-member cluster).
const ETCD_NAME: &str = "etcd";
/// How long a node may go without a kubelet heartbeat before the node
/// lifecycle controller marks it NotReady and taints it: the lab posts a
/// node's status at `up` and sends no heartbeats, so, in effect, never.
/// The controller still turns Ready into the removal of the not-ready
/// taint the API server puts on a new Node, which the scheduler heeds.
const NODE_MONITOR_GRACE_PERIOD: &str = "8760h";

/// A cluster CIDR the controller-manager cannot serve the lab from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodNetworkError {
    #[error("--cluster-cidr {0} overlaps the lab's Service network {SERVICE_CIDR}")]
    OverlapsServices(Ipv4Net),
    #[error(
        "--cluster-cidr {cidr} has room for {room} node CIDRs of /{NODE_CIDR_MASK}, not {nodes}"
    )]
    TooSmall {
        cidr: Ipv4Net,
        room: u64,
        nodes: usize,
    },
}

/// Checks that `cidr` leaves the Service network alone and holds a pod
/// CIDR for each of `nodes`.
pub fn check_pod_network(cidr: Ipv4Net, nodes: usize) -> Result<(), PodNetworkError> {
    if cidr.contains(&SERVICE_CIDR) || SERVICE_CIDR.contains(&cidr) {
        return Err(PodNetworkError::OverlapsServices(cidr));
    }
    let room = NODE_CIDR_MASK
        .checked_sub(cidr.prefix_len())
        .map_or(0, |bits| 1u64 << bits);
    if room < nodes as u64 {
        return Err(PodNetworkError::TooSmall { cidr, room, nodes });
    }
    Ok(())
}

/// What the control plane's flags depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneSpec {
    /// The control-plane host's fabric address (IPv6 in an IPv6 lab).
    pub advertise_ip: IpAddr,
    /// The pods' networks, one per family, IPv4's first: each cut into one
    /// pod CIDR per node (/NODE_CIDR_MASK, /NODE_CIDR_MASK6). The Services
    /// get addresses of the same families.
    pub cluster_cidrs: Vec<IpNet>,
}

impl ControlPlaneSpec {
    fn service_ranges(&self) -> String {
        self.cluster_cidrs
            .iter()
            .map(|cidr| match cidr {
                IpNet::V4(_) => SERVICE_CIDR.to_string(),
                IpNet::V6(_) => SERVICE_CIDR6.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The controller-manager's pod CIDR flags: one mask for one family,
    /// one per family for both (the single one is refused then).
    fn pod_cidr_flags(&self) -> Vec<String> {
        let cidrs = self
            .cluster_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut flags = vec![format!("--cluster-cidr={cidrs}")];
        match self.cluster_cidrs.as_slice() {
            [IpNet::V4(_)] => flags.push(format!("--node-cidr-mask-size={NODE_CIDR_MASK}")),
            [IpNet::V6(_)] => flags.push(format!("--node-cidr-mask-size={NODE_CIDR_MASK6}")),
            _ => flags.extend([
                format!("--node-cidr-mask-size-ipv4={NODE_CIDR_MASK}"),
                format!("--node-cidr-mask-size-ipv6={NODE_CIDR_MASK6}"),
            ]),
        }
        flags
    }

    /// All of the host's addresses of the advertised family.
    fn bind_address(&self) -> &'static str {
        if self.advertise_ip.is_ipv6() {
            "::"
        } else {
            "0.0.0.0"
        }
    }
}

/// The arguments `component` runs with.
pub fn component_args(
    component: Component,
    spec: &ControlPlaneSpec,
    paths: &LabPaths,
) -> Vec<String> {
    let pki = |file: &str| paths.pki_file(file).display().to_string();
    let flag = |name: &str, value: &str| format!("--{name}={value}");
    match component {
        Component::Etcd => vec![
            flag("name", ETCD_NAME),
            flag("data-dir", &paths.etcd_data_dir().display().to_string()),
            flag("listen-client-urls", ETCD_CLIENT_URL),
            flag("advertise-client-urls", ETCD_CLIENT_URL),
            flag("listen-peer-urls", ETCD_PEER_URL),
            flag("initial-advertise-peer-urls", ETCD_PEER_URL),
            flag("initial-cluster", &format!("{ETCD_NAME}={ETCD_PEER_URL}")),
            // The lab's etcd lives on tmpfs and dies with the lab.
            "--unsafe-no-fsync".into(),
        ],
        Component::KubeApiserver => vec![
            flag("etcd-servers", ETCD_CLIENT_URL),
            // Required: the host has no default route to take one from.
            flag("advertise-address", &spec.advertise_ip.to_string()),
            flag("bind-address", spec.bind_address()),
            flag("secure-port", &API_PORT.to_string()),
            flag("tls-cert-file", &pki(API_SERVER_CERT)),
            flag("tls-private-key-file", &pki(API_SERVER_KEY)),
            flag("client-ca-file", &pki(CA_CERT)),
            flag("authorization-mode", "Node,RBAC"),
            flag("enable-admission-plugins", "NodeRestriction"),
            flag("service-account-issuer", SERVICE_ACCOUNT_ISSUER),
            flag("service-account-key-file", &pki(SA_PUBLIC_KEY)),
            flag("service-account-signing-key-file", &pki(SA_KEY)),
            flag("service-cluster-ip-range", &spec.service_ranges()),
            // weftd's DaemonSet runs privileged.
            flag("allow-privileged", "true"),
        ],
        Component::KubeControllerManager => {
            let mut args = client_args(component, paths);
            args.push("--allocate-node-cidrs".into());
            args.extend(spec.pod_cidr_flags());
            args.extend([
                flag("service-cluster-ip-range", &spec.service_ranges()),
                // There is no cloud to put routes in: weftd makes them.
                flag("configure-cloud-routes", "false"),
                flag("node-monitor-grace-period", NODE_MONITOR_GRACE_PERIOD),
                flag("service-account-private-key-file", &pki(SA_KEY)),
                flag("root-ca-file", &pki(CA_CERT)),
                "--use-service-account-credentials".into(),
            ]);
            args
        }
        Component::KubeScheduler => client_args(component, paths),
    }
}

/// What the API server's clients beside it share: one kubeconfig for
/// talking to it and for checking who calls their own secure port (which
/// listens on loopback only), the lab's CA for client certificates there,
/// and no leader election (one replica). They skip looking up the
/// front-proxy CA in the cluster: the lab has no front proxy, and the
/// lookup logs an error at every retry for the lab's whole life.
fn client_args(component: Component, paths: &LabPaths) -> Vec<String> {
    let kubeconfig = paths
        .component_kubeconfig(component.name())
        .display()
        .to_string();
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--authentication-skip-lookup".into(),
        format!("--client-ca-file={}", paths.pki_file(CA_CERT).display()),
        "--bind-address=127.0.0.1".into(),
        "--leader-elect=false".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ControlPlaneSpec {
        ControlPlaneSpec {
            advertise_ip: "198.18.0.2".parse().unwrap(),
            cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        }
    }

    fn args(component: Component) -> String {
        component_args(component, &spec(), &LabPaths::new("/run/weft-lab/t1")).join(" ")
    }

    #[test]
    fn etcd_serves_loopback_from_the_lab_dir_without_fsync() {
        assert_eq!(
            args(Component::Etcd),
            "--name=etcd --data-dir=/run/weft-lab/t1/control-plane/etcd \
             --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
             --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
             --initial-cluster=etcd=http://127.0.0.1:2380 --unsafe-no-fsync"
        );
    }

    #[test]
    fn the_api_server_advertises_its_fabric_address_and_uses_the_lab_pki() {
        let pki = "/run/weft-lab/t1/control-plane/pki";
        assert_eq!(
            args(Component::KubeApiserver),
            format!(
                "--etcd-servers=http://127.0.0.1:2379 --advertise-address=198.18.0.2 \
                 --bind-address=0.0.0.0 --secure-port=6443 \
                 --tls-cert-file={pki}/apiserver.crt --tls-private-key-file={pki}/apiserver.key \
                 --client-ca-file={pki}/ca.crt --authorization-mode=Node,RBAC \
                 --enable-admission-plugins=NodeRestriction \
                 --service-account-issuer=https://kubernetes.default.svc.cluster.local \
                 --service-account-key-file={pki}/sa.pub --service-account-signing-key-file={pki}/sa.key \
                 --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true"
            )
        );
    }

    #[test]
    fn the_controller_manager_allocates_node_cidrs_from_the_cluster_cidr() {
        let cm = "/run/weft-lab/t1/control-plane/kube-controller-manager.kubeconfig";
        let pki = "/run/weft-lab/t1/control-plane/pki";
        assert_eq!(
            args(Component::KubeControllerManager),
            format!(
                "--kubeconfig={cm} --authentication-kubeconfig={cm} --authorization-kubeconfig={cm} \
                 --authentication-skip-lookup --client-ca-file={pki}/ca.crt \
                 --bind-address=127.0.0.1 --leader-elect=false \
                 --allocate-node-cidrs --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24 \
                 --service-cluster-ip-range=10.96.0.0/16 --configure-cloud-routes=false \
                 --node-monitor-grace-period=8760h \
                 --service-account-private-key-file={pki}/sa.key --root-ca-file={pki}/ca.crt \
                 --use-service-account-credentials"
            )
        );
    }

    #[test]
    fn a_dual_stack_lab_gets_pod_and_service_networks_of_both_families() {
        let spec = ControlPlaneSpec {
            cluster_cidrs: vec![
                "10.244.0.0/16".parse().unwrap(),
                "fd00:10:244::/56".parse().unwrap(),
            ],
            ..spec()
        };
        let paths = LabPaths::new("/run/weft-lab/t1");
        let cm = component_args(Component::KubeControllerManager, &spec, &paths).join(" ");
        assert!(
            cm.contains(
                "--allocate-node-cidrs --cluster-cidr=10.244.0.0/16,fd00:10:244::/56 \
                 --node-cidr-mask-size-ipv4=24 --node-cidr-mask-size-ipv6=64 \
                 --service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112"
            ),
            "{cm}"
        );
        let api = component_args(Component::KubeApiserver, &spec, &paths).join(" ");
        assert!(
            api.contains("--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/112"),
            "{api}"
        );
    }

    #[test]
    fn an_ipv6_lab_serves_on_ipv6_with_ipv6_pods_and_services_only() {
        let spec = ControlPlaneSpec {
            advertise_ip: "2001:2::2".parse().unwrap(),
            cluster_cidrs: vec!["fd00:10:244::/56".parse().unwrap()],
        };
        let paths = LabPaths::new("/run/weft-lab/t1");
        let api = component_args(Component::KubeApiserver, &spec, &paths).join(" ");
        assert!(
            api.contains("--advertise-address=2001:2::2 --bind-address=::"),
            "{api}"
        );
        assert!(
            api.contains("--service-cluster-ip-range=fd00:10:96::/112"),
            "{api}"
        );
        let cm = component_args(Component::KubeControllerManager, &spec, &paths).join(" ");
        assert!(
            cm.contains("--cluster-cidr=fd00:10:244::/56 --node-cidr-mask-size=64"),
            "{cm}"
        );
    }

    #[test]
    fn the_scheduler_is_a_client_on_loopback() {
        let kc = "/run/weft-lab/t1/control-plane/kube-scheduler.kubeconfig";
        assert_eq!(
            args(Component::KubeScheduler),
            format!(
                "--kubeconfig={kc} --authentication-kubeconfig={kc} --authorization-kubeconfig={kc} \
                 --authentication-skip-lookup \
                 --client-ca-file=/run/weft-lab/t1/control-plane/pki/ca.crt \
                 --bind-address=127.0.0.1 --leader-elect=false"
            )
        );
    }

    #[test]
    fn the_pod_network_must_fit_the_nodes_and_miss_the_services() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(check_pod_network(net("10.244.0.0/16"), 100), Ok(()));
        assert_eq!(check_pod_network(net("10.244.0.0/22"), 4), Ok(()));
        assert_eq!(
            check_pod_network(net("10.244.0.0/22"), 5),
            Err(PodNetworkError::TooSmall {
                cidr: net("10.244.0.0/22"),
                room: 4,
                nodes: 5
            })
        );
        assert!(matches!(
            check_pod_network(net("10.244.0.0/25"), 1),
            Err(PodNetworkError::TooSmall { room: 0, .. })
        ));
        for overlapping in ["10.96.0.0/16", "10.0.0.0/8", "10.96.4.0/24"] {
            assert_eq!(
                check_pod_network(net(overlapping), 1),
                Err(PodNetworkError::OverlapsServices(net(overlapping)))
            );
        }
    }
}
