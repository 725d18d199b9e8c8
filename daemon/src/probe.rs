//! What weftctl runs on the node to look at it: a command or an HTTP GET,
//! each bounded in time so that one hung tool cannot hang `weftctl
//! bugtool`. A failure carries what the user needs to see (the command's
//! stderr); weftctl writes it down and goes on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("`{command}` could not start: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {after:?} and was killed")]
    TimedOut { command: String, after: Duration },
    #[error("`{command}` failed ({status}):\n{stderr}{stdout}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
        stdout: String,
    },
    #[error("GET http://{addr}{path}: {source}")]
    Http {
        addr: SocketAddr,
        path: String,
        source: std::io::Error,
    },
    #[error("GET http://{addr}{path} answered {status_line:?}")]
    HttpStatus {
        addr: SocketAddr,
        path: String,
        status_line: String,
    },
}

/// The stdout of `program` `args` when it exits 0 within `timeout`.
pub fn command_output(
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<Vec<u8>, ProbeError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let child = Command::new(program)
        .args(args)
        // weftctl may itself run from a CNI test harness: a `weft` it runs
        // must not take an inherited CNI_COMMAND for a runtime's call.
        .env_remove("CNI_COMMAND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProbeError::Spawn {
            command: command.clone(),
            source,
        })?;
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    // wait_with_output reads both pipes while it waits; on a thread, so
    // that this one can give up on it.
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let output: Output = match finished.recv_timeout(timeout) {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => return Err(ProbeError::Spawn { command, source }),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                // The reader thread then sees the pipes close and ends.
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            return Err(ProbeError::TimedOut {
                command,
                after: timeout,
            });
        }
    };
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(ProbeError::Failed {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        })
    }
}

/// The body of `GET path` from `addr` when it answers 200 within `timeout`
/// (HTTP/1.0: the server closes the connection after the body).
pub fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Vec<u8>, ProbeError> {
    let http = |source| ProbeError::Http {
        addr,
        path: path.to_owned(),
        source,
    };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(http)?;
    stream.set_read_timeout(Some(timeout)).map_err(http)?;
    stream.set_write_timeout(Some(timeout)).map_err(http)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(http)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(http)?;
    let (head, body) = split_reply(&reply);
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) == Some("200") {
        Ok(body.to_vec())
    } else {
        Err(ProbeError::HttpStatus {
            addr,
            path: path.to_owned(),
            status_line: status_line.to_owned(),
        })
    }
}

/// The head (as text) and the body of an HTTP reply.
fn split_reply(reply: &[u8]) -> (String, &[u8]) {
    let end = reply.windows(4).position(|w| w == b"\r\n\r\n");
    match end {
        Some(end) => (
            String::from_utf8_lossy(&reply[..end]).into_owned(),
            &reply[end + 4..],
        ),
        None => (String::from_utf8_lossy(reply).into_owned(), &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(5);

    #[test]
    fn stdout_of_a_command_that_succeeds() {
        assert_eq!(command_output("echo", &["hi"], SECOND).unwrap(), b"hi\n");
    }

    #[test]
    fn a_failure_carries_its_stderr() {
        let error = command_output("sh", &["-c", "echo oops >&2; exit 3"], SECOND).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("`sh -c echo oops >&2; exit 3` failed (exit status: 3):\noops\n"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_program_and_a_hung_one_are_errors() {
        let missing = command_output("/nonexistent/tool", &[], SECOND).unwrap_err();
        assert!(matches!(missing, ProbeError::Spawn { .. }), "{missing}");
        let hung = command_output("sleep", &["10"], Duration::from_millis(100)).unwrap_err();
        assert!(matches!(hung, ProbeError::TimedOut { .. }), "{hung}");
    }

    #[test]
    fn replies_split_at_the_blank_line() {
        let (head, body) = split_reply(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nbody\r\n\r\nmore");
        assert_eq!(head, "HTTP/1.0 200 OK\r\nA: b");
        assert_eq!(body, b"body\r\n\r\nmore");
    }

    #[test]
    fn http_get_takes_the_body_of_a_200_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for reply in [
                "HTTP/1.0 200 OK\r\n\r\nweft_up 1\n",
                "HTTP/1.0 404 Not Found\r\n\r\n",
            ] {
                let (mut stream, _) = listener.accept().unwrap();
                // The whole request: closing on unread bytes resets the
                // connection before the client reads the reply.
                let mut request = Vec::new();
                let mut chunk = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let read = stream.read(&mut chunk).unwrap();
                    assert!(read > 0, "the request ended early");
                    request.extend_from_slice(&chunk[..read]);
                }
                stream.write_all(reply.as_bytes()).unwrap();
            }
        });
        assert_eq!(http_get(addr, "/metrics", SECOND).unwrap(), b"weft_up 1\n");
        let error = http_get(addr, "/nope", SECOND).unwrap_err();
        assert!(matches!(error, ProbeError::HttpStatus { .. }), "{error}");
        server.join().unwrap();
    }
}
