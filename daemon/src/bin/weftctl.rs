//! `weftctl`: inspect the weftd of this node (its endpoints and readiness).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use weft_api::Request;
use weftd::ctl::{endpoints_table, status_text};
use weftd::store::{EndpointStore, endpoints_dir};

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
