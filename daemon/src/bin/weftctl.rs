//! `weftctl`: inspect the weftd of this node: endpoints, readiness,
//! identities, an endpoint's compiled policy, and a live stream of verdicts.
//! Every command asks the running weftd over its API socket, so what it
//! prints is what weftd serves; one that cannot reach weftd says so and
//! exits non-zero. Only `endpoints --offline` reads weftd's files instead,
//! for a post-mortem.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use weft_api::{Endpoint, Request, Response};
use weftd::ctl::{endpoints_table, flow_line, node_status_text};
use weftd::endpoints::store::{EndpointStore, endpoints_dir};
use weftd::policy::observe::ObservedFlow;

const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "weftctl", version, about = "Inspect this node's weftd")]
struct Cli {
    /// weftd's run dir (holds the API socket).
    #[arg(long, default_value = "/run/weft", global = true)]
    run_dir: PathBuf,
    /// weftd's state dir (holds the endpoint records), for `--offline`.
    #[arg(long, default_value = "/var/lib/weft", global = true)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the endpoints weftd serves.
    Endpoints {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Read the endpoint records in --state-dir instead of asking
        /// weftd (for when it is down).
        #[arg(long)]
        offline: bool,
    },
    /// The node's health: who it is, readiness, the datastore, pod CIDRs
    /// and MTU, the network to each peer, host routing, endpoints, policy,
    /// programs, each reconciler, map fill, drops by reason. Exits non-zero
    /// unless it is all healthy.
    Status {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Also send each peer's VTEP (vxlan) or underlay IP (direct) an
        /// ICMP echo, through the tunnel, and say how it answered.
        #[arg(short, long)]
        verbose: bool,
    },
    /// The identities of this node's compiled policy (JSON).
    Identities,
    /// The compiled policy of a local pod, NAMESPACE/NAME (JSON).
    Policy { pod: String },
    /// Stream policy verdicts: drops, and allowed new flows with --allows.
    Observe {
        /// Also show allowed new flows.
        #[arg(long)]
        allows: bool,
        /// Only flows of this local pod (NAMESPACE/NAME).
        #[arg(long)]
        pod: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Endpoints { output, offline } => {
            let endpoints = if offline {
                recorded_endpoints(&cli.state_dir)?
            } else {
                match ask(&cli.run_dir, &Request::Endpoints)? {
                    Response::Endpoints { endpoints } => endpoints,
                    other => return Ok(refused(&other)),
                }
            };
            let text = match output {
                Output::Table => endpoints_table(&endpoints),
                Output::Json => serde_json::to_string_pretty(&endpoints)? + "\n",
            };
            stdout.write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Identities => report(&cli.run_dir, &Request::Identities, &mut stdout),
        Command::Policy { pod } => {
            report(&cli.run_dir, &Request::EndpointPolicy { pod }, &mut stdout)
        }
        Command::Observe {
            allows,
            pod,
            output,
        } => observe(&cli.run_dir, allows, pod.as_deref(), output, &mut stdout),
        Command::Status { output, verbose } => {
            let status = match ask(&cli.run_dir, &Request::NodeStatus { verbose })? {
                Response::NodeStatus { status } => status,
                other => return Ok(refused(&other)),
            };
            let text = match output {
                Output::Table => node_status_text(&status),
                Output::Json => serde_json::to_string_pretty(&status)? + "\n",
            };
            stdout.write_all(text.as_bytes())?;
            Ok(if status.is_healthy() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// weftd's reply to `request`; an error that names the socket when weftd
/// cannot be reached.
fn ask(run_dir: &Path, request: &Request) -> anyhow::Result<Response> {
    let socket = run_dir.join(weft_api::SOCKET_FILE);
    weft_api::call(&socket, request, STATUS_TIMEOUT).with_context(|| {
        format!(
            "weftd does not answer at {} (is it running, and is --run-dir its run dir?)",
            socket.display()
        )
    })
}

/// Says why weftd's reply is not the one asked for; the exit code.
fn refused(reply: &Response) -> ExitCode {
    match reply {
        Response::Error { message, .. } => eprintln!("weftctl: {message}"),
        other => eprintln!("weftctl: unexpected reply from weftd: {other:?}"),
    }
    ExitCode::FAILURE
}

/// The endpoint records weftd keeps in `state_dir`, unreadable ones named.
fn recorded_endpoints(state_dir: &Path) -> anyhow::Result<Vec<Endpoint>> {
    let loaded = EndpointStore::new(endpoints_dir(state_dir)).load()?;
    for skipped in &loaded.unreadable {
        eprintln!("weftctl: skipped {skipped}");
    }
    Ok(loaded.endpoints)
}

fn report(run_dir: &Path, request: &Request, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    match ask(run_dir, request)? {
        Response::Report { report } => {
            out.write_all((serde_json::to_string_pretty(&report)? + "\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        other => Ok(refused(&other)),
    }
}

fn observe(
    run_dir: &Path,
    allows: bool,
    pod: Option<&str>,
    output: Output,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let socket = run_dir.join(weft_api::SOCKET_FILE);
    let mut stream = UnixStream::connect(&socket)
        .with_context(|| format!("connecting to weftd at {}", socket.display()))?;
    let mut request = serde_json::to_vec(&Request::Observe { allows })?;
    request.push(b'\n');
    stream.write_all(&request)?;
    for line in BufReader::new(stream).lines() {
        let line = line.context("reading from weftd")?;
        let flow: ObservedFlow = match serde_json::from_str(&line) {
            Ok(flow) => flow,
            Err(_) => anyhow::bail!("weftd: {line}"),
        };
        if pod.is_some_and(|pod| flow.pod.as_deref() != Some(pod)) {
            continue;
        }
        let text = match output {
            Output::Table => flow_line(&flow),
            Output::Json => line + "\n",
        };
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
