//! `weftctl`: inspect the weftd of this node: endpoints, readiness,
//! identities, an endpoint's compiled policy, and a live stream of verdicts.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use weft_api::{Request, Response};
use weftd::ctl::{endpoints_table, flow_line, status_text};
use weftd::endpoints::store::{EndpointStore, endpoints_dir};
use weftd::policy::observe::ObservedFlow;

const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "weftctl", version, about = "Inspect this node's weftd")]
struct Cli {
    /// weftd's run dir (holds the API socket).
    #[arg(long, default_value = "/run/weft", global = true)]
    run_dir: PathBuf,
    /// weftd's state dir (holds the endpoint records).
    #[arg(long, default_value = "/var/lib/weft", global = true)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the endpoints weftd has recorded.
    Endpoints {
        #[arg(short, long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Ask weftd whether it is ready; exits non-zero when it is not.
    Status,
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
        Command::Endpoints { output } => {
            let dir = endpoints_dir(&cli.state_dir);
            let loaded = EndpointStore::new(dir).load()?;
            for skipped in &loaded.unreadable {
                eprintln!("weftctl: skipped {skipped}");
            }
            let text = match output {
                Output::Table => endpoints_table(&loaded.endpoints),
                Output::Json => serde_json::to_string_pretty(&loaded.endpoints)? + "\n",
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
        Command::Status => {
            let socket = cli.run_dir.join(weft_api::SOCKET_FILE);
            let response = weft_api::call(&socket, &Request::Status, STATUS_TIMEOUT)
                .context("asking weftd for its status")?;
            let (text, ready) = status_text(&response);
            stdout.write_all(text.as_bytes())?;
            Ok(if ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn report(
    run_dir: &std::path::Path,
    request: &Request,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let socket = run_dir.join(weft_api::SOCKET_FILE);
    match weft_api::call(&socket, request, STATUS_TIMEOUT).context("asking weftd")? {
        Response::Report { report } => {
            out.write_all((serde_json::to_string_pretty(&report)? + "\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Response::Error { message, .. } => {
            eprintln!("weftctl: {message}");
            Ok(ExitCode::FAILURE)
        }
        other => anyhow::bail!("unexpected reply from weftd: {other:?}"),
    }
}

fn observe(
    run_dir: &std::path::Path,
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
