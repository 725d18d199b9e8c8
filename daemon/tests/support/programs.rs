//! The policy programs loaded for test runs (root): weftd's `Datapath` with
//! its maps pinned in a bpffs directory of this run, filled through the
//! same writers weftd uses (pod interface records; policy maps as
//! weft-policy `MapContents` applied as a diff), and a small cluster:
//! local pods A and B, a pod R on another node, and the world.
//!
//! Test runs happen on the loopback device of the caller's network
//! namespace (see `TEST_RUN_IFINDEX`): A's interface record is at that
//! ifindex, so `weft_from_pod` and `weft_to_pod` runs act as on A's host
//! veth. No device, namespace or traffic is involved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use aya::maps::{Array, HashMap, Map, MapData, MapError};
use ipnet::IpNet;
use nix::time::{ClockId, clock_gettime};
use weft_ebpf_common::{
    CONFIG_MAP, CONFIG_POLICY_GENERATION, CONNTRACK_MAP, EndpointValue, FlowKey, FlowValue,
    IdentityValue, MARK_SLOT_SHIFT, POD_HAS_IPV4, POD_HAS_IPV6, POLICY_ALLOW, PodInterface,
    PolicyValue, REASON_COUNT, VerdictEvent,
};
use weft_policy::maps::{endpoint_key, ip_key, policy_key};
use weft_policy::{MapContents, PortPrefix, diff};
use weft_tests::unique_name;
use weftd::bpf::{
    Datapath, EBPF_OBJECT, EventRing, HostRoutingSettings, TEST_RUN_IFINDEX, TestPacket,
    TestRunOutcome, remove_pins,
};

use super::frames::Flow;

/// TC actions (linux/pkt_cls.h).
pub const TC_ACT_OK: i32 = 0;
pub const TC_ACT_SHOT: i32 = 2;
pub const TC_ACT_REDIRECT: i32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

pub const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

/// A pod of the test cluster and what the maps know of it.
#[derive(Debug, Clone, Copy)]
pub struct Pod {
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    pub mac: [u8; 6],
    pub identity: u32,
    /// Local pods: the profile of their endpoint entry and their slot.
    pub profile: u32,
    pub slot: u32,
}

impl Pod {
    pub fn ip(&self, family: Family) -> IpAddr {
        match family {
            Family::V4 => self.ipv4.into(),
            Family::V6 => self.ipv6.into(),
        }
    }

    pub fn at(&self, family: Family, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(family), port)
    }

    /// `skb->mark` while this pod's egress verdict is pending.
    pub fn pending_mark(&self) -> u32 {
        self.slot << MARK_SLOT_SHIFT
    }

    fn interface(&self) -> PodInterface {
        PodInterface {
            mac: self.mac,
            flags: POD_HAS_IPV4 | POD_HAS_IPV6,
            slot: self.slot,
            ipv4: self.ipv4.octets(),
            ipv6: self.ipv6.octets(),
        }
    }
}

/// Local pod A, whose host veth the test runs act on.
pub const A: Pod = Pod {
    ipv4: Ipv4Addr::new(10, 250, 0, 1),
    ipv6: Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, 1),
    mac: [0x02, 0, 0, 0, 0x0a, 1],
    identity: 1001,
    profile: 11,
    slot: 1,
};

/// Local pod B, on another veth of the same node.
pub const B: Pod = Pod {
    ipv4: Ipv4Addr::new(10, 250, 0, 2),
    ipv6: Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, 2),
    mac: [0x02, 0, 0, 0, 0x0a, 2],
    identity: 1002,
    profile: 12,
    slot: 2,
};

/// B's host veth: any ifindex other than the test runs' one.
const B_IFINDEX: u32 = TEST_RUN_IFINDEX + 1;

/// Pod R on another node: only its identity is known here.
pub const R: Pod = Pod {
    ipv4: Ipv4Addr::new(10, 250, 1, 3),
    ipv6: Ipv6Addr::new(0xfd00, 0x250, 0, 1, 0, 0, 0, 3),
    mac: [0x02, 0, 0, 0, 0x0b, 3],
    identity: 1003,
    profile: 0,
    slot: 0,
};

/// An address outside the cluster (TEST-NET-3 and the documentation prefix).
pub const WORLD: Pod = Pod {
    ipv4: Ipv4Addr::new(203, 0, 113, 7),
    ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7),
    mac: [0x02, 0, 0, 0, 0x0c, 7],
    identity: 0,
    profile: 0,
    slot: 0,
};

/// The MAC of A's host veth end, the other end of A's frames.
pub const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x0d, 1];

/// Frames A sends and receives: (source, destination) MACs.
pub const FROM_A: ([u8; 6], [u8; 6]) = (A.mac, HOST_MAC);
pub const TO_A: ([u8; 6], [u8; 6]) = (HOST_MAC, A.mac);

/// One allow entry: `pod`'s profile lets `peer` (an identity or
/// `IDENTITY_ANY`) in `direction` with `protocol` on `port`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub pod: Pod,
    pub direction: u8,
    pub peer: u32,
    pub protocol: u8,
    pub port: PortPrefix,
}

/// A whole port number as a port prefix.
pub fn port(number: u16) -> PortPrefix {
    PortPrefix {
        value: number,
        len: 16,
    }
}

/// Every port (for `PROTOCOL_ANY` or protocols without ports).
pub const ANY_PORT: PortPrefix = PortPrefix { value: 0, len: 0 };

/// A bpffs directory for this run's pins, removed with everything in it.
struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = remove_pins(&self.0);
    }
}

// Field order is drop order: the maps go before their pins.
pub struct Programs {
    /// For what the fixture does not wrap.
    pub datapath: Datapath,
    events: EventRing,
    wanted: MapContents,
    counts: [u64; REASON_COUNT as usize],
    pins: Pins,
}

impl Programs {
    /// The embedded programs with A and B wired and nothing enforced.
    pub fn load() -> Self {
        Self::load_object(EBPF_OBJECT)
    }

    /// Another build of the programs (the benchmark compares builds).
    pub fn load_object(object: &[u8]) -> Self {
        let pins = Pins(PathBuf::from("/sys/fs/bpf").join(unique_name("programs")));
        let mut datapath = Datapath::open_object(&pins.0, object).expect("the programs load");
        let events = datapath.take_events().expect("the event ring");
        datapath
            .set_pod_interface(TEST_RUN_IFINDEX, &A.interface(), None)
            .expect("write A's interface");
        datapath
            .set_pod_interface(B_IFINDEX, &B.interface(), None)
            .expect("write B's interface");
        let mut programs = Self {
            datapath,
            events,
            wanted: MapContents::default(),
            counts: [0; REASON_COUNT as usize],
            pins,
        };
        for pod in [A, B, R] {
            for family in FAMILIES {
                let identity = IdentityValue {
                    identity: pod.identity,
                };
                let ip = pod.ip(family);
                programs
                    .wanted
                    .identities
                    .insert(ip_key(ip.into()), identity);
            }
        }
        for pod in [A, B] {
            programs.enforce(pod, 0);
        }
        programs
    }

    /// Sets the directions (`ENFORCE_*`) policies isolate local `pod` in.
    pub fn enforce(&mut self, pod: Pod, flags: u32) {
        for family in FAMILIES {
            let endpoint = EndpointValue {
                profile: pod.profile,
                flags,
            };
            let key = endpoint_key(pod.ip(family));
            self.wanted.endpoints.insert(key, endpoint);
        }
        self.write();
    }

    /// Adds allow entries.
    pub fn allow(&mut self, rules: &[Rule]) {
        for rule in rules {
            let key = policy_key(
                rule.pod.profile,
                rule.peer,
                rule.direction,
                rule.protocol,
                rule.port,
            );
            let allow = PolicyValue {
                flags: POLICY_ALLOW,
            };
            self.wanted.policy.insert(key, allow);
        }
        self.write();
    }

    /// Removes allow entries.
    pub fn revoke(&mut self, rules: &[Rule]) {
        for rule in rules {
            self.wanted.policy.remove(&policy_key(
                rule.pod.profile,
                rule.peer,
                rule.direction,
                rule.protocol,
                rule.port,
            ));
        }
        self.write();
    }

    /// Maps address prefixes (ipBlocks, other nodes' pods) to identities.
    pub fn add_prefixes(&mut self, prefixes: impl IntoIterator<Item = (IpNet, u32)>) {
        for (prefix, identity) in prefixes {
            let value = IdentityValue { identity };
            self.wanted.identities.insert(ip_key(prefix), value);
        }
        self.write();
    }

    /// Writes the wanted policy maps as weftd does: the diff against what
    /// the maps hold, in weftd's order, which bumps the policy generation.
    fn write(&mut self) {
        let current = self.datapath.policy_maps().expect("read the policy maps");
        self.datapath
            .apply_policy(&diff(&current, &self.wanted))
            .expect("write the policy maps");
    }

    /// Turns eBPF host routing on or off, with the test cluster's pod
    /// networks (A, B and R are in them, the world is not).
    pub fn host_routing(&mut self, on: bool) {
        let settings = HostRoutingSettings {
            on,
            pod_networks: vec![
                "10.250.0.0/16".parse().expect("a CIDR"),
                "fd00:250::/32".parse().expect("a CIDR"),
            ],
        };
        self.datapath
            .set_host_routing(&settings)
            .expect("set host routing");
    }

    /// Makes the test runs act as on `pod`'s host veth (A's by default).
    pub fn send_from(&mut self, pod: Pod) {
        self.wire(TEST_RUN_IFINDEX, pod);
    }

    /// Writes `pod`'s interface record at `ifindex`, as for a pod an older
    /// plugin wired: host routing finds it by the FIB.
    pub fn wire(&mut self, ifindex: u32, pod: Pod) {
        self.datapath
            .set_pod_interface(ifindex, &pod.interface(), None)
            .expect("write an interface record");
    }

    /// Writes `pod`'s interface record at `ifindex` and its addresses for
    /// host routing, behind a host veth with `host_mac`.
    pub fn wire_local(&mut self, ifindex: u32, pod: Pod, host_mac: [u8; 6]) {
        self.datapath
            .set_pod_interface(ifindex, &pod.interface(), Some(host_mac))
            .expect("write an interface record");
    }

    /// Removes the interface record at `ifindex`, as for a deleted pod.
    pub fn unwire(&mut self, ifindex: u32) {
        self.datapath
            .remove_pod_interface(ifindex)
            .expect("remove an interface record");
    }

    /// Runs `program` once on `frame` carrying `mark`, arrived on A's veth.
    pub fn run(&self, program: &'static str, frame: &[u8], mark: u32) -> TestRunOutcome {
        self.repeat(program, frame, mark, 1)
    }

    /// Runs `program` `times` times on the same skb (see `Datapath::test_run`).
    pub fn repeat(
        &self,
        program: &'static str,
        frame: &[u8],
        mark: u32,
        times: u32,
    ) -> TestRunOutcome {
        let packet = TestPacket {
            frame,
            mark,
            ingress_ifindex: TEST_RUN_IFINDEX,
        };
        self.datapath
            .test_run(program, &packet, times)
            .expect("the test run")
    }

    /// The reasons counted since the last call, each as often as counted,
    /// in the order of their numbers.
    pub fn counted(&mut self) -> Vec<u32> {
        let now = self.datapath.verdict_counts().expect("read the counters");
        let mut counted = Vec::new();
        for (reason, (now, before)) in (0..).zip(now.iter().zip(self.counts)) {
            for _ in before..*now {
                counted.push(reason);
            }
        }
        self.counts = now;
        counted
    }

    /// The events reported since the last call.
    pub fn events(&mut self) -> Vec<VerdictEvent> {
        self.events.by_ref().collect()
    }

    /// The conntrack table, opened through its pin.
    pub fn conntrack(&self) -> HashMap<MapData, FlowKey, FlowValue> {
        let map = MapData::from_pin(self.pins.0.join(CONNTRACK_MAP)).expect("open conntrack");
        HashMap::try_from(Map::LruHashMap(map)).expect("conntrack is an LRU hash")
    }

    /// The conntrack entry of `flow`'s direction, if there is one.
    pub fn remembered(&self, flow: &Flow) -> Option<FlowValue> {
        self.remembered_key(&flow.key())
    }

    /// The conntrack entry of `key`, if there is one.
    pub fn remembered_key(&self, key: &FlowKey) -> Option<FlowValue> {
        match self.conntrack().get(key, 0) {
            Ok(value) => Some(value),
            Err(MapError::KeyNotFound) => None,
            Err(error) => panic!("read conntrack: {error}"),
        }
    }

    /// Writes `flow`'s conntrack entry as it stands.
    pub fn set_remembered(&self, flow: &Flow, value: FlowValue) {
        self.conntrack()
            .insert(flow.key(), value, 0)
            .expect("write conntrack");
    }

    /// Where the maps are pinned (another `Datapath` may adopt them).
    pub fn pin_dir(&self) -> &std::path::Path {
        &self.pins.0
    }

    /// Conntrack's clock (`bpf_ktime_get_coarse_ns`, CLOCK_MONOTONIC_COARSE) now.
    pub fn kernel_now() -> u64 {
        let now = clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE).expect("read the coarse clock");
        let seconds = u64::try_from(now.tv_sec()).expect("a clock after boot");
        let nanoseconds = u64::try_from(now.tv_nsec()).expect("nanoseconds below 10^9");
        seconds * 1_000_000_000 + nanoseconds
    }

    /// The generation of the policy maps now.
    pub fn generation(&self) -> u32 {
        let map = MapData::from_pin(self.pins.0.join(CONFIG_MAP)).expect("open the settings");
        let config = Array::<_, u32>::try_from(Map::Array(map)).expect("an array");
        config
            .get(&CONFIG_POLICY_GENERATION, 0)
            .expect("read the generation")
    }
}
