//! The files of one lab under its state directory: state file, lock, the
//! datastore directory every weftd watches, the control plane's files
//! (kubernetes datastore), and per-node and per-pod files.

use std::path::{Path, PathBuf};

/// bpffs directory under which each lab pins its nodes' datapaths.
pub const BPF_ROOT: &str = "/sys/fs/bpf/weft-lab";

/// Paths inside a lab's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPaths {
    root: PathBuf,
}

impl LabPaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Held (flock) by every command that changes the lab.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// The `dir` datastore: the lab's Kubernetes API.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.root.join("nodes").join(node)
    }

    pub fn node_conf_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("net.d")
    }

    pub fn node_state_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("state")
    }

    pub fn node_run_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("run")
    }

    pub fn node_socket(&self, node: &str) -> PathBuf {
        self.node_run_dir(node).join(weft_api::SOCKET_FILE)
    }

    pub fn node_conflist(&self, node: &str) -> PathBuf {
        self.node_conf_dir(node).join("10-weft.conflist")
    }

    pub fn node_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("weftd.log")
    }

    /// The pods the node's kubelet stand-in has wired (kubernetes datastore).
    pub fn node_kubelet_ledger(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("kubelet-pods.json")
    }

    pub fn node_kubelet_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("kubelet.log")
    }

    /// Log of a pod's port server (`_` cannot occur in either DNS label).
    pub fn pod_log(&self, namespace: &str, pod: &str) -> PathBuf {
        self.root
            .join("pods")
            .join(format!("{namespace}_{pod}.log"))
    }

    /// The lab's pins in bpffs (named after the lab, like its state dir).
    pub fn bpf_dir(&self) -> PathBuf {
        let name = self.root.file_name().unwrap_or_default();
        Path::new(BPF_ROOT).join(name)
    }

    /// Where `node`'s weftd pins its policy maps and program links.
    pub fn node_bpf_dir(&self, node: &str) -> PathBuf {
        self.bpf_dir().join(node)
    }

    pub fn world_log(&self) -> PathBuf {
        self.root.join("world.log")
    }

    /// The admin's kubeconfig inside the lab (the API server's fabric
    /// address), which the lab's own commands use.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }

    /// The admin's kubeconfig for the host: through the loopback relay
    /// (`weft-lab kubeconfig` prints it).
    pub fn host_kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig.host")
    }

    /// A node's own credentials (system:node:NODE), as kubelet holds them.
    pub fn node_kubeconfig(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("kubeconfig")
    }

    /// weftd's credentials: a token of the manifest's ServiceAccount.
    pub fn weft_kubeconfig(&self) -> PathBuf {
        self.control_plane_dir().join("weft.kubeconfig")
    }

    pub fn control_plane_dir(&self) -> PathBuf {
        self.root.join("control-plane")
    }

    /// Certificates and keys of the lab's PKI, by file name.
    pub fn pki_file(&self, file: &str) -> PathBuf {
        self.control_plane_dir().join("pki").join(file)
    }

    /// A control-plane component's kubeconfig, by component name.
    pub fn component_kubeconfig(&self, component: &str) -> PathBuf {
        self.control_plane_dir()
            .join(format!("{component}.kubeconfig"))
    }

    /// A control-plane component's log, by component name.
    pub fn component_log(&self, component: &str) -> PathBuf {
        self.control_plane_dir().join(format!("{component}.log"))
    }

    pub fn etcd_data_dir(&self) -> PathBuf {
        self.control_plane_dir().join("etcd")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_files_live_under_the_node_dir() {
        let paths = LabPaths::new("/run/weft-lab/weft");
        assert_eq!(
            paths.node_socket("n2"),
            PathBuf::from("/run/weft-lab/weft/nodes/n2/run/weftd.sock")
        );
        assert_eq!(
            paths.node_conflist("n2"),
            PathBuf::from("/run/weft-lab/weft/nodes/n2/net.d/10-weft.conflist")
        );
        assert_eq!(paths.store_dir(), PathBuf::from("/run/weft-lab/weft/store"));
        assert_eq!(
            paths.pod_log("shop", "web"),
            PathBuf::from("/run/weft-lab/weft/pods/shop_web.log")
        );
        assert_eq!(
            paths.node_kubeconfig("n2"),
            PathBuf::from("/run/weft-lab/weft/nodes/n2/kubeconfig")
        );
    }

    #[test]
    fn control_plane_files_live_under_their_own_dir() {
        let paths = LabPaths::new("/run/weft-lab/weft");
        assert_eq!(
            paths.admin_kubeconfig(),
            PathBuf::from("/run/weft-lab/weft/kubeconfig")
        );
        assert_eq!(
            paths.pki_file("ca.crt"),
            PathBuf::from("/run/weft-lab/weft/control-plane/pki/ca.crt")
        );
        assert_eq!(
            paths.component_kubeconfig("kube-scheduler"),
            PathBuf::from("/run/weft-lab/weft/control-plane/kube-scheduler.kubeconfig")
        );
        assert_eq!(
            paths.component_log("etcd"),
            PathBuf::from("/run/weft-lab/weft/control-plane/etcd.log")
        );
        assert_eq!(
            paths.etcd_data_dir(),
            PathBuf::from("/run/weft-lab/weft/control-plane/etcd")
        );
    }
}
