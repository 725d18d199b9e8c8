//! The commands of LAB.md, each in its own module; `run` dispatches the
//! parsed command line. Errors carry context for the one-line message
//! main prints; `NotFound` makes the exit code 3.

mod apply;
mod cluster;
mod delete;
mod down;
mod exec;
mod kube_objects;
mod kubeconfig;
mod kubectl;
mod matrix;
mod probe;
mod reconcile;
mod status;
mod up;

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{Cli, Command};
use crate::lab::Lab;
use crate::serve::Listeners;
use crate::state::{LabState, PodRecord};

/// An object (or pod) the command names does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// Exit code of a `NotFound` failure.
pub const NOT_FOUND_EXIT: u8 = 3;

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let lab = Lab::new(cli.name);
    match cli.command {
        Command::Up {
            nodes,
            mode,
            cluster_cidr,
            datastore,
            host_routing,
            ip_family,
        } => up::up(
            &lab,
            &up::UpOptions {
                nodes,
                mode,
                cluster_cidr: cluster_cidr.and_then(|c| c.v4),
                datastore,
                host_routing,
                ip_family,
                cluster_cidr6: cluster_cidr.and_then(|c| c.v6),
            },
        ),
        Command::Down => down::down(&lab),
        Command::Kubeconfig => kubeconfig::kubeconfig(&lab),
        Command::Kubectl { args } => return kubectl::kubectl(&lab, &args),
        Command::Status { output } => status::status(&lab, output),
        Command::Apply { file } => apply::apply(&lab, &file),
        Command::Delete {
            ignore_not_found,
            file,
            all_policies,
            kind,
            object,
        } => {
            let target = match (file, kind, object) {
                (Some(file), _, _) => delete::Target::File(file),
                (None, Some(kind), Some(object)) => delete::Target::Object { kind, object },
                _ if all_policies => delete::Target::AllPolicies,
                _ => bail!("say what to delete: -f FILE, KIND NS/NAME or --all-policies"),
            };
            delete::delete(&lab, &target, ignore_not_found)
        }
        Command::Exec { pod, node, command } => return exec::exec(&lab, pod, node, &command),
        Command::Probe {
            source,
            dest,
            port,
            proto,
            timeout_ms,
        } => return probe::probe(&lab, &source, &dest, port, proto, timeout_ms),
        Command::Matrix {
            port,
            proto,
            family,
            timeout_ms,
            output,
        } => matrix::matrix(&lab, port, proto, family, timeout_ms, output),
        Command::Serve { label, tcp, udp } => serve(&label, &tcp, &udp),
        Command::ApiForward { port } => crate::control_plane::host_access::run(&lab, port),
        Command::Kubelet { node } => crate::kubelet::agent::run(&lab, &node),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// The hidden `serve`: binds, says "ready" on stdout, serves until killed.
/// It listens on both families (an IPv6 socket takes IPv4 too, unless the
/// netns has no IPv6: then on IPv4 alone).
fn serve(label: &str, tcp: &[u16], udp: &[u16]) -> anyhow::Result<()> {
    let listeners = Listeners::bind(Ipv6Addr::UNSPECIFIED.into(), tcp, udp)
        .or_else(|_| Listeners::bind(Ipv4Addr::UNSPECIFIED.into(), tcp, udp))?;
    println!("{}", crate::process::READY_LINE);
    Ok(listeners.run(label)?)
}

/// A file's text, or stdin's for "-".
fn read_input(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        Ok(text)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))
    }
}

/// How errors name an input file.
fn shown(file: &str) -> &str {
    if file == "-" { "stdin" } else { file }
}

/// A pod the lab has wired, by "ns/name".
fn wired_pod<'a>(state: &'a LabState, pod: &str) -> anyhow::Result<&'a PodRecord> {
    let (namespace, name) = split_ref(pod);
    state
        .pod(&namespace, &name)
        .filter(|record| !record.ips.is_empty())
        .ok_or_else(|| {
            NotFound(format!(
                "pod {namespace}/{name} is not running in lab {}",
                state.name
            ))
            .into()
        })
}

/// "ns/name" (or "name", in namespace default).
fn split_ref(text: &str) -> (String, String) {
    match text.split_once('/') {
        Some((namespace, name)) => (namespace.to_owned(), name.to_owned()),
        None => (
            weft_datastore::DEFAULT_NAMESPACE.to_owned(),
            text.to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_default_to_the_default_namespace() {
        assert_eq!(split_ref("x/a"), ("x".into(), "a".into()));
        assert_eq!(split_ref("a"), ("default".into(), "a".into()));
    }
}
