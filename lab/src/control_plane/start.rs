//! Starting the control plane's processes in its netns and waiting until
//! the API server serves: its /readyz, polled with the admin's
//! credentials, failing fast (with the log's telling line) when a
//! component has exited.

use std::path::Path;
use std::time::{Duration, Instant};

use super::binaries::{BinariesError, k8s_binary};
use super::client::{ApiError, readyz, with_client};
use super::component::Component;
use super::flags::{ControlPlaneSpec, component_args};
use crate::paths::LabPaths;
use crate::process::{DetachedSpec, ProcessError, ProcessRecord, spawn_detached};
use crate::wait::last_line;

/// How long the API server may take to become ready (about 4 s when idle).
pub const API_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest one /readyz call may take.
const READYZ_CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two /readyz calls.
const READYZ_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Binary(#[from] BinariesError),
    #[error("starting {component}: {source}")]
    Spawn {
        component: Component,
        source: ProcessError,
    },
    #[error("{component} exited: {line}; see {log}")]
    Exited {
        component: Component,
        line: String,
        log: String,
    },
    #[error("the API server is not ready after {} s ({last}); see {log}", API_READY_TIMEOUT.as_secs())]
    NotReady { last: String, log: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Starts `component` detached in the control-plane netns, logging to its
/// log file in the lab dir.
pub fn start(
    component: Component,
    spec: &ControlPlaneSpec,
    paths: &LabPaths,
    netns_path: &Path,
) -> Result<ProcessRecord, StartError> {
    spawn_detached(&DetachedSpec {
        program: k8s_binary(component.name())?,
        args: component_args(component, spec, paths),
        netns: netns_path.to_owned(),
        log: paths.component_log(component.name()),
        env: Vec::new(),
        await_ready_line: None,
    })
    .map_err(|source| StartError::Spawn { component, source })
}

/// Returns once /readyz answers ok; fails as soon as one of `running`
/// has exited, or after `API_READY_TIMEOUT`.
pub fn wait_api_ready(
    paths: &LabPaths,
    netns_path: &Path,
    running: Vec<(Component, ProcessRecord)>,
) -> Result<(), StartError> {
    let log_of = {
        let paths = paths.clone();
        move |component: Component| paths.component_log(component.name())
    };
    let api_log = log_of(Component::KubeApiserver).display().to_string();
    with_client(
        netns_path,
        &paths.admin_kubeconfig(),
        move |client| async move {
            let deadline = Instant::now() + API_READY_TIMEOUT;
            loop {
                let last = match tokio::time::timeout(READYZ_CALL_TIMEOUT, readyz(&client)).await {
                    Ok(Ok(_)) => return Ok(Ok(())),
                    Ok(Err(err)) => err.to_string(),
                    Err(_) => format!("/readyz took over {} s", READYZ_CALL_TIMEOUT.as_secs()),
                };
                if let Some((component, _)) = running.iter().find(|(_, p)| !p.is_running()) {
                    let log = log_of(*component);
                    return Ok(Err(StartError::Exited {
                        component: *component,
                        line: last_line(&log),
                        log: log.display().to_string(),
                    }));
                }
                if Instant::now() >= deadline {
                    return Ok(Err(StartError::NotReady { last, log: api_log }));
                }
                tokio::time::sleep(READYZ_INTERVAL).await;
            }
        },
    )?
}
