//! The lab's state file: what `up` and `apply` made (topology, netns,
//! processes, wired pods), written before each thing is made, so `down`
//! can always remove exactly that. Writes are atomic (temp file + rename),
//! and commands that change the lab hold the lab's lock.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::control_plane::component::Component;
use crate::names::{LabName, pod_ref};
use crate::process::ProcessRecord;
use crate::topology::{IpFamily, Topology};

/// Where a lab's cluster lives, and so what its weftds watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Datastore {
    /// A directory of Kubernetes YAML, written by the lab.
    #[default]
    Dir,
    /// A real control plane in the lab's control-plane netns.
    Kubernetes,
}

impl fmt::Display for Datastore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Datastore::Dir => "dir",
            Datastore::Kubernetes => "kubernetes",
        })
    }
}

/// How each node's weftd moves packets between its own pods (weftd's
/// `--host-routing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HostRouting {
    /// Weft's programs deliver pod-IP-to-pod-IP flows past the host stack.
    #[default]
    Ebpf,
    /// The host stack routes every packet.
    Kernel,
}

impl fmt::Display for HostRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostRouting::Ebpf => "ebpf",
            HostRouting::Kernel => "kernel",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabState {
    pub name: LabName,
    pub cluster_cidr: Ipv4Net,
    /// The IPv6 cluster CIDR of a lab with IPv6 pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_cidr6: Option<Ipv6Net>,
    /// Labs made before the choice existed were `dir` labs.
    #[serde(default)]
    pub datastore: Datastore,
    /// Labs made before the choice existed run weftd's default, ebpf.
    #[serde(default)]
    pub host_routing: HostRouting,
    pub topology: Topology,
    /// Set once every netns, link and address of the topology, and the
    /// control plane's credentials, are in place.
    pub underlay_ready: bool,
    /// weftd per node name.
    pub weftds: BTreeMap<String, ProcessRecord>,
    /// kube-proxy per node name (kubernetes datastore).
    #[serde(default)]
    pub kube_proxies: BTreeMap<String, ProcessRecord>,
    /// The kubelet stand-in per node name (kubernetes datastore); its pods
    /// are in the node's kubelet ledger, not in `pods`.
    #[serde(default)]
    pub kubelets: BTreeMap<String, ProcessRecord>,
    /// The control plane's processes (kubernetes datastore), iterated in
    /// the order they stop.
    #[serde(default)]
    pub control_plane: BTreeMap<Component, ProcessRecord>,
    pub world_server: Option<ProcessRecord>,
    /// The host's relay to the API server, and its loopback port, kept
    /// across restarts so the host kubeconfig stays valid.
    #[serde(default)]
    pub api_forward: Option<ProcessRecord>,
    #[serde(default)]
    pub api_forward_port: Option<u16>,
    /// Wired (or being wired) pods by "ns/name".
    pub pods: BTreeMap<String, PodRecord>,
}

/// One pod the lab wired (or started wiring: then `ips` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRecord {
    pub namespace: String,
    pub name: String,
    /// The Pod object's uid: a pod deleted and made again under the same
    /// name is another pod. Records from before it was kept have none.
    #[serde(default)]
    pub uid: String,
    pub node: String,
    pub netns: String,
    pub container_id: String,
    pub ips: Vec<IpAddr>,
    pub server: Option<ProcessRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("lab state {path} is unreadable: {source}")]
    Decode {
        path: String,
        source: serde_json::Error,
    },
    #[error("locking {path}: {source}")]
    Lock { path: String, source: nix::Error },
}

impl LabState {
    /// The cluster CIDRs of the lab's families, IPv4's first.
    pub fn cluster_cidrs(&self) -> Vec<IpNet> {
        let ipv4 = self.topology.family != IpFamily::Ipv6;
        std::iter::once(IpNet::V4(self.cluster_cidr))
            .filter(|_| ipv4)
            .chain(self.cluster_cidr6.map(IpNet::V6))
            .collect()
    }

    pub fn new(
        name: LabName,
        cluster_cidr: Ipv4Net,
        datastore: Datastore,
        host_routing: HostRouting,
        topology: Topology,
    ) -> Self {
        Self {
            name,
            cluster_cidr,
            cluster_cidr6: None,
            datastore,
            host_routing,
            topology,
            underlay_ready: false,
            weftds: BTreeMap::new(),
            kube_proxies: BTreeMap::new(),
            kubelets: BTreeMap::new(),
            control_plane: BTreeMap::new(),
            world_server: None,
            api_forward: None,
            api_forward_port: None,
            pods: BTreeMap::new(),
        }
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodRecord> {
        self.pods.get(&pod_ref(namespace, name))
    }

    /// Every netns the lab may have made: its infrastructure, then its pods.
    pub fn all_netns(&self) -> Vec<String> {
        self.topology
            .netns_names()
            .into_iter()
            .chain(self.pods.values().map(|p| p.netns.clone()))
            .collect()
    }

    /// Every process the lab started, in the order `down` stops them:
    /// kubelets (so they wire nothing more), pod servers, world server,
    /// weftds, kube-proxies (clients of the API server, which waits for
    /// their watches to end), then the control plane (the API server after
    /// its clients, etcd last).
    pub fn all_processes(&self) -> Vec<ProcessRecord> {
        self.kubelets
            .values()
            .copied()
            .chain(self.api_forward)
            .chain(self.pods.values().filter_map(|p| p.server))
            .chain(self.world_server)
            .chain(self.weftds.values().copied())
            .chain(self.kube_proxies.values().copied())
            .chain(self.control_plane.values().copied())
            .collect()
    }

    /// Reads the state file; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    what: "reading",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| StateError::Decode {
                path: path.display().to_string(),
                source,
            })
    }

    /// Replaces the state file atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |what, source| StateError::Io {
            what,
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(|e| io("writing", e))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| io("encoding", e.into()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io("writing", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("replacing", e))
    }
}

impl PodRecord {
    pub fn key(&self) -> String {
        pod_ref(&self.namespace, &self.name)
    }
}

/// The lab's exclusive lock, released on drop.
pub struct LabLock {
    _lock: Flock<File>,
}

impl LabLock {
    /// Waits for the lock file's exclusive lock, creating the file.
    pub fn acquire(path: &Path) -> Result<Self, StateError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| StateError::Io {
                what: "opening",
                path: path.display().to_string(),
                source,
            })?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| StateError::Lock {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Mode;

    fn state() -> LabState {
        let name: LabName = "t1".parse().unwrap();
        let topology = Topology::plan(&name, 2, Mode::Vxlan).unwrap();
        let mut state = LabState::new(
            name,
            "10.244.0.0/16".parse().unwrap(),
            Datastore::Kubernetes,
            HostRouting::Ebpf,
            topology,
        );
        state.weftds.insert(
            "n1".into(),
            ProcessRecord {
                pid: 10,
                start_time: 1,
            },
        );
        state.kubelets.insert(
            "n1".into(),
            ProcessRecord {
                pid: 9,
                start_time: 1,
            },
        );
        state.pods.insert(
            "x/a".into(),
            PodRecord {
                namespace: "x".into(),
                name: "a".into(),
                uid: "u-1".into(),
                node: "n1".into(),
                netns: "t1-p.x.a".into(),
                container_id: "lab_x_a".into(),
                ips: vec!["10.244.1.5".parse().unwrap()],
                server: Some(ProcessRecord {
                    pid: 11,
                    start_time: 2,
                }),
            },
        );
        for (pid, component) in (20..).zip([
            Component::KubeApiserver,
            Component::KubeControllerManager,
            Component::KubeScheduler,
            Component::Etcd,
        ]) {
            state
                .control_plane
                .insert(component, ProcessRecord { pid, start_time: 3 });
        }
        state.kube_proxies.insert(
            "n1".into(),
            ProcessRecord {
                pid: 12,
                start_time: 4,
            },
        );
        state
    }

    #[test]
    fn saves_and_loads_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(LabState::load(&path).unwrap(), None);
        let state = state();
        state.save(&path).unwrap();
        assert_eq!(LabState::load(&path).unwrap(), Some(state));
    }

    #[test]
    fn lists_everything_down_must_remove() {
        let state = state();
        assert_eq!(
            state.all_netns(),
            vec!["t1-fabric", "t1-n1", "t1-n2", "t1-world", "t1-p.x.a"]
        );
        let pids: Vec<i32> = state.all_processes().iter().map(|p| p.pid).collect();
        assert_eq!(pids, vec![9, 11, 10, 12, 21, 22, 20, 23]);
        assert_eq!(state.pod("x", "a").unwrap().key(), "x/a");
    }

    #[test]
    fn the_control_plane_stops_after_the_weftds_api_server_after_its_clients() {
        let mut state = state();
        state.control_plane.clear();
        for (pid, component) in (30..).zip(Component::START_ORDER) {
            state
                .control_plane
                .insert(component, ProcessRecord { pid, start_time: 3 });
        }
        let pids: Vec<i32> = state.all_processes().iter().map(|p| p.pid).collect();
        // Started etcd (30), apiserver (31), controller-manager (32), scheduler (33).
        assert_eq!(pids, vec![9, 11, 10, 12, 32, 33, 31, 30]);
    }

    #[test]
    fn state_from_before_the_control_plane_reads_as_a_dir_lab() {
        let mut value = serde_json::to_value(state()).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("datastore");
        object.remove("controlPlane");
        object.remove("kubeProxies");
        object.remove("kubelets");
        object["topology"]
            .as_object_mut()
            .unwrap()
            .remove("controlPlane");
        let old: LabState = serde_json::from_value(value).unwrap();
        assert_eq!(old.datastore, Datastore::Dir);
        assert!(old.control_plane.is_empty());
        assert!(old.kube_proxies.is_empty());
        assert!(old.topology.control_plane.is_none());
    }

    #[test]
    fn a_corrupt_state_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{").unwrap();
        let err = LabState::load(&path).unwrap_err().to_string();
        assert!(err.contains("unreadable"), "{err}");
    }
}
