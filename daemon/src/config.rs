//! weftd's command line and its validation into a `Config` (pure: no files,
//! no network), so a bad flag fails before anything on the node changes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use ipnet::IpNet;
use weft_api::{MtuOutOfRange, check_mtu};

use crate::bpf::HostRouting;
use crate::overlay::NetworkMode;

/// Where weftd serves /metrics unless told otherwise (also where `weftctl
/// bugtool` looks for it).
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9968";

/// Command line of `weftd`. Every flag can also come from its `WEFT_*`
/// environment variable (the DaemonSet's ConfigMap sets them); a flag wins.
#[derive(Debug, Clone, Parser)]
#[command(name = "weftd", version, about = "The weft node agent")]
pub struct DaemonArgs {
    /// Name of this node (the Kubernetes Node name).
    #[arg(long, env = "WEFT_NODE_NAME")]
    pub node_name: String,
    /// This node's pod CIDR, optionally a second one of the other family:
    /// CIDR[,CIDR6]. With a datastore it defaults to the Node's
    /// spec.podCIDRs, else to a subnet claimed from --cluster-cidr.
    #[arg(long, env = "WEFT_POD_CIDR")]
    pub pod_cidr: Option<String>,
    /// Where weftd learns the cluster: `none` (a single node given
    /// --pod-cidr), `kubernetes` (the API server: in-cluster, or
    /// --kubeconfig) or `dir` (a directory of Kubernetes YAML,
    /// --datastore-dir).
    #[arg(long, value_enum, default_value_t = DatastoreKind::None, env = "WEFT_DATASTORE")]
    pub datastore: DatastoreKind,
    /// The `dir` datastore's directory.
    #[arg(long, env = "WEFT_DATASTORE_DIR")]
    pub datastore_dir: Option<PathBuf>,
    /// The `kubernetes` datastore's kubeconfig; default: in-cluster (the
    /// pod's ServiceAccount token and KUBERNETES_SERVICE_HOST), else
    /// $KUBECONFIG.
    #[arg(long, env = "WEFT_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The cluster's pod network, CIDR[,CIDR6]: never masqueraded, and the
    /// pool node subnets are claimed from.
    #[arg(long, env = "WEFT_CLUSTER_CIDR")]
    pub cluster_cidr: Option<String>,
    /// Prefix length of the IPv4 node subnets claimed from --cluster-cidr.
    #[arg(long, default_value_t = 24, env = "WEFT_NODE_CIDR_MASK_SIZE_IPV4")]
    pub node_cidr_mask_size_ipv4: u8,
    /// Prefix length of the IPv6 node subnets claimed from --cluster-cidr.
    #[arg(long, default_value_t = 64, env = "WEFT_NODE_CIDR_MASK_SIZE_IPV6")]
    pub node_cidr_mask_size_ipv6: u8,
    /// How pods on other nodes are reached: vxlan, direct routes, or auto
    /// (direct where the peer shares the underlay subnet).
    #[arg(long, default_value = "vxlan", env = "WEFT_MODE")]
    pub mode: NetworkMode,
    /// The underlay interface; default: the default route's, else the first
    /// with a global IPv4 address.
    #[arg(long, env = "WEFT_UNDERLAY_INTERFACE")]
    pub underlay_interface: Option<String>,
    /// Where the CNI conflist is written once weftd serves.
    #[arg(long, default_value = "/etc/cni/net.d", env = "WEFT_CNI_CONF_DIR")]
    pub cni_conf_dir: PathBuf,
    /// Persistent state: endpoints, IPAM store.
    #[arg(long, default_value = "/var/lib/weft", env = "WEFT_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Runtime files: the API socket and node-network.json.
    #[arg(long, default_value = "/run/weft", env = "WEFT_RUN_DIR")]
    pub run_dir: PathBuf,
    /// Pod interface MTU; detected from the default-route interface when absent.
    #[arg(long, env = "WEFT_MTU")]
    pub mtu: Option<u32>,
    /// Address of the /healthz, /readyz and /metrics server; "" or "off" disables it.
    #[arg(long, default_value = DEFAULT_METRICS_ADDR, env = "WEFT_METRICS_ADDR")]
    pub metrics_addr: String,
    /// bpffs directory where the policy datapath pins its maps and program
    /// links, so they outlive a weftd restart (one per node).
    #[arg(long, default_value = "/sys/fs/bpf/weft", env = "WEFT_BPF_DIR")]
    pub bpf_dir: PathBuf,
    /// How packets between pods travel: `ebpf` (flows addressed pod IP to
    /// pod IP are delivered by Weft's programs past the host stack) or
    /// `kernel` (the host stack routes everything).
    #[arg(long, value_enum, default_value_t = HostRouting::Ebpf, env = "WEFT_HOST_ROUTING")]
    pub host_routing: HostRouting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatastoreKind {
    None,
    Dir,
    Kubernetes,
}

/// Where a cluster node learns the cluster and writes what it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datastore {
    Dir(PathBuf),
    Kubernetes { kubeconfig: Option<PathBuf> },
}

/// Settings for a node that is part of a cluster (a datastore is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub datastore: Datastore,
    pub cluster_cidrs: Vec<IpNet>,
    pub node_mask_v4: u8,
    pub node_mask_v6: u8,
    pub mode: NetworkMode,
    pub underlay_interface: Option<String>,
}

/// Validated settings of one weftd run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub node_name: String,
    /// Pod CIDRs given on the command line; empty when the datastore decides.
    pub pod_cidrs: Vec<IpNet>,
    pub cluster: Option<ClusterConfig>,
    pub cni_conf_dir: PathBuf,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub bpf_dir: PathBuf,
    pub host_routing: HostRouting,
    pub mtu: Option<u32>,
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--node-name must not be empty")]
    EmptyNodeName,
    #[error("at least one CIDR is needed")]
    NoPodCidr,
    #[error("{0:?} is not a CIDR like 10.244.1.0/24 or fd00:10:244:1::/64")]
    BadCidr(String),
    #[error("{given} has host bits set; did you mean {network}?")]
    HostBitsSet { given: IpNet, network: IpNet },
    #[error("{0} leaves no addresses for pods")]
    CidrTooSmall(IpNet),
    #[error("at most one IPv4 and one IPv6 CIDR, got {0} and {1}")]
    SameFamilyTwice(IpNet, IpNet),
    #[error("{flag}: {source}")]
    Flag {
        flag: &'static str,
        source: Box<ConfigError>,
    },
    #[error("--datastore none needs --pod-cidr")]
    NoPodCidrWithoutDatastore,
    #[error("--datastore dir needs --datastore-dir")]
    NoDatastoreDir,
    #[error("a datastore needs --cluster-cidr (the pod network that is never masqueraded)")]
    NoClusterCidr,
    #[error("--pod-cidr {pod} is outside --cluster-cidr")]
    PodCidrOutsideCluster { pod: IpNet },
    #[error("--mtu: {0}")]
    BadMtu(#[from] MtuOutOfRange),
    #[error("--metrics-addr: {0:?} is not an address like 127.0.0.1:9968 (or \"off\")")]
    BadMetricsAddr(String),
    #[error("--bpf-dir {0}: bpffs refuses names with a dot")]
    DotInBpfDir(PathBuf),
}

impl Config {
    pub fn from_args(args: &DaemonArgs) -> Result<Self, ConfigError> {
        let node_name = args.node_name.trim();
        if node_name.is_empty() {
            return Err(ConfigError::EmptyNodeName);
        }
        let flag = |flag: &'static str| {
            move |e: ConfigError| ConfigError::Flag {
                flag,
                source: Box::new(e),
            }
        };
        let pod_cidrs = match &args.pod_cidr {
            Some(text) => parse_pod_cidrs(text).map_err(flag("--pod-cidr"))?,
            None => Vec::new(),
        };
        let cluster = match args.datastore {
            DatastoreKind::None if pod_cidrs.is_empty() => {
                return Err(ConfigError::NoPodCidrWithoutDatastore);
            }
            DatastoreKind::None => None,
            DatastoreKind::Dir | DatastoreKind::Kubernetes => {
                let datastore = match args.datastore {
                    DatastoreKind::Dir => Datastore::Dir(
                        args.datastore_dir
                            .clone()
                            .ok_or(ConfigError::NoDatastoreDir)?,
                    ),
                    _ => Datastore::Kubernetes {
                        kubeconfig: args.kubeconfig.clone(),
                    },
                };
                let cluster_cidrs = parse_pod_cidrs(
                    args.cluster_cidr
                        .as_deref()
                        .ok_or(ConfigError::NoClusterCidr)?,
                )
                .map_err(flag("--cluster-cidr"))?;
                if let Some(pod) = pod_cidrs
                    .iter()
                    .find(|p| !cluster_cidrs.iter().any(|c| c.contains(*p)))
                {
                    return Err(ConfigError::PodCidrOutsideCluster { pod: *pod });
                }
                Some(ClusterConfig {
                    datastore,
                    cluster_cidrs,
                    node_mask_v4: args.node_cidr_mask_size_ipv4,
                    node_mask_v6: args.node_cidr_mask_size_ipv6,
                    mode: args.mode,
                    underlay_interface: args.underlay_interface.clone(),
                })
            }
        };
        if let Some(mtu) = args.mtu {
            let carries_ipv6 = pod_cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
            check_mtu(mtu, carries_ipv6)?;
        }
        let dotted = |c: std::path::Component| matches!(c, std::path::Component::Normal(name) if name.to_string_lossy().contains('.'));
        if args.bpf_dir.components().any(dotted) {
            return Err(ConfigError::DotInBpfDir(args.bpf_dir.clone()));
        }
        Ok(Config {
            node_name: node_name.to_owned(),
            pod_cidrs,
            cluster,
            cni_conf_dir: args.cni_conf_dir.clone(),
            state_dir: args.state_dir.clone(),
            run_dir: args.run_dir.clone(),
            bpf_dir: args.bpf_dir.clone(),
            host_routing: args.host_routing,
            mtu: args.mtu,
            metrics_addr: parse_metrics_addr(&args.metrics_addr)?,
        })
    }

    pub fn socket_path(&self) -> PathBuf {
        self.run_dir.join(weft_api::SOCKET_FILE)
    }

    pub fn node_network_path(&self) -> PathBuf {
        self.run_dir.join(weft_api::NODE_NETWORK_FILE)
    }

    pub fn endpoints_dir(&self) -> PathBuf {
        crate::endpoints::store::endpoints_dir(&self.state_dir)
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.state_dir.join("ipam")
    }

    pub fn conflist_path(&self) -> PathBuf {
        self.cni_conf_dir.join(crate::node::conflist::CONFLIST_FILE)
    }
}

/// Parses "CIDR[,CIDR6]": one or two network addresses, at most one per family.
pub fn parse_pod_cidrs(text: &str) -> Result<Vec<IpNet>, ConfigError> {
    let mut cidrs: Vec<IpNet> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let given: IpNet = part
            .parse()
            .map_err(|_| ConfigError::BadCidr(part.to_owned()))?;
        let network = given.trunc();
        if network != given {
            return Err(ConfigError::HostBitsSet { given, network });
        }
        if given.prefix_len() + 1 >= given.max_prefix_len() {
            return Err(ConfigError::CidrTooSmall(given));
        }
        if let Some(other) = cidrs.iter().find(|c| same_family(c, &given)) {
            return Err(ConfigError::SameFamilyTwice(*other, given));
        }
        cidrs.push(given);
    }
    if cidrs.is_empty() {
        return Err(ConfigError::NoPodCidr);
    }
    Ok(cidrs)
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

/// "" and "off" disable the metrics server.
pub fn parse_metrics_addr(text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    match text.trim() {
        "" | "off" => Ok(None),
        addr => addr
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::BadMetricsAddr(addr.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> DaemonArgs {
        let mut argv = vec!["weftd", "--node-name", "n1", "--pod-cidr", "10.244.1.0/24"];
        argv.extend_from_slice(extra);
        DaemonArgs::try_parse_from(argv).unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_bpf_dir_with_a_dot_is_refused_before_bpffs_refuses_it() {
        let err = Config::from_args(&args(&["--bpf-dir", "/sys/fs/bpf/weft.1"])).unwrap_err();
        assert_eq!(err, ConfigError::DotInBpfDir("/sys/fs/bpf/weft.1".into()));
        let config = Config::from_args(&args(&["--bpf-dir", "/sys/fs/bpf/./weft-1"])).unwrap();
        assert_eq!(config.bpf_dir, PathBuf::from("/sys/fs/bpf/./weft-1"));
    }

    #[test]
    fn defaults_follow_the_node_layout() {
        let config = Config::from_args(&args(&[])).unwrap();
        assert_eq!(config.pod_cidrs, vec![net("10.244.1.0/24")]);
        assert_eq!(config.cni_conf_dir, PathBuf::from("/etc/cni/net.d"));
        assert_eq!(config.state_dir, PathBuf::from("/var/lib/weft"));
        assert_eq!(config.socket_path(), PathBuf::from("/run/weft/weftd.sock"));
        assert_eq!(
            config.node_network_path(),
            PathBuf::from("/run/weft/node-network.json")
        );
        assert_eq!(config.metrics_addr, Some("127.0.0.1:9968".parse().unwrap()));
        assert_eq!(config.mtu, None);
    }

    #[test]
    fn dual_stack_cidrs_parse_in_order() {
        assert_eq!(
            parse_pod_cidrs("10.244.1.0/24, fd00:10:244:1::/64").unwrap(),
            vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")]
        );
    }

    #[test]
    fn bad_cidrs_are_rejected_with_the_reason() {
        assert_eq!(
            parse_pod_cidrs("10.244.1.0"),
            Err(ConfigError::BadCidr("10.244.1.0".into()))
        );
        assert_eq!(parse_pod_cidrs(" , "), Err(ConfigError::NoPodCidr));
        assert_eq!(
            parse_pod_cidrs("10.244.1.5/24"),
            Err(ConfigError::HostBitsSet {
                given: net("10.244.1.5/24"),
                network: net("10.244.1.0/24")
            })
        );
        assert_eq!(
            parse_pod_cidrs("10.244.1.0/24,10.245.0.0/16"),
            Err(ConfigError::SameFamilyTwice(
                net("10.244.1.0/24"),
                net("10.245.0.0/16")
            ))
        );
        assert_eq!(
            parse_pod_cidrs("10.244.1.4/31"),
            Err(ConfigError::CidrTooSmall(net("10.244.1.4/31")))
        );
        let message = parse_pod_cidrs("nonsense").unwrap_err().to_string();
        assert!(message.contains("nonsense"), "{message}");
    }

    #[test]
    fn empty_node_name_is_rejected() {
        let mut a = args(&[]);
        a.node_name = "  ".into();
        assert_eq!(Config::from_args(&a), Err(ConfigError::EmptyNodeName));
    }

    #[test]
    fn the_unused_cni_bin_dir_flag_is_gone() {
        let mut argv = vec!["weftd", "--node-name", "n1", "--pod-cidr", "10.244.1.0/24"];
        argv.extend(["--cni-bin-dir", "/opt/cni/bin"]);
        assert!(DaemonArgs::try_parse_from(argv).is_err());
    }

    #[test]
    fn mtu_range_depends_on_the_families() {
        assert_eq!(
            Config::from_args(&args(&["--mtu", "1400"])).unwrap().mtu,
            Some(1400)
        );
        assert_eq!(
            Config::from_args(&args(&["--mtu", "68"])).unwrap().mtu,
            Some(68)
        );
        assert_eq!(
            Config::from_args(&args(&["--mtu", "67"])),
            Err(ConfigError::BadMtu(MtuOutOfRange { mtu: 67, min: 68 }))
        );
        let mut a = args(&["--mtu", "1000"]);
        a.pod_cidr = Some("10.244.1.0/24,fd00::/64".into());
        assert_eq!(
            Config::from_args(&a),
            Err(ConfigError::BadMtu(MtuOutOfRange {
                mtu: 1000,
                min: 1280
            }))
        );
    }

    #[test]
    fn a_dir_datastore_needs_its_directory_and_the_cluster_cidr() {
        let parse = |argv: &[&str]| {
            let mut full = vec!["weftd", "--node-name", "n1"];
            full.extend_from_slice(argv);
            Config::from_args(&DaemonArgs::try_parse_from(full).unwrap())
        };
        assert_eq!(parse(&[]), Err(ConfigError::NoPodCidrWithoutDatastore));
        assert_eq!(
            parse(&["--datastore", "dir"]),
            Err(ConfigError::NoDatastoreDir)
        );
        assert_eq!(
            parse(&["--datastore", "dir", "--datastore-dir", "/s"]),
            Err(ConfigError::NoClusterCidr)
        );
        let config = parse(&[
            "--datastore",
            "dir",
            "--datastore-dir",
            "/s",
            "--cluster-cidr",
            "10.244.0.0/16",
            "--mode",
            "auto",
        ])
        .unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.datastore, Datastore::Dir("/s".into()));
        assert_eq!(cluster.cluster_cidrs, vec![net("10.244.0.0/16")]);
        assert_eq!(cluster.mode, NetworkMode::Auto);
        assert_eq!(cluster.node_mask_v4, 24);
        assert!(config.pod_cidrs.is_empty());
        assert_eq!(
            parse(&[
                "--datastore",
                "dir",
                "--datastore-dir",
                "/s",
                "--cluster-cidr",
                "10.244.0.0/16",
                "--pod-cidr",
                "10.9.0.0/24",
            ]),
            Err(ConfigError::PodCidrOutsideCluster {
                pod: net("10.9.0.0/24")
            })
        );
        let message = parse(&["--pod-cidr", "bad"]).unwrap_err().to_string();
        assert!(message.starts_with("--pod-cidr: "), "{message}");
    }

    #[test]
    fn every_flag_has_its_weft_environment_variable() {
        use clap::CommandFactory;
        for arg in DaemonArgs::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let expected = format!("WEFT_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn the_daemonset_sets_only_environment_variables_weftd_reads() {
        use clap::CommandFactory;
        let manifest = include_str!("../../manifests/daemonset.yaml");
        let known: Vec<String> = DaemonArgs::command()
            .get_arguments()
            .filter_map(|arg| arg.get_env()?.to_str().map(str::to_owned))
            .collect();
        let used: std::collections::BTreeSet<&str> = manifest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("WEFT_"))
            .collect();
        assert!(used.contains("WEFT_CLUSTER_CIDR"), "{used:?}");
        for name in used {
            assert!(known.iter().any(|k| k == name), "{name} is no weftd flag");
        }
    }

    #[test]
    fn a_kubernetes_datastore_needs_the_cluster_cidr_and_takes_a_kubeconfig() {
        let parse = |argv: &[&str]| {
            let mut full = vec!["weftd", "--node-name", "n1", "--datastore", "kubernetes"];
            full.extend_from_slice(argv);
            Config::from_args(&DaemonArgs::try_parse_from(full).unwrap())
        };
        assert_eq!(parse(&[]), Err(ConfigError::NoClusterCidr));
        let in_cluster = parse(&["--cluster-cidr", "10.244.0.0/16"]).unwrap();
        assert_eq!(
            in_cluster.cluster.unwrap().datastore,
            Datastore::Kubernetes { kubeconfig: None }
        );
        let from_file = parse(&["--cluster-cidr", "10.244.0.0/16", "--kubeconfig", "/k"]).unwrap();
        assert_eq!(
            from_file.cluster.unwrap().datastore,
            Datastore::Kubernetes {
                kubeconfig: Some("/k".into())
            }
        );
    }

    #[test]
    fn metrics_addr_can_be_switched_off() {
        assert_eq!(parse_metrics_addr("off"), Ok(None));
        assert_eq!(parse_metrics_addr(""), Ok(None));
        assert_eq!(
            parse_metrics_addr("127.0.0.1:1234"),
            Ok(Some("127.0.0.1:1234".parse().unwrap()))
        );
        assert_eq!(
            parse_metrics_addr("localhost"),
            Err(ConfigError::BadMetricsAddr("localhost".into()))
        );
    }
}
