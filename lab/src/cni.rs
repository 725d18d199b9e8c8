//! Calls the `weft` CNI plugin the way a container runtime does: inside the
//! node's netns, CNI_* environment, the weft entry of the node's conflist on
//! stdin, the result (or CNI error) JSON on stdout.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipnet::IpNet;
use serde_json::Value;

use crate::netns;

/// The pod interface name every lab pod gets.
pub const POD_IFNAME: &str = "eth0";

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("reading the CNI conflist {path}: {reason}")]
    Conflist { path: String, reason: String },
    #[error("running the CNI plugin {plugin}: {source}")]
    Exec {
        plugin: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error("CNI {command} failed: {message}")]
    Failed { command: String, message: String },
}

/// Which pod a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandbox {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub container_id: String,
    pub netns_path: PathBuf,
}

/// CNI_ARGS as kubelet passes them.
pub fn cni_args(pod: &PodSandbox) -> String {
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
        pod.namespace, pod.name, pod.container_id, pod.uid
    )
}

/// The `weft` plugin's config from a conflist, with the list's cniVersion
/// and name injected as a runtime does.
pub fn plugin_config(conflist: &Value) -> Result<Value, String> {
    let version = conflist.get("cniVersion").cloned().ok_or("no cniVersion")?;
    let name = conflist.get("name").cloned().ok_or("no name")?;
    let plugin = conflist
        .get("plugins")
        .and_then(Value::as_array)
        .and_then(|plugins| {
            plugins
                .iter()
                .find(|p| p.get("type").and_then(Value::as_str) == Some("weft"))
        })
        .ok_or("no plugin of type weft")?;
    let mut config = plugin.clone();
    let fields = config
        .as_object_mut()
        .ok_or("the weft plugin entry is not an object")?;
    fields.insert("cniVersion".into(), version);
    fields.insert("name".into(), name);
    Ok(config)
}

/// The pod IPs of an ADD result (ips[].address, "10.244.1.5/32").
pub fn result_ips(stdout: &str) -> Result<Vec<IpAddr>, String> {
    let result: Value = serde_json::from_str(stdout)
        .map_err(|e| format!("the result is not JSON ({e}): {stdout}"))?;
    let ips: Vec<IpAddr> = result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.get("address")?.as_str()?.parse::<IpNet>().ok())
        .map(|net| net.addr())
        .collect();
    if ips.is_empty() {
        return Err(format!("the result has no IPs: {stdout}"));
    }
    Ok(ips)
}

/// A CNI error's message: "msg (details) [code N]", or the raw output.
pub fn error_message(stdout: &str, stderr: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(stdout).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match field("msg") {
        Some(msg) => {
            let code = parsed
                .as_ref()
                .and_then(|v| v.get("code"))
                .and_then(Value::as_u64);
            let mut text = msg;
            if let Some(details) = field("details") {
                text.push_str(&format!(" ({details})"));
            }
            if let Some(code) = code {
                text.push_str(&format!(" [code {code}]"));
            }
            text
        }
        None => {
            let raw = format!("{} {}", stdout.trim(), stderr.trim());
            raw.trim().replace('\n', "; ")
        }
    }
}

/// One plugin invocation, run inside the node netns.
pub struct Invocation<'a> {
    pub plugin: &'a Path,
    pub cni_path: &'a Path,
    pub node_netns: &'a Path,
    pub conflist: &'a Path,
}

impl Invocation<'_> {
    /// ADD: returns the pod's IPs.
    pub fn add(&self, pod: &PodSandbox) -> Result<Vec<IpAddr>, CniError> {
        let stdout = self.run("ADD", pod)?;
        result_ips(&stdout).map_err(|message| CniError::Failed {
            command: "ADD".into(),
            message,
        })
    }

    /// DEL: idempotent in the plugin, so a pod that is half gone is fine.
    pub fn del(&self, pod: &PodSandbox) -> Result<(), CniError> {
        self.run("DEL", pod).map(drop)
    }

    fn run(&self, command: &str, pod: &PodSandbox) -> Result<String, CniError> {
        let conflist_error = |reason: String| CniError::Conflist {
            path: self.conflist.display().to_string(),
            reason,
        };
        let text =
            std::fs::read_to_string(self.conflist).map_err(|e| conflist_error(e.to_string()))?;
        let conflist: Value =
            serde_json::from_str(&text).map_err(|e| conflist_error(e.to_string()))?;
        let config = plugin_config(&conflist).map_err(conflist_error)?;
        let exec_error = |source| CniError::Exec {
            plugin: self.plugin.display().to_string(),
            source,
        };
        let mut cmd = Command::new(self.plugin);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &pod.container_id)
            .env("CNI_NETNS", &pod.netns_path)
            .env("CNI_IFNAME", POD_IFNAME)
            .env("CNI_ARGS", cni_args(pod))
            .env("CNI_PATH", self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        netns::enter_before_exec(&mut cmd, netns::open(self.node_netns)?, false);
        let mut child = cmd.spawn().map_err(exec_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(config.to_string().as_bytes())
                .map_err(exec_error)?;
        }
        let out = child.wait_with_output().map_err(exec_error)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(CniError::Failed {
                command: command.into(),
                message: error_message(&stdout, &String::from_utf8_lossy(&out.stderr)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weft_entry_gets_the_list_version_and_name() {
        let conflist = serde_json::json!({
            "cniVersion": "1.1.0", "name": "weft",
            "plugins": [{"type": "weft", "daemonSocket": "/x.sock"}, {"type": "portmap"}]
        });
        assert_eq!(
            plugin_config(&conflist).unwrap(),
            serde_json::json!({"type": "weft", "daemonSocket": "/x.sock", "cniVersion": "1.1.0", "name": "weft"})
        );
        assert_eq!(
            plugin_config(&serde_json::json!({"cniVersion": "1.1.0", "name": "w", "plugins": []})),
            Err("no plugin of type weft".into())
        );
    }

    #[test]
    fn ips_come_from_the_result() {
        let result =
            r#"{"cniVersion":"1.1.0","ips":[{"address":"10.244.1.5/32","gateway":"169.254.1.1"}]}"#;
        assert_eq!(result_ips(result), Ok(vec!["10.244.1.5".parse().unwrap()]));
        assert!(result_ips(r#"{"ips":[]}"#).is_err());
        assert!(result_ips("nope").is_err());
    }

    #[test]
    fn errors_read_like_the_plugin_meant() {
        assert_eq!(
            error_message(
                r#"{"cniVersion":"1.1.0","code":11,"msg":"weftd is not reachable","details":"connect refused"}"#,
                ""
            ),
            "weftd is not reachable (connect refused) [code 11]"
        );
        assert_eq!(error_message("", "panic\nat x"), "panic; at x");
    }

    #[test]
    fn cni_args_name_the_pod_like_kubelet() {
        let pod = PodSandbox {
            namespace: "shop".into(),
            name: "web".into(),
            uid: "u-1".into(),
            container_id: "lab_shop_web".into(),
            netns_path: "/run/netns/weft-p.shop.web".into(),
        };
        assert_eq!(
            cni_args(&pod),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=lab_shop_web;K8S_POD_UID=u-1"
        );
    }
}
