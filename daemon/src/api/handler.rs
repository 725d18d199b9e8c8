//! One API request line in, one response out: decoding, validation, dispatch
//! to the endpoint service, and the request counter. Blocking (ADD and DEL
//! fsync), so the socket server runs it on a blocking thread.

use std::sync::Arc;

use tokio::sync::Notify;
use weft_api::{Endpoint, ErrorKind, NodeStatus, Request, Response};

use crate::api::node_status::{DatapathState, LiveState, NodeFacts, live_state, node_status};
use crate::build_info::weftd_build;
use crate::endpoints::EndpointService;
use crate::endpoints::service::EndpointError;
use crate::metrics::{ApiOp, ApiResult, Metrics};
use crate::policy::PolicyEnforcer;
use crate::policy::observe::ObserveHub;
use crate::policy::views::{endpoint_policy_view, identities_view};
use crate::readiness::Readiness;

pub struct RequestHandler {
    endpoints: Arc<EndpointService>,
    readiness: Arc<Readiness>,
    metrics: Metrics,
    /// Woken after every EndpointDel: the plugin retired a veth to delete.
    veth_reaper: Arc<Notify>,
    policy: Option<(Arc<PolicyEnforcer>, Arc<ObserveHub>)>,
    node: Option<NodeFacts>,
}

impl RequestHandler {
    pub fn new(
        endpoints: Arc<EndpointService>,
        readiness: Arc<Readiness>,
        metrics: Metrics,
        veth_reaper: Arc<Notify>,
    ) -> Self {
        Self {
            endpoints,
            readiness,
            metrics,
            veth_reaper,
            policy: None,
            node: None,
        }
    }

    /// Serves `NodeStatus` requests about the node of `facts`.
    pub fn with_node(self, facts: NodeFacts) -> Self {
        Self {
            node: Some(facts),
            ..self
        }
    }

    /// Serves the policy inspection requests from `enforcer` and `hub`.
    pub fn with_policy(self, enforcer: Arc<PolicyEnforcer>, hub: Arc<ObserveHub>) -> Self {
        Self {
            policy: Some((enforcer, hub)),
            ..self
        }
    }

    /// Where `Observe` requests subscribe, when policy is enforced.
    pub fn observe_hub(&self) -> Option<&Arc<ObserveHub>> {
        self.policy.as_ref().map(|(_, hub)| hub)
    }

    /// Answers one request line; a line that is not a request gets an Error.
    pub fn handle_line(&self, line: &str) -> Response {
        let (op, response) = match serde_json::from_str::<Request>(line) {
            Ok(request) => (op_of(&request), self.handle(request)),
            Err(e) => (
                ApiOp::invalid,
                invalid_request(format!("malformed request: {e}")),
            ),
        };
        let result = match response {
            Response::Error { .. } => ApiResult::error,
            Response::Ok
            | Response::Status { .. }
            | Response::Report { .. }
            | Response::Endpoints { .. }
            | Response::NodeStatus { .. }
            | Response::Version { .. } => ApiResult::ok,
        };
        self.metrics.count_request(op, result);
        response
    }

    pub fn handle(&self, request: Request) -> Response {
        let outcome = match request {
            Request::EndpointAdd { endpoint } => validate_endpoint(&endpoint)
                .map_err(invalid_request)
                .and_then(|()| self.endpoints.add(endpoint).map_err(refusal)),
            Request::EndpointDel { key } => {
                self.veth_reaper.notify_one();
                self.endpoints.del(&key).map_err(refusal)
            }
            Request::Status => return self.readiness.status_response(),
            Request::Observe { .. } => Err(invalid_request(
                "observe streams events: the socket server serves it",
            )),
            Request::Endpoints => {
                return Response::Endpoints {
                    endpoints: self.endpoints.endpoints(),
                };
            }
            Request::NodeStatus { verbose } => match &self.node {
                Some(facts) => {
                    return Response::NodeStatus {
                        status: Box::new(self.node_status(facts, verbose)),
                    };
                }
                None => Err(invalid_request("this weftd reports no node status")),
            },
            Request::Version => {
                return Response::Version {
                    weftd: weftd_build().clone(),
                };
            }
            Request::Identities => return self.report(|compiled| Some(identities_view(compiled))),
            Request::EndpointPolicy { pod } => {
                return self.report(|compiled| endpoint_policy_view(compiled, &pod));
            }
        };
        outcome.map_or_else(|error| error, |()| Response::Ok)
    }
}

impl RequestHandler {
    /// The node's status; the live parts are read on weftd's runtime
    /// (this runs on one of its blocking threads).
    fn node_status(&self, facts: &NodeFacts, verbose: bool) -> NodeStatus {
        let endpoints = self.endpoints.endpoints();
        let enforcer = self.policy.as_ref().map(|(enforcer, _)| enforcer);
        let node_devices = enforcer.map(|e| e.node_devices()).unwrap_or_default();
        let datapath = DatapathState {
            verdict_counts: enforcer.and_then(|e| e.verdict_counts().ok()),
            maps: self.metrics.map_usage(),
            policy: enforcer.and_then(|e| e.summary()),
        };
        let live = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.block_on(async {
                match rtnetlink::new_connection() {
                    Ok((connection, handle, _)) => {
                        tokio::spawn(connection);
                        live_state(facts, &handle, &endpoints, &node_devices, verbose).await
                    }
                    Err(e) => LiveState {
                        missing_programs: vec![format!("cannot check the programs: {e}")],
                        ..LiveState::default()
                    },
                }
            }),
            Err(_) => LiveState {
                missing_programs: vec!["cannot check the programs outside weftd's runtime".into()],
                ..LiveState::default()
            },
        };
        node_status(facts, &self.readiness, endpoints.len(), datapath, live)
    }

    fn report(
        &self,
        view: impl FnOnce(&weft_policy::CompiledPolicy) -> Option<serde_json::Value>,
    ) -> Response {
        let Some((enforcer, _)) = &self.policy else {
            return invalid_request("this weftd enforces no policy");
        };
        match view(&enforcer.compiled()) {
            Some(report) => Response::Report { report },
            None => invalid_request("no such local pod"),
        }
    }
}

fn op_of(request: &Request) -> ApiOp {
    match request {
        Request::EndpointAdd { .. } => ApiOp::endpoint_add,
        Request::EndpointDel { .. } => ApiOp::endpoint_del,
        Request::Status => ApiOp::status,
        Request::Observe { .. } => ApiOp::observe,
        Request::Identities
        | Request::EndpointPolicy { .. }
        | Request::Endpoints
        | Request::NodeStatus { .. }
        | Request::Version => ApiOp::inspect,
    }
}

/// The reply to a request that fails the same way however often it is sent.
pub fn invalid_request(message: impl Into<String>) -> Response {
    Response::Error {
        kind: ErrorKind::InvalidRequest,
        message: message.into(),
    }
}

fn refusal(error: EndpointError) -> Response {
    Response::Error {
        kind: error.kind(),
        message: error.to_string(),
    }
}

/// What an endpoint must carry before it may be recorded.
pub fn validate_endpoint(endpoint: &Endpoint) -> Result<(), String> {
    let missing = [
        ("key.containerId", endpoint.key.container_id.is_empty()),
        ("key.ifname", endpoint.key.ifname.is_empty()),
        ("hostIfname", endpoint.host_ifname.is_empty()),
        ("ips", endpoint.ips.is_empty()),
    ];
    match missing.iter().find(|(_, empty)| *empty) {
        Some((field, _)) => Err(format!("endpoint has an empty {field}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::registry::tests::endpoint;
    use crate::endpoints::service::tests::service;

    fn handler(dir: &tempfile::TempDir) -> (RequestHandler, Arc<EndpointService>, Metrics) {
        let endpoints = Arc::new(service(dir));
        let metrics = Metrics::default();
        let readiness = Arc::new(Readiness::new("starting"));
        readiness.set_started();
        (
            RequestHandler::new(
                endpoints.clone(),
                readiness,
                metrics.clone(),
                Arc::new(Notify::new()),
            ),
            endpoints,
            metrics,
        )
    }

    fn line(request: &Request) -> String {
        serde_json::to_string(request).unwrap()
    }

    #[test]
    fn add_records_and_del_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, endpoints, _) = handler(&dir);
        let ep = endpoint("a", "10.0.0.2/32");
        let add = Request::EndpointAdd {
            endpoint: ep.clone(),
        };
        assert_eq!(handler.handle_line(&line(&add)), Response::Ok);
        assert_eq!(endpoints.endpoints(), vec![ep.clone()]);
        let del = Request::EndpointDel { key: ep.key };
        assert_eq!(handler.handle_line(&line(&del)), Response::Ok);
        assert_eq!(handler.handle_line(&line(&del)), Response::Ok);
        assert!(endpoints.endpoints().is_empty());
    }

    #[test]
    fn status_reports_ready() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, _, _) = handler(&dir);
        assert_eq!(
            handler.handle_line(r#"{"op":"status"}"#),
            Response::Status {
                ready: true,
                reason: None,
                applied_revision: None,
                applied_revisions: None,
                api: Some(weft_api::API_VERSION),
            }
        );
    }

    #[test]
    fn version_is_weftds_build() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, _, _) = handler(&dir);
        match handler.handle_line(r#"{"op":"version"}"#) {
            Response::Version { weftd } => assert_eq!(&weftd, weftd_build()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_lines_get_an_error_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, _, metrics) = handler(&dir);
        for bad in ["not json", r#"{"op":"reboot"}"#, r#"{"op":"endpointDel"}"#] {
            match handler.handle_line(bad) {
                Response::Error {
                    kind: ErrorKind::InvalidRequest,
                    message,
                } => assert!(message.starts_with("malformed request: "), "{message}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("weft_api_requests_total{op=\"invalid\",result=\"error\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn incomplete_endpoints_are_refused_and_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, endpoints, _) = handler(&dir);
        let mut ep = endpoint("a", "10.0.0.2/32");
        ep.ips.clear();
        let response = handler.handle(Request::EndpointAdd { endpoint: ep });
        assert_eq!(
            response,
            Response::Error {
                kind: ErrorKind::InvalidRequest,
                message: "endpoint has an empty ips".into()
            }
        );
        assert!(endpoints.endpoints().is_empty());
    }

    #[test]
    fn programming_failures_reach_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, _, metrics) = handler(&dir);
        let mut ep = endpoint("a", "10.0.0.2/32");
        ep.host_ifname = "unready".into();
        let response = handler.handle_line(&line(&Request::EndpointAdd { endpoint: ep }));
        assert!(
            matches!(&response, Response::Error { kind: ErrorKind::NotReady, message } if message.contains("no snapshot yet")),
            "{response:?}"
        );
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("weft_api_requests_total{op=\"endpoint_add\",result=\"error\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn inspecting_a_weftd_without_policy_is_an_invalid_request() {
        let dir = tempfile::tempdir().unwrap();
        let (handler, _, _) = handler(&dir);
        for request in [
            Request::Identities,
            Request::EndpointPolicy { pod: "x/y".into() },
            Request::Observe { allows: false },
        ] {
            assert!(
                matches!(
                    handler.handle(request.clone()),
                    Response::Error {
                        kind: ErrorKind::InvalidRequest,
                        ..
                    }
                ),
                "{request:?}"
            );
        }
    }
}
