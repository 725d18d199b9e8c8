//! The policy datapath as weftd drives it: the embedded object loaded with
//! its maps pinned by name under a pin directory (adopted with their content
//! when a previous weftd pinned them with the same shapes), the pod interface and slot tables,
//! verdict counters and settings. Policy maps, links and events have their
//! own files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, RingBuf};
use aya::programs::SchedClassifier;
use aya::{Ebpf, EbpfLoader};
use ipnet::IpNet;
use weft_ebpf_common::{
    CONFIG_HOST_ROUTING, CONFIG_MAP, CONFIG_REPORT_ALLOWS, EVENT_RING, EndpointKey,
    FROM_POD_PROGRAM, INTERFACE_MAP, IpKey, LOCAL_POD_MAP, LocalPod, MAX_SLOTS, NODE_ENTRY_PROGRAM,
    NODE_EXIT_PROGRAM, POD_NETWORK_MAP, PodInterface, REASON_COUNT, SLOT_MAP, TO_POD_PROGRAM,
    VERDICT_COUNTER_MAP,
};

use weft_policy::maps::{endpoint_key, ip_key};

use super::bpffs::ensure_bpffs;
use super::counter_upgrade::restore_counts;
use super::error::{ignore_missing, is_missing};
use super::events::EventRing;
use super::pins::{check_pinned_maps, links_dir};
use super::{BpfError, EBPF_OBJECT, HostRoutingSettings};

const PROGRAMS: [&str; 4] = [
    FROM_POD_PROGRAM,
    TO_POD_PROGRAM,
    NODE_EXIT_PROGRAM,
    NODE_ENTRY_PROGRAM,
];

pub struct Datapath {
    pub(super) ebpf: Ebpf,
    pub(super) pin_dir: PathBuf,
}

impl Datapath {
    /// Loads EBPF_OBJECT; maps are pinned by name in `pin_dir` (created if
    /// missing, on a bpffs mounted if missing), and maps already pinned
    /// there (a previous weftd) are adopted with their content. Programs
    /// are loaded (verified).
    pub fn open(pin_dir: &Path) -> Result<Self, BpfError> {
        Self::open_object(pin_dir, EBPF_OBJECT)
    }

    /// [`Datapath::open`] with another build of ebpf/programs, whose maps
    /// have this build's shapes: the datapath benchmark compares builds.
    pub fn open_object(pin_dir: &Path, object: &[u8]) -> Result<Self, BpfError> {
        ensure_bpffs(pin_dir)?;
        let links = links_dir(pin_dir);
        std::fs::create_dir_all(&links).map_err(BpfError::io(&links))?;
        let carried_counts = check_pinned_maps(pin_dir)?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(pin_dir)
            .load(object)?;
        if let Some(counts) = carried_counts {
            let counters = ebpf
                .map_mut(VERDICT_COUNTER_MAP)
                .ok_or(BpfError::Missing(VERDICT_COUNTER_MAP))?;
            restore_counts(counters, &counts)?;
        }
        for name in PROGRAMS {
            classifier(&mut ebpf, name)?
                .load()
                .map_err(BpfError::program(name))?;
        }
        let mut datapath = Self {
            ebpf,
            pin_dir: pin_dir.to_path_buf(),
        };
        datapath.upgrade_policy_encoding()?;
        Ok(datapath)
    }

    /// WEFT_INTERFACES content (ifindex -> PodInterface), to adopt slots after a restart.
    pub fn pod_interfaces(&self) -> Result<BTreeMap<u32, PodInterface>, BpfError> {
        let interfaces = HashMap::<_, u32, PodInterface>::try_from(self.map(INTERFACE_MAP)?)
            .map_err(BpfError::map(INTERFACE_MAP))?;
        interfaces
            .iter()
            .collect::<Result<_, _>>()
            .map_err(BpfError::map(INTERFACE_MAP))
    }

    /// Writes WEFT_SLOTS[pod.slot] then WEFT_INTERFACES[ifindex], so the
    /// slot `from_pod` puts in the mark always resolves; then, given the
    /// host veth's MAC, WEFT_LOCAL_PODS for each of the pod's addresses,
    /// which host routing follows only to a record that owns the address.
    pub fn set_pod_interface(
        &mut self,
        ifindex: u32,
        pod: &PodInterface,
        host_mac: Option<[u8; 6]>,
    ) -> Result<(), BpfError> {
        if pod.slot == 0 || pod.slot >= MAX_SLOTS {
            return Err(BpfError::InvalidSlot(pod.slot));
        }
        let mut slots = Array::<_, PodInterface>::try_from(self.map_mut(SLOT_MAP)?)
            .map_err(BpfError::map(SLOT_MAP))?;
        slots
            .set(pod.slot, pod, 0)
            .map_err(BpfError::map(SLOT_MAP))?;
        let mut interfaces =
            HashMap::<_, u32, PodInterface>::try_from(self.map_mut(INTERFACE_MAP)?)
                .map_err(BpfError::map(INTERFACE_MAP))?;
        interfaces
            .insert(ifindex, pod, 0)
            .map_err(BpfError::map(INTERFACE_MAP))?;
        let Some(host_mac) = host_mac else {
            return Ok(());
        };
        let local = LocalPod {
            ifindex,
            host_mac,
            reserved: [0; 2],
        };
        let mut local_pods =
            HashMap::<_, EndpointKey, LocalPod>::try_from(self.map_mut(LOCAL_POD_MAP)?)
                .map_err(BpfError::map(LOCAL_POD_MAP))?;
        for ip in pod.addresses() {
            local_pods
                .insert(endpoint_key(ip), local, 0)
                .map_err(BpfError::map(LOCAL_POD_MAP))?;
        }
        Ok(())
    }

    /// Removes the pod's WEFT_LOCAL_PODS entries that lead to `ifindex`
    /// (an address may already be a newer pod's), WEFT_INTERFACES[ifindex],
    /// and zeroes its slot, unless the slot already belongs to another pod.
    /// Unknown ifindex is fine.
    pub fn remove_pod_interface(&mut self, ifindex: u32) -> Result<(), BpfError> {
        let pod = match self.pod_interface(ifindex)? {
            Some(pod) => pod,
            None => return Ok(()),
        };
        let mut local_pods =
            HashMap::<_, EndpointKey, LocalPod>::try_from(self.map_mut(LOCAL_POD_MAP)?)
                .map_err(BpfError::map(LOCAL_POD_MAP))?;
        for key in pod.addresses().map(endpoint_key) {
            match local_pods.get(&key, 0) {
                Ok(local) if local.ifindex == ifindex => {
                    ignore_missing(local_pods.remove(&key)).map_err(BpfError::map(LOCAL_POD_MAP))?
                }
                Ok(_) => {}
                Err(error) if is_missing(&error) => {}
                Err(error) => return Err(BpfError::map(LOCAL_POD_MAP)(error)),
            }
        }
        let mut interfaces =
            HashMap::<_, u32, PodInterface>::try_from(self.map_mut(INTERFACE_MAP)?)
                .map_err(BpfError::map(INTERFACE_MAP))?;
        ignore_missing(interfaces.remove(&ifindex)).map_err(BpfError::map(INTERFACE_MAP))?;
        let mut slots = Array::<_, PodInterface>::try_from(self.map_mut(SLOT_MAP)?)
            .map_err(BpfError::map(SLOT_MAP))?;
        match slots.get(&pod.slot, 0) {
            Ok(current) if current == pod => slots
                .set(pod.slot, PodInterface::default(), 0)
                .map_err(BpfError::map(SLOT_MAP)),
            Ok(_) => Ok(()),
            // A slot out of the array's range was never written.
            Err(aya::maps::MapError::OutOfBounds { .. }) => Ok(()),
            Err(error) => Err(BpfError::map(SLOT_MAP)(error)),
        }
    }

    fn pod_interface(&self, ifindex: u32) -> Result<Option<PodInterface>, BpfError> {
        let interfaces = HashMap::<_, u32, PodInterface>::try_from(self.map(INTERFACE_MAP)?)
            .map_err(BpfError::map(INTERFACE_MAP))?;
        match interfaces.get(&ifindex, 0) {
            Ok(pod) => Ok(Some(pod)),
            Err(error) if is_missing(&error) => Ok(None),
            Err(error) => Err(BpfError::map(INTERFACE_MAP)(error)),
        }
    }

    /// Packets per reason, summed over CPUs, indexed by REASON_*.
    pub fn verdict_counts(&self) -> Result<[u64; REASON_COUNT as usize], BpfError> {
        let counters = PerCpuArray::<_, u64>::try_from(self.map(VERDICT_COUNTER_MAP)?)
            .map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
        let mut counts = [0; REASON_COUNT as usize];
        for (reason, count) in (0..REASON_COUNT).zip(counts.iter_mut()) {
            let per_cpu = counters
                .get(&reason, 0)
                .map_err(BpfError::map(VERDICT_COUNTER_MAP))?;
            *count = per_cpu.iter().sum();
        }
        Ok(counts)
    }

    /// Whether allowed new flows are reported as events too (drops always are).
    pub fn set_report_allows(&mut self, on: bool) -> Result<(), BpfError> {
        self.set_config(CONFIG_REPORT_ALLOWS, u32::from(on))
    }

    /// Whether flows between pod IPs are delivered by the programs past the
    /// host stack (eBPF host routing), and between which networks across
    /// nodes. The networks are written first, so the switch never finds
    /// them half written.
    pub fn set_host_routing(&mut self, settings: &HostRoutingSettings) -> Result<(), BpfError> {
        self.set_pod_networks(&settings.pod_networks)?;
        self.set_config(CONFIG_HOST_ROUTING, u32::from(settings.on))
    }

    /// Makes WEFT_POD_NETWORKS hold exactly `networks` (the cluster CIDRs).
    fn set_pod_networks(&mut self, networks: &[IpNet]) -> Result<(), BpfError> {
        let mut map = LpmTrie::<_, EndpointKey, u32>::try_from(self.map_mut(POD_NETWORK_MAP)?)
            .map_err(BpfError::map(POD_NETWORK_MAP))?;
        let wanted: Vec<IpKey> = networks.iter().map(|net| ip_key(*net)).collect();
        let held: Vec<Key<EndpointKey>> = map
            .keys()
            .collect::<Result<_, _>>()
            .map_err(BpfError::map(POD_NETWORK_MAP))?;
        for key in held {
            let stale = !wanted
                .iter()
                .any(|w| w.prefixlen == key.prefix_len() && w.data() == key.data());
            if stale {
                ignore_missing(map.remove(&key)).map_err(BpfError::map(POD_NETWORK_MAP))?;
            }
        }
        for key in wanted {
            map.insert(&Key::new(key.prefixlen, key.data()), 1, 0)
                .map_err(BpfError::map(POD_NETWORK_MAP))?;
        }
        Ok(())
    }

    fn set_config(&mut self, index: u32, value: u32) -> Result<(), BpfError> {
        let mut config = Array::<_, u32>::try_from(self.map_mut(CONFIG_MAP)?)
            .map_err(BpfError::map(CONFIG_MAP))?;
        config
            .set(index, value, 0)
            .map_err(BpfError::map(CONFIG_MAP))
    }

    /// The event ring (call once); readable with tokio's AsyncFd.
    pub fn take_events(&mut self) -> Result<EventRing, BpfError> {
        let map = self
            .ebpf
            .take_map(EVENT_RING)
            .ok_or(BpfError::EventsTaken)?;
        let ring = RingBuf::<MapData>::try_from(map).map_err(BpfError::map(EVENT_RING))?;
        Ok(EventRing::new(ring))
    }

    pub(super) fn map(&self, name: &'static str) -> Result<&Map, BpfError> {
        self.ebpf.map(name).ok_or(BpfError::Missing(name))
    }

    pub(super) fn map_mut(&mut self, name: &'static str) -> Result<&mut Map, BpfError> {
        self.ebpf.map_mut(name).ok_or(BpfError::Missing(name))
    }

    pub(super) fn classifier(
        &mut self,
        name: &'static str,
    ) -> Result<&mut SchedClassifier, BpfError> {
        classifier(&mut self.ebpf, name)
    }
}

fn classifier<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, BpfError> {
    ebpf.program_mut(name)
        .ok_or(BpfError::Missing(name))?
        .try_into()
        .map_err(BpfError::program(name))
}
