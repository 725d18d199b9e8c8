//! Failing invocations: the right CNI error code, and nothing left behind
//! (no veth, no reservation) when ADD fails part way. Runs as root.

mod common;

use common::*;
use serde_json::json;
use weft_tests::unique_name;

fn attach(id: &str, netns: String) -> Attach<'_> {
    Attach {
        container_id: id,
        ifname: "eth0",
        netns: Some(netns),
    }
}

fn assert_nothing_left(node: &Node) {
    assert!(node.weft_links().is_empty(), "{:?}", node.weft_links());
    assert!(node.reservations().is_empty(), "{:?}", node.reservations());
    assert!(node.routed_pod_ips().is_empty());
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_into_a_missing_netns_is_code_3_and_leaves_nothing() {
    let node = Node::new();
    let missing = format!("/run/netns/{}", unique_name("missing"));
    let conf = node.conf("1.0.0", json!({})).to_string();
    let outcome = node.weft("ADD", Some(&attach("nons", missing)), &conf);
    assert_eq!(outcome.error_code(), 3);
    assert_nothing_left(&node);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_into_something_that_is_not_a_netns_is_code_4() {
    let node = Node::new();
    let conf = node.conf("1.0.0", json!({})).to_string();
    let outcome = node.weft("ADD", Some(&attach("file", "/etc/hostname".into())), &conf);
    assert_eq!(outcome.error_code(), 4);
    assert_nothing_left(&node);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn malformed_stdin_is_code_6() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let outcome = node.weft("ADD", Some(&attach("bad", pod.path())), "{\"cniVersion\":");
    assert_eq!(outcome.error_code(), 6);
    assert_nothing_left(&node);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn unsupported_version_is_code_1() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("0.2.0", json!({})).to_string();
    let outcome = node.weft("ADD", Some(&attach("old", pod.path())), &conf);
    assert_eq!(outcome.error_code(), 1);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn missing_environment_is_code_4() {
    let node = Node::new();
    let conf = node.conf("1.0.0", json!({})).to_string();
    let outcome = node.weft("ADD", None, &conf);
    assert_eq!(outcome.error_code(), 4);
    let msg = outcome.json()["msg"].as_str().unwrap().to_string();
    assert!(
        msg.contains("CNI_CONTAINERID") && msg.contains("CNI_NETNS"),
        "{msg}"
    );
    assert_nothing_left(&node);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftd_unreachable_is_code_11_and_rolls_back() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let socket = node.ipam_dir().join("nobody-listens.sock");
    let conf = node
        .conf(
            "1.0.0",
            json!({"standalone": false, "daemonSocket": socket}),
        )
        .to_string();
    let outcome = node.weft("ADD", Some(&attach("nod", pod.path())), &conf);
    assert_eq!(outcome.error_code(), 11);
    assert_nothing_left(&node);
    assert!(pod.link("eth0").is_none(), "pod interface is gone too");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn unknown_node_network_is_code_103() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let mut conf = node.conf(
        "1.0.0",
        json!({"nodeNetworkFile": node.ipam_dir().join("absent.json")}),
    );
    conf.as_object_mut().unwrap().remove("subnet");
    let outcome = node.weft("ADD", Some(&attach("nonet", pod.path())), &conf.to_string());
    assert_eq!(outcome.error_code(), 103);
    assert_nothing_left(&node);
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn exhausted_pool_is_code_100_and_rolls_back() {
    let node = Node::new();
    let pods = [Netns::new("pod"), Netns::new("pod")];
    // A /30 has a single address IPAM hands out.
    let conf = node
        .conf("1.0.0", json!({"subnet": "198.19.9.0/30"}))
        .to_string();
    node.weft("ADD", Some(&attach("first", pods[0].path())), &conf)
        .ok();
    let outcome = node.weft("ADD", Some(&attach("second", pods[1].path())), &conf);
    assert_eq!(outcome.error_code(), 100);
    assert_eq!(
        node.weft_links().len(),
        1,
        "only the first pod's veth remains"
    );
    assert_eq!(node.reservations().len(), 1);
    assert!(pods[1].link("eth0").is_none());
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn del_of_an_unknown_attachment_succeeds() {
    let node = Node::new();
    let conf = node.conf("1.0.0", json!({})).to_string();
    let never = Attach {
        container_id: "never-added",
        ifname: "eth0",
        netns: None,
    };
    node.weft("DEL", Some(&never), &conf).ok();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn taken_ifname_in_the_pod_is_code_101_and_rolls_back() {
    let node = Node::new();
    let pod = Netns::new("pod");
    pod.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "other0",
    ]);
    let conf = node.conf("1.0.0", json!({})).to_string();
    let outcome = node.weft("ADD", Some(&attach("taken", pod.path())), &conf);
    assert_eq!(outcome.error_code(), 101);
    assert!(outcome.json()["msg"].as_str().unwrap().contains("eth0"));
    assert_nothing_left(&node);
}
