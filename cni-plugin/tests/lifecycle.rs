//! ADD / CHECK / DEL as a runtime drives them, for every CNI version, and
//! what the pod and the node look like in between. Runs as root.

mod common;

use common::*;
use serde_json::{Value, json};

const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

fn attach<'a>(id: &'a str, pod: &Netns) -> Attach<'a> {
    Attach {
        container_id: id,
        ifname: "eth0",
        netns: Some(pod.path()),
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_check_del_for_every_version() {
    for version in VERSIONS {
        let node = Node::new();
        let pod = Netns::new("pod");
        let conf = node.conf(version, json!({}));
        let a = attach("c1", &pod);

        let result = node.weft("ADD", Some(&a), &conf.to_string()).ok();
        assert_eq!(result["cniVersion"], version);
        let interfaces = result["interfaces"].as_array().unwrap();
        assert_eq!(interfaces.len(), 2, "{result}");
        let host_ifname = interfaces[0]["name"].as_str().unwrap();
        assert!(host_ifname.starts_with("weft") && host_ifname.len() == 15);
        assert!(interfaces[0].get("sandbox").is_none());
        assert_eq!(interfaces[1]["name"], "eth0");
        assert_eq!(interfaces[1]["sandbox"], pod.path());
        let ip = &result["ips"][0];
        assert_eq!(ip["interface"], 1);
        assert_eq!(
            ip.get("version").is_some(),
            version < "1.0.0",
            "{version}: {ip}"
        );
        assert_eq!(interfaces[1].get("mtu").is_some(), version == "1.1.0");
        let pod_ip = result_ips(&result)[0].to_string();
        assert!(pod_ip.starts_with("198.19.0."));

        // The node routes the pod IP to the host veth; the pod has its /32.
        assert_eq!(node.weft_links(), vec![(host_ifname.to_string(), true)]);
        assert!(node.routed_pod_ips().contains(&pod_ip));
        assert!(pod.addresses("eth0").contains(&format!("{pod_ip}/32")));
        assert_eq!(node.reservations().len(), 1);

        let check = node.weft("CHECK", Some(&a), &with_prev_result(conf.clone(), &result));
        if version < "0.4.0" {
            assert_eq!(
                check.error_code(),
                1,
                "{version}: CHECK is not in {version}"
            );
        } else {
            check.ok();
        }

        let del_conf = with_prev_result(conf.clone(), &result);
        node.weft("DEL", Some(&a), &del_conf).ok();
        assert!(node.reservations().is_empty());
        assert!(node.routed_pod_ips().is_empty());
        assert!(
            node.weft_links().iter().all(|(_, up)| !up),
            "host veth is cut off"
        );
        node.weft("DEL", Some(&a), &del_conf).ok();
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn node_and_pod_reach_each_other() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({"subnet": [POD_SUBNET_V4, POD_SUBNET_V6]}));
    let result = node
        .weft("ADD", Some(&attach("reach", &pod)), &conf.to_string())
        .ok();
    let ips = result_ips(&result);
    for ip in &ips {
        assert!(node.pings(&ip.to_string()), "node cannot reach pod {ip}");
    }
    for node_ip in [NODE_IP_V4, NODE_IP_V6] {
        assert!(
            pod.exec(&["busybox", "ping", "-c1", "-W2", node_ip])
                .status
                .success(),
            "pod cannot reach node {node_ip}"
        );
    }
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn dual_stack_add_gives_both_families() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.1.0", json!({"subnet": [POD_SUBNET_V4, POD_SUBNET_V6]}));
    let result = node
        .weft("ADD", Some(&attach("dual", &pod)), &conf.to_string())
        .ok();
    let ips = result_ips(&result);
    assert_eq!(ips.len(), 2, "{result}");
    assert!(ips[0].is_ipv4() && ips[1].is_ipv6());
    let addresses = pod.addresses("eth0");
    assert!(
        addresses.contains(&format!("{}/32", ips[0])),
        "{addresses:?}"
    );
    assert!(
        addresses.contains(&format!("{}/128", ips[1])),
        "{addresses:?}"
    );
    let gateways: Vec<&Value> = result["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["gw"])
        .collect();
    assert_eq!(gateways, [&json!("169.254.1.1"), &json!("fe80::1")]);
    assert!(
        pod.route_destinations("-6")
            .contains(&"default".to_string())
    );
    let accept_ra = pod.exec_ok(&["cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra"]);
    assert_eq!(accept_ra.trim(), "0");
    // CHECK accepts the dual-stack result.
    let a = attach("dual", &pod);
    node.weft("CHECK", Some(&a), &with_prev_result(conf, &result))
        .ok();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn del_after_the_pod_netns_is_gone_cleans_up() {
    let node = Node::new();
    let mut pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({})).to_string();
    let a = attach("gone", &pod);
    node.weft("ADD", Some(&a), &conf).ok();
    pod.delete();
    node.weft("DEL", Some(&a), &conf).ok();
    assert!(node.reservations().is_empty());
    assert!(node.weft_links().is_empty(), "{:?}", node.weft_links());
    let no_netns = Attach { netns: None, ..a };
    node.weft("DEL", Some(&no_netns), &conf).ok();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn repeated_add_reuses_the_reservation_and_replaces_the_veth() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({})).to_string();
    let a = attach("again", &pod);
    let first = node.weft("ADD", Some(&a), &conf).ok();
    // A repeated ADD, and an ADD after DEL in the same netns, both work.
    let second = node.weft("ADD", Some(&a), &conf).ok();
    assert_eq!(result_ips(&first), result_ips(&second));
    node.weft("DEL", Some(&a), &conf).ok();
    let third = node.weft("ADD", Some(&a), &conf).ok();
    assert_eq!(node.weft_links().len(), 1);
    assert!(node.weft_links()[0].1, "replaced veth is up");
    assert!(node.pings(&result_ips(&third)[0].to_string()));
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn check_reports_what_changed() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({}));
    let a = attach("drift", &pod);
    let result = node.weft("ADD", Some(&a), &conf.to_string()).ok();
    let pod_ip = result_ips(&result)[0];
    pod.ip(&["addr", "del", &format!("{pod_ip}/32"), "dev", "eth0"]);
    let check = node.weft("CHECK", Some(&a), &with_prev_result(conf.clone(), &result));
    assert_eq!(check.error_code(), 104);
    assert!(
        check.json()["details"]
            .as_str()
            .unwrap()
            .contains(&pod_ip.to_string())
    );

    let check = node.weft("CHECK", Some(&a), &conf.to_string());
    assert_eq!(check.error_code(), 7, "CHECK without prevResult");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn chained_add_keeps_the_previous_result_first() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let prev = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "dummy0", "sandbox": pod.path()}],
        "ips": [{"address": "192.0.2.9/24", "interface": 0}],
        "dns": {"nameservers": ["192.0.2.53"]}
    });
    let conf = with_prev_result(node.conf("1.0.0", json!({})), &prev);
    let result = node.weft("ADD", Some(&attach("chain", &pod)), &conf).ok();
    let names: Vec<&str> = result["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "dummy0");
    assert_eq!(names[2], "eth0");
    assert_eq!(result["ips"][0]["interface"], 0);
    assert_eq!(result["ips"][1]["interface"], 2);
    assert_eq!(result["dns"]["nameservers"][0], "192.0.2.53");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn mtu_comes_from_netconf_then_node_network() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.1.0", json!({"mtu": 1400})).to_string();
    let result = node.weft("ADD", Some(&attach("mtu1", &pod)), &conf).ok();
    assert_eq!(result["interfaces"][1]["mtu"], 1400);
    assert_eq!(pod.link("eth0").unwrap()["mtu"], 1400);
    let host = result["interfaces"][0]["name"].as_str().unwrap();
    assert_eq!(node.ns.link(host).unwrap()["mtu"], 1400);

    let node_network = node.ipam_dir().join("node-network.json");
    std::fs::write(
        &node_network,
        json!({"nodeName": "n", "podCidrs": [POD_SUBNET_V4], "mtu": 1450}).to_string(),
    )
    .unwrap();
    let pod2 = Netns::new("pod");
    let mut conf = node.conf("1.1.0", json!({"nodeNetworkFile": node_network}));
    conf.as_object_mut().unwrap().remove("subnet");
    let result = node
        .weft("ADD", Some(&attach("mtu2", &pod2)), &conf.to_string())
        .ok();
    assert_eq!(result["interfaces"][1]["mtu"], 1450);
    assert_eq!(pod2.link("eth0").unwrap()["mtu"], 1450);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn runtime_config_mac_sets_the_pod_mac() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node
        .conf(
            "1.0.0",
            json!({"runtimeConfig": {"mac": "0a:58:00:00:00:42"}}),
        )
        .to_string();
    let result = node.weft("ADD", Some(&attach("mac", &pod)), &conf).ok();
    assert_eq!(result["interfaces"][1]["mac"], "0a:58:00:00:00:42");
    assert_eq!(pod.link("eth0").unwrap()["address"], "0a:58:00:00:00:42");
    assert!(node.pings(&result_ips(&result)[0].to_string()));
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn mtu_defaults_to_the_default_route_interface_then_1500() {
    let node = Node::new();
    let conf = node.conf("1.1.0", json!({})).to_string();
    let pod = Netns::new("pod");
    let result = node
        .weft("ADD", Some(&attach("nodefault", &pod)), &conf)
        .ok();
    assert_eq!(result["interfaces"][1]["mtu"], 1500);

    // An uplink that is a veth looping back into the node netns itself:
    // nothing leaves the namespace.
    node.ns.ip(&[
        "link", "add", "uplink0", "mtu", "1420", "type", "veth", "peer", "name", "uplink1",
    ]);
    node.ns.ip(&["link", "set", "uplink0", "up"]);
    node.ns
        .ip(&["addr", "add", "198.18.1.1/24", "dev", "uplink0"]);
    node.ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.18.1.254",
        "dev",
        "uplink0",
    ]);
    let pod2 = Netns::new("pod");
    let result = node.weft("ADD", Some(&attach("uplink", &pod2)), &conf).ok();
    assert_eq!(result["interfaces"][1]["mtu"], 1420);
    assert_eq!(pod2.link("eth0").unwrap()["mtu"], 1420);
}

/// The reference `bandwidth` plugin (Debian's containernetworking-plugins)
/// chained after weft must find the host veth from weft's result.
#[test]
#[ignore = "needs root: run by `make test` as root"]
fn chained_bandwidth_plugin_shapes_the_host_veth() {
    let plugin = ["/usr/lib/cni/bandwidth", "/opt/cni/bin/bandwidth"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("the reference bandwidth plugin is installed (containernetworking-plugins)");
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.0.0", json!({})).to_string();
    let result = node.weft("ADD", Some(&attach("shaped", &pod)), &conf).ok();
    let host_veth = result["interfaces"][0]["name"].as_str().unwrap();

    let bandwidth = json!({
        "cniVersion": "1.0.0",
        "name": "weft-test",
        "type": "bandwidth",
        "runtimeConfig": {"bandwidth": {"ingressRate": 1_000_000, "ingressBurst": 100_000}},
        "prevResult": result,
    });
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &node.ns.name, plugin])
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "shaped")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", pod.path())
        .env("CNI_PATH", "/usr/lib/cni:/opt/cni/bin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(bandwidth.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bandwidth failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let qdiscs = node.ns.exec_ok(&["tc", "qdisc", "show", "dev", host_veth]);
    assert!(qdiscs.contains("tbf"), "{qdiscs}");
}
