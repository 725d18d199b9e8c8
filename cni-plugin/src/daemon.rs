//! Talking to weftd over its endpoint API, and what each answer means for
//! the CNI verb (the mapping is pure; the calls are one line each).

use std::path::Path;
use std::time::Duration;

use weft_api::{API_VERSION, ApiError, Endpoint, EndpointKey, ErrorKind, Request, Response};

use crate::error::{CniError, ErrorCode};

/// weftd programs policy before answering an ADD; allow it that long.
const ADD_TIMEOUT: Duration = Duration::from_secs(2);
/// DEL and GC only inform weftd; they never wait long for it.
const DEL_TIMEOUT: Duration = Duration::from_millis(500);
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers a wired endpoint; only `Ok` means weftd has programmed it.
pub fn register_endpoint(socket: &Path, endpoint: Endpoint) -> Result<(), CniError> {
    add_outcome(weft_api::call(
        socket,
        &Request::EndpointAdd { endpoint },
        ADD_TIMEOUT,
    ))
}

/// Tells weftd an endpoint is gone. Best effort: weftd also reconciles
/// against the pods it knows, so failures are returned for the caller to ignore.
pub fn forget_endpoint(socket: &Path, key: EndpointKey) -> Result<Response, ApiError> {
    weft_api::call(socket, &Request::EndpointDel { key }, DEL_TIMEOUT)
}

/// STATUS: ready, or code 50 saying why not.
pub fn status(socket: &Path) -> Result<(), CniError> {
    status_outcome(weft_api::call(socket, &Request::Status, STATUS_TIMEOUT))
}

fn add_outcome(reply: Result<Response, ApiError>) -> Result<(), CniError> {
    match reply {
        Ok(Response::Ok) => Ok(()),
        Ok(Response::Error { kind, message }) => Err(refusal(kind).with_details(message)),
        Ok(other) => Err(CniError::new(
            ErrorCode::DaemonProtocol,
            format!("weftd answered an endpoint add with {other:?}"),
        )),
        Err(err @ ApiError::Decode(_)) => {
            Err(CniError::new(ErrorCode::DaemonProtocol, err.to_string()))
        }
        Err(err @ (ApiError::Unreachable { .. } | ApiError::Io(_) | ApiError::NoReply)) => Err(
            CniError::new(ErrorCode::TryAgainLater, "weftd is not available")
                .with_details(err.to_string()),
        ),
    }
}

/// What weftd refusing an ADD means for the runtime: only "not ready" is
/// worth retrying soon (code 11); a node out of policy slots is full just
/// as one out of pod IPs is, so both are 100 (the cure is the same: fewer
/// pods here), told apart by `msg`; the rest stays 102, the code of every
/// refusal before replies had a kind, which an older weftd's still lack.
fn refusal(kind: ErrorKind) -> CniError {
    let (code, msg) = match kind {
        ErrorKind::NotReady => (
            ErrorCode::TryAgainLater,
            "weftd cannot program endpoints yet",
        ),
        ErrorKind::Exhausted => (
            ErrorCode::Exhausted,
            "weftd has no free policy slot for another endpoint on this node",
        ),
        ErrorKind::InvalidRequest => (ErrorCode::DaemonRejected, "weftd rejected the endpoint"),
        ErrorKind::Internal => (
            ErrorCode::DaemonRejected,
            "weftd failed to program the endpoint",
        ),
    };
    CniError::new(code, msg)
}

/// The API of a weftd whose Status carries no `api`: the field came with
/// API 1, so a weftd without it speaks that one. Today that is compatible;
/// once the API moves on, such a weftd is refused like any other mismatch.
const API_BEFORE_THE_FIELD: u32 = 1;

/// A weftd that speaks another API makes the plugin unavailable (50), ready
/// or not: every ADD would be misread.
fn status_outcome(reply: Result<Response, ApiError>) -> Result<(), CniError> {
    let not_available = |details: String| {
        Err(
            CniError::new(ErrorCode::PluginNotAvailable, "weftd is not ready")
                .with_details(details),
        )
    };
    match reply {
        Ok(Response::Status { api, .. }) if api.unwrap_or(API_BEFORE_THE_FIELD) != API_VERSION => {
            let api = api.unwrap_or(API_BEFORE_THE_FIELD);
            Err(CniError::new(
                ErrorCode::PluginNotAvailable,
                format!(
                    "weftd speaks API {api}, this plugin API {API_VERSION}: install the plugin of weftd's release"
                ),
            ))
        }
        Ok(Response::Status { ready: true, .. }) => Ok(()),
        Ok(Response::Status {
            ready: false,
            reason,
            ..
        }) => not_available(reason.unwrap_or_else(|| "no reason given".into())),
        Ok(Response::Error { message, .. }) => not_available(message),
        Ok(other) => not_available(format!("unexpected reply {other:?}")),
        Err(err) => not_available(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn unreachable() -> ApiError {
        ApiError::Unreachable {
            path: "/run/weft/weftd.sock".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        }
    }

    fn decode_error() -> ApiError {
        ApiError::Decode(serde_json::from_str::<Response>("nope").unwrap_err())
    }

    #[test]
    fn add_succeeds_only_on_ok() {
        assert_eq!(add_outcome(Ok(Response::Ok)), Ok(()));
    }

    #[test]
    fn add_refused_by_weftd_gets_the_code_of_its_kind_and_its_message() {
        let cases = [
            (ErrorKind::NotReady, ErrorCode::TryAgainLater, 11),
            (ErrorKind::Exhausted, ErrorCode::Exhausted, 100),
            (ErrorKind::InvalidRequest, ErrorCode::DaemonRejected, 102),
            (ErrorKind::Internal, ErrorCode::DaemonRejected, 102),
        ];
        for (kind, code, number) in cases {
            let err = add_outcome(Ok(Response::Error {
                kind,
                message: "no policy".into(),
            }))
            .unwrap_err();
            assert_eq!((err.code, err.code.code()), (code, number), "{kind:?}");
            assert_eq!(err.details.as_deref(), Some("no policy"));
        }
    }

    #[test]
    fn an_invalid_request_and_a_failure_say_which_they_were() {
        let invalid = refusal(ErrorKind::InvalidRequest);
        let failed = refusal(ErrorKind::Internal);
        assert_eq!(invalid.msg, "weftd rejected the endpoint");
        assert_eq!(failed.msg, "weftd failed to program the endpoint");
    }

    #[test]
    fn an_older_weftd_refusal_without_a_kind_stays_102() {
        let reply = serde_json::from_str(r#"{"result":"error","message":"full"}"#).unwrap();
        assert_eq!(
            add_outcome(Ok(reply)).unwrap_err().code,
            ErrorCode::DaemonRejected
        );
    }

    #[test]
    fn weftd_unreachable_or_silent_is_try_again_later() {
        for err in [
            unreachable(),
            ApiError::NoReply,
            ApiError::Io(io::Error::from(io::ErrorKind::WouldBlock)),
        ] {
            assert_eq!(
                add_outcome(Err(err)).unwrap_err().code,
                ErrorCode::TryAgainLater
            );
        }
    }

    #[test]
    fn unexpected_replies_are_protocol_errors() {
        assert_eq!(
            add_outcome(Err(decode_error())).unwrap_err().code,
            ErrorCode::DaemonProtocol
        );
        let status = Response::Status {
            ready: true,
            reason: None,
            applied_revision: None,
            applied_revisions: None,
            api: None,
        };
        assert_eq!(
            add_outcome(Ok(status)).unwrap_err().code,
            ErrorCode::DaemonProtocol
        );
    }

    #[test]
    fn status_is_ready_only_when_weftd_says_so() {
        assert_eq!(
            status_outcome(Ok(Response::Status {
                ready: true,
                reason: None,
                applied_revision: None,
                applied_revisions: None,
                api: None,
            })),
            Ok(())
        );
        let not_ready = status_outcome(Ok(Response::Status {
            ready: false,
            reason: Some("syncing".into()),
            applied_revision: None,
            applied_revisions: None,
            api: None,
        }))
        .unwrap_err();
        assert_eq!(not_ready.code, ErrorCode::PluginNotAvailable);
        assert_eq!(not_ready.details.as_deref(), Some("syncing"));
        for reply in [Err(unreachable()), Ok(Response::Ok), Err(decode_error())] {
            assert_eq!(
                status_outcome(reply).unwrap_err().code,
                ErrorCode::PluginNotAvailable
            );
        }
    }

    #[test]
    fn status_refuses_a_weftd_of_another_api_and_accepts_an_older_one_without() {
        let status = |api| {
            status_outcome(Ok(Response::Status {
                ready: true,
                reason: None,
                applied_revision: None,
                applied_revisions: None,
                api,
            }))
        };
        let mixed = status(Some(API_VERSION + 1)).unwrap_err();
        assert_eq!(mixed.code, ErrorCode::PluginNotAvailable);
        assert_eq!(mixed.code.code(), 50);
        assert!(
            mixed
                .msg
                .contains(&format!("weftd speaks API {}", API_VERSION + 1))
                && mixed
                    .msg
                    .contains(&format!("this plugin API {API_VERSION}")),
            "{}",
            mixed.msg
        );
        assert_eq!(status(Some(API_VERSION)), Ok(()));
        assert_eq!(status(None), Ok(()), "a weftd older than the field");
    }
}
