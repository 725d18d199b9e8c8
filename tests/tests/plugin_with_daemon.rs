//! The plugin and a real weftd together: endpoints reach the daemon before
//! ADD returns, a dead daemon or one without a datastore snapshot fails ADD
//! with code 11 and leaves nothing, a plugin killed mid-ADD leaks nothing
//! once GC runs, STATUS follows weftd.

use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::time::Duration;
use weft_api::{Request, Response};
use weft_ipam::IpamStore;

use weft_tests::{CniCall, Netns, Weftd, binary, eventually, unique_name};

const POD_CIDR: &str = "10.98.0.0/24";

fn netconf(plugin_conf: &Value, version: &str) -> Value {
    let mut conf = plugin_conf.clone();
    conf["cniVersion"] = json!(version);
    conf["name"] = json!("weft");
    conf
}

fn call<'a>(plugin: &'a Path, command: &'a str, id: &'a str, netns: &'a str) -> CniCall<'a> {
    CniCall {
        plugin,
        command,
        container_id: id,
        netns,
        ifname: "eth0",
        args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=a",
        cni_path: "/usr/lib/cni",
    }
}

fn weft_links(node: &Netns) -> Vec<String> {
    node.links()
        .into_iter()
        .filter(|l| l.starts_with("weft"))
        .collect()
}

fn reservations(conf: &Value) -> usize {
    let dir = conf["ipamDir"].as_str().expect("conflist names ipamDir");
    IpamStore::open(Path::new(dir))
        .expect("ipam store opens")
        .list()
        .expect("ipam store lists")
        .len()
}

fn endpoint_files(daemon: &Weftd) -> usize {
    std::fs::read_dir(daemon.state_dir().join("endpoints"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_registers_the_endpoint_with_weftd_and_del_removes_it() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let daemon = Weftd::start(&node, POD_CIDR);
    let conf = netconf(&daemon.plugin_conf(), "1.1.0");
    let weft = binary("weft");

    let add = call(&weft, "ADD", "ctr-daemon-1", &pod.path()).run_in(&node, &conf);
    assert!(add.success, "ADD failed: {} {}", add.stdout, add.stderr);
    let ip = add.json()["ips"][0]["address"]
        .as_str()
        .expect("result has an address")
        .to_string();
    assert!(
        ip.starts_with("10.98.0."),
        "IP {ip} is from weftd's pod CIDR"
    );
    assert_eq!(
        endpoint_files(&daemon),
        1,
        "weftd recorded the endpoint before ADD returned"
    );

    let del = call(&weft, "DEL", "ctr-daemon-1", &pod.path()).run_in(&node, &conf);
    assert!(del.success, "DEL failed: {}", del.stdout);
    assert_eq!(endpoint_files(&daemon), 0, "weftd forgot the endpoint");
    assert!(
        eventually(Duration::from_secs(5), || weft_links(&node).is_empty()),
        "weftd deleted the veth DEL retired: {:?}",
        weft_links(&node)
    );
    assert_eq!(reservations(&conf), 0);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn dead_daemon_fails_add_with_code_11_and_leaves_nothing() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let mut daemon = Weftd::start(&node, POD_CIDR);
    let conf = netconf(&daemon.plugin_conf(), "1.0.0");
    daemon.kill();

    let add = call(&binary("weft"), "ADD", "ctr-dead-1", &pod.path()).run_in(&node, &conf);
    assert_eq!(add.error_code(), 11, "try again later: {}", add.stdout);
    assert!(weft_links(&node).is_empty(), "the veth was rolled back");
    assert_eq!(reservations(&conf), 0, "the IP was released");
    assert_eq!(
        pod.links(),
        vec!["lo".to_string()],
        "nothing left in the pod"
    );
}

/// A weftd in `node` joined to an empty `dir` datastore: it serves its API
/// while it waits for its Node object, so it never has a snapshot.
struct WeftdWithoutSnapshot {
    child: Child,
    dir: tempfile::TempDir,
    bpf_dir: PathBuf,
}

impl WeftdWithoutSnapshot {
    fn start(node: &Netns) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bpf_dir = Path::new("/sys/fs/bpf").join(unique_name("weftd"));
        let node_ns = node.file();
        let mut command = Command::new(binary("weftd"));
        command
            .args(["--node-name", "n1", "--datastore", "dir", "--metrics-addr"])
            .args(["off", "--cluster-cidr", "10.98.0.0/16", "--datastore-dir"])
            .arg(dir.path().join("datastore"))
            .arg("--cni-conf-dir")
            .arg(dir.path().join("net.d"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--bpf-dir")
            .arg(&bpf_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        std::fs::create_dir(dir.path().join("datastore")).expect("an empty datastore");
        // SAFETY: setns is async-signal-safe; the closure uses only its fd.
        unsafe {
            command.pre_exec(move || {
                setns(node_ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
            });
        }
        let daemon = Self {
            child: command.spawn().expect("weftd starts"),
            dir,
            bpf_dir,
        };
        assert!(
            eventually(Duration::from_secs(20), || matches!(
                weft_api::call(&daemon.socket(), &Request::Status, Duration::from_secs(1)),
                Ok(Response::Status { ready: false, .. })
            )),
            "weftd did not serve its API, not ready, in 20 s"
        );
        daemon
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join(weft_api::SOCKET_FILE)
    }

    fn endpoint_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("state/endpoints"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for WeftdWithoutSnapshot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The pins hold the programs attached; without them they go.
        let _ = std::fs::remove_dir_all(&self.bpf_dir);
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_before_weftd_has_a_snapshot_fails_with_code_11_and_leaves_nothing() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let daemon = WeftdWithoutSnapshot::start(&node);
    let conf = json!({
        "cniVersion": "1.0.0", "name": "weft", "type": "weft",
        "subnet": POD_CIDR, "daemonSocket": daemon.socket(),
        "ipamDir": daemon.dir.path().join("ipam"),
    });

    let add = call(&binary("weft"), "ADD", "ctr-early-1", &pod.path()).run_in(&node, &conf);
    assert_eq!(add.error_code(), 11, "try again later: {}", add.stdout);
    assert!(
        add.json()["details"]
            .as_str()
            .is_some_and(|details| details.contains("snapshot")),
        "weftd's reason is in details: {}",
        add.stdout
    );
    assert!(weft_links(&node).is_empty(), "the veth was rolled back");
    assert_eq!(reservations(&conf), 0, "the IP was released");
    assert_eq!(
        pod.links(),
        vec!["lo".to_string()],
        "nothing left in the pod"
    );
    assert_eq!(daemon.endpoint_files(), 0, "weftd withdrew its record");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn plugin_killed_mid_add_leaks_nothing_after_gc() {
    let node = Netns::new("n");
    let pod = Netns::new("p");
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("weftd.sock");
    // A daemon that accepts and never answers holds the plugin exactly
    // between "veth and IP made" and "ADD done".
    let stuck_daemon = UnixListener::bind(&socket).expect("bind fake daemon socket");
    let conf = json!({
        "cniVersion": "1.1.0", "name": "weft", "type": "weft",
        "subnet": POD_CIDR, "daemonSocket": socket,
        "ipamDir": dir.path().join("ipam"),
    });
    let weft = binary("weft");

    let plugin = call(&weft, "ADD", "ctr-killed-1", &pod.path()).spawn_in(&node, &conf);
    let (_conn, _) = stuck_daemon.accept().expect("the plugin calls weftd");
    kill(Pid::from_raw(plugin.id() as i32), Signal::SIGKILL).expect("kill the plugin we started");
    plugin.wait_with_output().expect("reap the plugin");
    assert_eq!(
        weft_links(&node).len(),
        1,
        "killed mid-ADD: the veth is there"
    );
    assert_eq!(reservations(&conf), 1, "killed mid-ADD: the IP is reserved");

    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([]);
    let out = call(&weft, "GC", "", "").run_in(&node, &gc);
    assert!(out.success, "GC failed: {} {}", out.stdout, out.stderr);
    assert!(weft_links(&node).is_empty(), "GC removed the leaked veth");
    assert_eq!(reservations(&conf), 0, "GC released the leaked IP");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn status_follows_weftd() {
    let node = Netns::new("n");
    let mut daemon = Weftd::start(&node, POD_CIDR);
    let conf = netconf(&daemon.plugin_conf(), "1.1.0");
    let weft = binary("weft");

    let ready = call(&weft, "STATUS", "", "").run_in(&node, &conf);
    assert!(ready.success, "STATUS with weftd up: {}", ready.stdout);
    assert!(ready.stdout.trim().is_empty());

    daemon.kill();
    let down = call(&weft, "STATUS", "", "").run_in(&node, &conf);
    assert_eq!(
        down.error_code(),
        50,
        "plugin not available: {}",
        down.stdout
    );
}
