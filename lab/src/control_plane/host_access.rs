//! The admin's way in from the host: the lab's namespaces never reach the
//! host's network (no link, no route), so `weft-lab api-forward`, started
//! by `up` in the host's netns, relays TCP connections from a loopback
//! port to the API server in the control-plane netns (as kind maps its API
//! server to 127.0.0.1), and the host kubeconfig names that port. The
//! relay listens on loopback only: nothing else of the lab is exposed.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::Context;
use nix::sched::{CloneFlags, setns};

use super::credentials::{ADMIN_USER, CA_CERT, PUBLIC, write};
use super::endpoint::API_PORT;
use super::kubeconfig::{KubeconfigSpec, render_kubeconfig};
use crate::lab::Lab;
use crate::netns;
use crate::process::{DetachedSpec, READY_LINE, spawn_detached};
use crate::state::LabState;

/// How long the relay may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The API server as the host reaches it through the relay.
pub fn host_server_url(port: u16) -> String {
    format!("https://{}:{port}", Ipv4Addr::LOCALHOST)
}

/// The hidden `api-forward --port PORT`: listens on the host's loopback,
/// then moves into the control-plane netns, so that every connection it
/// makes to the API server starts there, and relays until killed.
pub fn run(lab: &Lab, port: u16) -> anyhow::Result<()> {
    let state = lab.state()?;
    let host = state
        .topology
        .control_plane
        .as_ref()
        .with_context(|| format!("lab {} has no control plane", lab.name))?;
    let api_ip = state
        .topology
        .primary_ip(host)
        .context("the control-plane host has no underlay address")?;
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    // This thread is the process's only one: after setns, every socket the
    // relay opens belongs to the control-plane netns; the listener stays
    // in the host's.
    let cp_netns = netns::open(&netns::path(&host.netns))?;
    setns(cp_netns.as_fd(), CloneFlags::CLONE_NEWNET)
        .context("entering the control-plane netns")?;
    let api = SocketAddr::from((api_ip, API_PORT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting an async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        println!("{READY_LINE}");
        loop {
            let (mut client, _) = listener.accept().await?;
            tokio::spawn(async move {
                match tokio::net::TcpStream::connect(api).await {
                    Ok(mut upstream) => {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                    Err(err) => eprintln!("api-forward: connecting to {api}: {err}"),
                }
            });
        }
    })
}

/// Starts the relay unless it runs (on the port it had, so the host
/// kubeconfig stays valid), and writes the host kubeconfig.
pub fn start_api_forward(lab: &Lab, state: &mut LabState) -> anyhow::Result<()> {
    if state.api_forward.is_some_and(|p| p.is_running()) {
        return Ok(());
    }
    let port = match state.api_forward_port {
        Some(port) => port,
        None => free_loopback_port()?,
    };
    let record = spawn_detached(&DetachedSpec {
        program: "/proc/self/exe".into(),
        args: vec![
            "--name".into(),
            lab.name.to_string(),
            "api-forward".into(),
            "--port".into(),
            port.to_string(),
        ],
        netns: "/proc/self/ns/net".into(),
        log: lab.paths.control_plane_dir().join("api-forward.log"),
        env: Vec::new(),
        await_ready_line: Some(READY_TIMEOUT),
    })
    .context("starting the API server's relay on the host")?;
    state.api_forward = Some(record);
    state.api_forward_port = Some(port);
    lab.save(state)?;
    write_host_kubeconfig(lab, port)
}

fn write_host_kubeconfig(lab: &Lab, port: u16) -> anyhow::Result<()> {
    let paths = &lab.paths;
    let text = render_kubeconfig(&KubeconfigSpec {
        lab: lab.name.as_str(),
        server: &host_server_url(port),
        ca_cert: &paths.pki_file(CA_CERT),
        user: ADMIN_USER,
        client_cert: &paths.pki_file("admin.crt"),
        client_key: &paths.pki_file("admin.key"),
    })?;
    write(&paths.host_kubeconfig(), &text, PUBLIC)?;
    Ok(())
}

/// A loopback port nothing listens on now.
fn free_loopback_port() -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("finding a free loopback port")?;
    Ok(probe.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_reaches_the_api_server_on_loopback() {
        assert_eq!(host_server_url(40123), "https://127.0.0.1:40123");
    }
}
