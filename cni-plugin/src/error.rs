//! CNI errors: the spec's well-known codes, weft's own codes (>= 100), and
//! the error JSON printed on stdout when a verb fails.

use serde::Serialize;

use crate::version::CniVersion;

/// Every error code the `weft` plugin can return.
///
/// Well-known codes from the CNI specification:
/// - 1: incompatible CNI version (unsupported `cniVersion`, or a verb the
///   config's version does not have: CHECK before 0.4.0, GC/STATUS before 1.1.0).
/// - 2: unsupported field in the network configuration (e.g. an `ipam` section:
///   weft does its own IPAM).
/// - 3: container unknown or does not exist (ADD/CHECK with a `CNI_NETNS` path
///   that does not exist).
/// - 4: invalid or missing environment variables (`CNI_COMMAND`,
///   `CNI_CONTAINERID`, `CNI_IFNAME`, `CNI_NETNS`, malformed `CNI_ARGS`).
/// - 5: I/O failure (reading stdin, opening the netns).
/// - 6: failed to decode content (stdin is not a JSON object, malformed
///   `cniVersion`, unreadable `prevResult`).
/// - 7: invalid network configuration (missing `name`/`type`, bad `subnet`, `mtu`,
///   `runtimeConfig.mac`, `cni.dev/valid-attachments`, CHECK without `prevResult`).
/// - 11: try again later (weftd is not reachable, did not answer in time, or
///   has no datastore snapshot yet to program the endpoint's policy from).
/// - 50: plugin not available (STATUS: weftd not reachable or not ready).
///
/// Weft's own codes:
/// - 100: exhausted: the node has no room for the pod (no free address left
///   in a pod subnet, or weftd has no free policy slot); `msg` says which.
/// - 101: a kernel operation failed (netlink, entering the pod netns, sysctl).
/// - 102: weftd rejected the endpoint as invalid, or failed programming it
///   (the message says which; weftd's reason is in `details`).
/// - 103: node network not known yet (no node-network file from weftd and no
///   static `subnet` in the config).
/// - 104: CHECK found the attachment differs from what ADD set up.
/// - 105: weftd sent a reply the plugin does not understand (version skew).
/// - 106: the IPAM store could not be read or written.
/// - 999: internal error (a bug in weft; the message says where).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    IncompatibleCniVersion,
    UnsupportedField,
    UnknownContainer,
    InvalidEnvironment,
    IoFailure,
    DecodingFailure,
    InvalidNetworkConfig,
    TryAgainLater,
    PluginNotAvailable,
    Exhausted,
    KernelOperationFailed,
    DaemonRejected,
    NodeNetworkUnknown,
    CheckFailed,
    DaemonProtocol,
    IpamStore,
    Internal,
}

impl ErrorCode {
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::IncompatibleCniVersion => 1,
            ErrorCode::UnsupportedField => 2,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironment => 4,
            ErrorCode::IoFailure => 5,
            ErrorCode::DecodingFailure => 6,
            ErrorCode::InvalidNetworkConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::PluginNotAvailable => 50,
            ErrorCode::Exhausted => 100,
            ErrorCode::KernelOperationFailed => 101,
            ErrorCode::DaemonRejected => 102,
            ErrorCode::NodeNetworkUnknown => 103,
            ErrorCode::CheckFailed => 104,
            ErrorCode::DaemonProtocol => 105,
            ErrorCode::IpamStore => 106,
            ErrorCode::Internal => 999,
        }
    }
}

/// A failed verb: what the runtime gets as error JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct CniError {
    pub code: ErrorCode,
    pub msg: String,
    pub details: Option<String>,
}

impl CniError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        CniError {
            code,
            msg: msg.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// The error JSON for the runtime, in the config's version (or the
    /// latest when the version itself was the problem).
    pub fn to_json(&self, version: CniVersion) -> String {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ErrorJson<'a> {
            cni_version: CniVersion,
            code: u32,
            msg: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            details: Option<&'a str>,
        }
        let json = ErrorJson {
            cni_version: version,
            code: self.code.code(),
            msg: &self.msg,
            details: self.details.as_deref(),
        };
        // A struct of strings and numbers always encodes.
        serde_json::to_string(&json).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_version_code_msg_and_details() {
        let err = CniError::new(ErrorCode::TryAgainLater, "weftd is not reachable")
            .with_details("connect: no such file");
        assert_eq!(
            err.to_json(CniVersion::V1_0_0),
            r#"{"cniVersion":"1.0.0","code":11,"msg":"weftd is not reachable","details":"connect: no such file"}"#
        );
    }

    #[test]
    fn details_are_omitted_when_there_are_none() {
        let err = CniError::new(ErrorCode::DecodingFailure, "stdin is not JSON");
        assert_eq!(
            err.to_json(CniVersion::V0_3_1),
            r#"{"cniVersion":"0.3.1","code":6,"msg":"stdin is not JSON"}"#
        );
    }

    #[test]
    fn weft_codes_are_at_least_100_and_spec_codes_below() {
        let spec = [
            ErrorCode::IncompatibleCniVersion,
            ErrorCode::UnsupportedField,
            ErrorCode::UnknownContainer,
            ErrorCode::InvalidEnvironment,
            ErrorCode::IoFailure,
            ErrorCode::DecodingFailure,
            ErrorCode::InvalidNetworkConfig,
            ErrorCode::TryAgainLater,
            ErrorCode::PluginNotAvailable,
        ];
        let weft = [
            (ErrorCode::Exhausted, 100),
            (ErrorCode::KernelOperationFailed, 101),
            (ErrorCode::DaemonRejected, 102),
            (ErrorCode::NodeNetworkUnknown, 103),
            (ErrorCode::CheckFailed, 104),
            (ErrorCode::DaemonProtocol, 105),
            (ErrorCode::IpamStore, 106),
            (ErrorCode::Internal, 999),
        ];
        assert!(spec.iter().all(|c| c.code() < 100));
        for (code, number) in weft {
            assert_eq!(code.code(), number);
        }
    }
}
