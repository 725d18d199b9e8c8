//! `weft` chained with the reference `portmap` and `bandwidth` plugins, the
//! conflist executed exactly the way libcni executes one: ADD through the
//! plugins in order, each plugin's result the next one's `prevResult`; CHECK
//! in order and DEL in reverse order, every plugin given the list's final ADD
//! result. Proves that the plugin's result carries what chained plugins rely
//! on (host veth without sandbox, IPs pointing at the pod interface), that
//! CHECK agrees along the chain, and that a hostPort really reaches the pod.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Map, Value, json};
use weft_tests::{CniCall, CniOutput, Netns, Spawned, binary, unique_name, wait_until};

/// Debian's containernetworking-plugins.
const REFERENCE_PLUGINS: &str = "/usr/lib/cni";
const NETWORK: &str = "weftnet";
const POD_SUBNET: &str = "10.99.0.0/24";
const NODE_ADDR: &str = "198.18.7.1";
const CLIENT_ADDR: &str = "198.18.7.2";
const HOST_PORT: u16 = 8080;
const CONTAINER_PORT: u16 = 80;

/// What one plugin of a conflist receives on stdin, built like libcni's
/// `buildOneConfig`: the list's `name` and `cniVersion` injected, the previous
/// result as `prevResult`, and a `runtimeConfig` holding the runtime's
/// argument for every capability the plugin declares (and only those).
fn plugin_netconf(
    list: &Value,
    plugin: &Value,
    capability_args: &Value,
    prev_result: Option<&Value>,
) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if let Some(prev) = prev_result {
        conf["prevResult"] = prev.clone();
    }
    let runtime_config: Map<String, Value> = plugin["capabilities"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, declared)| declared.as_bool() == Some(true))
        .filter_map(|(capability, _)| {
            capability_args
                .get(capability)
                .map(|arg| (capability.clone(), arg.clone()))
        })
        .collect();
    if !runtime_config.is_empty() {
        conf["runtimeConfig"] = Value::Object(runtime_config);
    }
    conf
}

/// The binary libcni would find for a plugin `type` on CNI_PATH: our own
/// build for `weft`, Debian's reference plugins for the rest.
fn plugin_binary(plugin_type: &str) -> PathBuf {
    if plugin_type == "weft" {
        binary("weft")
    } else {
        PathBuf::from(REFERENCE_PLUGINS).join(plugin_type)
    }
}

/// One attachment as a runtime sees it, running conflists inside `node`.
struct Runtime<'a> {
    node: &'a Netns,
    container_id: &'a str,
    netns: &'a str,
    ifname: &'a str,
    args: &'a str,
    capability_args: &'a Value,
}

impl Runtime<'_> {
    fn call(&self, command: &str, conf: &Value) -> CniOutput {
        let plugin_type = conf["type"].as_str().expect("every plugin has a type");
        let plugin = plugin_binary(plugin_type);
        CniCall {
            plugin: &plugin,
            command,
            container_id: self.container_id,
            netns: self.netns,
            ifname: self.ifname,
            args: self.args,
            cni_path: REFERENCE_PLUGINS,
        }
        .run_in(self.node, conf)
    }

    /// libcni's AddNetworkList; returns every plugin's result in order (the
    /// last one is the list's result, the one a runtime caches).
    fn add_list(&self, list: &Value) -> Vec<Value> {
        let mut results: Vec<Value> = Vec::new();
        for plugin in list["plugins"].as_array().expect("plugins is a list") {
            let conf = plugin_netconf(list, plugin, self.capability_args, results.last());
            let out = self.call("ADD", &conf);
            assert!(
                out.success,
                "{} ADD failed\nstdin: {conf}\nstdout: {}\nstderr: {}",
                conf["type"], out.stdout, out.stderr
            );
            results.push(out.json());
        }
        results
    }

    /// libcni's CheckNetworkList: plugins in order, each given the cached
    /// final ADD result as prevResult; plugin types in `skip` are left out.
    fn check_list(&self, list: &Value, cached_result: &Value, skip: &[&str]) {
        let plugins = list["plugins"].as_array().expect("plugins is a list");
        let checked = plugins
            .iter()
            .filter(|p| !skip.iter().any(|t| p["type"] == *t));
        for plugin in checked {
            let conf = plugin_netconf(list, plugin, self.capability_args, Some(cached_result));
            let out = self.call("CHECK", &conf);
            assert!(
                out.success,
                "{} CHECK failed\nstdin: {conf}\nstdout: {}\nstderr: {}",
                conf["type"], out.stdout, out.stderr
            );
        }
    }

    /// libcni's DelNetworkList: plugins in reverse order, each given the
    /// cached final ADD result as prevResult.
    fn del_list(&self, list: &Value, cached_result: &Value) {
        let plugins = list["plugins"].as_array().expect("plugins is a list");
        for plugin in plugins.iter().rev() {
            let conf = plugin_netconf(list, plugin, self.capability_args, Some(cached_result));
            let out = self.call("DEL", &conf);
            assert!(
                out.success,
                "{} DEL failed\nstdin: {conf}\nstdout: {}\nstderr: {}",
                conf["type"], out.stdout, out.stderr
            );
        }
    }
}

fn listening(ns: &Netns, port: u16) -> bool {
    let sport = format!(":{port}");
    !ns.exec_ok(&["ss", "-Hltn", "sport", "=", &sport])
        .trim()
        .is_empty()
}

fn nat_rules(node: &Netns) -> String {
    node.exec_ok(&["iptables-save", "-t", "nat"])
}

/// Node <-> client link: test addresses only, nothing reaches the root namespace.
fn link_client(node: &Netns, client: &Netns) {
    node.exec_ok(&[
        "ip",
        "link",
        "add",
        "toclient",
        "type",
        "veth",
        "peer",
        "name",
        "tonode",
        "netns",
        &client.name,
    ]);
    node.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{NODE_ADDR}/30"),
        "dev",
        "toclient",
    ]);
    node.exec_ok(&["ip", "link", "set", "toclient", "up"]);
    client.exec_ok(&[
        "ip",
        "addr",
        "add",
        &format!("{CLIENT_ADDR}/30"),
        "dev",
        "tonode",
    ]);
    client.exec_ok(&["ip", "link", "set", "tonode", "up"]);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn hostport_and_bandwidth_chained_after_weft_reach_the_pod_and_clean_up() {
    let node = Netns::new("node");
    let pod = Netns::new("pod");
    let client = Netns::new("cli");
    node.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    link_client(&node, &client);

    let ipam_dir = tempfile::tempdir().expect("ipam tempdir");
    let list = json!({
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "weft",
                "standalone": true,
                "subnet": POD_SUBNET,
                "ipamDir": ipam_dir.path(),
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}},
        ],
    });
    // Rates in bit/s, bursts in bits (the bandwidth plugin's units); ingress
    // (towards the pod) and egress differ so each lands where it should.
    let capability_args = json!({
        "portMappings": [
            {"hostPort": HOST_PORT, "containerPort": CONTAINER_PORT, "protocol": "tcp"},
        ],
        "bandwidth": {
            "ingressRate": 50_000_000, "ingressBurst": 1_000_000,
            "egressRate": 20_000_000, "egressBurst": 1_000_000,
        },
    });
    let container_id = unique_name("chain");
    let pod_path = pod.path();
    let args = format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=chained;K8S_POD_INFRA_CONTAINER_ID={container_id}"
    );
    let runtime = Runtime {
        node: &node,
        container_id: &container_id,
        netns: &pod_path,
        ifname: "eth0",
        args: &args,
        capability_args: &capability_args,
    };

    let results = runtime.add_list(&list);
    let weft_result = &results[0];
    let final_result = results.last().expect("three results");
    for result in &results {
        assert_eq!(result["cniVersion"], "1.0.0", "{result}");
    }
    let host_veth = weft_result["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|i| i.get("sandbox").is_none())
        .and_then(|i| i["name"].as_str())
        .unwrap_or_else(|| panic!("no host-side interface in {weft_result}"))
        .to_string();
    let pod_ip = final_result["ips"][0]["address"]
        .as_str()
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no IP in {final_result}"))
        .to_string();
    let subnet: ipnet::Ipv4Net = POD_SUBNET.parse().expect("subnet");
    assert!(
        subnet.contains(&pod_ip.parse::<std::net::Ipv4Addr>().expect("IPv4")),
        "{pod_ip} is in {POD_SUBNET}"
    );

    // portmap's DNAT for this container, and bandwidth's shaping on the host
    // veth (ingress) and on an ifb device mirroring the veth (egress).
    let rules = nat_rules(&node);
    let dnat_target = format!("--to-destination {pod_ip}:{CONTAINER_PORT}");
    assert!(
        rules.contains(&dnat_target),
        "portmap DNAT is in place:\n{rules}"
    );
    assert!(
        rules.contains(&container_id),
        "rules name the container:\n{rules}"
    );
    let veth_qdiscs = node.exec_ok(&["tc", "qdisc", "show", "dev", &host_veth]);
    assert!(
        veth_qdiscs.contains("tbf") && veth_qdiscs.contains("rate 50Mbit"),
        "ingress shaping on {host_veth}:\n{veth_qdiscs}"
    );
    let ifb = node
        .links()
        .into_iter()
        .find(|l| l.starts_with("bwp"))
        .expect("bandwidth created its ifb device");
    let ifb_qdiscs = node.exec_ok(&["tc", "qdisc", "show", "dev", &ifb]);
    assert!(
        ifb_qdiscs.contains("rate 20Mbit"),
        "egress shaping on {ifb}:\n{ifb_qdiscs}"
    );

    // A server in the pod; the client only knows the node's address and the
    // hostPort (nothing listens on the node itself).
    let server = Spawned(
        Command::new("ip")
            .args(["netns", "exec", &pod.name, "busybox", "nc", "-ll", "-p"])
            .arg(CONTAINER_PORT.to_string())
            .args(["-e", "echo", "hello from the pod"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts"),
    );
    wait_until("the pod's server listens", || {
        listening(&pod, CONTAINER_PORT)
    });
    let reply = client.exec(&[
        "busybox",
        "nc",
        "-w",
        "5",
        NODE_ADDR,
        &HOST_PORT.to_string(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&reply.stdout).trim(),
        "hello from the pod",
        "client -> {NODE_ADDR}:{HOST_PORT} reached the pod (stderr: {})",
        String::from_utf8_lossy(&reply.stderr)
    );
    drop(server);

    // portmap <= 1.2.0 fails CHECK on IPv4-only attachments, looking for
    // ip6tables rules it never made (containernetworking/plugins#819);
    // Debian 12 ships 1.1.1.
    runtime.check_list(&list, final_result, &["portmap"]);
    runtime.del_list(&list, final_result);
    let rules = nat_rules(&node);
    assert!(
        !rules.contains(&dnat_target),
        "portmap DNAT is gone:\n{rules}"
    );
    assert!(
        !rules.contains(&container_id),
        "no rule names the container:\n{rules}"
    );
    let node_links = node.links();
    assert!(
        !node_links.contains(&host_veth),
        "host veth {host_veth} is gone: {node_links:?}"
    );
    assert!(
        !node_links.contains(&ifb),
        "ifb {ifb} is gone: {node_links:?}"
    );
    assert_eq!(pod.links(), ["lo"], "the pod interface is gone");
}

#[test]
fn plugin_netconf_injects_what_libcni_injects() {
    let list = json!({"cniVersion": "1.0.0", "name": "n", "plugins": []});
    let caps = json!({"portMappings": [{"hostPort": 1}], "bandwidth": {"ingressRate": 2}});
    let prev = json!({"cniVersion": "1.0.0", "ips": []});

    let first = plugin_netconf(&list, &json!({"type": "weft", "mtu": 1400}), &caps, None);
    assert_eq!(
        first,
        json!({"type": "weft", "mtu": 1400, "name": "n", "cniVersion": "1.0.0"})
    );

    let portmap =
        json!({"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": false}});
    let conf = plugin_netconf(&list, &portmap, &caps, Some(&prev));
    assert_eq!(conf["prevResult"], prev);
    assert_eq!(
        conf["runtimeConfig"],
        json!({"portMappings": [{"hostPort": 1}]}),
        "only declared, enabled capabilities"
    );

    let unknown = json!({"type": "x", "capabilities": {"ips": true}});
    assert!(
        plugin_netconf(&list, &unknown, &caps, None)
            .get("runtimeConfig")
            .is_none()
    );
}
