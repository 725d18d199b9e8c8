//! `weftctl`: inspect the weftd of this node: endpoints, readiness,
//! identities, an endpoint's compiled policy, and a live stream of verdicts.
//! Every command asks the running weftd over its API socket, so what it
//! prints is what weftd serves; one that cannot reach weftd says so and
//! exits non-zero. Only `endpoints --offline` reads weftd's files instead,
//! for a post-mortem. `version` also runs the installed plugin, and
//! `bugtool` collects weftd's answers and the node's state into a directory.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use weft_api::{Endpoint, Request, Response};
use weftd::bugtool;
use weftd::config::{DEFAULT_METRICS_ADDR, parse_metrics_addr};
use weftd::ctl::{endpoints_table, flow_line, node_status_text};
use weftd::endpoints::store::{EndpointStore, endpoints_dir};
use weftd::policy::observe::ObservedFlow;
use weftd::versions;

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
    /// The builds of weftctl, weftd and the installed plugin. Exits
    /// non-zero unless all three are found and speak the same API.
    Version {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Where the runtime finds the `weft` plugin.
        #[arg(long, default_value = "/opt/cni/bin")]
        cni_bin_dir: PathBuf,
    },
    /// Write what a bug report needs into DIR (new or empty), secrets left
    /// out: weftd's status, endpoints, identities and metrics, the node's
    /// links, addresses, routes, neighbours, FDB, nft table and tc filters,
    /// the Weft conflists and recent logs. Exits non-zero when weftd did
    /// not answer (the rest is still collected).
    Bugtool {
        dir: PathBuf,
        /// Where the Weft conflists (and the plugin's logFile) are found.
        #[arg(long, default_value = "/etc/cni/net.d")]
        cni_conf_dir: PathBuf,
        #[arg(long, default_value = "/opt/cni/bin")]
        cni_bin_dir: PathBuf,
        /// weftd's metrics server ("off": it has none).
        #[arg(long, default_value = DEFAULT_METRICS_ADDR)]
        metrics_addr: String,
        /// A log to include (its last lines); repeat for more.
        #[arg(long = "log-file")]
        log_files: Vec<PathBuf>,
    },
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
        Command::Version {
            output,
            cni_bin_dir,
        } => {
            let versions =
                versions::collect(&|request| ask_text(&cli.run_dir, request), &cni_bin_dir);
            let text = match output {
                Output::Table => versions.table(),
                Output::Json => serde_json::to_string_pretty(&versions.json())? + "\n",
            };
            stdout.write_all(text.as_bytes())?;
            Ok(if versions.problems().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bugtool {
            dir,
            cni_conf_dir,
            cni_bin_dir,
            metrics_addr,
            log_files,
        } => {
            let options = bugtool::Options {
                cni_conf_dir,
                cni_bin_dir,
                metrics_addr: parse_metrics_addr(&metrics_addr)?,
                log_files,
                state_dir: cli.state_dir.clone(),
            };
            let entries =
                bugtool::collect(&dir, &options, &|request| ask_text(&cli.run_dir, request))?;
            let failed = entries.iter().filter(|(_, ok, _)| !ok).count();
            eprintln!(
                "weftctl: wrote {} files to {} ({failed} failed, see MANIFEST.txt)",
                entries.len() + 1,
                dir.display()
            );
            Ok(if bugtool::weftd_answered(&entries) {
                ExitCode::SUCCESS
            } else {
                eprintln!("weftctl: weftd did not answer: see status.json");
                ExitCode::FAILURE
            })
        }
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

/// `ask` with its error as the text weftctl prints, for the commands that
/// report it and go on.
fn ask_text(run_dir: &Path, request: &Request) -> Result<Response, String> {
    ask(run_dir, request).map_err(|error| format!("{error}: {}", error.root_cause()))
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
