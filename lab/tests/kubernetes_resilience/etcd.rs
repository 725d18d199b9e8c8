//! The lab's etcd through its v3 HTTP/JSON gateway (etcdctl is not
//! built), reached from inside the control-plane netns on 127.0.0.1:2379,
//! where etcd listens: advancing the revision with a scratch key outside
//! the API server's prefix, and compacting the history, so watches that
//! resume from an older resourceVersion get 410 Gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weft_lab::netns::run_in;

const GATEWAY: &str = "127.0.0.1:2379";
/// "weft-resilience-test", base64-encoded as the gateway takes bytes.
const SCRATCH_KEY: &str = "d2VmdC1yZXNpbGllbmNlLXRlc3Q=";
/// "a" and "b", base64-encoded.
const SCRATCH_VALUES: [&str; 2] = ["YQ==", "Yg=="];
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// POSTs `body` to the gateway's `path`; returns the status line and the
/// JSON body.
fn post(netns: &Path, path: &str, body: &Value) -> (String, Value) {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {GATEWAY}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = run_in(netns, move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(GATEWAY)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    })
    .expect("entering the control-plane netns")
    .unwrap_or_else(|e| panic!("etcd's gateway answers {path}: {e}"));
    let (head, json) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response to {path}: {response}"));
    let status = head.lines().next().unwrap_or_default().to_owned();
    let json = serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}: {response}"));
    (status, json)
}

/// [`post`] that must succeed; returns the revision etcd is at after it.
fn post_ok(netns: &Path, path: &str, body: &Value) -> u64 {
    let (status, reply) = post(netns, path, body);
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{path}: {status} {reply}"
    );
    reply["header"]["revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{path}: no revision in {reply}"))
}

/// Puts and deletes a scratch key (so every watch's last resourceVersion
/// falls at least three revisions behind), then compacts etcd's history
/// up to the current revision, physically; returns that revision.
pub fn advance_and_compact(netns: &Path) -> u64 {
    let before = post_ok(netns, "/v3/kv/range", &json!({"key": SCRATCH_KEY}));
    for value in SCRATCH_VALUES {
        post_ok(
            netns,
            "/v3/kv/put",
            &json!({"key": SCRATCH_KEY, "value": value}),
        );
    }
    let current = post_ok(netns, "/v3/kv/deleterange", &json!({"key": SCRATCH_KEY}));
    assert_eq!(current, before + 3, "etcd took three writes");
    post_ok(
        netns,
        "/v3/kv/compaction",
        &json!({"revision": current, "physical": true}),
    );
    // A read before the compacted revision is refused: the history is gone.
    let (status, reply) = post(
        netns,
        "/v3/kv/range",
        &json!({"key": SCRATCH_KEY, "revision": current - 1}),
    );
    assert!(
        !status.starts_with("HTTP/1.1 200") && reply.to_string().contains("compacted"),
        "{status} {reply}"
    );
    current
}
