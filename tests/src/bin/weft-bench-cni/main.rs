//! `make bench` for the CNI plugin, in two parts (both unless `--part`
//! says otherwise), printed as one Markdown report:
//! - plugins: Weft (with a real weftd) against the reference bridge +
//!   host-local plugins, side by side;
//! - datastore: Weft's ADD and DEL with 10,000 pods and 1,000
//!   NetworkPolicies in weftd's datastore against an empty datastore, side
//!   by side, and weftd's policy compile time per snapshot change.

mod calls;
mod datastore;
mod datastore_weftd;
mod plugins;
#[path = "../../../../policy/tests/support/synthetic.rs"]
mod synthetic;

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(about = "Weft CNI benchmark (root)")]
struct Args {
    #[arg(long, value_enum, default_value_t = Part::All)]
    part: Part,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    All,
    Plugins,
    Datastore,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.part != Part::Datastore {
        plugins::run_and_report();
    }
    if args.part != Part::Plugins {
        if args.part == Part::All {
            println!();
        }
        datastore::run_and_report()?;
    }
    Ok(())
}
