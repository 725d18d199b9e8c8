//! Kubeconfig files of a lab: one cluster (the lab's API server, trusted
//! through the lab's CA), one user (a client certificate and key), one
//! context. The files refer to the PEM files by path, so a kubeconfig holds
//! no secret of its own. Pure: YAML text out.

use std::path::Path;

use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

#[derive(Debug, thiserror::Error)]
#[error("rendering a kubeconfig: {0}")]
pub struct KubeconfigError(#[from] serde_saphyr::SerializeError);

/// What one kubeconfig says.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigSpec<'a> {
    /// The lab's name, which names the cluster and the context.
    pub lab: &'a str,
    /// `https://IP:PORT` of the API server.
    pub server: &'a str,
    pub ca_cert: &'a Path,
    /// The user's name in the file (its identity is in the certificate).
    pub user: &'a str,
    pub client_cert: &'a Path,
    pub client_key: &'a Path,
}

/// The kubeconfig as kube-rs (and kubectl) read it.
pub fn kubeconfig(spec: &KubeconfigSpec) -> Kubeconfig {
    let path = |p: &Path| Some(p.display().to_string());
    let cluster = format!("weft-lab-{}", spec.lab);
    let context = format!("{}@{cluster}", spec.user);
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        clusters: vec![NamedCluster {
            name: cluster.clone(),
            cluster: Some(Cluster {
                server: Some(spec.server.to_owned()),
                certificate_authority: path(spec.ca_cert),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: spec.user.to_owned(),
            auth_info: Some(AuthInfo {
                client_certificate: path(spec.client_cert),
                client_key: path(spec.client_key),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(Context {
                cluster,
                user: Some(spec.user.to_owned()),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context),
        ..Kubeconfig::default()
    }
}

/// The kubeconfig's YAML text.
pub fn render_kubeconfig(spec: &KubeconfigSpec) -> Result<String, KubeconfigError> {
    Ok(serde_saphyr::to_string(&kubeconfig(spec))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KubeconfigSpec<'static> {
        KubeconfigSpec {
            lab: "t1",
            server: "https://198.18.0.2:6443",
            ca_cert: Path::new("/run/weft-lab/t1/control-plane/pki/ca.crt"),
            user: "system:node:n1",
            client_cert: Path::new("/run/weft-lab/t1/control-plane/pki/node-n1.crt"),
            client_key: Path::new("/run/weft-lab/t1/control-plane/pki/node-n1.key"),
        }
    }

    #[test]
    fn the_yaml_reads_back_as_one_cluster_user_and_current_context() {
        let text = render_kubeconfig(&spec()).unwrap();
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(
            parsed.current_context.as_deref(),
            Some("system:node:n1@weft-lab-t1")
        );
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(parsed.clusters[0].name, "weft-lab-t1");
        assert_eq!(cluster.server.as_deref(), Some("https://198.18.0.2:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/run/weft-lab/t1/control-plane/pki/ca.crt")
        );
        let user = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.client_key.as_deref(),
            Some("/run/weft-lab/t1/control-plane/pki/node-n1.key")
        );
        let context = parsed.contexts[0].context.as_ref().unwrap();
        assert_eq!(context.cluster, "weft-lab-t1");
        assert_eq!(context.user.as_deref(), Some("system:node:n1"));
    }

    #[test]
    fn the_yaml_is_what_kubectl_expects() {
        let text = render_kubeconfig(&spec()).unwrap();
        for expected in [
            "apiVersion: v1",
            "kind: Config",
            "current-context: system:node:n1@weft-lab-t1",
            "certificate-authority: /run/weft-lab/t1/control-plane/pki/ca.crt",
            "client-certificate: /run/weft-lab/t1/control-plane/pki/node-n1.crt",
            "server: https://198.18.0.2:6443",
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
    }
}
