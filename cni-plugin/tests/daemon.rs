//! The plugin talking to weftd (a stand-in on a unix socket): ADD registers
//! the endpoint before succeeding, a rejection rolls back, DEL tells weftd,
//! STATUS reflects its readiness. Runs as root.

mod common;

use common::*;
use serde_json::json;
use weft_api::{ErrorKind, Request, Response};

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn add_registers_the_endpoint_and_del_forgets_it() {
    let weftd = FakeWeftd::start(|_| Response::Ok);
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = with_weftd(&node, &weftd);
    let a = Attach {
        container_id: "reg",
        ifname: "eth0",
        netns: Some(pod.path()),
    };
    let result = node.weft("ADD", Some(&a), &conf).ok();
    let requests = weftd.requests();
    let [Request::EndpointAdd { endpoint }] = requests.as_slice() else {
        panic!("expected one endpoint add, got {requests:?}");
    };
    assert_eq!(endpoint.key.container_id, "reg");
    assert_eq!(endpoint.key.ifname, "eth0");
    assert_eq!(endpoint.pod_namespace.as_deref(), Some("default"));
    assert_eq!(endpoint.pod_name.as_deref(), Some("test"));
    assert_eq!(endpoint.netns, pod.path());
    assert_eq!(endpoint.host_ifname, result["interfaces"][0]["name"]);
    assert_eq!(endpoint.mac, result["interfaces"][1]["mac"]);
    assert_eq!(
        endpoint.ips[0].to_string(),
        result["ips"][0]["address"].as_str().unwrap()
    );

    node.weft("DEL", Some(&a), &conf).ok();
    assert!(matches!(
        weftd.requests().last(),
        Some(Request::EndpointDel { key }) if key.container_id == "reg"
    ));
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn rejected_endpoint_is_code_102_and_rolls_back() {
    let weftd = FakeWeftd::start(|request| match request {
        Request::EndpointAdd { .. } => Response::Error {
            kind: ErrorKind::Internal,
            message: "policy maps are full".into(),
        },
        _ => Response::Ok,
    });
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = with_weftd(&node, &weftd);
    let a = Attach {
        container_id: "rej",
        ifname: "eth0",
        netns: Some(pod.path()),
    };
    let outcome = node.weft("ADD", Some(&a), &conf);
    assert_eq!(outcome.error_code(), 102);
    assert!(
        outcome.json()["details"]
            .as_str()
            .unwrap()
            .contains("policy maps are full")
    );
    assert!(node.weft_links().is_empty());
    assert!(node.reservations().is_empty());
    assert!(
        matches!(weftd.requests().last(), Some(Request::EndpointDel { .. })),
        "weftd is told to forget the endpoint it rejected"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn status_follows_weftd_readiness() {
    let node = Node::new();
    for (ready, expect_ok) in [(true, true), (false, false)] {
        let weftd = FakeWeftd::start(move |_| Response::Status {
            ready,
            reason: (!ready).then(|| "syncing".to_string()),
            applied_revision: None,
            applied_revisions: None,
            api: None,
        });
        let conf = node
            .conf(
                "1.1.0",
                json!({"standalone": false, "daemonSocket": weftd.socket}),
            )
            .to_string();
        let outcome = node.weft("STATUS", None, &conf);
        if expect_ok {
            assert_eq!(
                outcome.ok(),
                serde_json::Value::Null,
                "STATUS prints nothing"
            );
        } else {
            assert_eq!(outcome.error_code(), 50);
        }
    }
    let nobody = node
        .conf(
            "1.1.0",
            json!({"standalone": false, "daemonSocket": node.ipam_dir().join("none.sock")}),
        )
        .to_string();
    assert_eq!(node.weft("STATUS", None, &nobody).error_code(), 50);
    let standalone = node.conf("1.1.0", json!({})).to_string();
    node.weft("STATUS", None, &standalone).ok();
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn version_lists_every_supported_version() {
    let node = Node::new();
    let out = node.weft("VERSION", None, r#"{"cniVersion":"1.1.0"}"#).ok();
    assert_eq!(
        out["supportedVersions"],
        json!(["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    );
}

/// The node's netconf (CNI 1.0.0) pointed at `weftd` instead of standalone.
fn with_weftd(node: &Node, weftd: &FakeWeftd) -> String {
    node.conf(
        "1.0.0",
        json!({"standalone": false, "daemonSocket": weftd.socket}),
    )
    .to_string()
}
