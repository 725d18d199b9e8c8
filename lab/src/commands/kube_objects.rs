//! `apply` and `delete` on the kubernetes datastore: the lab's own kubectl,
//! as admin in the control-plane netns, does the writing (so `apply` has
//! exactly `kubectl apply`'s meaning), and the lab waits until the change
//! is in effect: the workloads it applies rolled out (their pods exist),
//! pods wired and Ready (by the nodes' kubelet stand-ins), then every
//! weftd past the newest revision of each kind (see
//! `control_plane::progress`), then every kube-proxy with the Services
//! programmed (`control_plane::service_rules`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use weft_datastore::{Kind, Object, parse_objects};

use super::NotFound;
use super::delete::Target;
use crate::control_plane::binaries::k8s_binary;
use crate::control_plane::client::with_client;
use crate::control_plane::kube_proxy;
use crate::control_plane::service_rules::{expected_rules, first_missing};
use crate::control_plane::settle::{deletion_revisions, inventory, pods_settled, service_inputs};
use crate::control_plane::snapshot::cluster_snapshot;
use crate::lab::Lab;
use crate::netns;
use crate::state::LabState;
use crate::validate::{Cluster, check_objects};
use crate::weftd::KindRequirement;

/// How long pods may take to be scheduled, wired and Ready.
const PODS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long kube-proxy may take to program the Services (it syncs about
/// a second after a change).
const SERVICES_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at the nodes' kube-proxy tables.
const SERVICES_POLL: Duration = Duration::from_millis(100);
/// How long a namespace's `default` ServiceAccount may take to appear.
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn apply(lab: &Lab, state: &LabState, file: &str, text: &str) -> anyhow::Result<()> {
    let values =
        weft_datastore::parse_values(text).with_context(|| super::shown(file).to_owned())?;
    let documents = weft_documents(&values).with_context(|| super::shown(file).to_owned())?;
    let stored = read_cluster(lab, state)?;
    check_objects(
        &documents,
        &Cluster {
            nodes: &state.topology.node_names(),
            stored: &stored,
        },
    )
    .with_context(|| format!("nothing of {} applied", super::shown(file)))?;
    // Pods are admitted only once their namespace's `default` ServiceAccount
    // exists, which the controller-manager makes after the namespace.
    let new_namespaces: Vec<String> = documents
        .iter()
        .filter(|o| o.kind() == Kind::Namespace)
        .filter_map(|o| o.metadata().name.clone())
        .filter(|name| !stored.namespaces.contains_key(name))
        .collect();
    if !new_namespaces.is_empty() {
        let namespaces: Vec<&Value> = values
            .iter()
            .filter(|v| kind_of(v) == Some(Kind::Namespace))
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": namespaces});
        kubectl(lab, state, &["apply", "-f", "-"], Some(&list.to_string()))?;
        await_service_accounts(lab, state, new_namespaces)?;
    }
    print!(
        "{}",
        kubectl(lab, state, &["apply", "-f", "-"], Some(text))?
    );
    // A workload's pods are made by controllers after the apply: without
    // this, the pods' wait below may look before they exist.
    let timeout = format!("--timeout={}s", PODS_TIMEOUT.as_secs());
    for mut args in rollouts(&values) {
        args.push(timeout.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl(lab, state, &args, None)?;
    }
    in_effect(lab, state, KindRequirement::new())
}

/// `kubectl rollout status` arguments for each workload among `values` that
/// rolls out (Deployments, DaemonSets and StatefulSets, but those updated
/// only on delete), in its namespace (kubectl's default when it names none).
fn rollouts(values: &[Value]) -> Vec<Vec<String>> {
    let text = |value: &Value, path: &str| {
        value
            .pointer(path)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    values
        .iter()
        .filter(|v| text(v, "/apiVersion").as_deref() == Some("apps/v1"))
        .filter(|v| text(v, "/spec/updateStrategy/type").as_deref() != Some("OnDelete"))
        .filter_map(|v| {
            let kind = match text(v, "/kind")?.as_str() {
                "Deployment" => "deployment",
                "DaemonSet" => "daemonset",
                "StatefulSet" => "statefulset",
                _ => return None,
            };
            let name = text(v, "/metadata/name")?;
            let mut args = vec!["rollout".into(), "status".into(), format!("{kind}/{name}")];
            if let Some(namespace) = text(v, "/metadata/namespace") {
                args.extend(["-n".into(), namespace]);
            }
            Some(args)
        })
        .collect()
}

pub fn delete(
    lab: &Lab,
    state: &LabState,
    target: &Target,
    ignore_not_found: bool,
) -> anyhow::Result<()> {
    let (text, args): (Option<String>, Vec<String>) = match target {
        Target::File(file) => (
            Some(super::read_input(file)?),
            vec!["-f".into(), "-".into()],
        ),
        Target::Object { kind, object } => {
            let mut args = vec![kind.clone()];
            match object.split_once('/') {
                Some((namespace, name)) => {
                    args.extend([name.to_owned(), "-n".into(), namespace.to_owned()])
                }
                None => args.push(object.clone()),
            }
            (None, args)
        }
        Target::AllPolicies => (
            None,
            vec!["networkpolicies".into(), "--all".into(), "-A".into()],
        ),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if !ignore_not_found && !matches!(target, Target::AllPolicies) {
        // Nothing is deleted when something named is missing.
        let mut get = vec!["get", "-o", "name"];
        get.extend(&args);
        if let Err(err) = kubectl(lab, state, &get, text.as_deref()) {
            let message = format!("{err:#}");
            if message.contains("NotFound") || message.contains("not found") {
                return Err(NotFound(format!("{message}; nothing deleted")).into());
            }
            return Err(err);
        }
    }
    let host = super::cluster::control_plane_host(state)?;
    let (netns_path, kubeconfig) = (netns::path(&host.netns), lab.paths.admin_kubeconfig());
    let before = with_client(&netns_path, &kubeconfig, inventory)?;
    let mut delete = vec!["delete", "--wait=true"];
    if ignore_not_found {
        delete.push("--ignore-not-found");
    }
    delete.extend(&args);
    print!("{}", kubectl(lab, state, &delete, text.as_deref())?);
    let deleted = with_client(&netns_path, &kubeconfig, move |client| async move {
        deletion_revisions(client, &before, PODS_TIMEOUT).await
    })?;
    in_effect(lab, state, deleted)
}

/// Waits until every pod that should run is Ready and every node has put
/// in effect the cluster's newest revision of each kind, and `deleted`.
fn in_effect(lab: &Lab, state: &LabState, deleted: KindRequirement) -> anyhow::Result<()> {
    let host = super::cluster::control_plane_host(state)?;
    let settled = with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        |client| pods_settled(client, PODS_TIMEOUT),
    )?;
    let required = crate::control_plane::progress::required_revisions(&settled, &deleted);
    crate::wait::kinds_applied(lab, state, &required)?;
    services_programmed(lab, state)
}

/// Waits until every node's kube-proxy has programmed every Service with
/// a ready endpoint (see `control_plane::service_rules`).
fn services_programmed(lab: &Lab, state: &LabState) -> anyhow::Result<()> {
    let host = super::cluster::control_plane_host(state)?;
    let deadline = Instant::now() + SERVICES_TIMEOUT;
    loop {
        let (services, slices, pods) = with_client(
            &netns::path(&host.netns),
            &lab.paths.admin_kubeconfig(),
            service_inputs,
        )?;
        let expected = expected_rules(&services, &slices, &pods);
        let mut lagging = None;
        for node in &state.topology.nodes {
            let table = kube_proxy_table(&node.netns)?;
            if let Some(rule) = first_missing(&expected, &table) {
                lagging = Some((node.name.clone(), rule.to_owned()));
                break;
            }
        }
        let Some((node, rule)) = lagging else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            bail!(
                "kube-proxy on {node} has not programmed `{rule}` after {} s; see {}",
                SERVICES_TIMEOUT.as_secs(),
                kube_proxy::log_path(&lab.paths, &node).display()
            );
        }
        std::thread::sleep(SERVICES_POLL);
    }
}

/// kube-proxy's nftables table in a node's netns (empty before it made it).
fn kube_proxy_table(netns_name: &str) -> anyhow::Result<String> {
    let mut command = Command::new("nft");
    command
        .args(["list", "table", "ip", "kube-proxy"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    netns::enter_before_exec(&mut command, netns::open(&netns::path(netns_name))?, false);
    let output = command.output().context("running nft")?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn read_cluster(
    lab: &Lab,
    state: &LabState,
) -> anyhow::Result<weft_datastore::ClusterSnapshot<weft_datastore::Pod>> {
    let host = super::cluster::control_plane_host(state)?;
    with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        cluster_snapshot,
    )
    .context("reading the cluster from the lab's API server")
}

fn await_service_accounts(
    lab: &Lab,
    state: &LabState,
    namespaces: Vec<String>,
) -> anyhow::Result<()> {
    let host = super::cluster::control_plane_host(state)?;
    with_client(
        &netns::path(&host.netns),
        &lab.paths.admin_kubeconfig(),
        move |client| {
            crate::control_plane::registration::await_default_service_accounts(
                client,
                namespaces,
                SERVICE_ACCOUNT_TIMEOUT,
            )
        },
    )?;
    Ok(())
}

/// The documents of kinds Weft reads (Namespace, Pod, NetworkPolicy), typed
/// and checked like the `dir` datastore's; the API server checks the rest.
fn weft_documents(values: &[Value]) -> anyhow::Result<Vec<Object>> {
    let mut objects = Vec::new();
    for value in values {
        if matches!(
            kind_of(value),
            Some(Kind::Namespace | Kind::Pod | Kind::NetworkPolicy)
        ) {
            objects.extend(parse_objects(&value.to_string())?);
        }
    }
    Ok(objects)
}

fn kind_of(value: &Value) -> Option<Kind> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    Kind::from_type_meta(field("apiVersion"), field("kind"))
}

/// Runs the lab's kubectl as admin in the control-plane netns; its stdout,
/// or its stderr as the error.
pub fn kubectl(
    lab: &Lab,
    state: &LabState,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<String> {
    let host = super::cluster::control_plane_host(state)?;
    let program: PathBuf = k8s_binary("kubectl")?;
    let mut command = Command::new(&program);
    command
        .arg("--kubeconfig")
        .arg(lab.paths.admin_kubeconfig())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    netns::enter_before_exec(&mut command, netns::open(&netns::path(&host.netns))?, false);
    let mut child = command
        .spawn()
        .with_context(|| format!("running {}", program.display()))?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(text.as_bytes())
            .context("writing to kubectl")?;
    }
    let output = child.wait_with_output().context("running kubectl")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "kubectl {}: {}",
            args.join(" "),
            stderr.trim().replace('\n', "; ")
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_that_roll_out_are_waited_for_in_their_namespace() {
        let values = weft_datastore::parse_values(
            "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec: {updateStrategy: {type: OnDelete}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: shop}
",
        )
        .unwrap();
        assert_eq!(
            rollouts(&values),
            vec![
                vec!["rollout", "status", "deployment/web", "-n", "shop"],
                vec!["rollout", "status", "daemonset/agent"],
            ]
        );
    }
}
