//! Talking to a lab's API server with kube-rs. The root netns has no route
//! into the lab, so each job runs on a thread that enters one of the
//! lab's netns and drives a single-threaded tokio runtime there: every
//! socket the client opens is that netns's, and nothing else in the
//! process moves.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::netns::{self, NetnsError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("starting an async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("using {path}: {source}")]
    Kubeconfig {
        path: String,
        source: KubeconfigError,
    },
    #[error("making a client from {path}: {source}")]
    Client { path: String, source: kube::Error },
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Wait(kube::runtime::wait::Error),
    #[error("the API server answered unexpectedly: {0}")]
    Unexpected(String),
    #[error("{what}: not done within {} s", timeout.as_secs())]
    Timeout { what: String, timeout: Duration },
}

/// Runs `job` with a client made from `kubeconfig`, inside `netns_path`.
pub fn with_client<T, F, Fut>(netns_path: &Path, kubeconfig: &Path, job: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let kubeconfig = kubeconfig.to_owned();
    netns::run_in(netns_path, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ApiError::Runtime)?;
        runtime.block_on(async move {
            let client = client(&kubeconfig).await?;
            job(client).await
        })
    })?
}

pub(crate) async fn client(path: &Path) -> Result<Client, ApiError> {
    let shown = || path.display().to_string();
    let kubeconfig_error = |source| ApiError::Kubeconfig {
        path: shown(),
        source,
    };
    let file = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
    let config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(kubeconfig_error)?;
    Client::try_from(config).map_err(|source| ApiError::Client {
        path: shown(),
        source,
    })
}

/// The API server's /readyz: `Ok` once every readiness check passes
/// (the server answers 500 until then).
pub async fn readyz(client: &Client) -> Result<String, kube::Error> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    client.request_text(request).await
}
