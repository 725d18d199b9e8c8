//! `make bench` for the TC programs alone (root): what one packet costs in
//! `weft_to_pod` and `weft_from_pod`, from BPF_PROG_TEST_RUN's own timing
//! (the kernel runs the program on the same skb `--repeat` times and
//! reports the average), for a new flow and an established one, with the
//! policy maps holding only the cases' entries and with 10,000 more (ghost
//! pods, each an identity and a rule of pod A's). `--compare LABEL=PATH`
//! measures another build of ebpf/programs side by side, alternating
//! within every round. Prints a Markdown report.
//!
//! `cargo build --release -p weftd --example datapath_bench`, then
//! `bash bench/run.sh datapath examples/datapath_bench`.

#[path = "../tests/support/mod.rs"]
#[allow(
    dead_code,
    reason = "shared with the program tests, which use all of it"
)]
mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, bail};
use clap::Parser;
use ipnet::IpNet;
use weft_ebpf_common::{
    DIRECTION_INGRESS, ENFORCE_INGRESS, FROM_POD_PROGRAM, IDENTITY_ANY, MARK_ALLOWED,
    NODE_ENTRY_PROGRAM, NODE_EXIT_PROGRAM, PROTOCOL_ANY, TO_POD_PROGRAM,
};

use support::frames::{ACK, Flow, SYN, TCP};
use support::programs::{
    A, ANY_PORT, B, FAMILIES, FROM_A, Family, Programs, R, Rule, TC_ACT_OK, TO_A, port,
};

#[derive(Debug, Parser)]
#[command(about = "Weft's TC programs per packet, from BPF_PROG_TEST_RUN (root)")]
struct Args {
    /// Another build of ebpf/programs to measure beside this one, as
    /// LABEL=PATH (e.g. the object of an earlier commit).
    #[arg(long)]
    compare: Option<String>,
    /// Rounds; each measures every case on every build, in turn.
    #[arg(long, default_value_t = 11)]
    rounds: usize,
    /// Runs of the same skb per measurement.
    #[arg(long, default_value_t = 100_000)]
    repeat: u32,
    /// Policy entries besides the cases' own.
    #[arg(long, value_delimiter = ',', default_value = "0,10000")]
    entries: Vec<u32>,
}

/// One packet to measure and what it must get.
struct Case {
    program: &'static str,
    what: &'static str,
    family: Family,
    frame: Vec<u8>,
    /// The mark the program leaves on it.
    mark: u32,
}

/// A build of the programs, loaded once per policy size.
struct Build {
    label: String,
    loaded: Vec<Programs>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut builds = vec![(String::from("this build"), weftd::bpf::EBPF_OBJECT.to_vec())];
    if let Some(compare) = &args.compare {
        let (label, path) = compare
            .split_once('=')
            .context("--compare takes LABEL=PATH")?;
        let object = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        builds.insert(0, (label.to_owned(), object));
    }
    let cases = cases();
    let builds: Vec<Build> = builds
        .into_iter()
        .map(|(label, object)| Build {
            label,
            loaded: args.entries.iter().map(|n| loaded(&object, *n)).collect(),
        })
        .collect();
    // [build][entries][case] -> ns per packet of every round
    let mut samples = vec![vec![vec![Vec::new(); cases.len()]; args.entries.len()]; builds.len()];
    for _ in 0..args.rounds {
        for (n, case) in cases.iter().enumerate() {
            for (b, build) in builds.iter().enumerate() {
                for (e, programs) in build.loaded.iter().enumerate() {
                    let run = programs.repeat(case.program, &case.frame, 0, args.repeat);
                    if (run.action, run.mark) != (TC_ACT_OK, case.mark) {
                        bail!(
                            "{} {} ({}): action {} mark {:#x}",
                            build.label,
                            case.program,
                            case.what,
                            run.action,
                            run.mark
                        );
                    }
                    samples[b][e][n].push(run.per_run.as_nanos());
                }
            }
        }
    }
    report(&args, &builds, &cases, &samples);
    verifier_report(&builds)
}

/// The cases, each in both families: a new TCP flow to A allowed by the
/// first policy lookup (its peer's rule), one to B allowed only by the
/// last (any peer, any protocol: the fourth lookup of builds before the
/// protocol went into the LPM prefix, the second since), the next packet of
/// A's flow (conntrack:
/// the reverse lookup misses, the flow's own hits), and A's reply.
fn cases() -> Vec<Case> {
    FAMILIES
        .into_iter()
        .flat_map(|family| {
            let to_a = Flow::tcp(R.at(family, 40000), A.at(family, 80));
            let to_b = Flow::tcp(R.at(family, 40000), B.at(family, 80));
            [
                Case {
                    program: TO_POD_PROGRAM,
                    what: "new flow, 1st policy lookup allows",
                    family,
                    frame: to_a.frame(TO_A, SYN),
                    mark: 0,
                },
                Case {
                    program: TO_POD_PROGRAM,
                    what: "new flow, last policy lookup allows",
                    family,
                    frame: to_b.frame(TO_A, SYN),
                    mark: 0,
                },
                Case {
                    program: TO_POD_PROGRAM,
                    what: "established flow",
                    family,
                    frame: to_a.frame(TO_A, ACK),
                    mark: 0,
                },
                Case {
                    program: FROM_POD_PROGRAM,
                    what: "established flow, reply",
                    family,
                    frame: to_a.reply().frame(FROM_A, ACK),
                    mark: MARK_ALLOWED,
                },
            ]
        })
        .collect()
}

/// `object` loaded with A and B isolated for ingress, A allowing R on TCP
/// 80 and B anyone, `ghosts` more pods each allowed by a rule of A's, and
/// A's flows from R known.
fn loaded(object: &[u8], ghosts: u32) -> Programs {
    let mut programs = Programs::load_object(object);
    programs.enforce(A, ENFORCE_INGRESS);
    programs.enforce(B, ENFORCE_INGRESS);
    let ingress = |pod, peer, protocol, port| Rule {
        pod,
        direction: DIRECTION_INGRESS,
        peer,
        protocol,
        port,
    };
    let identity = |ghost: u32| 100_000 + ghost;
    programs.add_prefixes((0..ghosts).flat_map(|ghost| {
        let [_, _, high, low] = ghost.to_be_bytes();
        let v4 = Ipv4Addr::new(10, 252, high, low);
        let v6 = Ipv6Addr::new(0xfd00, 0x252, 0, 0, 0, 0, u16::from(high), u16::from(low));
        [IpAddr::from(v4), IpAddr::from(v6)].map(|ip| (IpNet::from(ip), identity(ghost)))
    }));
    let mut rules: Vec<Rule> = (0..ghosts)
        .map(|ghost| ingress(A, identity(ghost), TCP, port(80)))
        .collect();
    rules.push(ingress(A, R.identity, TCP, port(80)));
    rules.push(ingress(B, IDENTITY_ANY, PROTOCOL_ANY, ANY_PORT));
    programs.allow(&rules);
    for family in FAMILIES {
        let flow = Flow::tcp(R.at(family, 40000), A.at(family, 80));
        programs.run(TO_POD_PROGRAM, &flow.frame(TO_A, SYN), 0);
    }
    programs
}

fn median(samples: &[u128]) -> u128 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn report(args: &Args, builds: &[Build], cases: &[Case], samples: &[Vec<Vec<Vec<u128>>>]) {
    println!(
        "ns per packet: median of {} rounds, each the kernel's average over {} runs of the same skb \
         (BPF_PROG_TEST_RUN); policy entries besides the cases' 2, each with an identity per family.",
        args.rounds, args.repeat
    );
    println!();
    let labels: Vec<&str> = builds.iter().map(|build| build.label.as_str()).collect();
    let ratio = builds.len() == 2;
    print!(
        "| program | packet | family | policy entries | {} |",
        labels.join(" | ")
    );
    if ratio {
        print!(" {} / {} |", labels[1], labels[0]);
    }
    println!();
    println!(
        "|---|---|---|---|{}",
        "---|".repeat(labels.len() + usize::from(ratio))
    );
    for (e, entries) in args.entries.iter().enumerate() {
        for (n, case) in cases.iter().enumerate() {
            let medians: Vec<u128> = samples.iter().map(|build| median(&build[e][n])).collect();
            let family = match case.family {
                Family::V4 => "IPv4",
                Family::V6 => "IPv6",
            };
            let figures: Vec<String> = medians.iter().map(u128::to_string).collect();
            print!(
                "| {} | {} | {family} | {entries} | {} |",
                case.program,
                case.what,
                figures.join(" | ")
            );
            if ratio {
                print!(" {:.2} |", medians[1] as f64 / medians[0].max(1) as f64);
            }
            println!();
        }
    }
}

/// Per program and build: instructions after the kernel's rewrites, and how
/// many the verifier walked (its limit is 1,000,000), the cost of loading.
fn verifier_report(builds: &[Build]) -> anyhow::Result<()> {
    println!();
    print!("| program |");
    for build in builds {
        print!(" {0}: instructions | {0}: verified |", build.label);
    }
    println!();
    println!("|---|{}", "---|---|".repeat(builds.len()));
    for name in [
        FROM_POD_PROGRAM,
        TO_POD_PROGRAM,
        NODE_EXIT_PROGRAM,
        NODE_ENTRY_PROGRAM,
    ] {
        print!("| {name} |");
        for build in builds {
            let programs = build.loaded.first().context("no policy size to load")?;
            let info = programs.datapath.program_info(name)?;
            let instructions = info.size_translated().unwrap_or_default() / 8;
            let verified = info.verified_instruction_count().unwrap_or_default();
            print!(" {instructions} | {verified} |");
        }
        println!();
    }
    Ok(())
}
