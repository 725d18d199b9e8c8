//! Runs the built `weftd` (and `weftctl`) against temporary directories:
//! node files, the endpoint API, persistence across restarts, HTTP and
//! shutdown. Root: each weftd runs in a network namespace of its own
//! (its endpoints' host interfaces are veths there) and pins its policy
//! datapath in a bpffs directory of its own, both removed afterwards.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use weft_api::{Endpoint, EndpointKey, ErrorKind, NodeNetwork, Request, Response};
use weft_ebpf_common::{FragmentKey, FragmentPorts};
use weft_tests::{Netns, unique_name};

const WEFTD: &str = env!("CARGO_BIN_EXE_weftd");
const WEFTCTL: &str = env!("CARGO_BIN_EXE_weftctl");
const READY_WITHIN: Duration = Duration::from_secs(20);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// weftd's three directories, inside one temp dir the test owns, its
/// network namespace and its bpffs pin directory.
struct Dirs {
    _root: tempfile::TempDir,
    conf: PathBuf,
    state: PathBuf,
    run: PathBuf,
    bpf: PathBuf,
    node: Netns,
}

impl Dirs {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join("net.d");
        let state = root.path().join("state");
        let run = root.path().join("run");
        let node = Netns::new("weftd");
        node.exec_ok(&["ip", "link", "set", "lo", "up"]);
        Self {
            _root: root,
            conf,
            state,
            run,
            bpf: Path::new("/sys/fs/bpf").join(unique_name("weftd")),
            node,
        }
    }

    fn socket(&self) -> PathBuf {
        self.run.join("weftd.sock")
    }

    fn conflist(&self) -> PathBuf {
        self.conf.join("10-weft.conflist")
    }
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.bpf);
    }
}

/// A weftd this test started; killed by PID if the test ends without stopping it.
struct Weftd {
    child: Option<Child>,
}

impl Weftd {
    /// Starts weftd and waits until it has written its conflist (it does so
    /// only once the API socket serves). A conflist left by an earlier run is
    /// removed first so that its appearance means this run serves.
    fn start(dirs: &Dirs, extra: &[&str]) -> Self {
        Self::start_with_stderr(dirs, extra, Stdio::inherit())
    }

    /// [`Weftd::start`] with its log going to `stderr`.
    fn start_with_stderr(dirs: &Dirs, extra: &[&str], stderr: impl Into<Stdio>) -> Self {
        if dirs.conflist().exists() {
            std::fs::remove_file(dirs.conflist()).unwrap();
        }
        let child = weftd_command(dirs, "10.244.1.0/24", extra)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut weftd = Weftd { child: Some(child) };
        wait_until("weftd wrote its conflist", || {
            let child = weftd.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                panic!("weftd exited early: {status}");
            }
            dirs.conflist().exists()
        });
        weftd
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.as_ref().unwrap().id()).unwrap())
    }

    /// Sends `signal` and waits for weftd to exit.
    fn stop_with(mut self, signal: Signal) -> ExitStatus {
        kill(self.pid(), signal).unwrap();
        let mut child = self.child.take().unwrap();
        child.wait().unwrap()
    }
}

impl Drop for Weftd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn weftd_command(dirs: &Dirs, pod_cidr: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(WEFTD);
    command
        .args(["--node-name", "node-a", "--pod-cidr", pod_cidr])
        .arg("--cni-conf-dir")
        .arg(&dirs.conf)
        .arg("--state-dir")
        .arg(&dirs.state)
        .arg("--run-dir")
        .arg(&dirs.run)
        .arg("--bpf-dir")
        .arg(&dirs.bpf)
        .args(extra)
        .stdin(Stdio::null());
    let node = dirs.node.file();
    // SAFETY: setns is async-signal-safe; the closure uses only its fd.
    unsafe {
        command.pre_exec(move || {
            setns(node.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    command
}

/// Polls an observable condition, bounded by `READY_WITHIN`.
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + READY_WITHIN;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port nothing listens on right now, for weftd's metrics server.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn endpoint(container_id: &str, ip: &str) -> Endpoint {
    Endpoint {
        key: key(container_id),
        pod_namespace: Some("default".into()),
        pod_name: Some(format!("pod-{container_id}")),
        pod_uid: Some(format!("uid-{container_id}")),
        ips: vec![ip.parse().unwrap()],
        host_ifname: format!("wf{container_id}"),
        mac: "02:00:0a:f4:01:02".into(),
        host_mac: None,
        netns: format!("/var/run/netns/{container_id}"),
    }
}

fn key(container_id: &str) -> EndpointKey {
    EndpointKey {
        container_id: container_id.into(),
        ifname: "eth0".into(),
    }
}

fn call(dirs: &Dirs, request: &Request) -> Response {
    weft_api::call(&dirs.socket(), request, CALL_TIMEOUT).unwrap()
}

/// ADD of `endpoint`, whose host interface (a veth in weftd's netns) is
/// made first if it does not exist yet.
fn add(dirs: &Dirs, endpoint: Endpoint) -> Response {
    let host = endpoint.host_ifname.clone();
    let exists = dirs
        .node
        .exec(&["ip", "link", "show", &host])
        .status
        .success();
    if !exists {
        let peer = format!("{host}p");
        dirs.node.exec_ok(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
        ]);
    }
    call(dirs, &Request::EndpointAdd { endpoint })
}

/// Sends a raw line and returns the raw reply line.
fn raw_call(dirs: &Dirs, line: &[u8]) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(dirs.socket()).unwrap();
    stream.set_read_timeout(Some(CALL_TIMEOUT)).unwrap();
    stream.write_all(line).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// GETs `path` with HTTP/1.0 from inside weftd's netns and returns
/// (status code, body).
fn http_get(dirs: &Dirs, addr: SocketAddr, path: &str) -> (u16, String) {
    dirs.node.run(|| http_get_here(addr, path))
}

fn http_get_here(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CALL_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn weftctl(dirs: &Dirs, args: &[&str]) -> Output {
    Command::new(WEFTCTL)
        .arg("--run-dir")
        .arg(&dirs.run)
        .arg("--state-dir")
        .arg(&dirs.state)
        .args(args)
        .output()
        .unwrap()
}

fn listed_endpoints(dirs: &Dirs) -> Vec<Endpoint> {
    let output = weftctl(dirs, &["endpoints", "-o", "json"]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn publishes_the_node_network_and_a_conflist_pointing_at_it() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--mtu", "1400", "--metrics-addr", "off"]);

    let network = NodeNetwork::load(&dirs.run.join("node-network.json")).unwrap();
    assert_eq!(network.node_name, "node-a");
    assert_eq!(network.pod_cidrs, vec!["10.244.1.0/24".parse().unwrap()]);
    assert_eq!(network.mtu, Some(1400));

    let conflist = read_json(&dirs.conflist());
    let weft = &conflist["plugins"][0];
    assert_eq!(conflist["cniVersion"], "1.1.0");
    assert_eq!(weft["type"], "weft");
    assert_eq!(weft["mtu"], 1400);
    assert_eq!(weft["daemonSocket"], dirs.socket().to_str().unwrap());
    assert_eq!(
        weft["nodeNetworkFile"],
        dirs.run.join("node-network.json").to_str().unwrap()
    );
    assert_eq!(weft["ipamDir"], dirs.state.join("ipam").to_str().unwrap());
    assert_eq!(conflist["plugins"][1]["type"], "portmap");

    let mode = std::fs::metadata(dirs.socket())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn detected_mtu_is_the_same_in_node_network_and_conflist() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    let mtu = NodeNetwork::load(&dirs.run.join("node-network.json"))
        .unwrap()
        .mtu
        .unwrap();
    assert!(mtu >= 576, "{mtu}");
    assert_eq!(read_json(&dirs.conflist())["plugins"][0]["mtu"], mtu);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn endpoint_api_adds_deletes_and_survives_bad_requests() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);

    assert_eq!(
        call(&dirs, &Request::Status),
        Response::Status {
            ready: true,
            reason: None,
            applied_revision: None,
            applied_revisions: None,
            api: Some(weft_api::API_VERSION),
        }
    );
    assert_eq!(add(&dirs, endpoint("a", "10.244.1.2/32")), Response::Ok);
    assert_eq!(add(&dirs, endpoint("a", "10.244.1.3/32")), Response::Ok);
    assert_eq!(
        listed_endpoints(&dirs),
        vec![endpoint("a", "10.244.1.3/32")]
    );

    let reply: Response = serde_json::from_str(&raw_call(&dirs, b"{\"op\":\"nope\"}\n")).unwrap();
    assert!(
        matches!(&reply, Response::Error { kind: ErrorKind::InvalidRequest, message } if message.contains("malformed request")),
        "{reply:?}"
    );
    let reply: Response = serde_json::from_str(&raw_call(&dirs, b"\xff\xfe\n")).unwrap();
    assert!(matches!(reply, Response::Error { .. }), "{reply:?}");
    let mut huge = vec![b' '; 65 * 1024];
    huge.push(b'\n');
    let reply: Response = serde_json::from_str(&raw_call(&dirs, &huge)).unwrap();
    assert!(
        matches!(&reply, Response::Error { kind: ErrorKind::InvalidRequest, message } if message.contains("longer than")),
        "{reply:?}"
    );

    let del = Request::EndpointDel { key: key("a") };
    assert_eq!(call(&dirs, &del), Response::Ok);
    assert_eq!(call(&dirs, &del), Response::Ok);
    assert!(listed_endpoints(&dirs).is_empty());
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn endpoints_survive_a_restart_and_sigterm_removes_only_the_socket() {
    let dirs = Dirs::new();
    let weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(add(&dirs, endpoint("a", "10.244.1.2/32")), Response::Ok);
    assert_eq!(add(&dirs, endpoint("b", "10.244.1.3/32")), Response::Ok);

    let status = weftd.stop_with(Signal::SIGTERM);
    assert!(status.success(), "{status}");
    assert!(!dirs.socket().exists(), "socket left behind");
    assert!(dirs.conflist().exists(), "conflist removed on shutdown");
    assert!(!weftctl(&dirs, &["status"]).status.success());

    let weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(
        call(&dirs, &Request::EndpointDel { key: key("a") }),
        Response::Ok
    );
    let status = weftd.stop_with(Signal::SIGINT);
    assert!(status.success(), "{status}");

    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(
        listed_endpoints(&dirs),
        vec![endpoint("b", "10.244.1.3/32")]
    );
    let table = weftctl(&dirs, &["endpoints"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("CONTAINER"), "{table}");
    assert!(table.contains("default/pod-b"), "{table}");
    let status = weftctl(&dirs, &["status"]);
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(text.contains("\nready         yes\n"), "{text}");
    assert!(text.contains("\nendpoints     1\n"), "{text}");
    assert!(text.contains("\npod CIDRs     10.244.1.0/24\n"), "{text}");

    let json = weftctl(&dirs, &["status", "-o", "json"]);
    assert!(json.status.success(), "{json:?}");
    let status: weft_api::NodeStatus = serde_json::from_slice(&json.stdout).unwrap();
    assert!(status.is_healthy(), "{status:?}");
    assert_eq!(
        (status.endpoints, status.host_routing.as_str()),
        (1, "ebpf")
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftctl_asks_weftd_and_says_so_when_it_cannot() {
    let dirs = Dirs::new();
    let weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(add(&dirs, endpoint("a", "10.244.1.2/32")), Response::Ok);
    let elsewhere = tempfile::tempdir().unwrap();
    let run_dir = dirs.run.to_str().unwrap();
    let asked = |args: &[&str]| {
        Command::new(WEFTCTL)
            .args(["--run-dir", run_dir, "--state-dir"])
            .arg(elsewhere.path())
            .args(args)
            .output()
            .unwrap()
    };
    let listed = asked(&["endpoints", "-o", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Vec<Endpoint> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        listed,
        vec![endpoint("a", "10.244.1.2/32")],
        "weftd's endpoints, whatever --state-dir says"
    );

    let status = weftd.stop_with(Signal::SIGTERM);
    assert!(status.success(), "{status}");
    for command in [&["endpoints"][..], &["status"], &["identities"]] {
        let down = asked(command);
        assert!(!down.status.success(), "{command:?}: {down:?}");
        let said = String::from_utf8_lossy(&down.stderr);
        assert!(
            said.contains("weftd does not answer at") && said.contains(run_dir),
            "{command:?}: {said}"
        );
    }
    let offline = weftctl(&dirs, &["endpoints", "--offline", "-o", "json"]);
    assert!(offline.status.success(), "{offline:?}");
    let recorded: Vec<Endpoint> = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(recorded, vec![endpoint("a", "10.244.1.2/32")]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn status_names_a_pod_veth_whose_program_was_detached_and_exits_non_zero() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(add(&dirs, endpoint("d", "10.244.1.2/32")), Response::Ok);
    let healthy = weftctl(&dirs, &["status"]);
    assert!(healthy.status.success(), "{healthy:?}");

    dirs.node
        .exec_ok(&["tc", "filter", "del", "dev", "wfd", "ingress"]);
    let detached = weftctl(&dirs, &["status"]);
    assert!(!detached.status.success(), "{detached:?}");
    let text = String::from_utf8(detached.stdout).unwrap();
    assert!(
        text.contains("MISSING       wfd: no ingress program\n"),
        "{text}"
    );
    assert!(
        !text.contains("egress"),
        "the egress filter is still there: {text}"
    );
}

/// Fills the fragment map (the smallest counted one) past 80% behind
/// weftd's back: the next sample shows in /metrics and `weftctl status`,
/// and the log warns once.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn map_pressure_shows_in_metrics_status_and_the_log() {
    let dirs = Dirs::new();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log_path = dirs.state.with_file_name("weftd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _weftd = Weftd::start_with_stderr(&dirs, &["--metrics-addr", &addr.to_string()], log);
    let metric = |name: &str| {
        let (_, metrics) = http_get(&dirs, addr, "/metrics");
        let prefix = format!("{name}{{map=\"WEFT_FRAGMENTS\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
    };
    wait_until("the first map sample", || {
        metric("weft_bpf_map_capacity").is_some()
    });
    assert_eq!(metric("weft_bpf_map_capacity").as_deref(), Some("8192"));
    assert_eq!(metric("weft_bpf_map_entries").as_deref(), Some("0"));

    let pinned = aya::maps::MapData::from_pin(dirs.bpf.join("WEFT_FRAGMENTS")).unwrap();
    let mut fragments = aya::maps::HashMap::<_, FragmentKey, FragmentPorts>::try_from(
        aya::maps::Map::from_map_data(pinned).unwrap(),
    )
    .unwrap();
    let filled = 8192 * 85 / 100;
    for n in 0..filled {
        let key = FragmentKey {
            family: 4,
            protocol: 17,
            id: u32::try_from(n).unwrap().to_be_bytes(),
            ..FragmentKey::default()
        };
        fragments.insert(key, FragmentPorts::default(), 0).unwrap();
    }
    let filled_text = filled.to_string();
    let within = Duration::from_secs(15);
    let deadline = Instant::now() + within;
    while metric("weft_bpf_map_entries").as_deref() != Some(filled_text.as_str()) {
        assert!(Instant::now() < deadline, "no sample of {filled} entries");
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = weftctl(&dirs, &["status"]);
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(
        text.contains("map           WEFT_FRAGMENTS 6963 of 8192 (84%) FILLING UP\n"),
        "{text}"
    );
    let logged = std::fs::read_to_string(&log_path).unwrap();
    let warnings: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains("eBPF map is 84% full") && line.contains("WEFT_FRAGMENTS"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logged}");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn many_parallel_adds_are_all_recorded() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    let replies: Vec<Response> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|i| {
                let dirs = &dirs;
                scope.spawn(move || {
                    add(
                        dirs,
                        endpoint(&format!("c{i}"), &format!("10.244.1.{}/32", i + 2)),
                    )
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(replies.iter().all(|r| *r == Response::Ok), "{replies:?}");
    assert_eq!(listed_endpoints(&dirs).len(), 64);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn http_reports_health_readiness_and_metrics() {
    let dirs = Dirs::new();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", &addr.to_string()]);
    assert_eq!(add(&dirs, endpoint("a", "10.244.1.2/32")), Response::Ok);
    raw_call(&dirs, b"garbage\n");

    assert_eq!(http_get(&dirs, addr, "/healthz").0, 200);
    assert_eq!(http_get(&dirs, addr, "/readyz").0, 200);
    let (status, metrics) = http_get(&dirs, addr, "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("weft_endpoints 1\n"), "{metrics}");
    assert!(
        metrics.contains("weft_api_requests_total{op=\"endpoint_add\",result=\"ok\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weft_api_requests_total{op=\"invalid\",result=\"error\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("weft_policy_verdicts_total{verdict=\"dropped\",reason=\"policy\"} "),
        "{metrics}"
    );
    assert_eq!(http_get(&dirs, addr, "/nope").0, 404);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_stale_socket_file_is_replaced() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(&dirs.run).unwrap();
    drop(std::os::unix::net::UnixListener::bind(dirs.socket()).unwrap());
    assert!(dirs.socket().exists());
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    assert_eq!(
        call(&dirs, &Request::Status),
        Response::Status {
            ready: true,
            reason: None,
            applied_revision: None,
            applied_revisions: None,
            api: Some(weft_api::API_VERSION),
        }
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_second_weftd_does_not_steal_a_live_socket() {
    let dirs = Dirs::new();
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", "off", "--mtu", "1400"]);
    let second = weftd_command(
        &dirs,
        "10.244.2.0/24",
        &["--metrics-addr", "off", "--mtu", "1300"],
    )
    .output()
    .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another weftd already serves"),
        "{second:?}"
    );
    assert_eq!(
        call(&dirs, &Request::Status),
        Response::Status {
            ready: true,
            reason: None,
            applied_revision: None,
            applied_revisions: None,
            api: Some(weft_api::API_VERSION),
        }
    );
    let network = NodeNetwork::load(&dirs.run.join("node-network.json")).unwrap();
    assert_eq!(network.pod_cidrs, vec!["10.244.1.0/24".parse().unwrap()]);
    assert_eq!(network.mtu, Some(1400));
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn a_bad_cidr_fails_before_touching_the_node() {
    let dirs = Dirs::new();
    let output = weftd_command(&dirs, "10.244.1.7/24", &["--metrics-addr", "off"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean 10.244.1.0/24"), "{stderr}");
    assert!(!dirs.run.exists() && !dirs.conf.exists());
}

/// `weftctl` run inside weftd's network namespace, so that what it reads
/// of the node (routes, interfaces, the metrics address) is weftd's.
fn weftctl_in_node(dirs: &Dirs, args: &[&str]) -> Output {
    let mut command = Command::new(WEFTCTL);
    command
        .arg("--run-dir")
        .arg(&dirs.run)
        .arg("--state-dir")
        .arg(&dirs.state)
        .args(args);
    let node = dirs.node.file();
    // SAFETY: setns is async-signal-safe; the closure uses only its fd.
    unsafe {
        command.pre_exec(move || {
            setns(node.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    command.output().unwrap()
}

/// An executable script at `dir`/weft that prints `stdout`.
fn fake_plugin(dir: &Path, stdout: &str) {
    let path = dir.join("weft");
    std::fs::write(&path, format!("#!/bin/sh\necho '{stdout}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftctl_version_names_each_component_and_refuses_a_mix() {
    let dirs = Dirs::new();
    let weftd = Weftd::start(&dirs, &["--metrics-addr", "off"]);
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(weft_tests::binary("weft"), bin.path().join("weft")).unwrap();
    let bin_dir = bin.path().to_str().unwrap();

    let json = weftctl(&dirs, &["version", "-o", "json", "--cni-bin-dir", bin_dir]);
    assert!(json.status.success(), "{json:?}");
    let versions: Value = serde_json::from_slice(&json.stdout).unwrap();
    let hash = versions["weftd"]["ebpfObjectSha256"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "{versions}"
    );
    for component in ["weftctl", "weftd", "plugin"] {
        assert_eq!(
            versions[component]["api"],
            weft_api::API_VERSION,
            "{versions}"
        );
    }
    assert_eq!(versions["compatible"], true, "{versions}");
    let table = weftctl(&dirs, &["version", "--cni-bin-dir", bin_dir]);
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains(&format!("eBPF object sha256 {hash}\n")),
        "{text}"
    );
    assert!(text.contains(&format!("{bin_dir}/weft\n")), "{text}");

    let other = tempfile::tempdir().unwrap();
    fake_plugin(other.path(), r#"{"version":"9.0.0","api":999}"#);
    let mixed = weftctl(
        &dirs,
        &["version", "--cni-bin-dir", other.path().to_str().unwrap()],
    );
    assert!(!mixed.status.success(), "{mixed:?}");
    let text = String::from_utf8(mixed.stdout).unwrap();
    assert!(
        text.contains("MIXED    plugin speaks API 999, the others API 1\n"),
        "{text}"
    );

    let empty = tempfile::tempdir().unwrap();
    let missing = weftctl(
        &dirs,
        &["version", "--cni-bin-dir", empty.path().to_str().unwrap()],
    );
    assert!(!missing.status.success(), "{missing:?}");
    let text = String::from_utf8(missing.stdout).unwrap();
    assert!(text.contains("plugin   unknown: no plugin at "), "{text}");

    assert!(weftd.stop_with(Signal::SIGTERM).success());
    let down = weftctl(&dirs, &["version", "--cni-bin-dir", bin_dir]);
    assert!(!down.status.success(), "{down:?}");
    let text = String::from_utf8(down.stdout).unwrap();
    assert!(
        text.contains("weftd    unknown: weftd does not answer at")
            && text.contains(dirs.socket().to_str().unwrap()),
        "{text}"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftctl_bugtool_collects_the_node_and_leaves_secrets_out() {
    let dirs = Dirs::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let _weftd = Weftd::start(&dirs, &["--metrics-addr", &addr]);
    let mut pod = endpoint("bt", "10.244.1.2/32");
    pod.host_ifname = "weftbt".into();
    assert_eq!(add(&dirs, pod), Response::Ok);

    let files = tempfile::tempdir().unwrap();
    let conf = files.path().join("net.d");
    std::fs::create_dir(&conf).unwrap();
    let plugin_log = files.path().join("weft-cni.log");
    std::fs::write(
        &plugin_log,
        "ADD weftbt ok\nGET /api/v1/pods Authorization: Bearer abc.def\n",
    )
    .unwrap();
    let conflist = serde_json::json!({
        "cniVersion": "1.1.0",
        "name": "weft",
        "plugins": [{"type": "weft", "kubeconfig": "/secret/path", "logFile": plugin_log}],
    });
    std::fs::write(conf.join("10-weft.conflist"), conflist.to_string()).unwrap();
    std::fs::write(
        conf.join("99-other.conflist"),
        r#"{"plugins":[{"type":"bridge"}]}"#,
    )
    .unwrap();
    let weftd_log = files.path().join("weftd.log");
    std::fs::write(&weftd_log, "watch ?token=hunter2-xyz&x=1 failed\n").unwrap();
    let report = files.path().join("report");
    let args = [
        "bugtool",
        report.to_str().unwrap(),
        "--cni-conf-dir",
        conf.to_str().unwrap(),
        "--metrics-addr",
        &addr,
        "--log-file",
        weftd_log.to_str().unwrap(),
    ];

    let collected = weftctl_in_node(&dirs, &args);
    assert!(collected.status.success(), "{collected:?}");
    let status = read_json(&report.join("status.json"));
    assert_eq!(status["node"], "node-a", "{status}");
    let read = |file: &str| std::fs::read_to_string(report.join(file)).unwrap();
    let manifest = read("MANIFEST.txt");
    for file in [
        "status.json",
        "version.json",
        "endpoints.json",
        "metrics.txt",
        "routes.txt",
        "links.txt",
        "tc-weftbt-ingress.txt",
        "tc-weftbt-egress.txt",
        "conflist-10-weft.conflist",
    ] {
        assert!(
            manifest
                .lines()
                .any(|line| line.starts_with("ok") && line.contains(&format!(" {file} "))),
            "{file} not collected: {manifest}"
        );
    }
    assert!(manifest.contains(" nft.txt "), "{manifest}");
    assert!(!read("routes.txt").is_empty());
    assert!(read("metrics.txt").contains("weft_endpoints 1\n"));
    assert!(read("tc-weftbt-ingress.txt").contains("bpf"));
    assert!(!report.join("conflist-99-other.conflist").exists());
    let copied = read_json(&report.join("conflist-10-weft.conflist"));
    assert_eq!(copied["plugins"][0]["kubeconfig"], "[redacted]");
    let plugin_log_copy = read(&format!(
        "log-{}",
        plugin_log
            .to_str()
            .unwrap()
            .trim_start_matches('/')
            .replace('/', "-")
    ));
    assert!(
        plugin_log_copy.contains("ADD weftbt ok\n")
            && plugin_log_copy.contains("Bearer [redacted]"),
        "{plugin_log_copy}"
    );
    for entry in std::fs::read_dir(&report).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for secret in ["/secret/path", "abc.def", "hunter2-xyz"] {
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }

    let again = weftctl_in_node(&dirs, &args);
    assert!(!again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{again:?}"
    );
}
