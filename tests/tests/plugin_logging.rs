//! The plugin's log: a `logFile` gets each verb's lines (start, decisions,
//! end), `RUST_LOG` sends them to stderr, and stdout carries nothing but
//! the result or error JSON either way.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use weft_tests::{CniCall, Netns, binary};

fn call<'a>(plugin: &'a Path, command: &'a str, netns: &'a str) -> CniCall<'a> {
    CniCall {
        plugin,
        command,
        container_id: "ctr-log-1",
        netns,
        ifname: "eth0",
        args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=a",
        cni_path: "/usr/lib/cni",
    }
}

/// Asserts `stdout` is one JSON document on one line, and returns it.
fn only_json(stdout: &str) -> Value {
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"))
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_log_file_gets_the_verbs_lines_and_stdout_only_the_result() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("weft.log");
    let conf = json!({
        "cniVersion": "1.1.0", "name": "weft", "type": "weft", "standalone": true,
        "subnet": "10.97.0.0/24", "ipamDir": dir.path().join("ipam"), "logFile": log,
    });
    let weft = binary("weft");

    let add = call(&weft, "ADD", &pod.path()).run_in(&node, &conf);
    assert!(add.success, "ADD failed: {} {}", add.stdout, add.stderr);
    let result = only_json(&add.stdout);
    assert_eq!(add.stderr, "", "without RUST_LOG nothing goes to stderr");
    let address = result["ips"][0]["address"]
        .as_str()
        .expect("result has an address");
    let ip = address.split('/').next().expect("an address has an IP");
    let text = std::fs::read_to_string(&log).expect("the log file was written");
    for expected in [
        "start",
        "reserved the pod IPs",
        ip,
        "wired the veth pair",
        "done",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the log:\n{text}"
        );
    }
    assert!(
        text.lines()
            .all(|line| line.contains("ADD") && line.contains("ctr-log-1")),
        "every line names its invocation:\n{text}"
    );

    let del = call(&weft, "DEL", &pod.path()).run_in(&node, &conf);
    assert!(del.success, "DEL failed: {} {}", del.stdout, del.stderr);
    assert_eq!(del.stdout, "", "DEL prints nothing");
    let text = std::fs::read_to_string(&log).expect("the log file is there");
    assert!(
        text.contains("DEL") && text.contains("released the pod IPs"),
        "DEL appended its lines:\n{text}"
    );
}

#[test]
fn rust_log_sends_the_log_to_stderr_and_stdout_stays_the_error_json() {
    let mut weft = Command::new(binary("weft"))
        .env_clear()
        .env("RUST_LOG", "info")
        .env("CNI_COMMAND", "ADD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weft starts");
    weft.stdin
        .take()
        .expect("stdin is piped")
        .write_all(br#"{"cniVersion":"1.0.0","name":"weft","type":"weft"}"#)
        .expect("weft reads its netconf");
    let out = weft.wait_with_output().expect("weft exits");
    assert!(!out.status.success());
    let error = only_json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(error["code"], 4, "missing CNI_CONTAINERID and friends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("start") && stderr.contains("failed") && stderr.contains("code=4"),
        "stderr: {stderr}"
    );
}
