//! `weftd`, the weft node agent: see the crate docs and DESIGN.md "The daemon".

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use weftd::config::{Config, DaemonArgs};

fn main() -> anyhow::Result<()> {
    weftd::memory::limit_allocator_arenas();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let args = DaemonArgs::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs usually go to files and collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = Config::from_args(&args).context("invalid arguments")?;
    weftd::daemon::run(config).await
}
