//! Many pods at once, and GC: concurrent ADDs get distinct IPs, concurrent
//! DELs and a GC leave nothing behind. Runs as root.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;

const PODS: usize = 64;

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn concurrent_adds_and_dels_leave_nothing_behind() {
    let node = Node::new();
    let pods: Vec<Netns> = (0..PODS).map(|_| Netns::new("pod")).collect();
    let conf = node.conf("1.0.0", json!({})).to_string();
    let ids: Vec<String> = (0..PODS).map(|i| format!("pod-{i}")).collect();
    let attach = |i: usize| Attach {
        container_id: &ids[i],
        ifname: "eth0",
        netns: Some(pods[i].path()),
    };

    let results: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PODS)
            .map(|i| {
                let (node, conf, a) = (&node, &conf, attach(i));
                scope.spawn(move || node.weft("ADD", Some(&a), conf).ok())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ips: HashSet<_> = results.iter().map(|r| result_ips(r)[0]).collect();
    assert_eq!(ips.len(), PODS, "every pod got its own IP");
    assert_eq!(node.reservations().len(), PODS);
    assert_eq!(node.weft_links().len(), PODS);

    std::thread::scope(|scope| {
        for i in 0..PODS {
            let (node, conf, a) = (&node, &conf, attach(i));
            scope.spawn(move || node.weft("DEL", Some(&a), conf).ok());
        }
    });
    assert!(node.reservations().is_empty());
    assert!(node.routed_pod_ips().is_empty());
    assert!(
        node.weft_links().iter().all(|(_, up)| !up),
        "every veth is cut off"
    );

    // The runtime removes the pod netns; GC removes whatever veth remains.
    drop(pods);
    let gc = node
        .conf("1.1.0", json!({"cni.dev/valid-attachments": []}))
        .to_string();
    node.weft("GC", None, &gc).ok();
    assert!(node.weft_links().is_empty(), "{:?}", node.weft_links());
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn gc_releases_what_the_runtime_no_longer_knows() {
    let node = Node::new();
    let pods = [Netns::new("pod"), Netns::new("pod")];
    let conf = node.conf("1.1.0", json!({})).to_string();
    let attach = |id: &'static str, pod: &Netns| Attach {
        container_id: id,
        ifname: "eth0",
        netns: Some(pod.path()),
    };
    let kept = node
        .weft("ADD", Some(&attach("kept", &pods[0])), &conf)
        .ok();
    let stale = node
        .weft("ADD", Some(&attach("stale", &pods[1])), &conf)
        .ok();

    let gc = node
        .conf(
            "1.1.0",
            json!({"cni.dev/valid-attachments": [{"containerID": "kept", "ifname": "eth0"}]}),
        )
        .to_string();
    node.weft("GC", None, &gc).ok();

    let reservations = node.reservations();
    assert_eq!(reservations.len(), 1);
    assert_eq!(reservations[0].key.container_id, "kept");
    let kept_veth = kept["interfaces"][0]["name"].as_str().unwrap();
    let stale_veth = stale["interfaces"][0]["name"].as_str().unwrap();
    assert!(node.ns.link(kept_veth).is_some());
    assert!(node.ns.link(stale_veth).is_none());
    assert!(node.pings(&result_ips(&kept)[0].to_string()));

    let old = node
        .conf("1.0.0", json!({"cni.dev/valid-attachments": []}))
        .to_string();
    assert_eq!(
        node.weft("GC", None, &old).error_code(),
        1,
        "GC needs 1.1.0"
    );
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn standalone_del_deletes_the_veth_at_once() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.1.0", json!({})).to_string();
    let a = Attach {
        container_id: "standalone",
        ifname: "eth0",
        netns: Some(pod.path()),
    };
    let result = node.weft("ADD", Some(&a), &conf).ok();
    node.weft("DEL", Some(&a), &conf).ok();
    let veth = result["interfaces"][0]["name"].as_str().unwrap();
    assert!(node.ns.link(veth).is_none(), "no weftd to reap it later");
    assert!(pod.link("eth0").is_none(), "the pod end went with it");
}

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn gc_deletes_veths_del_retired_while_weftd_was_down() {
    let node = Node::new();
    let pod = Netns::new("pod");
    let conf = node.conf("1.1.0", json!({})).to_string();
    // weftd went away between ADD and DEL: DEL still succeeds, retires the
    // veth for weftd's reaper, and GC deletes it when nobody else does.
    let without_weftd = node
        .conf(
            "1.1.0",
            json!({"standalone": false, "daemonSocket": "/nonexistent/weftd.sock"}),
        )
        .to_string();
    let a = Attach {
        container_id: "retired",
        ifname: "eth0",
        netns: Some(pod.path()),
    };
    let result = node.weft("ADD", Some(&a), &conf).ok();
    node.weft("DEL", Some(&a), &without_weftd).ok();
    let veth = result["interfaces"][0]["name"].as_str().unwrap();
    let link = node
        .ns
        .link(veth)
        .expect("retired veth stays until its netns goes");
    assert_eq!(link["ifalias"], "weft:retired");

    let gc = node
        .conf("1.1.0", json!({"cni.dev/valid-attachments": []}))
        .to_string();
    node.weft("GC", None, &gc).ok();
    assert!(node.ns.link(veth).is_none());
    assert!(pod.link("eth0").is_none(), "the pod end went with it");
}
