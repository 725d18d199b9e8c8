//! The network configuration on stdin: decoded in two steps so the error
//! JSON can carry the config's own `cniVersion` whenever that much is valid.
//!
//! Keys of a `"type": "weft"` config (all optional but `cniVersion`, `name`, `type`).
//! Every path must be absolute: a relative one would depend on the
//! runtime's working directory.
//! - `daemonSocket` (default `/run/weft/weftd.sock`): weftd's endpoint API socket.
//! - `nodeNetworkFile` (default `/run/weft/node-network.json`): weftd's
//!   description of the node's pod subnets and MTU.
//! - `ipamDir` (default `/var/lib/weft/ipam`): the IPAM store directory.
//! - `subnet`: a CIDR or an array of CIDRs (at most one per family) used as
//!   static pod subnets; when set, the node-network file is not read.
//! - `mtu`: pod interface MTU (beats the node-network MTU, which beats the
//!   MTU of the host's default-route interface, else 1500).
//! - `standalone` (default false): never contact weftd.
//! - `dns`: copied into the ADD result when no earlier plugin set DNS.
//! - `logFile`: an absolute path the plugin appends its log to (at
//!   `RUST_LOG`'s level, default info); read before the rest, so that
//!   everything after reaches it.
//! - `runtimeConfig.mac`: the pod interface's MAC (the `mac` capability).
//!   Other `runtimeConfig` keys are accepted and ignored.
//! - `prevResult`, `cni.dev/valid-attachments` (also read as `cni.dev/attachments`).
//! - `ipam` is rejected (code 2): weft allocates pod IPs itself.

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;
use weft_api::check_mtu;
use weft_ipam::AttachmentKey;

use crate::error::{CniError, ErrorCode};
use crate::naming::Mac;
use crate::result::{CniResult, Dns};
use crate::version::{CniVersion, VersionError};

pub const DEFAULT_DAEMON_SOCKET: &str = "/run/weft/weftd.sock";
pub const DEFAULT_NODE_NETWORK_FILE: &str = "/run/weft/node-network.json";
pub const DEFAULT_IPAM_DIR: &str = "/var/lib/weft/ipam";

/// A validated weft network configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConf {
    pub cni_version: CniVersion,
    pub name: String,
    pub daemon_socket: PathBuf,
    pub node_network_file: PathBuf,
    pub ipam_dir: PathBuf,
    /// Static pod subnets, at most one per family; empty: read the node network.
    pub subnets: Vec<IpNet>,
    pub mtu: Option<u32>,
    pub standalone: bool,
    pub dns: Dns,
    /// `runtimeConfig.mac`
    pub pod_mac: Option<Mac>,
    pub prev_result: Option<CniResult>,
    /// GC's list of attachments the runtime still knows.
    pub valid_attachments: Option<Vec<AttachmentKey>>,
}

/// Step one: stdin must be a JSON object with a supported `cniVersion`.
pub fn decode_version(stdin: &[u8]) -> Result<(CniVersion, Value), CniError> {
    let value: Value = serde_json::from_slice(stdin).map_err(|err| {
        CniError::new(
            ErrorCode::DecodingFailure,
            format!("network configuration is not valid JSON: {err}"),
        )
    })?;
    let version = match value.get("cniVersion") {
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(CniError::new(
                ErrorCode::DecodingFailure,
                "cniVersion must be a string",
            ));
        }
        None if value.is_object() => {
            return Err(CniError::new(
                ErrorCode::InvalidNetworkConfig,
                "cniVersion is required",
            ));
        }
        None => {
            return Err(CniError::new(
                ErrorCode::DecodingFailure,
                "network configuration must be a JSON object",
            ));
        }
    };
    match CniVersion::parse(version) {
        Ok(version) => Ok((version, value)),
        Err(err @ VersionError::Malformed(_)) => {
            Err(CniError::new(ErrorCode::DecodingFailure, err.to_string()))
        }
        Err(err @ VersionError::Unsupported(_)) => Err(CniError::new(
            ErrorCode::IncompatibleCniVersion,
            "incompatible CNI versions",
        )
        .with_details(err.to_string())),
    }
}

/// `logFile`: absent, or an absolute path (a relative one would depend on
/// the runtime's working directory).
pub fn log_file(value: &Value) -> Result<Option<PathBuf>, CniError> {
    let invalid = |why: String| CniError::new(ErrorCode::InvalidNetworkConfig, why);
    match value.get("logFile") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if Path::new(text).is_absolute() => Ok(Some(text.into())),
        Some(Value::String(text)) => {
            Err(invalid(format!("logFile {text:?} is not an absolute path")))
        }
        Some(other) => Err(invalid(format!("logFile {other} is not a path"))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNetConf {
    name: Option<String>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
    daemon_socket: Option<PathBuf>,
    node_network_file: Option<PathBuf>,
    ipam_dir: Option<PathBuf>,
    subnet: Option<OneOrMany>,
    mtu: Option<u32>,
    #[serde(default)]
    standalone: bool,
    #[serde(default)]
    dns: Dns,
    ipam: Option<Value>,
    #[serde(default)]
    runtime_config: RuntimeConfig,
    prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<GcAttachment>>,
    /// The name an earlier spec draft used; libcni sends both.
    #[serde(rename = "cni.dev/attachments")]
    attachments: Option<Vec<GcAttachment>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct RuntimeConfig {
    mac: Option<String>,
}

#[derive(Deserialize)]
struct GcAttachment {
    #[serde(rename = "containerID")]
    container_id: String,
    ifname: String,
}

impl NetConf {
    /// Step two: the typed, validated configuration.
    pub fn from_value(cni_version: CniVersion, value: Value) -> Result<NetConf, CniError> {
        let invalid = |msg: String| CniError::new(ErrorCode::InvalidNetworkConfig, msg);
        let raw: RawNetConf = serde_json::from_value(value)
            .map_err(|err| invalid(format!("invalid network configuration: {err}")))?;

        let name = raw
            .name
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid("missing network name".into()))?;
        if !is_valid_network_name(&name) {
            return Err(invalid(format!(
                "network name {name:?} has invalid characters"
            )));
        }
        if raw.plugin_type.is_none_or(|t| t.is_empty()) {
            return Err(invalid("missing plugin type".into()));
        }
        if let Some(ipam) = raw.ipam.filter(|ipam| !is_empty_value(ipam)) {
            return Err(CniError::new(
                ErrorCode::UnsupportedField,
                format!(
                    "unsupported field ipam: {ipam} (weft allocates pod IPs itself; use subnet)"
                ),
            ));
        }
        let subnets = parse_subnets(raw.subnet).map_err(invalid)?;
        if let Some(mtu) = raw.mtu {
            let carries_ipv6 = subnets.iter().any(|s| s.addr().is_ipv6());
            check_mtu(mtu, carries_ipv6).map_err(|err| invalid(err.to_string()))?;
        }
        let pod_mac = raw
            .runtime_config
            .mac
            .map(|text| match text.parse::<Mac>() {
                Ok(mac) if mac.is_assignable() => Ok(mac),
                _ => Err(invalid(format!(
                    "runtimeConfig.mac {text:?} is not a unicast MAC address"
                ))),
            })
            .transpose()?;
        let prev_result = raw
            .prev_result
            .map(serde_json::from_value::<CniResult>)
            .transpose()
            .map_err(|err| {
                CniError::new(
                    ErrorCode::DecodingFailure,
                    format!("prevResult could not be decoded: {err}"),
                )
            })?;
        let valid_attachments = raw.valid_attachments.or(raw.attachments).map(|list| {
            list.into_iter()
                .map(|a| AttachmentKey {
                    container_id: a.container_id,
                    ifname: a.ifname,
                })
                .collect()
        });

        let daemon_socket = absolute_path("daemonSocket", raw.daemon_socket, DEFAULT_DAEMON_SOCKET)
            .map_err(invalid)?;
        let node_network_file = absolute_path(
            "nodeNetworkFile",
            raw.node_network_file,
            DEFAULT_NODE_NETWORK_FILE,
        )
        .map_err(invalid)?;
        let ipam_dir = absolute_path("ipamDir", raw.ipam_dir, DEFAULT_IPAM_DIR).map_err(invalid)?;

        Ok(NetConf {
            cni_version,
            name,
            daemon_socket,
            node_network_file,
            ipam_dir,
            subnets,
            mtu: raw.mtu,
            standalone: raw.standalone,
            dns: raw.dns,
            pod_mac,
            prev_result,
            valid_attachments,
        })
    }
}

/// The path in `field`, `default` when absent; an empty or relative one is
/// refused, naming `field`.
fn absolute_path(field: &str, value: Option<PathBuf>, default: &str) -> Result<PathBuf, String> {
    match value {
        None => Ok(default.into()),
        Some(path) if path.as_os_str().is_empty() => {
            Err(format!("{field} is empty: it must be an absolute path"))
        }
        Some(path) if path.is_absolute() => Ok(path),
        Some(path) => Err(format!("{field} {path:?} is not an absolute path")),
    }
}

/// Same rule as the reference library.
fn is_valid_network_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn parse_subnets(subnet: Option<OneOrMany>) -> Result<Vec<IpNet>, String> {
    let texts = match subnet {
        None => return Ok(Vec::new()),
        Some(OneOrMany::One(text)) => vec![text],
        Some(OneOrMany::Many(texts)) if texts.is_empty() => {
            return Err("subnet must not be an empty list".into());
        }
        Some(OneOrMany::Many(texts)) => texts,
    };
    let mut subnets: Vec<IpNet> = Vec::with_capacity(texts.len());
    for text in texts {
        let subnet: IpNet = text
            .parse()
            .map_err(|_| format!("subnet {text:?} is not a CIDR"))?;
        if subnet.trunc() != subnet {
            return Err(format!(
                "subnet {subnet} has host bits set (did you mean {}?)",
                subnet.trunc()
            ));
        }
        if subnets
            .iter()
            .any(|s| s.addr().is_ipv4() == subnet.addr().is_ipv4())
        {
            return Err("subnet lists at most one subnet per address family".into());
        }
        subnets.push(subnet);
    }
    Ok(subnets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<NetConf, CniError> {
        let (version, value) = decode_version(value.to_string().as_bytes())?;
        NetConf::from_value(version, value)
    }

    fn minimal(version: &str) -> Value {
        json!({"cniVersion": version, "name": "weft", "type": "weft"})
    }

    #[test]
    fn minimal_config_of_every_version_gets_defaults() {
        for version in CniVersion::ALL {
            let conf = parse(minimal(version.as_str())).unwrap();
            assert_eq!(conf.cni_version, version);
            assert_eq!(conf.daemon_socket, PathBuf::from(DEFAULT_DAEMON_SOCKET));
            assert_eq!(
                conf.node_network_file,
                PathBuf::from(DEFAULT_NODE_NETWORK_FILE)
            );
            assert_eq!(conf.ipam_dir, PathBuf::from(DEFAULT_IPAM_DIR));
            assert!(conf.subnets.is_empty());
            assert!(!conf.standalone);
            assert_eq!(conf.mtu, None);
            assert_eq!(conf.prev_result, None);
        }
    }

    #[test]
    fn reads_every_weft_key() {
        let conf = parse(json!({
            "cniVersion": "1.1.0", "name": "pods", "type": "weft",
            "daemonSocket": "/tmp/d.sock", "nodeNetworkFile": "/tmp/nn.json",
            "ipamDir": "/tmp/ipam", "subnet": ["10.1.0.0/24", "fd00:1::/64"],
            "mtu": 1400, "standalone": true,
            "dns": {"nameservers": ["10.96.0.10"]},
            "runtimeConfig": {"mac": "0a:00:00:00:00:01", "portMappings": []},
            "args": {"cni": {"ips": ["10.1.0.9"]}}
        }))
        .unwrap();
        assert_eq!(conf.daemon_socket, PathBuf::from("/tmp/d.sock"));
        assert_eq!(conf.node_network_file, PathBuf::from("/tmp/nn.json"));
        assert_eq!(conf.ipam_dir, PathBuf::from("/tmp/ipam"));
        assert_eq!(
            conf.subnets,
            vec![
                "10.1.0.0/24".parse::<IpNet>().unwrap(),
                "fd00:1::/64".parse().unwrap()
            ]
        );
        assert_eq!(conf.mtu, Some(1400));
        assert!(conf.standalone);
        assert_eq!(conf.dns.nameservers, ["10.96.0.10"]);
        assert_eq!(conf.pod_mac, Some("0a:00:00:00:00:01".parse().unwrap()));
    }

    #[test]
    fn subnet_may_be_a_single_string() {
        let mut value = minimal("1.0.0");
        value["subnet"] = json!("10.1.0.0/24");
        assert_eq!(parse(value).unwrap().subnets.len(), 1);
    }

    fn code_of(value: Value) -> ErrorCode {
        parse(value).unwrap_err().code
    }

    #[test]
    fn stdin_that_is_not_a_json_object_is_a_decoding_failure() {
        for stdin in ["", "{", "not json", "[1,2]", "\"1.0.0\""] {
            let err = decode_version(stdin.as_bytes()).unwrap_err();
            assert_eq!(err.code, ErrorCode::DecodingFailure, "{stdin:?}");
        }
    }

    #[test]
    fn version_problems_get_their_own_codes() {
        assert_eq!(
            code_of(json!({"name": "n", "type": "weft"})),
            ErrorCode::InvalidNetworkConfig
        );
        assert_eq!(code_of(minimal("0.2.0")), ErrorCode::IncompatibleCniVersion);
        assert_eq!(code_of(minimal("2.0.0")), ErrorCode::IncompatibleCniVersion);
        assert_eq!(code_of(minimal("latest")), ErrorCode::DecodingFailure);
        assert_eq!(
            code_of(json!({"cniVersion": 1, "name": "n", "type": "weft"})),
            ErrorCode::DecodingFailure
        );
    }

    #[test]
    fn unsupported_version_error_names_the_supported_ones() {
        let err = parse(minimal("0.2.0")).unwrap_err();
        assert!(
            err.details
                .unwrap()
                .contains("0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0")
        );
    }

    #[test]
    fn invalid_values_are_invalid_network_config() {
        let cases = [
            json!({"cniVersion": "1.0.0", "type": "weft"}),
            json!({"cniVersion": "1.0.0", "name": "", "type": "weft"}),
            json!({"cniVersion": "1.0.0", "name": "bad name", "type": "weft"}),
            json!({"cniVersion": "1.0.0", "name": "n"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "mtu": "big"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "mtu": 10}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "mtu": 70000}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "mtu": 1000, "subnet": "fd00::/64"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "subnet": "10.1.0.0"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "subnet": "10.1.0.1/24"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "subnet": []}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "subnet": ["10.1.0.0/24", "10.2.0.0/24"]}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "subnet": 7}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "standalone": "yes"}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "runtimeConfig": {"mac": "nope"}}),
            json!({"cniVersion": "1.0.0", "name": "n", "type": "weft", "runtimeConfig": {"mac": "01:00:5e:00:00:01"}}),
            json!({"cniVersion": "1.1.0", "name": "n", "type": "weft", "cni.dev/valid-attachments": [{"ifname": "eth0"}]}),
        ];
        for case in cases {
            assert_eq!(
                code_of(case.clone()),
                ErrorCode::InvalidNetworkConfig,
                "{case}"
            );
        }
    }

    #[test]
    fn an_ipam_section_is_an_unsupported_field() {
        let mut value = minimal("1.0.0");
        value["ipam"] = json!({"type": "host-local", "subnet": "10.0.0.0/24"});
        let err = parse(value.clone()).unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedField);
        assert!(
            err.msg.contains("ipam") && err.msg.contains("host-local"),
            "{}",
            err.msg
        );
        value["ipam"] = json!({});
        assert!(parse(value).is_ok());
    }

    #[test]
    fn reads_prev_result() {
        let mut value = minimal("0.4.0");
        value["prevResult"] = json!({
            "cniVersion": "0.4.0",
            "interfaces": [{"name": "eth0", "sandbox": "/run/netns/p"}],
            "ips": [{"version": "4", "address": "10.0.0.5/24", "interface": 0}]
        });
        let prev = parse(value).unwrap().prev_result.unwrap();
        assert_eq!(prev.interfaces[0].name, "eth0");
        assert_eq!(prev.ips[0].address, "10.0.0.5/24".parse::<IpNet>().unwrap());
    }

    #[test]
    fn unreadable_prev_result_is_a_decoding_failure() {
        let mut value = minimal("1.0.0");
        value["prevResult"] = json!({"ips": [{"address": "not an ip"}]});
        assert_eq!(code_of(value), ErrorCode::DecodingFailure);
    }

    #[test]
    fn reads_valid_attachments_under_either_name() {
        for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
            let mut value = minimal("1.1.0");
            value[key] = json!([{"containerID": "c1", "ifname": "eth0"}]);
            let valid = parse(value).unwrap().valid_attachments.unwrap();
            assert_eq!(
                valid,
                vec![AttachmentKey {
                    container_id: "c1".into(),
                    ifname: "eth0".into()
                }]
            );
        }
    }

    #[test]
    fn log_file_is_an_absolute_path_or_absent() {
        let mut value = minimal("1.0.0");
        assert_eq!(log_file(&value), Ok(None));
        value["logFile"] = json!("/var/log/weft.log");
        assert_eq!(
            log_file(&value),
            Ok(Some(PathBuf::from("/var/log/weft.log")))
        );
        for bad in [json!(""), json!("weft.log"), json!("./weft.log"), json!(7)] {
            value["logFile"] = bad.clone();
            let err = log_file(&value).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidNetworkConfig, "{bad}");
            assert!(err.msg.starts_with("logFile "), "{}", err.msg);
        }
    }

    /// One of the config's paths.
    type PathOf = fn(&NetConf) -> &Path;

    #[test]
    fn every_path_is_absolute_or_absent() {
        let fields: [(&str, &str, PathOf); 3] = [
            ("ipamDir", DEFAULT_IPAM_DIR, |c| &c.ipam_dir),
            ("daemonSocket", DEFAULT_DAEMON_SOCKET, |c| &c.daemon_socket),
            ("nodeNetworkFile", DEFAULT_NODE_NETWORK_FILE, |c| {
                &c.node_network_file
            }),
        ];
        for (field, default, path_of) in fields {
            let mut value = minimal("1.0.0");
            assert_eq!(path_of(&parse(value.clone()).unwrap()), Path::new(default));
            value[field] = json!("/srv/weft/x");
            assert_eq!(
                path_of(&parse(value.clone()).unwrap()),
                Path::new("/srv/weft/x")
            );
            for (bad, why) in [
                ("", format!("{field} is empty: it must be an absolute path")),
                ("ipam", format!("{field} \"ipam\" is not an absolute path")),
                (
                    "./run/x",
                    format!("{field} \"./run/x\" is not an absolute path"),
                ),
            ] {
                value[field] = json!(bad);
                let err = parse(value.clone()).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidNetworkConfig, "{field} {bad:?}");
                assert_eq!(err.msg, why);
            }
        }
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let mut value = minimal("1.0.0");
        value["somethingElse"] = json!({"x": 1});
        assert!(parse(value).is_ok());
    }
}
