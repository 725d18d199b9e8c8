//! `weft-lab`: see LAB.md. Parses the command line, runs the command, and
//! turns a failure into one line on stderr and a non-zero exit code.

use std::process::ExitCode;

use clap::Parser;
use weft_lab::cli::Cli;
use weft_lab::commands::{NOT_FOUND_EXIT, NotFound, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            let message = format!("{err:#}").replace('\n', "; ");
            eprintln!("weft-lab: {message}");
            if err.downcast_ref::<NotFound>().is_some() {
                ExitCode::from(NOT_FOUND_EXIT)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
