//! The eBPF pipeline end to end: the object weftd embeds loads into this
//! kernel, attaches with tcx to a veth in a test namespace, and counts the
//! packets that really cross it.

use nix::sched::{CloneFlags, setns};
use weft_tests::Netns;
use weftd::bpf::PacketCounter;

#[test]
fn counter_program_sees_packets_on_a_veth() {
    let ns = Netns::new("bpf");
    ns.exec_ok(&[
        "ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb",
    ]);
    ns.exec_ok(&["ip", "addr", "add", "198.18.0.1/30", "dev", "wa"]);
    ns.exec_ok(&["ip", "addr", "add", "198.18.0.2/30", "dev", "wb"]);
    ns.exec_ok(&["ip", "link", "set", "wa", "up"]);
    ns.exec_ok(&["ip", "link", "set", "wb", "up"]);
    let ifindex: u32 = ns
        .exec_ok(&["cat", "/sys/class/net/wa/ifindex"])
        .trim()
        .parse()
        .expect("ifindex is a number");

    let netns = ns.file();
    // setns moves only the calling thread, so the namespace work happens on a
    // thread of its own that does nothing else.
    let counter = std::thread::spawn(move || {
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("enter the test namespace");
        let mut counter = PacketCounter::load().expect("the embedded object loads");
        counter.attach("wa").expect("tcx attach to wa");
        counter
    })
    .join()
    .expect("attach thread");

    // The veth may send its own packets (IPv6 link-local chatter) at any
    // time, so the ping's packets are measured as a difference.
    let before = counter.counters(ifindex).expect("read map");
    // Traffic between two addresses of one namespace would stay on lo, so
    // route a foreign address out of wa via a fixed neighbour (no ARP).
    ns.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "198.18.0.2",
        "dev",
        "wa",
        "lladdr",
        "02:00:00:00:00:02",
        "nud",
        "permanent",
    ]);
    ns.exec_ok(&[
        "ip",
        "route",
        "replace",
        "198.18.0.100/32",
        "via",
        "198.18.0.2",
        "dev",
        "wa",
    ]);
    let _ = ns.exec(&[
        "busybox",
        "ping",
        "-c",
        "3",
        "-i",
        "0.1",
        "-W",
        "1",
        "-I",
        "wa",
        "198.18.0.100",
    ]);

    let after = counter.counters(ifindex).expect("read map");
    assert!(
        after.packets >= before.packets + 3,
        "the ping's egress packets on wa were counted: {before:?} -> {after:?}"
    );
    assert!(
        after.bytes >= before.bytes + 3 * 84,
        "the ping's bytes were counted: {before:?} -> {after:?}"
    );
}
