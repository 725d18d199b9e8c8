//! Request and response types of the endpoint API.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::revisions::AppliedRevisions;

/// What identifies one attachment of a container to the network (CNI's
/// container ID + interface name pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointKey {
    pub container_id: String,
    pub ifname: String,
}

/// A pod interface the plugin has wired and wants policy for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub key: EndpointKey,
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    pub pod_uid: Option<String>,
    /// Pod addresses with their prefix as configured in the pod (/32, /128).
    pub ips: Vec<IpNet>,
    /// The host-side veth name.
    pub host_ifname: String,
    /// The pod interface's MAC, "aa:bb:cc:dd:ee:ff".
    pub mac: String,
    /// The host-side veth's MAC, the source of frames delivered into the
    /// pod. Endpoints an older plugin recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mac: Option<String>,
    pub netns: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Request {
    /// Program everything the endpoint needs before it may send a packet.
    EndpointAdd { endpoint: Endpoint },
    /// Forget an endpoint; succeeds when it is unknown.
    EndpointDel { key: EndpointKey },
    /// Is the daemon ready to serve ADDs?
    Status,
    /// Stream verdict events, one JSON object per line, until the client
    /// closes; drops always, allowed new flows when `allows`.
    Observe {
        #[serde(default)]
        allows: bool,
    },
    /// The identities of the compiled policy (a `Report`).
    Identities,
    /// The compiled policy of local pod "namespace/name" (a `Report`).
    EndpointPolicy { pod: String },
    /// The endpoints weftd serves (an `Endpoints`).
    Endpoints,
    /// The node's health (a `NodeStatus`), for `weftctl status`; with
    /// `verbose`, each peer is probed too.
    NodeStatus {
        #[serde(default)]
        verbose: bool,
    },
    /// weftd's build (a `Version`), for `weftctl version`.
    Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Response {
    Ok,
    Status {
        ready: bool,
        reason: Option<String>,
        /// The datastore revision this node has fully reconciled; objects
        /// written at revision R are in effect here once this is >= R.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied_revision: Option<u64>,
        /// The same per kind, for datastores whose kinds are not ordered
        /// one against another (`kubernetes`); absent from an older weftd.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied_revisions: Option<AppliedRevisions>,
        /// weftd's `API_VERSION`, so the plugin refuses to run against a
        /// weftd of another protocol; absent from a weftd older than it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api: Option<u32>,
    },
    Error {
        /// Absent in an older weftd's reply: `Internal`, which the plugin
        /// treats as it treated every error before kinds existed.
        #[serde(default)]
        kind: ErrorKind,
        message: String,
    },
    /// What weftctl prints for an inspection request.
    Report {
        report: serde_json::Value,
    },
    /// The endpoints weftd serves, as the plugin added them.
    Endpoints {
        endpoints: Vec<Endpoint>,
    },
    /// Boxed: a status is much larger than every other reply.
    NodeStatus {
        status: Box<crate::NodeStatus>,
    },
    /// weftd's build.
    Version {
        weftd: crate::BuildInfo,
    },
}

/// Why weftd refused a request, so the plugin can tell the runtime whether
/// trying again can help.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The request is malformed or names what does not exist: the same
    /// request fails again.
    InvalidRequest,
    /// weftd cannot serve it yet (no datastore snapshot): try again later.
    NotReady,
    /// The node has no room for another endpoint (policy slots).
    Exhausted,
    /// weftd failed (datapath, disk); its log says more. Also what a kind
    /// this client does not know means, so a newer weftd's reply decodes.
    #[default]
    #[serde(other)]
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_json() {
        let req = Request::EndpointDel {
            key: EndpointKey {
                container_id: "abc".into(),
                ifname: "eth0".into(),
            },
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(
            line,
            r#"{"op":"endpointDel","key":{"containerId":"abc","ifname":"eth0"}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
    }

    #[test]
    fn responses_are_tagged_by_result() {
        let resp: Response =
            serde_json::from_str(r#"{"result":"status","ready":false,"reason":"starting"}"#)
                .unwrap();
        assert_eq!(
            resp,
            Response::Status {
                ready: false,
                reason: Some("starting".into()),
                applied_revision: None,
                applied_revisions: None,
                api: None,
            }
        );
    }

    #[test]
    fn a_status_carries_the_applied_revisions_per_kind_and_the_api() {
        // The enum's rename_all names variants only: the fields of Status
        // keep their snake_case names, the kinds inside are camelCase.
        let line = r#"{"result":"status","ready":true,"reason":null,"applied_revision":9,"applied_revisions":{"nodes":2,"namespaces":3,"pods":9,"networkPolicies":7},"api":1}"#;
        let resp = Response::Status {
            ready: true,
            reason: None,
            applied_revision: Some(9),
            applied_revisions: Some(AppliedRevisions {
                nodes: 2,
                namespaces: 3,
                pods: 9,
                network_policies: 7,
            }),
            api: Some(1),
        };
        assert_eq!(serde_json::from_str::<Response>(line).unwrap(), resp);
        assert_eq!(serde_json::to_string(&resp).unwrap(), line);
    }

    #[test]
    fn version_replies_carry_weftds_build() {
        let line =
            r#"{"result":"version","weftd":{"version":"0.1.0","api":1,"ebpfObjectSha256":"ab"}}"#;
        let resp = Response::Version {
            weftd: crate::BuildInfo {
                ebpf_object_sha256: Some("ab".into()),
                ..crate::BuildInfo::new("0.1.0")
            },
        };
        assert_eq!(serde_json::to_string(&resp).unwrap(), line);
        assert_eq!(serde_json::from_str::<Response>(line).unwrap(), resp);
        assert_eq!(
            serde_json::to_string(&Request::Version).unwrap(),
            r#"{"op":"version"}"#
        );
    }

    #[test]
    fn errors_carry_their_kind_in_camel_case() {
        let resp = Response::Error {
            kind: ErrorKind::NotReady,
            message: "no snapshot yet".into(),
        };
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            line,
            r#"{"result":"error","kind":"notReady","message":"no snapshot yet"}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), resp);
        for (kind, text) in [
            (ErrorKind::InvalidRequest, "\"invalidRequest\""),
            (ErrorKind::NotReady, "\"notReady\""),
            (ErrorKind::Exhausted, "\"exhausted\""),
            (ErrorKind::Internal, "\"internal\""),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), text);
            assert_eq!(serde_json::from_str::<ErrorKind>(text).unwrap(), kind);
        }
    }

    #[test]
    fn an_error_without_a_kind_is_internal() {
        let resp: Response =
            serde_json::from_str(r#"{"result":"error","message":"old weftd"}"#).unwrap();
        assert_eq!(
            resp,
            Response::Error {
                kind: ErrorKind::Internal,
                message: "old weftd".into(),
            }
        );
    }

    #[test]
    fn an_unknown_kind_is_internal() {
        let resp: Response = serde_json::from_str(
            r#"{"result":"error","kind":"somethingNewer","message":"newer weftd"}"#,
        )
        .unwrap();
        assert!(matches!(
            resp,
            Response::Error {
                kind: ErrorKind::Internal,
                ..
            }
        ));
    }
}
