//! Installing Weft in a lab's cluster the way a user does: every object of
//! manifests/daemonset.yaml but the DaemonSet (the lab runs weftd itself)
//! is server-side applied, the ConfigMap's cluster CIDR and mode set to the
//! lab's; each weftd then runs as the manifest's ServiceAccount, with a
//! token from the TokenRequest API, and with the ConfigMap's settings as
//! read back from the API server as its environment. So the manifest's
//! RBAC is what every lab test proves sufficient.
//!
//! Pure: the manifest's documents (`split_documents`, `lab_objects`), the
//! token's kubeconfig (`token_kubeconfig`). Async: `install`,
//! `service_account_token`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{AuthInfo, Kubeconfig};
use kube::core::{ApiResource, TypeMeta};
use kube::{Client, Resource};
use serde_json::Value;

use super::client::ApiError;
use super::kubeconfig::{KubeconfigSpec, kubeconfig};

/// The manifest a user applies, compiled in so `weft-lab` needs no checkout.
pub const MANIFEST: &str = include_str!("../../../manifests/daemonset.yaml");
pub const NAMESPACE: &str = "kube-system";
/// weftd's ServiceAccount (and its roles' and bindings' name).
pub const SERVICE_ACCOUNT: &str = "weft";
/// weftd's settings: each key the environment variable of a weftd flag.
pub const CONFIG_MAP: &str = "weft-config";
pub const CLUSTER_CIDR_KEY: &str = "WEFT_CLUSTER_CIDR";
pub const MODE_KEY: &str = "WEFT_MODE";
pub const HOST_ROUTING_KEY: &str = "WEFT_HOST_ROUTING";
/// The kind the lab leaves out: it runs weftd itself.
const DAEMON_SET: &str = "DaemonSet";
/// Who owns the fields the lab applies.
const FIELD_MANAGER: &str = "weft-lab";
/// How long a weftd's token is valid; `up` asks for a new one whenever it
/// starts a weftd.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("document {index} of the manifest: {reason}")]
    Document { index: usize, reason: String },
    #[error("the manifest has no ConfigMap {NAMESPACE}/{CONFIG_MAP}")]
    NoConfigMap,
}

/// The manifest's YAML documents (split on `---` lines), without the ones
/// that hold only comments.
pub fn split_documents(text: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            documents.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&text[start..]);
    documents.retain(|doc| {
        doc.lines().any(|line| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
    });
    documents
}

/// The objects of `manifest` the lab applies: all but the DaemonSet, with
/// `settings` set in the ConfigMap's data.
pub fn lab_objects(
    manifest: &str,
    settings: &[(&str, String)],
) -> Result<Vec<DynamicObject>, ManifestError> {
    let mut objects = Vec::new();
    let mut config_map_seen = false;
    for (index, text) in split_documents(manifest).into_iter().enumerate() {
        let error = |reason: String| ManifestError::Document { index, reason };
        let value: Value = serde_saphyr::from_str(text).map_err(|e| error(e.to_string()))?;
        let mut object: DynamicObject =
            serde_json::from_value(value).map_err(|e| error(e.to_string()))?;
        let kind = object.types.as_ref().map(|t| t.kind.as_str());
        if kind == Some(DAEMON_SET) {
            continue;
        }
        if kind == Some("ConfigMap") && object.metadata.name.as_deref() == Some(CONFIG_MAP) {
            set_config(&mut object, settings);
            config_map_seen = true;
        }
        objects.push(object);
    }
    if !config_map_seen {
        return Err(ManifestError::NoConfigMap);
    }
    Ok(objects)
}

/// Sets each (key, value) of `settings` in a ConfigMap's data.
pub fn set_config(config_map: &mut DynamicObject, settings: &[(&str, String)]) {
    let data = &mut config_map.data["data"];
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    for (key, value) in settings {
        data[*key] = Value::String(value.clone());
    }
}

/// The API resource of a kind the manifest may hold, and whether it is
/// namespaced.
pub fn api_resource(types: &TypeMeta) -> Option<(ApiResource, bool)> {
    fn of<K: Resource<DynamicType = ()>>(namespaced: bool) -> (ApiResource, bool) {
        (ApiResource::erase::<K>(&()), namespaced)
    }
    let known = [
        of::<ServiceAccount>(true),
        of::<ConfigMap>(true),
        of::<Role>(true),
        of::<RoleBinding>(true),
        of::<ClusterRole>(false),
        of::<ClusterRoleBinding>(false),
    ];
    known.into_iter().find(|(resource, _)| {
        resource.kind == types.kind && resource.api_version == types.api_version
    })
}

/// Server-side applies `objects` and returns the ConfigMap's data as the
/// API server holds it afterwards.
pub async fn install(
    client: Client,
    objects: Vec<DynamicObject>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for object in &objects {
        let types = object.types.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        let (resource, namespaced) = api_resource(&types).ok_or_else(|| {
            ApiError::Unexpected(format!(
                "the lab cannot apply {} {name} of the manifest",
                types.kind
            ))
        })?;
        let api: Api<DynamicObject> = if namespaced {
            let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
            Api::namespaced_with(client.clone(), namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        api.patch(&name, &params, &Patch::Apply(object)).await?;
    }
    let config: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
    Ok(config.get(CONFIG_MAP).await?.data.unwrap_or_default())
}

/// A token of weftd's ServiceAccount, valid for `lifetime`.
pub async fn service_account_token(client: Client, lifetime: Duration) -> Result<String, ApiError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client, NAMESPACE);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(lifetime.as_secs() as i64),
            ..Default::default()
        }),
        ..Default::default()
    };
    let answer = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?;
    answer
        .status
        .and_then(|status| status.token)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::Unexpected("the TokenRequest came back without a token".into()))
}

/// The user weftd is, as the API server names a ServiceAccount.
pub fn service_account_user() -> String {
    format!("system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}")
}

/// A kubeconfig for the lab's API server at `server` (trusted through
/// `ca_cert`) that authenticates with `token`.
pub fn token_kubeconfig(lab: &str, server: &str, ca_cert: &Path, token: &str) -> Kubeconfig {
    let user = service_account_user();
    let mut config = kubeconfig(&KubeconfigSpec {
        lab,
        server,
        ca_cert,
        user: &user,
        client_cert: Path::new(""),
        client_key: Path::new(""),
    });
    for named in &mut config.auth_infos {
        named.auth_info = Some(AuthInfo {
            token: Some(token.to_owned().into()),
            ..AuthInfo::default()
        });
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(objects: &[DynamicObject]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o.types.as_ref().unwrap().kind,
                    o.metadata.name.as_deref().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn documents_split_on_separator_lines_and_comment_only_ones_go() {
        let text =
            "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n# trailing\n---   \nc: '---'\n";
        assert_eq!(
            split_documents(text),
            vec!["a: 1\n", "b: 2\n# trailing\n", "c: '---'\n"]
        );
        assert_eq!(split_documents("x: 1"), vec!["x: 1"]);
        assert!(split_documents("").is_empty());
    }

    #[test]
    fn the_lab_applies_everything_but_the_daemonset() {
        assert_eq!(split_documents(MANIFEST).len(), 7);
        let objects = lab_objects(MANIFEST, &[]).unwrap();
        assert_eq!(
            kinds(&objects),
            vec![
                "ServiceAccount/weft",
                "ClusterRole/weft",
                "ClusterRoleBinding/weft",
                "Role/weft",
                "RoleBinding/weft",
                "ConfigMap/weft-config",
            ]
        );
        for object in &objects {
            let types = object.types.as_ref().unwrap();
            assert!(api_resource(types).is_some(), "{types:?}");
        }
    }

    #[test]
    fn the_config_map_gets_the_labs_settings_and_keeps_the_rest() {
        let objects = lab_objects(
            MANIFEST,
            &[
                (CLUSTER_CIDR_KEY, "10.50.0.0/16".into()),
                (MODE_KEY, "auto".into()),
            ],
        )
        .unwrap();
        let config = objects.last().unwrap();
        assert_eq!(config.metadata.namespace.as_deref(), Some(NAMESPACE));
        let data = &config.data["data"];
        assert_eq!(data[CLUSTER_CIDR_KEY], "10.50.0.0/16");
        assert_eq!(data[MODE_KEY], "auto");
        assert_eq!(data["RUST_LOG"], "info");
        // Without settings, the manifest's defaults.
        let defaults = lab_objects(MANIFEST, &[]).unwrap();
        assert_eq!(
            defaults.last().unwrap().data["data"][CLUSTER_CIDR_KEY],
            "10.244.0.0/16"
        );
    }

    #[test]
    fn a_config_map_without_data_gets_some() {
        let mut object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}
        }))
        .unwrap();
        set_config(&mut object, &[(MODE_KEY, "direct".into())]);
        assert_eq!(object.data["data"][MODE_KEY], "direct");
    }

    #[test]
    fn a_manifest_without_the_config_map_is_refused() {
        let err = lab_objects(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: weft}\n",
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, ManifestError::NoConfigMap), "{err}");
        let err = lab_objects("a: [", &[]).unwrap_err();
        assert!(err.to_string().starts_with("document 0"), "{err}");
    }

    #[test]
    fn the_token_kubeconfig_names_the_service_account_and_holds_the_token() {
        let config = token_kubeconfig(
            "t1",
            "https://198.18.0.2:6443",
            Path::new("/run/weft-lab/t1/control-plane/pki/ca.crt"),
            "abc.def.ghi",
        );
        let text = serde_saphyr::to_string(&config).unwrap();
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(
            parsed.current_context.as_deref(),
            Some("system:serviceaccount:kube-system:weft@weft-lab-t1")
        );
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://198.18.0.2:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/run/weft-lab/t1/control-plane/pki/ca.crt")
        );
        let user = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(user.client_certificate.is_none() && user.client_key.is_none());
        assert!(text.contains("token: abc.def.ghi"), "{text}");
    }
}
