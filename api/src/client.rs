//! Blocking client for the endpoint API, used by the CNI plugin (which has
//! no async runtime to spare on this path).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::{Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("weftd is not reachable at {path}: {source}")]
    Unreachable {
        path: String,
        source: std::io::Error,
    },
    #[error("talking to weftd failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("weftd sent an unreadable reply: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("weftd closed the connection without a reply")]
    NoReply,
}

/// Sends one request and waits up to `timeout` for each of connect, write and
/// read of the reply.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, ApiError> {
    let stream = UnixStream::connect(socket).map_err(|source| ApiError::Unreachable {
        path: socket.display().to_string(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let mut reply = String::new();
    if BufReader::new(&stream).read_line(&mut reply)? == 0 {
        return Err(ApiError::NoReply);
    }
    Ok(serde_json::from_str(&reply)?)
}
