//! Wiring one pod, as kubelet and a runtime would: a netns, CNI ADD by the
//! `weft` plugin inside the node's netns, and the pod's port server; and
//! the reverse. Each step is recorded in a ledger before it is taken: the
//! lab's state file (dir datastore) or the node's kubelet ledger.

use std::time::Duration;

use anyhow::Context;
use weft_datastore::Pod;

use crate::cni::{Invocation, PodSandbox};
use crate::lab::Lab;
use crate::names::{container_id, pod_ref};
use crate::netns;
use crate::pods;
use crate::process::{DetachedSpec, ProcessRecord, spawn_detached};
use crate::state::{LabState, PodRecord};
use crate::underlay_plan::IpBatch;

/// Where wired pods are written down, by "ns/name", before each step, so
/// that whatever stops the lab half-way can still remove all of it.
pub trait PodLedger {
    fn get(&self, key: &str) -> Option<&PodRecord>;
    fn record(&mut self, record: PodRecord) -> anyhow::Result<()>;
    fn forget(&mut self, key: &str) -> anyhow::Result<()>;
}

/// The lab's state file as a ledger (the dir datastore's pods).
pub struct StateLedger<'a> {
    pub lab: &'a Lab,
    pub state: &'a mut LabState,
}

impl PodLedger for StateLedger<'_> {
    fn get(&self, key: &str) -> Option<&PodRecord> {
        self.state.pods.get(key)
    }

    fn record(&mut self, record: PodRecord) -> anyhow::Result<()> {
        self.state.pods.insert(record.key(), record);
        self.lab.save(self.state)
    }

    fn forget(&mut self, key: &str) -> anyhow::Result<()> {
        self.state.pods.remove(key);
        self.lab.save(self.state)
    }
}

/// How long a port server may take to bind its ports.
const SERVER_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped process gets to exit before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Wires a stored pod and records it; on failure undoes what it did.
pub fn wire(lab: &Lab, ledger: &mut impl PodLedger, pod: &Pod) -> anyhow::Result<()> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let node = pods::node_name(pod)
        .with_context(|| format!("pod {namespace}/{name} has no spec.nodeName"))?
        .to_owned();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let record = PodRecord {
        netns: lab.name.pod_netns(&namespace, &name),
        container_id: container_id(&namespace, &name),
        namespace,
        name,
        uid: uid.clone(),
        node,
        ips: Vec::new(),
        server: None,
    };
    let key = record.key();
    ledger.record(record.clone())?;
    match wire_recorded(lab, &record, &uid, pod) {
        Ok((ips, server)) => ledger.record(PodRecord {
            ips,
            server,
            ..record
        }),
        Err(err) => {
            // Best effort: the error that matters is the one that stopped wiring.
            let _ = unwire(lab, ledger, &key);
            Err(err.context(format!("wiring pod {key} on {}", record.node)))
        }
    }
}

fn wire_recorded(
    lab: &Lab,
    record: &PodRecord,
    uid: &str,
    pod: &Pod,
) -> anyhow::Result<(Vec<std::net::IpAddr>, Option<ProcessRecord>)> {
    netns::add_all(std::slice::from_ref(&record.netns))?;
    netns::run_batch(&IpBatch {
        netns: record.netns.clone(),
        lines: vec!["link set lo up".into()],
    })?;
    let ips = cni_call(lab, record, uid, |invocation, sandbox| {
        invocation.add(sandbox)
    })?;
    let (tcp, udp) = pods::listener_ports(pod);
    if tcp.is_empty() && udp.is_empty() {
        return Ok((ips, None));
    }
    let server = start_server(
        &netns::path(&record.netns),
        &lab.paths.pod_log(&record.namespace, &record.name),
        &pod_ref(&record.namespace, &record.name),
        &tcp,
        &udp,
    )?;
    Ok((ips, Some(server)))
}

/// Tears a pod down (server, CNI DEL, netns) and forgets it. Missing parts are fine.
pub fn unwire(lab: &Lab, ledger: &mut impl PodLedger, key: &str) -> anyhow::Result<()> {
    let Some(record) = ledger.get(key).cloned() else {
        return Ok(());
    };
    if let Some(server) = record.server {
        server.stop(STOP_GRACE)?;
    }
    let node_netns = lab.name.node_netns(&record.node);
    if netns::exists(&node_netns) && lab.paths.node_conflist(&record.node).exists() {
        cni_call(lab, &record, "", |invocation, sandbox| {
            invocation.del(sandbox)
        })
        .with_context(|| format!("removing pod {key} from {}", record.node))?;
    }
    netns::delete_all(std::slice::from_ref(&record.netns))?;
    ledger.forget(key)
}

fn cni_call<T>(
    lab: &Lab,
    record: &PodRecord,
    uid: &str,
    call: impl FnOnce(&Invocation<'_>, &PodSandbox) -> Result<T, crate::cni::CniError>,
) -> anyhow::Result<T> {
    let plugin = lab.binary("weft")?;
    let cni_path = plugin
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let node_netns = netns::path(&lab.name.node_netns(&record.node));
    let conflist = lab.paths.node_conflist(&record.node);
    let invocation = Invocation {
        plugin: &plugin,
        cni_path: &cni_path,
        node_netns: &node_netns,
        conflist: &conflist,
    };
    let sandbox = PodSandbox {
        namespace: record.namespace.clone(),
        name: record.name.clone(),
        uid: uid.to_owned(),
        container_id: record.container_id.clone(),
        netns_path: netns::path(&record.netns),
    };
    Ok(call(&invocation, &sandbox)?)
}

/// Starts `weft-lab serve` detached in a netns and waits until it listens.
pub fn start_server(
    netns_path: &std::path::Path,
    log: &std::path::Path,
    label: &str,
    tcp: &[u16],
    udp: &[u16],
) -> anyhow::Result<ProcessRecord> {
    // This very executable even when a rebuild has replaced its file (a
    // kubelet stand-in outlives rebuilds): /proc/self/exe keeps the inode.
    let program = std::path::PathBuf::from("/proc/self/exe");
    Ok(spawn_detached(&DetachedSpec {
        program,
        args: serve_args(label, tcp, udp),
        netns: netns_path.to_path_buf(),
        log: log.to_path_buf(),
        env: Vec::new(),
        await_ready_line: Some(SERVER_READY_TIMEOUT),
    })?)
}

/// The hidden `serve` subcommand's arguments.
pub fn serve_args(label: &str, tcp: &[u16], udp: &[u16]) -> Vec<String> {
    let mut args = vec!["serve".to_owned(), "--label".to_owned(), label.to_owned()];
    for port in tcp {
        args.extend(["--tcp".to_owned(), port.to_string()]);
    }
    for port in udp {
        args.extend(["--udp".to_owned(), port.to_string()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_gets_every_port() {
        assert_eq!(
            serve_args("x/a", &[80, 8080], &[53]).join(" "),
            "serve --label x/a --tcp 80 --tcp 8080 --udp 53"
        );
    }
}
