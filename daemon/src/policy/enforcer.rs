//! The shell around the policy decisions: keeps the pinned eBPF maps equal
//! to what the cluster's policies say for the local endpoints, gives each
//! new pod interface its programs and maps before its ADD is answered, and
//! adopts what a previous weftd left (pinned maps keep their content, the
//! pod filters and pinned node links stay attached), so a restart neither
//! opens a hole nor breaks a flow.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use weft_api::{Endpoint, EndpointKey, ErrorKind};
use weft_datastore::ClusterSnapshot;
use weft_policy::{CompiledPolicy, MapContents, diff};

use super::desired::desired_policy;
use super::host_addresses::host_addresses;
use super::pod_interface::{pod_interface, pod_interface_ips};
use super::slots::SlotTable;
use crate::bpf::{BpfError, Datapath, EventRing};
use crate::endpoints::programmer::{EndpointProgrammer, ProgramError};

#[derive(Debug, thiserror::Error)]
pub enum EnforcerError {
    #[error(transparent)]
    Bpf(#[from] BpfError),
    #[error("policy is not in effect yet: weftd waits for the cluster's first datastore snapshot")]
    NoSnapshotYet,
    #[error("reading the node's addresses: {0}")]
    HostAddresses(std::io::Error),
    #[error("interface {ifname}: {source}")]
    Interface { ifname: String, source: nix::Error },
    #[error(transparent)]
    Slots(#[from] super::slots::SlotsExhausted),
    #[error(transparent)]
    Endpoint(#[from] super::pod_interface::InvalidEndpoint),
}

pub struct PolicyEnforcer {
    node_name: String,
    state: Mutex<EnforcerState>,
}

struct EnforcerState {
    datapath: Datapath,
    /// What the maps hold (read back from the pins at start).
    applied: MapContents,
    /// `None` until the first datastore snapshot: compiling an empty
    /// cluster would erase the policy a previous weftd left in force.
    snapshot: Option<Arc<ClusterSnapshot>>,
    /// The node's addresses as of start or the last sync (ADD and DEL do
    /// not wait on an address dump, which queues behind the RTNL lock).
    host_ips: Vec<IpAddr>,
    endpoints: BTreeMap<EndpointKey, Endpoint>,
    slots: SlotTable,
    compiled: Arc<CompiledPolicy>,
    /// Pod names by address (cluster pods and local endpoints), for events.
    pod_names: Arc<BTreeMap<IpAddr, String>>,
    /// Node devices whose links this weftd attached (once per run).
    node_devices: BTreeSet<String>,
}

impl PolicyEnforcer {
    /// Opens (or adopts) the datapath pinned in `pin_dir` and re-attaches
    /// the programs of `endpoints` (recorded by a previous run). Without a
    /// datastore there is no snapshot to wait for: `standalone`.
    pub fn start(
        node_name: &str,
        pin_dir: &Path,
        endpoints: Vec<Endpoint>,
        standalone: bool,
    ) -> Result<Self, EnforcerError> {
        let datapath = Datapath::open(pin_dir)?;
        let applied = datapath.policy_maps()?;
        let interfaces = datapath.pod_interfaces()?;
        let enforcer = PolicyEnforcer {
            node_name: node_name.to_owned(),
            state: Mutex::new(EnforcerState {
                datapath,
                applied,
                snapshot: standalone.then(|| Arc::new(ClusterSnapshot::default())),
                host_ips: host_addresses().map_err(EnforcerError::HostAddresses)?,
                endpoints: endpoints
                    .into_iter()
                    .map(|endpoint| (endpoint.key.clone(), endpoint))
                    .collect(),
                slots: SlotTable::from_interfaces(&interfaces),
                compiled: Arc::default(),
                pod_names: Arc::default(),
                node_devices: BTreeSet::new(),
            }),
        };
        enforcer.adopt(&interfaces)?;
        Ok(enforcer)
    }

    /// Takes the verdict event ring (once).
    pub fn take_events(&self) -> Result<EventRing, EnforcerError> {
        Ok(self.state().datapath.take_events()?)
    }

    /// Puts `snapshot`'s policy in effect (with the node's addresses as
    /// they are now); also drops the links of node devices no longer used.
    pub fn sync(&self, snapshot: Arc<ClusterSnapshot>) -> Result<(), EnforcerError> {
        let mut state = self.state();
        state.snapshot = Some(snapshot);
        state.host_ips = host_addresses().map_err(EnforcerError::HostAddresses)?;
        self.converge(&mut state)?;
        for name in state.datapath.pinned_link_names()? {
            if !state.node_devices.contains(&name) {
                state.datapath.detach_node_device(&name)?;
            }
        }
        Ok(())
    }

    /// Attaches the node programs to `ifname` (weft.vxlan, the underlay)
    /// unless this run already did.
    pub fn attach_node_device(&self, ifname: &str) -> Result<(), EnforcerError> {
        let mut state = self.state();
        if !state.node_devices.contains(ifname) {
            state.datapath.attach_node_device(ifname)?;
            state.node_devices.insert(ifname.to_owned());
        }
        Ok(())
    }

    /// The last compiled policy (for weftctl).
    pub fn compiled(&self) -> Arc<CompiledPolicy> {
        self.state().compiled.clone()
    }

    /// Pod names by address, as of the last compile.
    pub fn pod_names(&self) -> Arc<BTreeMap<IpAddr, String>> {
        self.state().pod_names.clone()
    }

    pub fn verdict_counts(&self) -> Result<Vec<u64>, EnforcerError> {
        Ok(self.state().datapath.verdict_counts()?.to_vec())
    }

    pub fn set_report_allows(&self, on: bool) -> Result<(), EnforcerError> {
        Ok(self.state().datapath.set_report_allows(on)?)
    }

    /// Local endpoints by address, for naming the pods in verdict events.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.state().endpoints.values().cloned().collect()
    }

    /// After a restart: forget interfaces no recorded endpoint has, and
    /// re-attach the recorded ones so they run this weftd's programs (the
    /// old links stay attached until the new ones are, see `attach_pod`).
    fn adopt(
        &self,
        interfaces: &BTreeMap<u32, weft_ebpf_common::PodInterface>,
    ) -> Result<(), EnforcerError> {
        let mut state = self.state();
        let recorded: BTreeSet<IpAddr> = state
            .endpoints
            .values()
            .flat_map(|e| e.ips.iter().map(|net| net.addr()))
            .collect();
        for (ifindex, pod) in interfaces {
            if !pod_interface_ips(pod)
                .iter()
                .any(|ip| recorded.contains(ip))
            {
                state.datapath.remove_pod_interface(*ifindex)?;
                state.slots.release(*ifindex);
            }
        }
        let endpoints: Vec<Endpoint> = state.endpoints.values().cloned().collect();
        for endpoint in &endpoints {
            match nix::net::if_::if_nametoindex(endpoint.host_ifname.as_str()) {
                Ok(ifindex) => self.wire_interface(&mut state, endpoint, ifindex)?,
                Err(e) => tracing::info!(
                    ifname = %endpoint.host_ifname,
                    error = %e,
                    "a recorded endpoint's interface is gone; not re-attaching"
                ),
            }
        }
        Ok(())
    }

    fn program_endpoint(&self, endpoint: &Endpoint) -> Result<(), EnforcerError> {
        let mut state = self.state();
        if state.snapshot.is_none() {
            return Err(EnforcerError::NoSnapshotYet);
        }
        let ifindex =
            nix::net::if_::if_nametoindex(endpoint.host_ifname.as_str()).map_err(|source| {
                EnforcerError::Interface {
                    ifname: endpoint.host_ifname.clone(),
                    source,
                }
            })?;
        let previous = state
            .endpoints
            .insert(endpoint.key.clone(), endpoint.clone());
        let outcome = self
            .converge(&mut state)
            .and_then(|()| self.wire_interface(&mut state, endpoint, ifindex));
        if outcome.is_err() {
            match previous {
                Some(previous) => state.endpoints.insert(endpoint.key.clone(), previous),
                None => state.endpoints.remove(&endpoint.key),
            };
            if let Err(e) = self.forget_interface(&mut state, endpoint) {
                tracing::warn!(error = %e, "undoing a failed endpoint programming");
            }
            if let Err(e) = self.converge(&mut state) {
                tracing::warn!(error = %e, "undoing a failed endpoint programming");
            }
        }
        outcome
    }

    fn unprogram_endpoint(&self, endpoint: &Endpoint) -> Result<(), EnforcerError> {
        let mut state = self.state();
        self.forget_interface(&mut state, endpoint)?;
        state.endpoints.remove(&endpoint.key);
        if state.snapshot.is_some() {
            self.converge(&mut state)?;
        }
        Ok(())
    }

    /// Interface record first, then filters: the programs find the record
    /// of every packet they see.
    fn wire_interface(
        &self,
        state: &mut EnforcerState,
        endpoint: &Endpoint,
        ifindex: u32,
    ) -> Result<(), EnforcerError> {
        let slot = state.slots.slot_for(ifindex)?;
        let pod = pod_interface(endpoint, slot)?;
        state.datapath.set_pod_interface(ifindex, &pod)?;
        state.datapath.attach_pod(&endpoint.host_ifname)?;
        Ok(())
    }

    /// Filters first, then the interface record (found by address: the
    /// interface itself may be gone).
    fn forget_interface(
        &self,
        state: &mut EnforcerState,
        endpoint: &Endpoint,
    ) -> Result<(), EnforcerError> {
        state.datapath.detach_pod(&endpoint.host_ifname)?;
        let ips: BTreeSet<IpAddr> = endpoint.ips.iter().map(|net| net.addr()).collect();
        for (ifindex, pod) in state.datapath.pod_interfaces()? {
            if pod_interface_ips(&pod).iter().any(|ip| ips.contains(ip)) {
                state.datapath.remove_pod_interface(ifindex)?;
                state.slots.release(ifindex);
            }
        }
        Ok(())
    }

    /// Compiles and writes only what changed. After a failed write the maps'
    /// content is read back, so the next pass diffs against the truth.
    fn converge(&self, state: &mut EnforcerState) -> Result<(), EnforcerError> {
        let Some(snapshot) = state.snapshot.clone() else {
            return Ok(());
        };
        let endpoints: Vec<Endpoint> = state.endpoints.values().cloned().collect();
        let desired = desired_policy(&snapshot, &self.node_name, &state.host_ips, &endpoints);
        let changes = diff(&state.applied, &desired.maps);
        if !changes.is_empty() {
            if let Err(e) = state.datapath.apply_policy(&changes) {
                state.applied = state.datapath.policy_maps()?;
                return Err(e.into());
            }
            tracing::debug!(
                identities = desired.maps.identities.len(),
                endpoints = desired.maps.endpoints.len(),
                policy = desired.maps.policy.len(),
                "policy maps updated"
            );
        }
        for problem in &desired.compiled.problems {
            tracing::debug!(?problem, "policy compile problem");
        }
        state.pod_names = Arc::new(pod_names(&snapshot, &endpoints));
        state.applied = desired.maps;
        state.compiled = Arc::new(desired.compiled);
        Ok(())
    }

    fn state(&self) -> MutexGuard<'_, EnforcerState> {
        // Every change leaves `applied` true to the maps or re-reads them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// "namespace/name" of every address the snapshot's pods publish and the
/// local endpoints were wired with.
fn pod_names(snapshot: &ClusterSnapshot, endpoints: &[Endpoint]) -> BTreeMap<IpAddr, String> {
    let published = snapshot.pods.iter().flat_map(|((namespace, name), pod)| {
        let ips = pod.status.as_ref().and_then(|s| s.pod_ips.as_ref());
        ips.into_iter()
            .flatten()
            .filter_map(|ip| ip.ip.parse::<IpAddr>().ok())
            .map(move |ip| (ip, format!("{namespace}/{name}")))
    });
    let wired = endpoints.iter().flat_map(|endpoint| {
        let name = match (&endpoint.pod_namespace, &endpoint.pod_name) {
            (Some(namespace), Some(name)) => Some(format!("{namespace}/{name}")),
            _ => None,
        };
        endpoint
            .ips
            .iter()
            .filter_map(move |net| name.clone().map(|name| (net.addr(), name)))
    });
    published.chain(wired).collect()
}

impl EndpointProgrammer for PolicyEnforcer {
    fn program(&self, endpoint: &Endpoint) -> Result<(), ProgramError> {
        self.program_endpoint(endpoint).map_err(program_error)
    }

    fn unprogram(&self, endpoint: &Endpoint) -> Result<(), ProgramError> {
        self.unprogram_endpoint(endpoint).map_err(program_error)
    }
}

/// Tells the plugin whether asking again can help: later (no snapshot),
/// not while the node is full (slots), never for this endpoint (bad MAC,
/// no such host interface), or only once weftd's failure is fixed.
fn program_error(error: EnforcerError) -> ProgramError {
    let kind = match &error {
        EnforcerError::NoSnapshotYet => ErrorKind::NotReady,
        EnforcerError::Slots(_) => ErrorKind::Exhausted,
        EnforcerError::Endpoint(_)
        | EnforcerError::Interface {
            source: nix::Error::ENODEV,
            ..
        } => ErrorKind::InvalidRequest,
        EnforcerError::Interface { .. }
        | EnforcerError::Bpf(_)
        | EnforcerError::HostAddresses(_) => ErrorKind::Internal,
    };
    ProgramError::new(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::pod_interface::InvalidEndpoint;
    use crate::policy::slots::SlotsExhausted;

    #[test]
    fn failures_tell_the_plugin_whether_asking_again_helps() {
        let interface = |source| EnforcerError::Interface {
            ifname: "weft0".into(),
            source,
        };
        let cases = [
            (EnforcerError::NoSnapshotYet, ErrorKind::NotReady),
            (EnforcerError::Slots(SlotsExhausted), ErrorKind::Exhausted),
            (
                EnforcerError::Endpoint(InvalidEndpoint::Mac("x".into())),
                ErrorKind::InvalidRequest,
            ),
            (interface(nix::Error::ENODEV), ErrorKind::InvalidRequest),
            (interface(nix::Error::ENOMEM), ErrorKind::Internal),
            (
                EnforcerError::Bpf(BpfError::EventsTaken),
                ErrorKind::Internal,
            ),
            (
                EnforcerError::HostAddresses(std::io::Error::other("netlink")),
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            let message = error.to_string();
            let programmed = program_error(error);
            assert_eq!((programmed.kind, programmed.message), (kind, message));
        }
    }
}
