//! Weft's ADD and DEL on a node whose datastore holds 10,000 pods and 1,000
//! NetworkPolicies (the policy compiler's benchmark cluster, its node-0
//! being this node) against a node whose datastore holds only the node
//! itself: two weftds side by side, calls alternating between them so
//! machine noise hits both alike. Every ADD on the loaded node is for one
//! of its pods in the datastore, not published yet, as the kubelet calls
//! it; on the empty node the pod is unknown to the datastore. Then policy
//! changes on the loaded node, each timed until weftd applied it, with
//! weftd's compile time per change (weft_policy_compile_seconds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use weft_datastore::k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use weft_datastore::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use weft_datastore::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use weft_datastore::{DirStore, Node, Object};
use weft_tests::{Netns, binary};

use crate::calls::{SEQUENTIAL, call, ms, percentile};
use crate::datastore_weftd::DatastoreWeftd;
use crate::synthetic;

const NODE: &str = "n1";
/// Rounds of sequential ADDs then DELs per node.
const ROUNDS: usize = 3;
/// Policy changes timed on the loaded node.
const CHANGES: usize = 5;
const GOAL_RATIO: f64 = 1.2;

/// One node: its namespace, datastore and weftd, and the pods it adds.
struct Side {
    label: &'static str,
    node: Netns,
    store: DirStore,
    weftd: DatastoreWeftd,
    conf: Value,
    /// (namespace, name) of the pod each ADD is for.
    pods: Vec<(String, String)>,
    add: Vec<Duration>,
    del: Vec<Duration>,
    _dir: tempfile::TempDir,
}

impl Side {
    fn start(
        label: &'static str,
        objects: Vec<Object>,
        pods: Vec<(String, String)>,
    ) -> anyhow::Result<Side> {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let store = DirStore::open(&dir.path().join("store"))?;
        let mut own = Node::default();
        own.metadata.name = Some(NODE.into());
        let started = Instant::now();
        let revision = store.apply(&[vec![Object::Node(own)], objects].concat())?;
        eprintln!("{label}: datastore written in {:?}", started.elapsed());
        let node = Netns::new("dsnode");
        let weftd = DatastoreWeftd::start(&node, NODE, store.root(), dir.path())?;
        weftd.wait_applied(revision)?;
        Ok(Side {
            label,
            conf: weftd.plugin_conf()?,
            node,
            store,
            weftd,
            pods,
            add: Vec::new(),
            del: Vec::new(),
            _dir: dir,
        })
    }

    /// Waits until weftd has applied everything in the datastore, its own
    /// writes (its Node object) included.
    fn settle(&self) -> anyhow::Result<()> {
        loop {
            // An empty batch writes nothing and returns the revision.
            let revision = self.store.apply(&[])?;
            self.weftd.wait_applied(revision)?;
            if self.store.apply(&[])? == revision {
                return Ok(());
            }
        }
    }

    /// One timed call for container `id` of pod `i` in `pod`.
    fn call(&self, command: &str, id: &str, i: usize, pod: &Netns) -> anyhow::Result<Duration> {
        let (namespace, name) = &self.pods[i];
        let args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name}");
        let (status, took, _) = call(
            &self.node,
            &binary("weft"),
            &self.conf,
            command,
            id,
            pod,
            &args,
        );
        if status != 0 {
            bail!("{}: {command} {id} failed (status {status})", self.label);
        }
        Ok(took)
    }
}

pub fn run_and_report() -> anyhow::Result<()> {
    let (objects, local) = loaded_cluster();
    let unknown = (0..SEQUENTIAL)
        .map(|i| ("bench".to_owned(), format!("p{i}")))
        .collect();
    let mut sides = [
        Side::start("empty datastore", Vec::new(), unknown)?,
        Side::start("10,000 pods, 1,000 policies", objects, local)?,
    ];
    for side in &sides {
        side.settle()?;
        // One untimed ADD/DEL warms caches (binary pages, first links).
        let warm = Netns::new("warm");
        side.call("ADD", "warm", 0, &warm)?;
        side.call("DEL", "warm", 0, &warm)?;
    }
    // The datastore's objects are dropped, but the allocator keeps their
    // pages; every plugin call forks this process (to enter the node
    // namespace) and would copy their page tables, several ms per call.
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe { libc::malloc_trim(0) };
    let (compiles_before, _) = sides[1].weftd.compile_seconds(&sides[1].node)?;
    for round in 0..ROUNDS {
        let pods: Vec<[Netns; 2]> = (0..SEQUENTIAL)
            .map(|_| [Netns::new("dspod"), Netns::new("dspod")])
            .collect();
        for command in ["ADD", "DEL"] {
            for (i, pair) in pods.iter().enumerate() {
                // Alternating which side goes first.
                for s in [i % 2, 1 - i % 2] {
                    let id = format!("r{round}p{i}");
                    let took = sides[s].call(command, &id, i, &pair[s])?;
                    let series = match command {
                        "ADD" => &mut sides[s].add,
                        _ => &mut sides[s].del,
                    };
                    series.push(took);
                }
            }
        }
    }
    let (compiles_after, _) = sides[1].weftd.compile_seconds(&sides[1].node)?;
    let changes = time_policy_changes(&sides[1])?;
    report(&sides, compiles_after - compiles_before, &changes);
    Ok(())
}

/// The synthetic cluster with node-0's pods on this node, before the
/// kubelet published their addresses, and those pods.
fn loaded_cluster() -> (Vec<Object>, Vec<(String, String)>) {
    let snapshot = synthetic::cluster(100, 100, 10);
    let mut local = Vec::new();
    let mut objects: Vec<Object> = snapshot
        .namespaces
        .into_values()
        .map(Object::Namespace)
        .collect();
    for (name, pod) in snapshot.pods {
        let mut pod = Arc::unwrap_or_clone(pod);
        if let Some(spec) = pod
            .spec
            .as_mut()
            .filter(|s| s.node_name.as_deref() == Some("node-0"))
        {
            spec.node_name = Some(NODE.into());
            pod.status = None;
            local.push(name);
        }
        objects.push(Object::Pod(pod));
    }
    objects.extend(snapshot.policies.into_values().map(Object::NetworkPolicy));
    (objects, local)
}

/// What the policy changes cost on `side`.
struct Changes {
    /// The datastore write.
    written: Vec<Duration>,
    /// From the write's end to weftd reporting its revision applied.
    applied: Vec<Duration>,
    /// Compiles weftd ran meanwhile, and their mean time.
    compiles: u64,
    mean_compile: Duration,
}

/// Adds one policy per change (ingress to app-0 from app-1 on a new port
/// in namespace k), each time waiting until weftd applied it.
fn time_policy_changes(side: &Side) -> anyhow::Result<Changes> {
    let (count_before, sum_before) = side.weftd.compile_seconds(&side.node)?;
    let (mut written, mut applied) = (Vec::new(), Vec::new());
    for k in 0..CHANGES {
        let started = Instant::now();
        let revision = side.store.apply(&[Object::NetworkPolicy(change(k))])?;
        let write_end = Instant::now();
        side.weftd.wait_applied(revision)?;
        written.push(write_end - started);
        applied.push(write_end.elapsed());
    }
    let (count, sum) = side.weftd.compile_seconds(&side.node)?;
    let compiles = count - count_before;
    if compiles == 0 {
        bail!("weftd compiled nothing for {CHANGES} policy changes");
    }
    Ok(Changes {
        written,
        applied,
        compiles,
        mean_compile: Duration::from_secs_f64((sum - sum_before) / compiles as f64),
    })
}

fn change(k: usize) -> NetworkPolicy {
    let select = |app: &str| LabelSelector {
        match_labels: Some([("app".to_owned(), app.to_owned())].into()),
        match_expressions: None,
    };
    let port = 8000 + i32::try_from(k).unwrap_or(0);
    NetworkPolicy {
        metadata: ObjectMeta {
            namespace: Some(format!("ns-{k}")),
            name: Some("bench-change".into()),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(select("app-0")),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(select("app-1")),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(port)),
                    ..NetworkPolicyPort::default()
                }]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    }
}

/// `compiles`: how many the loaded node ran during the calls (resyncs).
fn report(sides: &[Side; 2], compiles: u64, changes: &Changes) {
    println!("| weftd's datastore | ADD p50 | ADD p99 | DEL p50 | DEL p99 |");
    println!("|---|---|---|---|---|");
    for side in sides {
        println!(
            "| {} | {} | {} | {} | {} |",
            side.label,
            ms(percentile(&side.add, 50.0)),
            ms(percentile(&side.add, 99.0)),
            ms(percentile(&side.del, 50.0)),
            ms(percentile(&side.del, 99.0)),
        );
    }
    let [empty, loaded] = sides;
    let ratio = |series: fn(&Side) -> &[Duration], p| {
        let at = |side| percentile(series(side), p).as_secs_f64();
        at(loaded) / at(empty)
    };
    println!();
    println!("Ratios (10,000 pods and 1,000 policies / empty, same run):");
    for (what, p) in [("ADD p50", 50.0), ("ADD p99", 99.0)] {
        let r = ratio(|s| &s.add, p);
        let verdict = if r <= GOAL_RATIO { "met" } else { "missed" };
        println!("- {what}: {r:.3}x (goal <= {GOAL_RATIO}x, {verdict})");
    }
    println!("- DEL p50: {:.3}x", ratio(|s| &s.del, 50.0));
    println!();
    println!(
        "weftd's policy compile per snapshot change (weft_policy_compile_seconds): {} on average \
         over {} compiles. A policy change: the datastore write takes {} (p50), and weftd \
         reports it applied {} (p50, {} max) after the write.",
        ms(changes.mean_compile),
        changes.compiles,
        ms(percentile(&changes.written, 50.0)),
        ms(percentile(&changes.applied, 50.0)),
        ms(percentile(&changes.applied, 100.0)),
    );
    println!();
    println!(
        "{ROUNDS} rounds of {SEQUENTIAL} sequential ADDs then DELs per node, alternating between \
         the nodes; the loaded node's pods are its {SEQUENTIAL} pods of the datastore (each \
         selected by its namespace's policies), the empty node's are unknown to its datastore; \
         the loaded node compiled {compiles} times meanwhile (resyncs). {CHANGES} policy \
         changes, one namespace's new ingress rule each."
    );
}
