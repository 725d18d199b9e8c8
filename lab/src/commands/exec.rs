//! `exec`: run a command in a pod's or a host's netns; its exit code is ours.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus};

use anyhow::Context;

use super::NotFound;
use crate::lab::Lab;
use crate::netns;

pub fn exec(
    lab: &Lab,
    pod: Option<String>,
    node: Option<String>,
    command: &[String],
) -> anyhow::Result<ExitCode> {
    let state = lab.state_with_pods()?;
    let netns_name = match (pod, node) {
        (Some(pod), _) => super::wired_pod(&state, &pod)?.netns.clone(),
        (None, Some(node)) => state
            .topology
            .host(&node)
            .map(|host| host.netns.clone())
            .ok_or_else(|| {
                let hosts: Vec<&str> = state.topology.hosts().map(|h| h.name.as_str()).collect();
                NotFound(format!(
                    "lab {} has no host {node:?} (hosts: {})",
                    lab.name,
                    hosts.join(", ")
                ))
            })?,
        (None, None) => anyhow::bail!("say where: NS/POD or --node NODE"),
    };
    let (program, args) = command.split_first().context("no command given")?;
    run_in_netns(&netns_name, Path::new(program), args)
}

/// Runs `program` in the named netns and returns its exit code.
pub(super) fn run_in_netns(
    netns_name: &str,
    program: &Path,
    args: &[String],
) -> anyhow::Result<ExitCode> {
    let mut child = Command::new(program);
    child.args(args);
    netns::enter_before_exec(&mut child, netns::open(&netns::path(netns_name))?, false);
    let status = child
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    Ok(ExitCode::from(exit_code(status)))
}

/// The child's exit code; a signal reads as 128 + its number, as in shells.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + signal).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_pass_through() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
