//! Network namespaces owned by one test: named with a per-run prefix so
//! parallel runs never collide, and deleted when dropped, pass or fail.
//! Commands run inside with `ip netns exec` or `ip -n`, Rust code on a
//! thread that entered the namespace (`thread`); `inspect` reads links,
//! addresses and routes as `ip -j` reports them.

mod inspect;
mod thread;

use std::fs::File;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `wt<pid>-<n><tag>`: unique within this machine for this run.
pub fn unique_name(tag: &str) -> String {
    format!(
        "wt{}-{}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        tag
    )
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates a namespace with only its loopback, up.
    pub fn new(tag: &str) -> Self {
        let ns = Self {
            name: unique_name(tag),
        };
        run_ok(Command::new("ip").args(["netns", "add", &ns.name]));
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    pub fn file(&self) -> File {
        File::open(self.path()).expect("the namespace exists while its guard lives")
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .expect("ip netns exec runs")
    }

    /// Runs a command inside the namespace and asserts it succeeded.
    pub fn exec_ok(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        assert!(
            out.status.success(),
            "{argv:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n <namespace> <args>`, which must succeed; returns its stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend_from_slice(args);
        run_ok(Command::new(argv[0]).args(&argv[1..]))
    }

    /// Names of the links in this namespace.
    pub fn links(&self) -> Vec<String> {
        self.exec_ok(&["ip", "-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// Deletes the namespace now (to test what happens when it vanishes).
    pub fn delete(&mut self) {
        if !self.name.is_empty() {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.name])
                .status();
            self.name.clear();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Runs `cmd`, which must succeed; returns its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
