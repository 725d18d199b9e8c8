//! The shell around the policy decisions: keeps the pinned eBPF maps equal
//! to what the cluster's policies say for the local endpoints, gives each
//! new pod interface its programs and map entries before its ADD is
//! answered, and adopts what a previous weftd left (pinned maps keep their
//! content, the pod filters and pinned node links stay attached), so a
//! restart neither opens a hole nor breaks a flow.
//!
//! The compile runs once per snapshot, outside the lock ADD and DEL take;
//! an ADD or DEL works out its own endpoint's entries from the last compile
//! (see `desired`) and holds the lock only around its writes. A sync
//! compares the new compile's policy entries with the last one's outside
//! the lock too (the maps hold exactly those, unless a write failed), and
//! holds it to compare the identity and endpoint entries and write.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use weft_api::{Endpoint, ErrorKind, PolicySummary};
use weft_datastore::ClusterSnapshot;
use weft_policy::{Changes, CompiledPolicy, MapChanges, MapContents, diff};

use super::datapath::PolicyDatapath;
use super::desired::{Endpoints, PreparedPolicy, prepare_policy};
use super::error::EnforcerError;
use super::host_addresses::host_addresses;
use super::interfaces::{adopt_interfaces, forget_interface, wire_interface};
use super::slots::SlotTable;
#[cfg(test)] // the error kinds' test names it
use crate::bpf::BpfError;
use crate::bpf::{Datapath, EventRing, HostRoutingSettings};
use crate::endpoints::programmer::{EndpointProgrammer, ProgramError};
use crate::metrics::Metrics;

/// Reads the node's own addresses (they get the host identity).
pub type HostAddresses = fn() -> std::io::Result<Vec<IpAddr>>;

pub struct PolicyEnforcer {
    node_name: String,
    host_addresses: HostAddresses,
    metrics: Metrics,
    /// Held through a whole sync, so an older snapshot's compile never
    /// lands after a newer one's; ADD and DEL do not take it.
    syncing: Mutex<()>,
    state: Mutex<EnforcerState>,
}

struct EnforcerState {
    datapath: Box<dyn PolicyDatapath>,
    /// What the maps hold (read back from the pins at start and after a
    /// failed write).
    applied: MapContents,
    /// Whether `applied.policy` is exactly `prepared`'s policy entries: then
    /// a sync compares two compiles' entries, without the lock, instead of
    /// the maps'. ADD and DEL write policy entries only when they are not.
    policy_as_prepared: bool,
    /// The last compile; `None` until the first datastore snapshot:
    /// compiling an empty cluster would erase the policy a previous weftd
    /// left in force.
    prepared: Option<Arc<PreparedPolicy>>,
    endpoints: Endpoints,
    slots: SlotTable,
    /// Pod names by address (cluster pods and local endpoints), for events.
    pod_names: Arc<BTreeMap<IpAddr, String>>,
    /// Node devices whose links this weftd attached, with the ifindex
    /// they had then: a device deleted and created again under its name
    /// (weft.vxlan after its settings changed, an underlay a network
    /// manager recreated) lost its links and gets them again.
    node_devices: BTreeMap<String, u32>,
}

impl PolicyEnforcer {
    /// Opens (or adopts) the datapath pinned in `pin_dir`, sets its host
    /// routing (a restart may switch it: flows keep their path but the
    /// redirected ones go through the stack once `kernel`), re-attaches
    /// the programs of `endpoints` (recorded by a previous run). Without a
    /// datastore there is no snapshot to wait for: `standalone`.
    pub fn start(
        node_name: &str,
        pin_dir: &Path,
        host_routing: &HostRoutingSettings,
        endpoints: Vec<Endpoint>,
        standalone: bool,
        metrics: Metrics,
    ) -> Result<Self, EnforcerError> {
        let mut datapath = Datapath::open(pin_dir)?;
        datapath.set_host_routing(host_routing)?;
        let node = Node {
            datapath: Box::new(datapath),
            host_addresses,
        };
        Self::adopting(node_name, node, endpoints, standalone, metrics)
    }

    /// Takes over `node`'s datapath as a previous weftd left it: its maps
    /// stay as they are until the first snapshot (in `standalone` mode,
    /// where none comes, the empty cluster's policy is put in effect now),
    /// and the interfaces of `endpoints` get this weftd's programs.
    pub(crate) fn adopting(
        node_name: &str,
        node: Node,
        endpoints: Vec<Endpoint>,
        standalone: bool,
        metrics: Metrics,
    ) -> Result<Self, EnforcerError> {
        let Node {
            mut datapath,
            host_addresses,
        } = node;
        let applied = datapath.policy_maps()?;
        let interfaces = datapath.pod_interfaces()?;
        let endpoints: Endpoints = endpoints
            .into_iter()
            .map(|endpoint| (endpoint.key.clone(), endpoint))
            .collect();
        let mut slots = SlotTable::from_interfaces(&interfaces);
        adopt_interfaces(datapath.as_mut(), &mut slots, &interfaces, &endpoints)?;
        let enforcer = PolicyEnforcer {
            node_name: node_name.to_owned(),
            host_addresses,
            metrics,
            syncing: Mutex::new(()),
            state: Mutex::new(EnforcerState {
                datapath,
                applied,
                policy_as_prepared: false,
                prepared: None,
                endpoints,
                slots,
                pod_names: Arc::default(),
                node_devices: BTreeMap::new(),
            }),
        };
        if standalone {
            enforcer.put_in_effect(&ClusterSnapshot::default())?;
        }
        Ok(enforcer)
    }

    /// Takes the verdict event ring (once).
    pub fn take_events(&self) -> Result<EventRing, EnforcerError> {
        Ok(self.state().datapath.take_events()?)
    }

    /// Puts `snapshot`'s policy in effect (with the node's addresses as
    /// they are now); also drops the links of node devices no longer used.
    pub fn sync(&self, snapshot: Arc<ClusterSnapshot>) -> Result<(), EnforcerError> {
        let _one_at_a_time = self
            .syncing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.put_in_effect(&snapshot)?;
        let mut state = self.state();
        for name in state.datapath.pinned_link_names()? {
            if !state.node_devices.contains_key(&name) {
                state.datapath.detach_node_device(&name)?;
            }
        }
        Ok(())
    }

    /// Attaches the node programs to `ifname` (weft.vxlan, the underlay)
    /// unless this run already did to the device that has the name now.
    pub fn attach_node_device(&self, ifname: &str) -> Result<(), EnforcerError> {
        let mut state = self.state();
        let ifindex =
            state
                .datapath
                .interface_index(ifname)
                .map_err(|source| EnforcerError::Interface {
                    ifname: ifname.to_owned(),
                    source,
                })?;
        if state.node_devices.get(ifname) != Some(&ifindex) {
            state.datapath.attach_node_device(ifname)?;
            state.node_devices.insert(ifname.to_owned(), ifindex);
        }
        Ok(())
    }

    /// The node devices this weftd attached the node programs to.
    pub fn node_devices(&self) -> Vec<String> {
        self.state().node_devices.keys().cloned().collect()
    }

    /// Sizes of the policy in effect, for `weftctl status`; `None` before
    /// the first compile.
    pub fn summary(&self) -> Option<PolicySummary> {
        let state = self.state();
        let compiled = &state.prepared.as_ref()?.cluster.compiled;
        let policies: BTreeSet<_> = compiled
            .endpoints
            .values()
            .flat_map(|e| e.ingress_policies.iter().chain(&e.egress_policies))
            .collect();
        Some(PolicySummary {
            policies: policies.len(),
            identities: compiled.identities.len(),
            profiles: compiled.profiles.len(),
            isolated_endpoints: state
                .applied
                .endpoints
                .values()
                .filter(|endpoint| endpoint.flags != 0)
                .count(),
        })
    }

    /// The last compiled policy (for weftctl). Pods wired since show their
    /// addresses from the next compile on.
    pub fn compiled(&self) -> Arc<CompiledPolicy> {
        let state = self.state();
        let prepared = state.prepared.as_ref();
        prepared.map_or_else(Arc::default, |p| p.cluster.compiled.clone())
    }

    /// Pod names by address: the snapshot's pods and the local endpoints.
    pub fn pod_names(&self) -> Arc<BTreeMap<IpAddr, String>> {
        self.state().pod_names.clone()
    }

    pub fn verdict_counts(&self) -> Result<Vec<u64>, EnforcerError> {
        Ok(self.state().datapath.verdict_counts()?)
    }

    pub fn set_report_allows(&self, on: bool) -> Result<(), EnforcerError> {
        Ok(self.state().datapath.set_report_allows(on)?)
    }

    /// Compiles `snapshot` without holding the lock, then writes what
    /// differs from the maps. The node's addresses are read here only:
    /// ADD and DEL do not wait on an address dump, which queues behind the
    /// RTNL lock.
    fn put_in_effect(&self, snapshot: &ClusterSnapshot) -> Result<(), EnforcerError> {
        let host_ips = (self.host_addresses)().map_err(EnforcerError::HostAddresses)?;
        let (endpoints, in_maps) = {
            let state = self.state();
            let in_maps = state.prepared.clone().filter(|_| state.policy_as_prepared);
            (state.endpoints.clone(), in_maps)
        };
        let started = Instant::now();
        let prepared = prepare_policy(snapshot, &self.node_name, &host_ips, endpoints);
        let took = started.elapsed();
        self.metrics.observe_policy_compile(took);
        let compiled = &prepared.cluster.compiled;
        tracing::debug!(
            revision = snapshot.revision,
            seconds = took.as_secs_f64(),
            identities = compiled.identities.len(),
            profiles = compiled.profiles.len(),
            "policy compiled"
        );
        for problem in &compiled.problems {
            tracing::debug!(?problem, "policy compile problem");
        }
        let names = prepared.pod_names(&prepared.endpoints);
        let policy = in_maps.map(|old| Changes::between(&old.maps.policy, &prepared.maps.policy));
        let prepared = Arc::new(prepared);

        let mut state = self.state();
        let desired = prepared.desired(&state.endpoints);
        let changes = match policy {
            // Nothing wrote policy entries since they were compared.
            Some(policy) if state.policy_as_prepared => MapChanges {
                identities: Changes::between(&state.applied.identities, &desired.identities),
                endpoints: Changes::between(&state.applied.endpoints, &desired.endpoints),
                policy,
            },
            _ => diff(&state.applied, &desired),
        };
        let written = write(&mut state, &changes);
        state.policy_as_prepared = written.is_ok();
        if written.is_ok() && !changes.is_empty() {
            tracing::debug!(
                identities = desired.identities.len(),
                endpoints = desired.endpoints.len(),
                policy = desired.policy.len(),
                "policy maps updated"
            );
        }
        state.pod_names = Arc::new(if prepared.endpoints == state.endpoints {
            names
        } else {
            prepared.pod_names(&state.endpoints)
        });
        // Even after a failed write: ADD and DEL write against the maps
        // as read back, and the newest compile is what they should move to.
        state.prepared = Some(prepared);
        written
    }

    fn program_endpoint(&self, endpoint: &Endpoint) -> Result<(), EnforcerError> {
        let mut state = self.state();
        let Some(prepared) = state.prepared.clone() else {
            return Err(EnforcerError::NoSnapshotYet);
        };
        let ifindex = state
            .datapath
            .interface_index(&endpoint.host_ifname)
            .map_err(|source| EnforcerError::Interface {
                ifname: endpoint.host_ifname.clone(),
                source,
            })?;
        let previous = state
            .endpoints
            .insert(endpoint.key.clone(), endpoint.clone());
        let changed: Vec<&Endpoint> = previous.iter().chain([endpoint]).collect();
        let outcome = write_endpoints(&mut state, &prepared, &changed).and_then(|()| {
            let state = &mut *state;
            wire_interface(state.datapath.as_mut(), &mut state.slots, endpoint, ifindex)
        });
        if outcome.is_err() {
            match &previous {
                Some(previous) => state
                    .endpoints
                    .insert(endpoint.key.clone(), previous.clone()),
                None => state.endpoints.remove(&endpoint.key),
            };
            let undone = {
                let state = &mut *state;
                forget_interface(state.datapath.as_mut(), &mut state.slots, endpoint)
            };
            let undone = undone.and_then(|()| write_endpoints(&mut state, &prepared, &changed));
            if let Err(e) = undone {
                tracing::warn!(error = %e, "undoing a failed endpoint programming");
            }
        }
        outcome
    }

    fn unprogram_endpoint(&self, endpoint: &Endpoint) -> Result<(), EnforcerError> {
        let mut state = self.state();
        {
            let state = &mut *state;
            forget_interface(state.datapath.as_mut(), &mut state.slots, endpoint)?;
        }
        let removed = state.endpoints.remove(&endpoint.key);
        if let Some(prepared) = state.prepared.clone() {
            let changed: Vec<&Endpoint> = removed.iter().chain([endpoint]).collect();
            write_endpoints(&mut state, &prepared, &changed)?;
        }
        Ok(())
    }

    fn state(&self) -> MutexGuard<'_, EnforcerState> {
        // Every change leaves `applied` true to the maps or re-reads them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The node as the enforcer uses it: its datapath and where its own
/// addresses come from.
pub(crate) struct Node {
    pub datapath: Box<dyn PolicyDatapath>,
    pub host_addresses: HostAddresses,
}

/// Writes the entries `prepared` gives the addresses of the endpoint
/// records in `changed` (an ADD's or DEL's, before and after), with the
/// endpoints as they are now.
fn write_endpoints(
    state: &mut EnforcerState,
    prepared: &PreparedPolicy,
    changed: &[&Endpoint],
) -> Result<(), EnforcerError> {
    let entries = prepared.endpoint_entries(&state.endpoints, changed);
    if !entries.unnumbered.is_empty() {
        tracing::info!(
            pods = ?entries.unnumbered,
            "first pod of its identity: local peers whose policies select it \
             allow it from the next compile on"
        );
    }
    let changes = entries.changes(&state.applied, &prepared.cluster.compiled);
    write(state, &changes)?;
    prepared.rename(
        Arc::make_mut(&mut state.pod_names),
        &state.endpoints,
        changed,
    );
    Ok(())
}

/// Writes `changes`; after a failed write the maps' content is read back,
/// so the next write compares with the truth.
fn write(state: &mut EnforcerState, changes: &MapChanges) -> Result<(), EnforcerError> {
    if changes.is_empty() {
        return Ok(());
    }
    if !changes.policy.is_empty() {
        state.policy_as_prepared = false;
    }
    if let Err(error) = state.datapath.apply_policy(changes) {
        state.policy_as_prepared = false;
        state.applied = state.datapath.policy_maps()?;
        return Err(error.into());
    }
    changes.apply(&mut state.applied);
    Ok(())
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
