//! weft-lab's command line (LAB.md "Commands": a stable contract).

use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::names::{DEFAULT_LAB_NAME, LabName};
use crate::probe::Proto;
use crate::state::{Datastore, HostRouting};
use crate::topology::{IpFamily, Mode};

#[derive(Debug, Parser)]
#[command(
    name = "weft-lab",
    version,
    about = "A multi-node Weft cluster on this machine, in network namespaces"
)]
pub struct Cli {
    /// The lab to act on; everything it makes is named after it.
    #[arg(long, global = true, default_value = DEFAULT_LAB_NAME)]
    pub name: LabName,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the lab (or check and repair it) and wait until every node is ready.
    Up {
        /// Number of nodes [default: 3]
        #[arg(long)]
        nodes: Option<usize>,
        /// How nodes reach each other [default: vxlan]
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        /// Pod addresses of the whole cluster, one CIDR per family
        /// (CIDR[,CIDR6]) [default: 10.244.0.0/16, and fd00:10:244::/56
        /// with IPv6]
        #[arg(long)]
        cluster_cidr: Option<ClusterCidrs>,
        /// Where the cluster lives: a real control plane in the lab, or a
        /// directory of YAML (fast, for tests) [default: kubernetes]
        #[arg(long, value_enum)]
        datastore: Option<Datastore>,
        /// How packets between pods of a node travel: delivered by Weft's
        /// eBPF programs, or routed by the kernel [default: ebpf]
        #[arg(long, value_enum)]
        host_routing: Option<HostRouting>,
        /// Address families of the underlay and the pods [default: ipv4]
        #[arg(long, value_enum)]
        ip_family: Option<IpFamily>,
    },
    /// Remove everything the lab made.
    Down,
    /// Print the path of the lab's admin kubeconfig (kubernetes datastore).
    Kubeconfig,
    /// Run the lab's kubectl against the lab (kubernetes datastore).
    Kubectl {
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Show nodes, namespaces, pods and policies.
    Status {
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Output,
    },
    /// Apply Namespaces, Pods and NetworkPolicies from a YAML file ("-": stdin).
    Apply {
        #[arg(short = 'f', long = "filename")]
        file: String,
    },
    /// Delete objects: from a file, one by KIND NS/NAME, or every policy.
    #[command(group(ArgGroup::new("what").required(true).args(["file", "kind", "all_policies"])))]
    Delete {
        /// A missing object is not an error.
        #[arg(long)]
        ignore_not_found: bool,
        #[arg(short = 'f', long = "filename", conflicts_with_all = ["kind", "all_policies"])]
        file: Option<String>,
        /// Delete every NetworkPolicy.
        #[arg(long, conflicts_with = "kind")]
        all_policies: bool,
        /// pod, namespace or networkpolicy (or their plural and short names).
        #[arg(requires = "object")]
        kind: Option<String>,
        /// NS/NAME (a namespace: NAME).
        object: Option<String>,
    },
    /// Run a command in a pod's (or a node's) network namespace.
    #[command(group(ArgGroup::new("where").required(true).args(["pod", "node"])))]
    Exec {
        /// NS/POD
        pod: Option<String>,
        /// A node name, or "world" (or "router" in auto mode).
        #[arg(long)]
        node: Option<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// From a pod, connect to DEST (an IP or NS/POD) and get a reply.
    Probe {
        /// NS/POD
        source: String,
        dest: String,
        port: u16,
        #[arg(long, value_enum, default_value_t = Proto::Tcp)]
        proto: Proto,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Probe every pod to every pod's own IP and print the reachability table.
    Matrix {
        #[arg(long, default_value_t = 80)]
        port: u16,
        #[arg(long, value_enum, default_value_t = Proto::Tcp)]
        proto: Proto,
        /// Probe each pod's address of this family, 4 or 6 [default: the
        /// lab's first]
        #[arg(long, value_parser = ["4", "6"])]
        family: Option<String>,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Output,
    },
    /// The port server inside lab pods (started by the lab itself).
    #[command(hide = true)]
    Serve {
        /// The name the server answers with.
        #[arg(long)]
        label: String,
        #[arg(long)]
        tcp: Vec<u16>,
        #[arg(long)]
        udp: Vec<u16>,
    },
    /// The host's relay to the API server (started by `up` on the kubernetes datastore).
    #[command(hide = true)]
    ApiForward {
        #[arg(long)]
        port: u16,
    },
    /// A node's kubelet stand-in (started by `up` on the kubernetes datastore).
    #[command(hide = true)]
    Kubelet {
        #[arg(long)]
        node: String,
    },
}

/// `--cluster-cidr CIDR[,CIDR6]`: at most one CIDR per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterCidrs {
    pub v4: Option<Ipv4Net>,
    pub v6: Option<Ipv6Net>,
}

impl std::str::FromStr for ClusterCidrs {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut cidrs = ClusterCidrs { v4: None, v6: None };
        for part in text.split(',').map(str::trim) {
            match part.parse::<ipnet::IpNet>() {
                Ok(ipnet::IpNet::V4(net)) if cidrs.v4.is_none() => cidrs.v4 = Some(net),
                Ok(ipnet::IpNet::V6(net)) if cidrs.v6.is_none() => cidrs.v6 = Some(net),
                Ok(_) => return Err(format!("{text}: one CIDR per family at most")),
                Err(_) => return Err(format!("{part:?} is not a CIDR")),
            }
        }
        Ok(cidrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("weft-lab").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn name_is_global_with_a_default() {
        assert_eq!(parse(&["down"]).unwrap().name.as_str(), "weft");
        assert_eq!(
            parse(&["status", "--name", "t1"]).unwrap().name.as_str(),
            "t1"
        );
        assert!(parse(&["--name", "Bad_Name", "down"]).is_err());
    }

    #[test]
    fn delete_takes_exactly_one_kind_of_target() {
        assert!(parse(&["delete", "pod", "x/a"]).is_ok());
        assert!(parse(&["delete", "--ignore-not-found", "-f", "x.yaml"]).is_ok());
        assert!(parse(&["delete", "--all-policies"]).is_ok());
        assert!(parse(&["delete"]).is_err());
        assert!(parse(&["delete", "pod"]).is_err());
        assert!(parse(&["delete", "-f", "x.yaml", "pod", "x/a"]).is_err());
    }

    #[test]
    fn exec_needs_a_place_and_a_command() {
        let cli = parse(&["exec", "x/a", "--", "ip", "-br", "addr"]).unwrap();
        let Command::Exec { pod, command, .. } = cli.command else {
            panic!("exec")
        };
        assert_eq!(pod.as_deref(), Some("x/a"));
        assert_eq!(command, vec!["ip", "-br", "addr"]);
        assert!(parse(&["exec", "--node", "world", "--", "true"]).is_ok());
        assert!(parse(&["exec", "--", "true"]).is_err());
        assert!(parse(&["exec", "x/a"]).is_err());
    }

    #[test]
    fn probe_and_matrix_defaults() {
        let cli = parse(&["probe", "x/a", "x/b", "80", "--proto", "udp"]).unwrap();
        let Command::Probe {
            proto, timeout_ms, ..
        } = cli.command
        else {
            panic!("probe")
        };
        assert_eq!((proto, timeout_ms), (Proto::Udp, 1000));
        let cli = parse(&["matrix", "-o", "json"]).unwrap();
        let Command::Matrix { port, output, .. } = cli.command else {
            panic!("matrix")
        };
        assert_eq!((port, output), (80, Output::Json));
    }

    #[test]
    fn up_options_are_optional() {
        let cli = parse(&["up", "--nodes", "2", "--mode", "auto"]).unwrap();
        let Command::Up {
            nodes,
            mode,
            cluster_cidr,
            datastore,
            host_routing,
            ip_family,
        } = cli.command
        else {
            panic!("up")
        };
        assert_eq!(
            (nodes, mode, cluster_cidr, datastore, host_routing),
            (Some(2), Some(Mode::Auto), None, None, None)
        );
        assert_eq!(ip_family, None);
        let cli = parse(&["up", "--cluster-cidr", "10.1.0.0/16,fd00:1::/56"]).unwrap();
        let Command::Up { cluster_cidr, .. } = cli.command else {
            panic!("up")
        };
        assert_eq!(
            cluster_cidr,
            Some(ClusterCidrs {
                v4: Some("10.1.0.0/16".parse().unwrap()),
                v6: Some("fd00:1::/56".parse().unwrap()),
            })
        );
        for bad in [
            "10.1.0.0/16,10.2.0.0/16",
            "fd00::/56,fd01::/56",
            "nonsense",
            "",
        ] {
            assert!(parse(&["up", "--cluster-cidr", bad]).is_err(), "{bad}");
        }
        let cli = parse(&["up", "--ip-family", "dual"]).unwrap();
        let Command::Up { ip_family, .. } = cli.command else {
            panic!("up")
        };
        assert_eq!(ip_family, Some(IpFamily::Dual));
        let cli = parse(&["up", "--host-routing", "kernel"]).unwrap();
        let Command::Up { host_routing, .. } = cli.command else {
            panic!("up")
        };
        assert_eq!(host_routing, Some(HostRouting::Kernel));
        let cli = parse(&["up", "--datastore", "kubernetes"]).unwrap();
        let Command::Up { datastore, .. } = cli.command else {
            panic!("up")
        };
        assert_eq!(datastore, Some(Datastore::Kubernetes));
        assert!(parse(&["up", "--datastore", "etcd"]).is_err());
    }

    #[test]
    fn kubectl_takes_everything_after_the_double_dash() {
        let cli = parse(&["kubectl", "--", "get", "nodes", "-o", "json"]).unwrap();
        let Command::Kubectl { args } = cli.command else {
            panic!("kubectl")
        };
        assert_eq!(args, vec!["get", "nodes", "-o", "json"]);
        assert!(parse(&["--name", "t1", "kubeconfig"]).is_ok());
    }
}
