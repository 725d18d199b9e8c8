//! `up`: build the underlay, start the control plane (kubernetes
//! datastore), register the nodes in the datastore, start the world server
//! and one weftd (and, on kubernetes, one kube-proxy) per node, and wait
//! until every node is ready. On an existing lab: leave a healthy one
//! alone, restart what died, or say what to do.

use std::net::{Ipv4Addr, Ipv6Addr};

use std::time::Duration;

use anyhow::{Context, bail};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use weft_datastore::{DEFAULT_NAMESPACE, Namespace, Node, Object};

use super::cluster;
use crate::apply_plan::NAMESPACE_NAME_LABEL;
use crate::control_plane::credentials::write_credentials;
use crate::control_plane::flags::check_pod_network;
use crate::control_plane::kube_proxy_start::start_missing_kube_proxies;
use crate::control_plane::node_object::HOSTNAME_LABEL;
use crate::lab::Lab;
use crate::netns;
use crate::process::{DetachedSpec, spawn_detached};
use crate::state::{Datastore, HostRouting, LabState};
use crate::topology::{IpFamily, Mode, Topology, check_cluster_cidr};
use crate::underlay_plan::underlay_plan;
use crate::wait;
use crate::weftd::weftd_args;
use crate::wiring::start_server;

pub struct UpOptions {
    pub nodes: Option<usize>,
    pub mode: Option<Mode>,
    pub cluster_cidr: Option<Ipv4Net>,
    pub datastore: Option<Datastore>,
    pub host_routing: Option<HostRouting>,
    pub ip_family: Option<IpFamily>,
    pub cluster_cidr6: Option<Ipv6Net>,
}

const DEFAULT_NODES: usize = 3;
/// A real control plane, as users meet Weft; `--datastore dir` for fast tests.
const DEFAULT_DATASTORE: Datastore = Datastore::Kubernetes;
const DEFAULT_CLUSTER_CIDR: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 244, 0, 0), 16);
/// 256 nodes' /64s, as kubeadm's dual-stack examples use.
const DEFAULT_CLUSTER_CIDR6: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0), 56);
/// The world server's port (TCP and UDP).
const WORLD_PORT: u16 = 80;

pub fn up(lab: &Lab, options: &UpOptions) -> anyhow::Result<()> {
    let _lock = lab.lock()?;
    let mut state = match LabState::load(&lab.paths.state_file())? {
        Some(state) => {
            check_same_shape(&state, options)?;
            check_underlay(lab, &state)?;
            state
        }
        None => create(lab, options)?,
    };
    start_missing_processes(lab, &mut state)?;
    if state.datastore == Datastore::Kubernetes {
        start_missing_kube_proxies(lab, &mut state)?;
    }
    wait::nodes_ready(lab, &state)?;
    if state.datastore == Datastore::Kubernetes {
        cluster::mark_nodes_ready(lab, &state)?;
        start_missing_kubelets(lab, &mut state)?;
        crate::control_plane::host_access::start_api_forward(lab, &mut state)?;
    }
    println!(
        "lab {} is up: {} nodes, {} mode, {} addresses, cluster CIDR {}, {} datastore, {} host routing",
        lab.name,
        state.topology.nodes.len(),
        state.topology.mode,
        state.topology.family,
        cidr_list(&state.cluster_cidrs()),
        state.datastore,
        state.host_routing
    );
    if state.datastore == Datastore::Kubernetes {
        println!(
            "kubeconfig: {} (`weft-lab kubectl --name {} -- ARGS` works too)",
            lab.paths.host_kubeconfig().display(),
            lab.name
        );
    }
    Ok(())
}

fn create(lab: &Lab, options: &UpOptions) -> anyhow::Result<LabState> {
    let cluster_cidr = options.cluster_cidr.unwrap_or(DEFAULT_CLUSTER_CIDR);
    let nodes = options.nodes.unwrap_or(DEFAULT_NODES);
    let datastore = options.datastore.unwrap_or(DEFAULT_DATASTORE);
    check_cluster_cidr(cluster_cidr)?;
    let family = options.ip_family.unwrap_or_default();
    if options.cluster_cidr6.is_some() && !family.has_ipv6() {
        bail!("an IPv6 --cluster-cidr needs --ip-family dual or ipv6");
    }
    let cluster_cidr6 = family
        .has_ipv6()
        .then(|| options.cluster_cidr6.unwrap_or(DEFAULT_CLUSTER_CIDR6));
    let mut topology = Topology::plan(&lab.name, nodes, options.mode.unwrap_or(Mode::Vxlan))?;
    if datastore == Datastore::Kubernetes && family != IpFamily::Ipv6 {
        check_pod_network(cluster_cidr, nodes)?;
    }
    if datastore == Datastore::Kubernetes {
        topology = topology.with_control_plane(&lab.name);
    }
    let topology = topology.with_family(family);
    let host_routing = options.host_routing.unwrap_or_default();
    let mut state = LabState::new(
        lab.name.clone(),
        cluster_cidr,
        datastore,
        host_routing,
        topology,
    );
    state.cluster_cidr6 = cluster_cidr6;
    // Recorded before anything is made, so `down` finds all of it.
    lab.save(&state)?;
    if let Some(api_ip) = state.topology.control_plane_ip() {
        write_credentials(&lab.paths, &lab.name, &state.topology.node_names(), api_ip)
            .context("writing the control plane's credentials")?;
    }
    let plan = underlay_plan(&state.topology);
    netns::add_all(&plan.netns)?;
    for sysctl in &plan.early_sysctls {
        netns::set_sysctl(sysctl)?;
    }
    for batch in &plan.batches {
        netns::run_batch(batch)?;
    }
    for sysctl in &plan.sysctls {
        netns::set_sysctl(sysctl)?;
    }
    state.underlay_ready = true;
    lab.save(&state)?;
    if datastore == Datastore::Kubernetes {
        // The nodes register themselves once the API server runs.
        return Ok(state);
    }
    let mut objects: Vec<Object> = state
        .topology
        .node_names()
        .into_iter()
        .map(|name| Object::Node(node_object(&name)))
        .collect();
    objects.push(Object::Namespace(default_namespace()));
    lab.store()?
        .apply(&objects)
        .context("registering the nodes in the lab's datastore")?;
    Ok(state)
}

/// A Node as kubelet registers it (weftd adds its annotations).
fn node_object(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(HOSTNAME_LABEL.to_owned(), name.to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The namespace every cluster has.
fn default_namespace() -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(DEFAULT_NAMESPACE.to_owned()),
            labels: Some(
                [(
                    NAMESPACE_NAME_LABEL.to_owned(),
                    DEFAULT_NAMESPACE.to_owned(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// An existing lab keeps its shape; changing it takes a `down` first.
fn check_same_shape(state: &LabState, options: &UpOptions) -> anyhow::Result<()> {
    let topology = &state.topology;
    let differs = options.nodes.is_some_and(|n| n != topology.nodes.len())
        || options.mode.is_some_and(|m| m != topology.mode)
        || options
            .cluster_cidr
            .is_some_and(|c| c != state.cluster_cidr)
        || options.datastore.is_some_and(|d| d != state.datastore)
        || options
            .host_routing
            .is_some_and(|h| h != state.host_routing)
        || options.ip_family.is_some_and(|f| f != topology.family)
        || options
            .cluster_cidr6
            .is_some_and(|c| Some(c) != state.cluster_cidr6);
    if differs {
        bail!(
            "lab {name} already exists with {} nodes, {} mode, {} addresses, cluster CIDR {}, {} datastore, {} host routing; run `weft-lab down --name {name}` first to change that",
            topology.nodes.len(),
            topology.mode,
            topology.family,
            cidr_list(&state.cluster_cidrs()),
            state.datastore,
            state.host_routing,
            name = state.name,
        );
    }
    Ok(())
}

fn cidr_list(cidrs: &[IpNet]) -> String {
    cidrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn check_underlay(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    let missing = state
        .topology
        .netns_names()
        .into_iter()
        .find(|name| !netns::exists(name));
    let broken = match missing {
        Some(name) => format!("its netns {name} is gone"),
        None if !state.underlay_ready => "an earlier `up` stopped half-way".to_owned(),
        None => return Ok(()),
    };
    bail!(
        "lab {name} is broken ({broken}); run `weft-lab down --name {name}`, then `weft-lab up --name {name}` again",
        name = lab.name
    )
}

/// Starts the world server, the control plane (registering the nodes in
/// it) and every weftd that is not running.
fn start_missing_processes(lab: &Lab, state: &mut LabState) -> anyhow::Result<()> {
    if !state.world_server.is_some_and(|p| p.is_running()) {
        let server = start_server(
            &netns::path(&state.topology.world.netns),
            &lab.paths.world_log(),
            "world",
            &[WORLD_PORT],
            &[WORLD_PORT],
        )
        .context("starting the world server")?;
        state.world_server = Some(server);
        lab.save(state)?;
    }
    // weftd's environment: on the kubernetes datastore, the manifest's
    // ConfigMap as the API server holds it.
    let mut env = Vec::new();
    if state.datastore == Datastore::Kubernetes {
        cluster::start_control_plane(lab, state)?;
        cluster::register_nodes(lab, state)?;
        env = cluster::install_weft(lab, state)?;
    }
    let weftd = lab.binary("weftd")?;
    let mut token_written = false;
    for host in state.topology.nodes.clone() {
        match state.weftds.get(&host.name) {
            Some(p) if p.is_running() => continue,
            // Gone, or going: it must have let go of its socket first.
            Some(p) => p
                .stop(Duration::ZERO)
                .with_context(|| format!("reaping the old weftd on {}", host.name))?,
            None => {}
        }
        if state.datastore == Datastore::Kubernetes && !token_written {
            cluster::write_weft_kubeconfig(lab, state)?;
            token_written = true;
        }
        for dir in [
            lab.paths.node_conf_dir(&host.name),
            lab.paths.node_state_dir(&host.name),
            lab.paths.node_run_dir(&host.name),
        ] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let record = spawn_detached(&DetachedSpec {
            program: weftd.clone(),
            args: weftd_args(
                &lab.paths,
                &host.name,
                &state.cluster_cidrs(),
                state.topology.mode,
                state.datastore,
                state.host_routing,
            ),
            netns: netns::path(&host.netns),
            log: lab.paths.node_log(&host.name),
            env: env.clone(),
            await_ready_line: None,
        })
        .with_context(|| format!("starting weftd on {}", host.name))?;
        state.weftds.insert(host.name.clone(), record);
        lab.save(state)?;
    }
    Ok(())
}

/// How long a kubelet stand-in may take to list its node's pods.
const KUBELET_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts the kubelet stand-in of every node that has none running; it
/// finds `weft` where this process does.
fn start_missing_kubelets(lab: &Lab, state: &mut LabState) -> anyhow::Result<()> {
    let program = std::env::current_exe().context("finding the weft-lab executable")?;
    let env: Vec<(String, String)> = std::env::var(crate::lab::BIN_DIR_ENV)
        .map(|dir| vec![(crate::lab::BIN_DIR_ENV.to_owned(), dir)])
        .unwrap_or_default();
    for host in state.topology.nodes.clone() {
        if let Some(p) = state.kubelets.get(&host.name) {
            if p.is_running() {
                continue;
            }
            p.stop(Duration::ZERO)
                .with_context(|| format!("reaping the old kubelet on {}", host.name))?;
        }
        let record = spawn_detached(&DetachedSpec {
            program: program.clone(),
            args: kubelet_args(&lab.name, &host.name),
            netns: netns::path(&host.netns),
            log: lab.paths.node_kubelet_log(&host.name),
            env: env.clone(),
            await_ready_line: Some(KUBELET_READY_TIMEOUT),
        })
        .with_context(|| format!("starting the kubelet on {}", host.name))?;
        state.kubelets.insert(host.name.clone(), record);
        lab.save(state)?;
    }
    Ok(())
}

fn kubelet_args(lab: &crate::names::LabName, node: &str) -> Vec<String> {
    ["--name", lab.as_str(), "kubelet", "--node", node]
        .map(str::to_owned)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LabState {
        let name = "t1".parse().unwrap();
        let topology = Topology::plan(&name, 3, Mode::Vxlan).unwrap();
        LabState::new(
            name,
            DEFAULT_CLUSTER_CIDR,
            Datastore::Dir,
            HostRouting::Ebpf,
            topology,
        )
    }

    fn options(nodes: Option<usize>, mode: Option<Mode>) -> UpOptions {
        UpOptions {
            nodes,
            mode,
            cluster_cidr: None,
            datastore: None,
            host_routing: None,
            ip_family: None,
            cluster_cidr6: None,
        }
    }

    #[test]
    fn an_existing_lab_accepts_matching_or_absent_options() {
        assert!(check_same_shape(&state(), &options(None, None)).is_ok());
        assert!(check_same_shape(&state(), &options(Some(3), Some(Mode::Vxlan))).is_ok());
    }

    #[test]
    fn an_existing_lab_refuses_another_shape() {
        let err = check_same_shape(&state(), &options(Some(2), None)).unwrap_err();
        assert!(err.to_string().contains("weft-lab down --name t1"), "{err}");
        assert!(check_same_shape(&state(), &options(None, Some(Mode::Auto))).is_err());
        let kubernetes = UpOptions {
            datastore: Some(Datastore::Kubernetes),
            ..options(None, None)
        };
        let err = check_same_shape(&state(), &kubernetes).unwrap_err();
        assert!(err.to_string().contains("dir datastore"), "{err}");
        let dir = UpOptions {
            datastore: Some(Datastore::Dir),
            ..options(None, None)
        };
        assert!(check_same_shape(&state(), &dir).is_ok());
        let kernel = UpOptions {
            host_routing: Some(HostRouting::Kernel),
            ..options(None, None)
        };
        let err = check_same_shape(&state(), &kernel).unwrap_err();
        assert!(err.to_string().contains("ebpf host routing"), "{err}");
    }

    #[test]
    fn a_kubelet_is_started_for_its_lab_and_node() {
        let lab: crate::names::LabName = "t1".parse().unwrap();
        assert_eq!(
            kubelet_args(&lab, "n2").join(" "),
            "--name t1 kubelet --node n2"
        );
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(
            std::iter::once("weft-lab").chain(kubelet_args(&lab, "n2").iter().map(String::as_str)),
        )
        .unwrap();
        assert_eq!(cli.name.as_str(), "t1");
    }

    #[test]
    fn nodes_are_registered_like_kubelet_does() {
        let node = node_object("n2");
        assert_eq!(node.metadata.name.as_deref(), Some("n2"));
        assert_eq!(node.metadata.labels.unwrap()[HOSTNAME_LABEL], "n2");
        assert_eq!(
            default_namespace().metadata.labels.unwrap()[NAMESPACE_NAME_LABEL],
            "default"
        );
    }
}
