//! Runs the `weft` CNI plugin (or any CNI plugin) the way a runtime does:
//! CNI_* environment, netconf on stdin, result or error JSON on stdout. The
//! plugin runs inside a "node" namespace so host-side links never touch the
//! machine's own network.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sched::{CloneFlags, setns};

use serde_json::Value;

use crate::Netns;

pub struct CniCall<'a> {
    pub plugin: &'a Path,
    pub command: &'a str,
    pub container_id: &'a str,
    pub netns: &'a str,
    pub ifname: &'a str,
    pub args: &'a str,
    pub cni_path: &'a str,
}

#[derive(Debug)]
pub struct CniOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CniOutput {
    /// The stdout as JSON (the result, or the CNI error object).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// The CNI error code, asserting the call failed.
    pub fn error_code(&self) -> u64 {
        assert!(!self.success, "expected a failure, got {}", self.stdout);
        self.json()["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no error code in {}", self.stdout))
    }
}

impl CniCall<'_> {
    /// Executes the plugin inside `node` with `stdin` as the netconf.
    pub fn run_in(&self, node: &Netns, stdin: &Value) -> CniOutput {
        let out = self
            .spawn_in(node, stdin)
            .wait_with_output()
            .expect("plugin exits");
        CniOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts the plugin inside `node`, stdin written and closed, without
    /// waiting for it.
    pub fn spawn_in(&self, node: &Netns, stdin: &Value) -> Child {
        let node_ns = node.file();
        let mut command = Command::new(self.plugin);
        // SAFETY: setns is async-signal-safe and the closure touches nothing
        // but the namespace fd it owns. Entering the node namespace directly
        // (rather than via `ip netns exec`) keeps the timing and memory of a
        // call the plugin's own.
        unsafe {
            command.pre_exec(move || {
                setns(node_ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        let mut child = command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", self.command)
            .env("CNI_CONTAINERID", self.container_id)
            .env("CNI_NETNS", self.netns)
            .env("CNI_IFNAME", self.ifname)
            .env("CNI_ARGS", self.args)
            .env("CNI_PATH", self.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("plugin starts");
        let written = child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin.to_string().as_bytes());
        // A program may exit without reading its input (the benchmark's
        // no-op does); anything else is a broken harness.
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
        child
    }
}
