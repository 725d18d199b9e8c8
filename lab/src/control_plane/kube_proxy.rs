//! What each lab node's kube-proxy runs with (kubernetes datastore): its
//! KubeProxyConfiguration, fit for a node that is a netns on a shared
//! kernel, its files under the node's directory, and the route that lets
//! the node's own processes reach the Service network. Pure: values out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

use super::endpoint::{SERVICE_CIDR, SERVICE_CIDR6};
use crate::paths::LabPaths;
use crate::underlay_plan::IpBatch;

/// The binary's name in the k8s bin dir; it also names its files.
pub const KUBE_PROXY: &str = "kube-proxy";
/// kube-proxy's health server, on the node's underlay address.
const HEALTHZ_PORT: u16 = 10256;
/// Its metrics, on the node's own loopback (each netns has one).
const METRICS_PORT: u16 = 10249;
/// nftables rather than iptables: Weft programs nftables too, so both
/// rule sets live in one framework, each in tables of its own (`inet
/// weft`; `ip kube-proxy`, `ip6 kube-proxy`), with no iptables-nft layer
/// or xtables lock between them. The lab's kernel and nft are far past the
/// mode's minimums (5.13, nft 1.0.1).
const MODE: &str = "nftables";

#[derive(Debug, thiserror::Error)]
#[error("rendering kube-proxy's configuration: {0}")]
pub struct KubeProxyConfigError(#[from] serde_saphyr::SerializeError);

/// What one node's kube-proxy depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySpec<'a> {
    pub node: &'a str,
    /// The node's underlay address: its (first) InternalIP.
    pub node_ip: IpAddr,
    /// The cluster CIDRs, one per family the pods have.
    pub cluster_cidrs: &'a [IpNet],
    /// Credentials of user system:kube-proxy.
    pub kubeconfig: &'a Path,
}

/// The fields of kubeproxy.config.k8s.io/v1alpha1 the lab sets; kube-proxy
/// defaults the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeProxyConfiguration {
    pub api_version: String,
    pub kind: String,
    pub client_connection: ClientConnection,
    pub hostname_override: String,
    pub bind_address: String,
    pub healthz_bind_address: String,
    pub metrics_bind_address: String,
    #[serde(rename = "clusterCIDR")]
    pub cluster_cidr: String,
    pub mode: String,
    pub conntrack: Conntrack,
    pub node_port_addresses: Vec<String>,
    pub oom_score_adj: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientConnection {
    pub kubeconfig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conntrack {
    pub max_per_core: u32,
    pub min: u32,
}

/// The configuration of the kube-proxy of `spec.node`.
pub fn proxy_config(spec: &ProxySpec) -> KubeProxyConfiguration {
    KubeProxyConfiguration {
        api_version: "kubeproxy.config.k8s.io/v1alpha1".into(),
        kind: "KubeProxyConfiguration".into(),
        client_connection: ClientConnection {
            kubeconfig: spec.kubeconfig.display().to_string(),
        },
        // The Node's name, not the machine's hostname, which all nodes share.
        hostname_override: spec.node.to_owned(),
        // The node's underlay address (its InternalIP) as kube-proxy's own.
        bind_address: spec.node_ip.to_string(),
        healthz_bind_address: SocketAddr::new(spec.node_ip, HEALTHZ_PORT).to_string(),
        metrics_bind_address: format!("{}:{METRICS_PORT}", Ipv4Addr::LOCALHOST),
        // Tells pod traffic from the rest, which is masqueraded.
        cluster_cidr: spec
            .cluster_cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        mode: MODE.into(),
        // Zero leaves the conntrack table's size alone: nf_conntrack_max
        // is the machine's, read-only in a child netns, and kube-proxy
        // exits when it cannot raise it to what its defaults want (32768
        // per core, at least 131072).
        conntrack: Conntrack {
            max_per_core: 0,
            min: 0,
        },
        // NodePorts on the node's InternalIP only, not on every address
        // (kube-proxy warns at start when this is left unset).
        node_port_addresses: vec!["primary".into()],
        // The default (-999) would shield a lab process from the OOM
        // killer ahead of the machine's own.
        oom_score_adj: 0,
    }
}

/// The configuration file's YAML text.
pub fn render_config(spec: &ProxySpec) -> Result<String, KubeProxyConfigError> {
    Ok(serde_saphyr::to_string(&proxy_config(spec))?)
}

/// The arguments kube-proxy runs with: everything is in the file.
pub fn proxy_args(config: &Path) -> Vec<String> {
    vec![format!("--config={}", config.display())]
}

pub fn config_path(paths: &LabPaths, node: &str) -> PathBuf {
    paths.node_dir(node).join(format!("{KUBE_PROXY}.yaml"))
}

pub fn log_path(paths: &LabPaths, node: &str) -> PathBuf {
    paths.node_dir(node).join(format!("{KUBE_PROXY}.log"))
}

/// The route a node's own connections to a ClusterIP need: the kernel
/// routes a socket's packets by their original destination before
/// kube-proxy's DNAT (which then routes them again, to the backend), and a
/// lab node has no default route to cover the Service network as a real
/// node's does. `replace` makes it idempotent.
/// In a dual-stack lab the IPv6 Service network needs one too.
pub fn service_route(netns: &str, underlay_ifname: &str, ipv6: bool) -> IpBatch {
    let mut lines = vec![format!(
        "route replace {SERVICE_CIDR} dev {underlay_ifname}"
    )];
    if ipv6 {
        lines.push(format!(
            "route replace {SERVICE_CIDR6} dev {underlay_ifname}"
        ));
    }
    IpBatch {
        netns: netns.to_owned(),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const CLUSTER: [IpNet; 2] = [
        IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(10, 244, 0, 0), 16)),
        IpNet::V6(ipnet::Ipv6Net::new_assert(
            std::net::Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0),
            56,
        )),
    ];

    fn spec(kubeconfig: &Path) -> ProxySpec<'_> {
        ProxySpec {
            node: "n2",
            node_ip: "198.18.0.12".parse().unwrap(),
            cluster_cidrs: &CLUSTER[..1],
            kubeconfig,
        }
    }

    #[test]
    fn a_dual_stack_node_tells_pod_traffic_of_both_families() {
        let kubeconfig = Path::new("/k");
        let dual = ProxySpec {
            cluster_cidrs: &CLUSTER,
            ..spec(kubeconfig)
        };
        assert_eq!(
            proxy_config(&dual).cluster_cidr,
            "10.244.0.0/16,fd00:10:244::/56"
        );
        assert_eq!(
            service_route("t1-n1", "eth0", true).lines,
            vec![
                "route replace 10.96.0.0/16 dev eth0",
                "route replace fd00:10:96::/112 dev eth0",
            ]
        );
    }

    #[test]
    fn the_config_fits_a_node_netns_on_a_shared_kernel() {
        let kubeconfig = Path::new("/run/weft-lab/t1/control-plane/kube-proxy.kubeconfig");
        let text = render_config(&spec(kubeconfig)).unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "clientConnection": {"kubeconfig": kubeconfig.display().to_string()},
                "hostnameOverride": "n2",
                "bindAddress": "198.18.0.12",
                "healthzBindAddress": "198.18.0.12:10256",
                "metricsBindAddress": "127.0.0.1:10249",
                "clusterCIDR": "10.244.0.0/16",
                "mode": "nftables",
                "conntrack": {"maxPerCore": 0, "min": 0},
                "nodePortAddresses": ["primary"],
                "oomScoreAdj": 0
            })
        );
    }

    #[test]
    fn files_live_with_the_node() {
        let paths = LabPaths::new("/run/weft-lab/t1");
        assert_eq!(
            config_path(&paths, "n1"),
            PathBuf::from("/run/weft-lab/t1/nodes/n1/kube-proxy.yaml")
        );
        assert_eq!(
            log_path(&paths, "n1"),
            PathBuf::from("/run/weft-lab/t1/nodes/n1/kube-proxy.log")
        );
        assert_eq!(
            proxy_args(&config_path(&paths, "n1")),
            vec!["--config=/run/weft-lab/t1/nodes/n1/kube-proxy.yaml"]
        );
    }

    #[test]
    fn the_node_routes_the_service_network_out_of_its_underlay_interface() {
        let batch = service_route("t1-n1", "eth0", false);
        assert_eq!(batch.netns, "t1-n1");
        assert_eq!(batch.lines, vec!["route replace 10.96.0.0/16 dev eth0"]);
    }
}
