//! `weftctl` against the weftd of a lab node on the real API server (root):
//! `status` reports the datastore reachable, both peers over VXLAN with
//! every entry in place, the maps and the policy, and exits 0; `--verbose`
//! gets an answer from each peer's VTEP through the tunnel; with an FDB
//! entry deleted behind weftd's back, `status` names it, the probe of that
//! peer goes unanswered, and it exits non-zero. `version` finds weftctl,
//! the node's weftd and the lab's plugin speaking one API, and `bugtool`,
//! run in the node's netns, collects the node without its kubeconfig.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{CONVERGE, TestLab, node_underlay_ip, wait_until};
use serde_json::Value;

/// A third of weftd's resync period: what heals by news must not wait
/// for a resync.
const WITHIN_A_THIRD_OF_A_RESYNC: Duration = Duration::from_secs(10);

#[test]
#[ignore = "needs root: run by `make test` as root"]
fn weftctl_status_reports_a_healthy_node_and_names_what_breaks() {
    let lab = TestLab::up(
        "c",
        &[
            "--nodes",
            "3",
            "--mode",
            "vxlan",
            "--datastore",
            "kubernetes",
        ],
    );
    let status = wait_until("weftctl status on n1 is healthy", CONVERGE, || {
        let out = weftctl(&lab, "n1", &["status", "-o", "json"]);
        if out.status.success() {
            Ok(json(&out))
        } else {
            Err(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    });
    assert_eq!(status["node"], "n1");
    assert_eq!(status["datastore"]["kind"], "kubernetes", "{status}");
    assert_eq!(status["datastore"]["reachable"], true, "{status}");
    let network = &status["network"];
    assert_eq!(network["mode"], "vxlan", "{status}");
    let peers = network["peers"].as_array().expect("peers");
    let names: Vec<&str> = peers.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["n2", "n3"], "{status}");
    for peer in peers {
        assert_eq!(peer["path"], "vxlan", "{peer}");
        assert_eq!(peer["missing"], Value::Array(vec![]), "{peer}");
    }
    let conntrack = status["maps"]
        .as_array()
        .expect("maps")
        .iter()
        .find(|m| m["map"] == "WEFT_CONNTRACK")
        .expect("the conntrack map's fill");
    assert_eq!(conntrack["capacity"], 262_144, "{status}");
    assert!(status["policy"]["profiles"].is_number(), "{status}");

    let verbose = json(&weftctl(&lab, "n1", &["status", "--verbose", "-o", "json"]));
    for peer in verbose["network"]["peers"].as_array().expect("peers") {
        assert!(
            peer["probe"]["rttMicros"].is_number(),
            "{} answers through the tunnel: {peer}",
            peer["name"]
        );
    }

    let versions = weftctl(
        &lab,
        "n1",
        &["version", "-o", "json", "--cni-bin-dir", &bin_dir()],
    );
    assert!(versions.status.success(), "{versions:?}");
    let versions = json(&versions);
    assert_eq!(
        versions["weftd"]["api"], versions["plugin"]["api"],
        "{versions}"
    );
    assert!(
        versions["weftd"]["ebpfObjectSha256"].is_string(),
        "{versions}"
    );
    bugtool_collects_the_node(&lab);

    // The overlay reconciler puts the entry back on its next pass, so the
    // deletion is repeated until a status run finds it gone.
    let n2 = node_underlay_ip(&lab.status(), "n2").to_string();
    let (text, verbose) = wait_until("status names the missing FDB entry", CONVERGE, || {
        let entry = lab
            .vxlan_fdb("n1")
            .into_iter()
            .find(|line| line.contains(&format!(" dst {n2} ")))
            .ok_or("no FDB entry towards n2")?;
        let mac = entry.split_whitespace().next().ok_or("an empty FDB line")?;
        lab.ok(&[
            "exec",
            "--node",
            "n1",
            "--",
            "bridge",
            "fdb",
            "del",
            mac,
            "dev",
            "weft.vxlan",
            "dst",
            &n2,
        ]);
        let broken = weftctl(&lab, "n1", &["status", "--verbose"]);
        let text = String::from_utf8_lossy(&broken.stdout).into_owned();
        let named = format!("MISSING fdb entry {mac} dst {n2}");
        if broken.status.success() || !text.contains(&named) {
            return Err(format!("{named} not in: {text}"));
        }
        Ok((text, broken))
    });
    assert!(!verbose.status.success());
    let n2_line = text
        .lines()
        .find(|line| line.starts_with("peer          n2 "))
        .expect("a line for n2");
    assert!(n2_line.contains("DID NOT ANSWER"), "{text}");
    let n3_line = text
        .lines()
        .find(|line| line.starts_with("peer          n3 "))
        .expect("a line for n3");
    assert!(
        n3_line.contains("entries ok") && n3_line.contains("answered in"),
        "{text}"
    );

    // A VXLAN device deleted is news: the overlay makes it again and the
    // policy reconciler puts the node programs on the new one at once,
    // well before their next resync (30 s).
    lab.ok(&[
        "exec",
        "--node",
        "n1",
        "--",
        "ip",
        "link",
        "del",
        "weft.vxlan",
    ]);
    wait_until(
        "n1 healthy with a new weft.vxlan",
        WITHIN_A_THIRD_OF_A_RESYNC,
        || {
            let out = weftctl(&lab, "n1", &["status"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stdout).into_owned())
            }
        },
    );
    lab.down_leaves_nothing();
}

/// `weftctl bugtool` in n1's netns, as an operator on the node runs it.
fn bugtool_collects_the_node(lab: &TestLab) {
    let out = tempfile::tempdir().expect("a temp dir");
    let dir = out.path().join("n1");
    let node = lab.dir().join("nodes").join("n1");
    let (weftctl, run_dir, conf_dir, log, dir_arg) = (
        path_text(&weftctl_bin()),
        path_text(&node.join("run")),
        path_text(&node.join("net.d")),
        path_text(&node.join("weftd.log")),
        path_text(&dir),
    );
    lab.ok(&[
        "exec",
        "--node",
        "n1",
        "--",
        &weftctl,
        "--run-dir",
        &run_dir,
        "bugtool",
        &dir_arg,
        "--cni-conf-dir",
        &conf_dir,
        "--cni-bin-dir",
        &bin_dir(),
        "--metrics-addr",
        "off",
        "--log-file",
        &log,
    ]);
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let status: Value = serde_json::from_str(&read("status.json")).expect("status.json");
    assert_eq!(status["node"], "n1");
    assert!(
        read("routes.txt").contains("dev weft.vxlan"),
        "n1's own routes"
    );
    assert!(read("nft.txt").contains("table inet weft"));
    assert!(read("MANIFEST.txt").contains("status.json"));
    // weftd's credentials: the private key its kubeconfig names.
    let kubeconfig = std::fs::read_to_string(node.join("kubeconfig")).expect("n1's kubeconfig");
    let key_path = kubeconfig
        .lines()
        .find_map(|line| line.trim().strip_prefix("client-key: "))
        .expect("the kubeconfig names a client key");
    let key = std::fs::read_to_string(key_path.trim()).expect("the client key");
    let secrets: Vec<&str> = key
        .lines()
        .filter(|line| !line.starts_with("-----") && !line.is_empty())
        .collect();
    assert!(!secrets.is_empty(), "a PEM key has a body");
    for entry in std::fs::read_dir(&dir).expect("the bugtool dir") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for secret in &secrets {
            assert!(
                !text.contains(secret),
                "{} holds a kubeconfig secret",
                path.display()
            );
        }
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// Where the lab's plugin is: beside weft-lab.
fn bin_dir() -> String {
    path_text(Path::new(common::LAB_BIN).parent().expect("the build dir"))
}

fn weftctl(lab: &TestLab, node: &str, args: &[&str]) -> Output {
    Command::new(weftctl_bin())
        .arg("--run-dir")
        .arg(lab.dir().join("nodes").join(node).join("run"))
        .args(args)
        .output()
        .expect("weftctl runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "weftctl prints JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn weftctl_bin() -> PathBuf {
    Path::new(common::LAB_BIN).with_file_name("weftctl")
}
