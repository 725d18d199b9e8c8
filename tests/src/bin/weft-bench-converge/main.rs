//! `make bench` for control-plane convergence: one weftd (vxlan mode, `dir`
//! datastore) in a node netns of this run sees 1000 peer nodes appear in
//! one datastore write; measured: the time until all their routes,
//! neighbours and FDB entries are in the kernel, weftd's CPU time and peak
//! RSS, then the time for one more node on top. Prints a Markdown report.

mod daemon;
mod kernel;
#[path = "../weft-bench-net/netns.rs"]
mod netns;
mod peers;
mod process;
mod timeline;

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use clap::Parser;
use weft_datastore::{DirStore, Node, Object};
use weft_tests::Netns;

use crate::daemon::DatastoreWeftd;
use crate::kernel::Programmed;
use crate::netns::NsPath;
use crate::peers::{LOCAL_UNDERLAY, peer_nodes};

#[derive(Debug, Parser)]
#[command(about = "Weft convergence benchmark (root): many nodes appear at once")]
struct Args {
    /// Peer nodes written in the one batch.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Give up waiting for convergence after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_seconds: u64,
}

const CONVERGE_GOAL: Duration = Duration::from_secs(2);
const RSS_GOAL_MIB: f64 = 50.0;
/// Between two looks at the kernel: fine enough against the goal, and
/// seldom enough not to take CPU from weftd.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// When each milestone was first seen, counted from the write's start.
#[derive(Debug, Default)]
struct Milestones {
    store_written: Duration,
    /// The first route beyond those programmed before the write.
    first_route: Option<Duration>,
    all_programmed: Option<Duration>,
    revision_applied: Option<Duration>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let weftd_bin = weft_tests::binary("weftd");
    let node = Netns::new("conv");
    let ns = NsPath::named(&node.name);
    // A veth pair inside the node netns stands for the underlay NIC (this
    // kernel has no dummy driver); nothing leaves the namespace.
    ns.run(
        "ip",
        &[
            "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer",
        ],
    )?;
    ns.run("ip", &["link", "set", "eth0peer", "up"])?;
    ns.run("ip", &["addr", "add", LOCAL_UNDERLAY, "dev", "eth0"])?;
    ns.run("ip", &["link", "set", "eth0", "up"])?;

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let store = DirStore::open(&dir.path().join("store"))?;
    let mut own = Node::default();
    own.metadata.name = Some("n1".into());
    store.apply(&[Object::Node(own)])?;
    let daemon = DatastoreWeftd::start(&weftd_bin, &ns, "n1", store.root(), dir.path())?;
    let pid = daemon.pid();
    let (_, rss_ready) = process::memory_kib(pid)?;
    let cpu_ready = process::cpu_time(pid)?;

    eprintln!("writing {} nodes in one batch", args.nodes);
    let objects = peer_nodes(args.nodes);
    let timeout = Duration::from_secs(args.timeout_seconds);
    let started_wall = SystemTime::now();
    let bulk = write_and_wait(&store, &objects, &ns, &daemon, (0, args.nodes), timeout)?;
    let cpu_bulk = process::cpu_time(pid)? - cpu_ready;
    let (hwm, rss_converged) = process::memory_kib(pid)?;

    eprintln!("writing one more node");
    let one_more = peer_nodes(args.nodes + 1).split_off(args.nodes);
    let single = write_and_wait(
        &store,
        &one_more,
        &ns,
        &daemon,
        (args.nodes, args.nodes + 1),
        timeout,
    )?;
    let (hwm_end, _) = process::memory_kib(pid)?;
    let log = std::fs::read_to_string(daemon.log_path()).unwrap_or_default();
    let log_lines = timeline::lines_since(&log, timeline::micros_of_day(started_wall));

    report(&Report {
        nodes: args.nodes,
        bulk: &bulk,
        single: &single,
        cpu_bulk,
        rss_ready,
        rss_converged,
        hwm,
        hwm_end,
        log_lines: &log_lines,
    });
    Ok(())
}

/// Writes `objects` in one batch, then polls the kernel and weftd until
/// the peers programmed go from `before` to `count` and weftd has applied
/// the write's revision.
fn write_and_wait(
    store: &DirStore,
    objects: &[Object],
    ns: &NsPath,
    daemon: &DatastoreWeftd,
    (before, count): (usize, usize),
    timeout: Duration,
) -> anyhow::Result<Milestones> {
    let started = Instant::now();
    let revision = store.apply(objects)?;
    let mut milestones = Milestones {
        store_written: started.elapsed(),
        ..Milestones::default()
    };
    let mut programmed = Programmed::default();
    loop {
        let now = started.elapsed();
        if milestones.revision_applied.is_none()
            && daemon.applied_revision().is_some_and(|r| r >= revision)
        {
            milestones.revision_applied = Some(now);
        }
        if milestones.all_programmed.is_none() {
            programmed = kernel::count(ns)?;
            if milestones.first_route.is_none() && programmed.routes > before {
                milestones.first_route = Some(now);
            }
            if programmed.all_at_least(count) {
                milestones.all_programmed = Some(now);
            }
        }
        if milestones.all_programmed.is_some() && milestones.revision_applied.is_some() {
            return Ok(milestones);
        }
        if now > timeout {
            let log = std::fs::read_to_string(daemon.log_path()).unwrap_or_default();
            bail!(
                "after {timeout:?}: {programmed:?} of {count} programmed, {milestones:?}; weftd's log:\n{log}"
            );
        }
        std::thread::sleep(POLL_EVERY);
    }
}

struct Report<'a> {
    nodes: usize,
    bulk: &'a Milestones,
    single: &'a Milestones,
    cpu_bulk: Duration,
    rss_ready: u64,
    rss_converged: u64,
    hwm: u64,
    hwm_end: u64,
    log_lines: &'a [(f64, String)],
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn report(r: &Report) {
    println!(
        "| event | store write | first new route | all routes, neighbours, FDB entries | weftd reports the revision applied |"
    );
    println!("|---|---|---|---|---|");
    for (label, m) in [
        (format!("{} nodes in one write", r.nodes), r.bulk),
        ("1 more node on top".to_owned(), r.single),
    ] {
        println!(
            "| {label} | {} | {} | {} | {} |",
            ms(Some(m.store_written)),
            ms(m.first_route),
            ms(m.all_programmed),
            ms(m.revision_applied)
        );
    }
    println!();
    println!("Times count from the start of the datastore write.");
    println!();
    let converged = r
        .bulk
        .all_programmed
        .map(|t| t.saturating_sub(r.bulk.store_written));
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "- {} nodes programmed {} after the write landed (goal < {} s: {})",
        r.nodes,
        ms(converged),
        CONVERGE_GOAL.as_secs(),
        verdict(converged.is_some_and(|t| t < CONVERGE_GOAL))
    );
    println!(
        "- weftd peak RSS (VmHWM) {:.1} MiB after converging, {:.1} MiB at the end (goal < {RSS_GOAL_MIB} MiB: {}); VmRSS {:.1} MiB when ready, {:.1} MiB converged",
        mib(r.hwm),
        mib(r.hwm_end),
        verdict(mib(r.hwm_end) < RSS_GOAL_MIB),
        mib(r.rss_ready),
        mib(r.rss_converged)
    );
    println!(
        "- weftd CPU time (user + system) from the write to convergence: {} ms",
        r.cpu_bulk.as_millis()
    );
    println!();
    println!("weftd's log from the first write on (ms after it started):");
    println!();
    println!("```");
    for (offset, line) in r.log_lines {
        println!("+{offset:8.1} ms  {line}");
    }
    println!("```");
}
