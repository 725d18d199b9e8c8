//! Who is who in a lab's cluster: the API server's serving certificate
//! (for every name and address clients use), the ServiceAccount signing
//! key, and one client certificate and kubeconfig per identity: the admin,
//! the controller-manager, the scheduler, each node (as kubelet's) and
//! the nodes' kube-proxies.
//! `client_plans` decides (pure); `write_credentials` makes and writes
//! them once, when the lab is created.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::component::Component;
use super::endpoint::{api_server_url, kubernetes_service_ip, local_api_server_url};
use super::kubeconfig::{KubeconfigError, KubeconfigSpec, render_kubeconfig};
use super::pki::{ClientIdentity, ClusterCa, PkiError, service_account_key};
use crate::names::LabName;
use crate::paths::LabPaths;

pub const CA_CERT: &str = "ca.crt";
pub const API_SERVER_CERT: &str = "apiserver.crt";
pub const API_SERVER_KEY: &str = "apiserver.key";
pub const SA_PUBLIC_KEY: &str = "sa.pub";
pub const SA_KEY: &str = "sa.key";
/// The admin's identity: system:masters may do anything, unchecked by RBAC.
pub const ADMIN_USER: &str = "kubernetes-admin";
const MASTERS_GROUP: &str = "system:masters";
/// Nodes' group, which the Node authorizer and NodeRestriction act on.
const NODES_GROUP: &str = "system:nodes";
/// kube-proxy's user, which the default ClusterRoleBinding
/// system:node-proxier authorizes.
const KUBE_PROXY_USER: &str = "system:kube-proxy";
/// Names kube-proxy's certificate, key and kubeconfig.
const KUBE_PROXY_STEM: &str = "kube-proxy";
/// Names the API server answers to, besides its addresses.
const API_SERVER_NAMES: [&str; 5] = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
];

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// One client identity of the lab and where its files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPlan {
    /// The certificate is `<stem>.crt` and its key `<stem>.key` in the PKI dir.
    pub stem: String,
    pub identity: ClientIdentity,
    pub kubeconfig: PathBuf,
    /// The API server's URL as this client reaches it.
    pub server: String,
}

/// The user of a node's credentials (what kubelet's certificate says).
pub fn node_user(node: &str) -> String {
    format!("system:node:{node}")
}

/// The kubeconfig every node's kube-proxy shares.
pub fn kube_proxy_kubeconfig(paths: &LabPaths) -> PathBuf {
    paths.component_kubeconfig(KUBE_PROXY_STEM)
}

/// Every client identity of a lab with `nodes`, whose API server is at
/// `api_ip` on the fabric. The controller-manager and scheduler run beside
/// the API server and reach it on loopback; the admin and the nodes over
/// the fabric.
pub fn client_plans(paths: &LabPaths, nodes: &[String], api_ip: IpAddr) -> Vec<ClientPlan> {
    let remote = api_server_url(api_ip);
    let mut plans = vec![ClientPlan {
        stem: "admin".into(),
        identity: ClientIdentity::new(ADMIN_USER, &[MASTERS_GROUP]),
        kubeconfig: paths.admin_kubeconfig(),
        server: remote.clone(),
    }];
    for component in [Component::KubeControllerManager, Component::KubeScheduler] {
        plans.push(ClientPlan {
            stem: component.name().into(),
            identity: ClientIdentity::new(&format!("system:{component}"), &[]),
            kubeconfig: paths.component_kubeconfig(component.name()),
            server: local_api_server_url(),
        });
    }
    plans.extend(nodes.iter().map(|node| ClientPlan {
        stem: format!("node-{node}"),
        identity: ClientIdentity::new(&node_user(node), &[NODES_GROUP]),
        kubeconfig: paths.node_kubeconfig(node),
        server: remote.clone(),
    }));
    // One identity for every node's kube-proxy, as its DaemonSet has.
    plans.push(ClientPlan {
        stem: KUBE_PROXY_STEM.into(),
        identity: ClientIdentity::new(KUBE_PROXY_USER, &[]),
        kubeconfig: kube_proxy_kubeconfig(paths),
        server: remote,
    });
    plans
}

/// The addresses the API server's certificate names: its Service IP (the
/// first of the first Service network, for pods), its fabric address,
/// loopback.
pub fn serving_ips(api_ip: IpAddr) -> Vec<IpAddr> {
    vec![
        kubernetes_service_ip(api_ip.is_ipv6()),
        api_ip,
        Ipv4Addr::LOCALHOST.into(),
    ]
}

/// Makes the lab's CA and every certificate, key and kubeconfig, and
/// writes them (keys readable by root only). The CA's own key is not
/// kept: nothing signs after the lab is made.
pub fn write_credentials(
    paths: &LabPaths,
    lab: &LabName,
    nodes: &[String],
    api_ip: IpAddr,
) -> Result<(), CredentialsError> {
    let ca = ClusterCa::new(lab.as_str())?;
    write(&paths.pki_file(CA_CERT), &ca.pair.cert_pem, PUBLIC)?;
    let serving = ca.serving(&serving_ips(api_ip), &API_SERVER_NAMES)?;
    write(&paths.pki_file(API_SERVER_CERT), &serving.cert_pem, PUBLIC)?;
    write(&paths.pki_file(API_SERVER_KEY), &serving.key_pem, SECRET)?;
    let service_accounts = service_account_key()?;
    write(
        &paths.pki_file(SA_PUBLIC_KEY),
        &service_accounts.cert_pem,
        PUBLIC,
    )?;
    write(&paths.pki_file(SA_KEY), &service_accounts.key_pem, SECRET)?;
    for plan in client_plans(paths, nodes, api_ip) {
        let pair = ca.client(&plan.identity)?;
        let cert = paths.pki_file(&format!("{}.crt", plan.stem));
        let key = paths.pki_file(&format!("{}.key", plan.stem));
        write(&cert, &pair.cert_pem, PUBLIC)?;
        write(&key, &pair.key_pem, SECRET)?;
        let text = render_kubeconfig(&KubeconfigSpec {
            lab: lab.as_str(),
            server: &plan.server,
            ca_cert: &paths.pki_file(CA_CERT),
            user: &plan.identity.user,
            client_cert: &cert,
            client_key: &key,
        })?;
        write(&plan.kubeconfig, &text, PUBLIC)?;
    }
    Ok(())
}

pub(crate) const PUBLIC: u32 = 0o644;
pub(crate) const SECRET: u32 = 0o600;

/// Writes a new file with `mode` (its directory made first).
pub(crate) fn write(path: &Path, text: &str, mode: u32) -> Result<(), CredentialsError> {
    let error = |source| CredentialsError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ip() -> IpAddr {
        "198.18.0.2".parse().unwrap()
    }

    #[test]
    fn every_identity_gets_its_user_groups_and_server() {
        let paths = LabPaths::new("/run/weft-lab/t1");
        let plans = client_plans(&paths, &["n1".into(), "n2".into()], ip());
        let summary: Vec<(&str, &str, Vec<&str>, &str)> = plans
            .iter()
            .map(|p| {
                (
                    p.stem.as_str(),
                    p.identity.user.as_str(),
                    p.identity.groups.iter().map(String::as_str).collect(),
                    p.server.as_str(),
                )
            })
            .collect();
        let remote = "https://198.18.0.2:6443";
        let local = "https://127.0.0.1:6443";
        assert_eq!(
            summary,
            vec![
                ("admin", "kubernetes-admin", vec!["system:masters"], remote),
                (
                    "kube-controller-manager",
                    "system:kube-controller-manager",
                    vec![],
                    local
                ),
                ("kube-scheduler", "system:kube-scheduler", vec![], local),
                ("node-n1", "system:node:n1", vec!["system:nodes"], remote),
                ("node-n2", "system:node:n2", vec!["system:nodes"], remote),
                ("kube-proxy", "system:kube-proxy", vec![], remote),
            ]
        );
        assert_eq!(plans[0].kubeconfig, paths.admin_kubeconfig());
        assert_eq!(
            plans[1].kubeconfig,
            paths.component_kubeconfig("kube-controller-manager")
        );
        assert_eq!(plans[4].kubeconfig, paths.node_kubeconfig("n2"));
        assert_eq!(
            plans[5].kubeconfig,
            PathBuf::from("/run/weft-lab/t1/control-plane/kube-proxy.kubeconfig")
        );
    }

    #[test]
    fn the_api_server_is_named_by_its_service_fabric_and_loopback_addresses() {
        let ips: Vec<String> = serving_ips(ip()).iter().map(ToString::to_string).collect();
        assert_eq!(ips, vec!["10.96.0.1", "198.18.0.2", "127.0.0.1"]);
    }

    #[test]
    fn credentials_are_written_with_keys_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let paths = LabPaths::new(dir.path());
        let lab: LabName = "t1".parse().unwrap();
        write_credentials(&paths, &lab, &["n1".into()], ip()).unwrap();
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(paths.pki_file(SA_KEY)), 0o600);
        assert_eq!(mode(paths.pki_file("node-n1.key")), 0o600);
        assert_eq!(mode(paths.pki_file(CA_CERT)), 0o644);
        assert!(!paths.pki_file("ca.key").exists());
        let node = std::fs::read_to_string(paths.node_kubeconfig("n1")).unwrap();
        assert!(node.contains("node-n1.crt"), "{node}");
        let scheduler =
            std::fs::read_to_string(paths.component_kubeconfig("kube-scheduler")).unwrap();
        assert!(scheduler.contains("https://127.0.0.1:6443"), "{scheduler}");
    }
}
