//! The localhost HTTP server: /healthz (alive), /readyz (serving the API),
//! /metrics (Prometheus). Routing is a pure function; hyper does the HTTP.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::readiness::Readiness;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
/// Drop clients that take longer than this to send their request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before retrying.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What one HTTP request gets, before it becomes a hyper response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Page {
    fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: TEXT,
            body: body.into(),
        }
    }
}

/// Answers `method path` given readiness and a way to render the metrics.
pub fn route(
    method: &Method,
    path: &str,
    readiness: &Readiness,
    metrics: impl FnOnce() -> Result<String, std::fmt::Error>,
) -> Page {
    if method != Method::GET && method != Method::HEAD {
        return Page::text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match path {
        "/healthz" => Page::text(StatusCode::OK, "ok\n"),
        "/readyz" => match readiness.reason() {
            None => Page::text(StatusCode::OK, "ready\n"),
            Some(reason) => Page::text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        },
        "/metrics" => match metrics() {
            Ok(body) => Page {
                status: StatusCode::OK,
                content_type: OPENMETRICS,
                body,
            },
            Err(_) => Page::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            ),
        },
        _ => Page::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Serves HTTP on `listener` for as long as the task runs.
pub async fn serve(listener: TcpListener, readiness: Arc<Readiness>, metrics: Metrics) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        let readiness = readiness.clone();
        let metrics = metrics.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let page = route(request.method(), request.uri().path(), &readiness, || {
                metrics.encode()
            });
            async move { Ok::<_, Infallible>(into_response(page)) }
        });
        tokio::spawn(async move {
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
}

fn into_response(page: Page) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(page.body)));
    *response.status_mut() = page.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(page.content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, readiness: &Readiness) -> Page {
        route(&Method::GET, path, readiness, || {
            Ok("weft_endpoints 0\n".into())
        })
    }

    #[test]
    fn readyz_follows_readiness_and_healthz_does_not() {
        let readiness = Readiness::new("starting");
        assert_eq!(get("/healthz", &readiness).status, StatusCode::OK);
        let not_ready = get("/readyz", &readiness);
        assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(not_ready.body.contains("starting"));
        readiness.set_started();
        assert_eq!(get("/readyz", &readiness).status, StatusCode::OK);
    }

    #[test]
    fn metrics_are_openmetrics_text() {
        let page = get("/metrics", &Readiness::new("starting"));
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.content_type, OPENMETRICS);
        assert_eq!(page.body, "weft_endpoints 0\n");
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let readiness = Readiness::new("starting");
        assert_eq!(get("/nope", &readiness).status, StatusCode::NOT_FOUND);
        let post = route(&Method::POST, "/healthz", &readiness, || Ok(String::new()));
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
