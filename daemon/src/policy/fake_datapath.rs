//! An in-memory [`PolicyDatapath`] for unit tests: the maps, interface
//! records, filters and node links as plain collections the test can look
//! at (through a shared handle), interfaces known by name, and failures on
//! demand.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use weft_ebpf_common::PodInterface;
use weft_policy::{MapChanges, MapContents};

use super::datapath::PolicyDatapath;
use crate::bpf::{BpfError, EventRing};

/// What the fake node holds.
#[derive(Debug, Default)]
pub struct FakeNode {
    pub maps: MapContents,
    pub interfaces: BTreeMap<u32, PodInterface>,
    /// Host routing's pod addresses: host veth ifindex and MAC.
    pub local_pods: BTreeMap<IpAddr, (u32, [u8; 6])>,
    /// Host veths with the pod programs' filters.
    pub filtered: BTreeSet<String>,
    /// Node devices with pinned links.
    pub linked: BTreeSet<String>,
    /// Interfaces that exist, by name.
    pub ifindexes: BTreeMap<String, u32>,
    /// The next policy write fails after writing the policy upserts only,
    /// as a write cut short does.
    pub fail_next_write: bool,
    pub fail_attach: bool,
    /// Every successful or failed policy write.
    pub writes: Vec<MapChanges>,
}

/// A handle on a shared [`FakeNode`]: one goes to the enforcer, the test
/// keeps a clone.
#[derive(Debug, Clone, Default)]
pub struct FakeDatapath(Arc<Mutex<FakeNode>>);

impl FakeDatapath {
    pub fn node(&self) -> MutexGuard<'_, FakeNode> {
        self.0.lock().unwrap()
    }
}

fn injected(what: &str) -> BpfError {
    BpfError::Io {
        path: what.into(),
        source: std::io::Error::other("injected failure"),
    }
}

impl PolicyDatapath for FakeDatapath {
    fn policy_maps(&self) -> Result<MapContents, BpfError> {
        Ok(self.node().maps.clone())
    }

    fn apply_policy(&mut self, changes: &MapChanges) -> Result<(), BpfError> {
        let mut node = self.node();
        node.writes.push(changes.clone());
        if std::mem::take(&mut node.fail_next_write) {
            node.maps
                .policy
                .extend(changes.policy.upsert.iter().copied());
            return Err(injected("policy map"));
        }
        changes.apply(&mut node.maps);
        Ok(())
    }

    fn pod_interfaces(&self) -> Result<BTreeMap<u32, PodInterface>, BpfError> {
        Ok(self.node().interfaces.clone())
    }

    fn set_pod_interface(
        &mut self,
        ifindex: u32,
        pod: &PodInterface,
        host_mac: Option<[u8; 6]>,
    ) -> Result<(), BpfError> {
        let mut node = self.node();
        node.interfaces.insert(ifindex, *pod);
        if let Some(mac) = host_mac {
            for ip in pod.addresses() {
                node.local_pods.insert(ip, (ifindex, mac));
            }
        }
        Ok(())
    }

    fn remove_pod_interface(&mut self, ifindex: u32) -> Result<(), BpfError> {
        let mut node = self.node();
        node.local_pods.retain(|_, (to, _)| *to != ifindex);
        node.interfaces.remove(&ifindex);
        Ok(())
    }

    fn attach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        let mut node = self.node();
        if node.fail_attach {
            return Err(injected(ifname));
        }
        node.filtered.insert(ifname.to_owned());
        Ok(())
    }

    fn detach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.node().filtered.remove(ifname);
        Ok(())
    }

    fn attach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.node().linked.insert(ifname.to_owned());
        Ok(())
    }

    fn detach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.node().linked.remove(ifname);
        Ok(())
    }

    fn pinned_link_names(&self) -> Result<Vec<String>, BpfError> {
        Ok(self.node().linked.iter().cloned().collect())
    }

    fn verdict_counts(&self) -> Result<Vec<u64>, BpfError> {
        Ok(vec![0; weft_ebpf_common::REASON_COUNT as usize])
    }

    fn set_report_allows(&mut self, _on: bool) -> Result<(), BpfError> {
        Ok(())
    }

    fn take_events(&mut self) -> Result<EventRing, BpfError> {
        Err(BpfError::EventsTaken)
    }

    fn interface_index(&self, ifname: &str) -> Result<u32, nix::Error> {
        let node = self.node();
        node.ifindexes
            .get(ifname)
            .copied()
            .ok_or(nix::Error::ENODEV)
    }
}
