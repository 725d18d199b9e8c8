//! Starting a node's weftd again as the lab ran it (its command line and
//! the settings of its environment, read from /proc before it is killed)
//! without `up`, which would start the API server first. The new process
//! is recorded in the lab's state, so `up` leaves it running and `down`
//! stops it.

use std::path::PathBuf;

use weft_lab::lab::Lab;
use weft_lab::netns;
use weft_lab::process::{DetachedSpec, ProcessRecord, spawn_detached};

use crate::common::TestLab;

/// How a running weftd was started.
pub struct WeftdCommand {
    program: PathBuf,
    args: Vec<String>,
    /// Its settings: WEFT_* and RUST_LOG (the rest is this test's own).
    env: Vec<(String, String)>,
}

/// The NUL-separated strings of a /proc file of `process`.
fn proc_strings(process: &ProcessRecord, file: &str) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{}/{file}", process.pid))
        .unwrap_or_else(|e| panic!("reading {file} of {process:?}: {e}"));
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

impl WeftdCommand {
    pub fn of(process: &ProcessRecord) -> Self {
        assert!(process.is_running(), "{process:?} runs");
        let mut cmdline = proc_strings(process, "cmdline").into_iter();
        let program = PathBuf::from(cmdline.next().expect("a program"));
        let env = proc_strings(process, "environ")
            .into_iter()
            .filter_map(|entry| {
                let (name, value) = entry.split_once('=')?;
                (name.starts_with("WEFT_") || name == "RUST_LOG")
                    .then(|| (name.to_owned(), value.to_owned()))
            })
            .collect();
        Self {
            program,
            args: cmdline.collect(),
            env,
        }
    }

    /// Starts it on `node` of `lab`, in the node's netns, logging where
    /// the lab's weftd logs; records it as the node's weftd.
    pub fn start(&self, lab: &TestLab, node: &str) -> ProcessRecord {
        let lab = Lab::new(lab.name.parse().expect("a lab name"));
        let _lock = lab.lock().expect("the lab's lock");
        let mut state = lab.state().expect("the lab's state");
        let host = state.topology.node(node).expect("the node exists").clone();
        let record = spawn_detached(&DetachedSpec {
            program: self.program.clone(),
            args: self.args.clone(),
            netns: netns::path(&host.netns),
            log: lab.paths.node_log(node),
            env: self.env.clone(),
            await_ready_line: None,
        })
        .expect("weftd starts");
        state.weftds.insert(node.to_owned(), record);
        lab.save(&state).expect("the lab's state is saved");
        record
    }
}
