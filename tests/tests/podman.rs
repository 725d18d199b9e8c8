//! A real container runtime drives the plugin: podman (runc, cgroupfs, the
//! CNI backend) runs busybox containers on a `weft` network. Podman runs in a
//! test node namespace, so the plugin's host-side veths and routes land there
//! and never in the machine's own network; its storage, state and config live
//! in a tempdir.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;
use weft_tests::{Netns, Spawned, binary, wait_until};

const NETWORK: &str = "weftnet";
const POD_SUBNET: &str = "10.99.0.0/24";
/// The node's own address, reached from pods via the gateway.
const NODE_ADDR: &str = "198.18.5.1";
const NODE_PORT: u16 = 8080;
const POD_PORT: u16 = 80;
/// Where podman (as root) keeps the network namespaces of its containers.
const NETNS_DIR: &str = "/run/netns";
/// libcni's default cache of ADD results, which podman uses.
const CNI_CACHE: &str = "/var/lib/cni/results";
const APPLETS: &[&str] = &["sh", "ip", "ping", "nc", "wget", "sleep", "cat", "echo"];

/// Podman confined to a tempdir (storage, state, network configs, plugins,
/// rootfs) and to the node namespace.
struct Podman {
    dir: TempDir,
    node_netns: String,
}

impl Podman {
    fn new(node: &Netns) -> Self {
        let dir = tempfile::tempdir().expect("podman tempdir");
        let path = |p: &str| dir.path().join(p);
        for sub in ["plugins", "net", "ipam", "rootfs/bin"] {
            std::fs::create_dir_all(path(sub)).expect("create podman dirs");
        }
        symlink(binary("weft"), path("plugins/weft")).expect("plugin symlink");
        std::fs::copy("/bin/busybox", path("rootfs/bin/busybox"))
            .expect("busybox-static is installed");
        for applet in APPLETS {
            symlink("busybox", path("rootfs/bin").join(applet)).expect("applet symlink");
        }
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": NETWORK,
            "plugins": [{
                "type": "weft",
                "standalone": true,
                "subnet": POD_SUBNET,
                "ipamDir": path("ipam"),
            }],
        });
        std::fs::write(path("net/weftnet.conflist"), conflist.to_string()).expect("write conflist");
        let containers_conf = format!(
            "[engine]\nevents_logger = \"none\"\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\nnetwork_config_dir = \"{}\"\n",
            path("plugins").display(),
            path("net").display()
        );
        std::fs::write(path("containers.conf"), containers_conf).expect("write containers.conf");
        Self {
            dir,
            node_netns: node.path(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `podman <args>` inside the node namespace, bounded in time. `nsenter
    /// --net` changes only the network namespace: `ip netns exec` would also
    /// remount /sys and hide the cgroup mounts runc needs.
    fn command(&self, args: &[&str]) -> Command {
        let dir = |p: &str| self.path(p).into_os_string();
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=10", "180", "nsenter"])
            .arg(format!("--net={}", self.node_netns))
            .arg("podman")
            .arg("--root")
            .arg(dir("root"))
            .arg("--runroot")
            .arg(dir("runroot"))
            .arg("--tmpdir")
            .arg(dir("tmp"))
            .args(["--storage-driver", "vfs", "--events-backend", "none"])
            .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
            .args(["--network-backend", "cni", "--network-config-dir"])
            .arg(dir("net"))
            .args(args)
            .env("CONTAINERS_CONF", dir("containers.conf"))
            .stdin(Stdio::null());
        cmd
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("podman runs")
    }

    /// Runs podman and returns its stdout, asserting success.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `podman run <options> --network NET --rootfs <busybox> <argv>`.
    fn run(&self, options: &[&str], argv: &[&str]) -> String {
        let rootfs = self.path("rootfs");
        let rootfs = rootfs.to_str().expect("tempdir path is UTF-8");
        let mut args = vec![
            "run",
            "--ulimit",
            "nofile=10000:10000",
            "--ulimit",
            "nproc=4096:4096",
        ];
        args.extend(options);
        args.extend(["--network", NETWORK, "--rootfs", rootfs]);
        args.extend(argv);
        self.ok(&args)
    }
}

/// A detached container, force-removed when dropped if the test did not
/// remove it itself.
struct Container<'a> {
    podman: &'a Podman,
    id: Option<String>,
}

impl Container<'_> {
    fn id(&self) -> &str {
        self.id.as_deref().expect("container not removed yet")
    }

    fn remove(&mut self) -> Option<Output> {
        let id = self.id.take()?;
        Some(self.podman.output(&["rm", "--force", "--time", "0", &id]))
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Whether something listens on TCP `port` in the namespace at `netns_path`.
fn listening(netns_path: &str, port: u16) -> bool {
    let out = Command::new("nsenter")
        .arg(format!("--net={netns_path}"))
        .args(["ss", "-Hltn", "sport", "="])
        .arg(format!(":{port}"))
        .output()
        .expect("nsenter ss runs");
    out.status.success() && !out.stdout.is_empty()
}

fn in_netns(netns_path: &str, argv: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net={netns_path}"))
        .args(argv)
        .output()
        .expect("nsenter runs");
    assert!(
        out.status.success(),
        "{argv:?} in {netns_path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names under /run/netns that look like a runtime's (podman: `netns-*`,
/// libcni users: `cni-*`).
fn runtime_netns() -> BTreeSet<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("netns-") || n.starts_with("cni-"))
                .collect()
        })
        .unwrap_or_default()
}

/// libcni cache entries naming `id` (left behind when a DEL fails).
fn cni_cache_entries(id: &str) -> Vec<String> {
    std::fs::read_dir(CNI_CACHE)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(id))
                .collect()
        })
        .unwrap_or_default()
}

fn weft_links(node: &Netns) -> Vec<String> {
    node.links()
        .into_iter()
        .filter(|l| l.starts_with("weft"))
        .collect()
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn podman_containers_on_a_weft_network_reach_their_node_and_each_other() {
    let node = Netns::new("pnode");
    // This kernel has no dummy links; an address on lo is just as local.
    let node_addr = format!("{NODE_ADDR}/32");
    node.exec_ok(&["ip", "addr", "add", &node_addr, "dev", "lo"]);
    // Pod to pod crosses the node's routing table, as on any node.
    node.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let podman = Podman::new(&node);
    let netns_before = runtime_netns();

    // Container 1: a TCP server, detached.
    let server_id = podman
        .run(
            &["-d"],
            &[
                "/bin/nc",
                "-ll",
                "-p",
                &POD_PORT.to_string(),
                "-e",
                "echo",
                "hello from container 1",
            ],
        )
        .trim()
        .to_string();
    let mut server = Container {
        podman: &podman,
        id: Some(server_id.clone()),
    };
    let network_ip = format!("{{{{(index .NetworkSettings.Networks \"{NETWORK}\").IPAddress}}}}");
    let inspect = podman.ok(&[
        "inspect",
        "--format",
        &format!("{{{{.NetworkSettings.SandboxKey}}}} {network_ip}"),
        server.id(),
    ]);
    let (sandbox, server_ip) = inspect
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("sandbox key and IP in {inspect:?}"));
    let (sandbox, server_ip) = (sandbox.to_string(), server_ip.to_string());
    let subnet: ipnet::Ipv4Net = POD_SUBNET.parse().expect("subnet");
    let addr: Ipv4Addr = server_ip
        .parse()
        .unwrap_or_else(|_| panic!("podman recorded an IPv4 address: {inspect:?}"));
    assert!(subnet.contains(&addr), "{addr} is in {POD_SUBNET}");

    // The plugin's wiring as the container and the node see it.
    let pod_addrs = in_netns(&sandbox, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(
        pod_addrs.contains(&format!("{server_ip}/32")),
        "{pod_addrs}"
    );
    let pod_default = in_netns(&sandbox, &["ip", "-4", "route", "show", "default"]);
    assert!(pod_default.contains("via 169.254.1.1"), "{pod_default}");
    let node_route = node.exec_ok(&["ip", "-4", "route", "show", &format!("{server_ip}/32")]);
    assert!(
        node_route.contains("dev weft"),
        "host route to the pod: {node_route:?}"
    );

    // A server on the node's own address.
    let node_server = Spawned(
        Command::new("ip")
            .args(["netns", "exec", &node.name, "busybox", "nc", "-ll", "-p"])
            .arg(NODE_PORT.to_string())
            .args(["-e", "echo", "hello from the node"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node server starts"),
    );
    wait_until("the node's server listens", || {
        listening(&node.path(), NODE_PORT)
    });
    wait_until("container 1's server listens", || {
        listening(&sandbox, POD_PORT)
    });

    // Container 2: asks the node, then container 1.
    let client_cid = podman.path("client.cid");
    let client_script = format!(
        "nc -w 5 {NODE_ADDR} {NODE_PORT} </dev/null && nc -w 5 {server_ip} {POD_PORT} </dev/null"
    );
    let replies = podman.run(
        &[
            "--rm",
            "--cidfile",
            client_cid.to_str().expect("UTF-8 path"),
        ],
        &["/bin/sh", "-c", &client_script],
    );
    assert_eq!(
        replies.lines().collect::<Vec<_>>(),
        ["hello from the node", "hello from container 1"],
        "container 2 reached the node and container 1"
    );
    drop(node_server);
    let client_id = std::fs::read_to_string(&client_cid).expect("podman wrote container 2's ID");

    let removed = server.remove().expect("container 1 still there");
    assert!(
        removed.status.success(),
        "podman rm: {}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert_eq!(
        podman.ok(&["ps", "--all", "--quiet"]).trim(),
        "",
        "no containers left"
    );
    assert!(
        !Path::new(&sandbox).exists(),
        "podman removed container 1's netns {sandbox}"
    );
    let leaked: Vec<_> = runtime_netns().difference(&netns_before).cloned().collect();
    assert!(leaked.is_empty(), "runtime netns left behind: {leaked:?}");
    assert_eq!(
        weft_links(&node),
        Vec::<String>::new(),
        "host veths deleted"
    );
    for id in [server_id.as_str(), client_id.trim()] {
        assert_eq!(
            cni_cache_entries(id),
            Vec::<String>::new(),
            "libcni cache of {id}"
        );
    }
}
