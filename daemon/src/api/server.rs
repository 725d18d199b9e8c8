//! The endpoint API on weftd's unix socket: one connection per call, one
//! JSON request line in, one JSON response line out. Each connection is its
//! own task; the handler runs on a blocking thread because ADD and DEL fsync.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use weft_api::{ErrorKind, Request, Response};

use crate::api::handler::{RequestHandler, invalid_request};
use crate::policy::observe::Observer;

/// Longer lines are refused: a real request is a few hundred bytes.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// How much of an oversized request is read and dropped so its sender still
/// gets the error reply.
const MAX_DISCARDED_BYTES: u64 = 1024 * 1024;
/// A client that connects and sends nothing is dropped after this.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, requests already being handled get this long to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before retrying.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Only root talks to weftd.
const SOCKET_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum ApiSocketError {
    #[error("another weftd already serves {0}")]
    AlreadyServed(PathBuf),
    #[error("API socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The bound API socket; its file goes away when it is dropped, so a weftd
/// that stops (or fails to start) after binding leaves no socket behind.
#[derive(Debug)]
pub struct ApiSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ApiSocket {
    /// Binds `path` with mode 0600, replacing a stale socket file left by a
    /// weftd that died, but never one a live weftd still answers on.
    pub fn bind(path: &Path) -> Result<Self, ApiSocketError> {
        let io_error = |source| ApiSocketError::Io {
            path: path.to_owned(),
            source,
        };
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(ApiSocketError::AlreadyServed(path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => remove_socket_file(path).map_err(io_error)?,
        }
        let listener = UnixListener::bind(path).map_err(io_error)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_error)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ApiSocket {
    fn drop(&mut self) {
        if let Err(e) = remove_socket_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "removing the API socket");
        }
    }
}

fn remove_socket_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Serves connections until `shutdown` completes, then stops accepting,
/// removes the socket file and lets in-flight requests finish (bounded).
pub async fn serve(
    socket: ApiSocket,
    handler: Arc<RequestHandler>,
    shutdown: impl Future<Output = ()>,
) {
    let mut in_flight = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = socket.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    in_flight.spawn(serve_connection(stream, handler.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            },
            Some(finished) = in_flight.join_next(), if !in_flight.is_empty() => {
                log_connection_outcome(finished);
            }
        }
    }
    drop(socket);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(finished) = in_flight.join_next().await {
            log_connection_outcome(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            unfinished = in_flight.len(),
            "API requests still running at shutdown were abandoned"
        );
    }
}

fn log_connection_outcome(finished: Result<std::io::Result<()>, tokio::task::JoinError>) {
    match finished {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "API connection ended with an error"),
        Err(e) => tracing::error!(error = %e, "API connection task failed"),
    }
}

async fn serve_connection(
    mut stream: UnixStream,
    handler: Arc<RequestHandler>,
) -> std::io::Result<()> {
    let (read_half, mut write_half) = stream.split();
    let mut reader = BufReader::new(read_half).take(MAX_REQUEST_BYTES);
    let mut line = String::new();
    let read = tokio::time::timeout(REQUEST_READ_TIMEOUT, reader.read_line(&mut line)).await;
    let oversized =
        matches!(read, Ok(Ok(len)) if len as u64 >= MAX_REQUEST_BYTES && !line.ends_with('\n'));
    if let (Ok(Ok(_)), false) = (&read, oversized)
        && let Ok(Request::Observe { allows }) = serde_json::from_str::<Request>(&line)
        && let Some(hub) = handler.observe_hub()
    {
        let observer = hub.subscribe(allows);
        return stream_flows(reader.into_inner(), write_half, observer).await;
    }
    let response = match read {
        Err(_) | Ok(Ok(0)) => return Ok(()),
        Ok(Ok(_)) if oversized => {
            invalid_request(format!("request longer than {MAX_REQUEST_BYTES} bytes"))
        }
        Ok(Ok(_)) => tokio::task::spawn_blocking(move || handler.handle_line(&line))
            .await
            .unwrap_or_else(|e| Response::Error {
                kind: ErrorKind::Internal,
                message: format!("weftd failed handling the request: {e}"),
            }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
            invalid_request("malformed request: not UTF-8")
        }
        Ok(Err(e)) => return Err(e),
    };
    let mut reply = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    reply.push(b'\n');
    write_half.write_all(&reply).await?;
    write_half.shutdown().await?;
    if oversized {
        // Closing with unread input resets the connection, and the client
        // would lose the reply; swallow the rest of its request first.
        let mut rest = reader.into_inner().take(MAX_DISCARDED_BYTES);
        let mut sink = tokio::io::sink();
        let discard = tokio::io::copy(&mut rest, &mut sink);
        let _ = tokio::time::timeout(REQUEST_READ_TIMEOUT, discard).await;
    }
    Ok(())
}

/// Writes each observed flow as a JSON line until the client closes its end
/// or weftd's event reader stops.
async fn stream_flows(
    mut client: impl tokio::io::AsyncRead + Unpin,
    mut out: impl tokio::io::AsyncWrite + Unpin,
    mut observer: Observer,
) -> std::io::Result<()> {
    use tokio::sync::broadcast::error::RecvError;
    let mut scratch = [0u8; 64];
    loop {
        tokio::select! {
            flow = observer.flows.recv() => match flow {
                Ok(flow) => {
                    if flow.verdict == "allowed" && !observer.allows {
                        continue;
                    }
                    let mut line = serde_json::to_vec(&*flow).map_err(std::io::Error::other)?;
                    line.push(b'\n');
                    out.write_all(&line).await?;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an observer fell behind");
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            read = client.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
        }
    }
}
