//! Where the datapath's programs run, and how they outlive weftd.
//!
//! Pod veths get clsact + cls_bpf (direct-action) filters, not tcx links:
//! every tcx attach swaps the hook's program array and waits out an RCU
//! grace period holding the RTNL lock (10-25 ms here, twice per pod), which
//! made a CNI ADD 7x slower and serialised concurrent ADDs; a cls_bpf filter
//! costs well under a millisecond. A filter lives on the interface without
//! any fd or pin, so it keeps enforcing while weftd is gone and goes with
//! the veth; a new weftd replaces it in place (same priority and handle),
//! atomically.
//!
//! Node devices (weft.vxlan, the underlay) are attached once per weftd, so
//! they use tcx links, which coexist with other tcx users of those devices,
//! pinned at `<pin_dir>/links/<ifname>:ingress|:egress`. bpffs refuses dots
//! in names, so a dot of the interface name is written as `:`, which no
//! interface name contains. A new link replaces a pinned one without a gap:
//! it is attached next to the old one, pinned under a temporary name and
//! renamed over the old pin, which detaches the old link.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aya::programs::links::{FdLink, Link};
use aya::programs::tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcHandle};
use aya::programs::{ProgramError, SchedClassifier, TcAttachType, tc};
use weft_ebpf_common::{FROM_POD_PROGRAM, NODE_ENTRY_PROGRAM, NODE_EXIT_PROGRAM, TO_POD_PROGRAM};

use super::BpfError;
use super::datapath::Datapath;
use super::pins::links_dir;

const INGRESS_SUFFIX: &str = ":ingress";
const EGRESS_SUFFIX: &str = ":egress";
/// Appended to a pin name while the new link waits to replace the old.
const PENDING_SUFFIX: &str = ":new";
/// Stands for `.` in pin names.
const DOT: char = ':';
/// Priority and handle of Weft's cls_bpf filter on a pod veth: fixed, so a
/// new weftd finds and replaces the filter an old one left.
const POD_FILTER_PRIORITY: u16 = 1;
const POD_FILTER_HANDLE: TcHandle = TcHandle::new(0, 1);

impl Datapath {
    /// Attaches weft_from_pod (ingress) and weft_to_pod (egress) to pod veth
    /// `ifname` in the calling thread's netns as cls_bpf filters, replacing
    /// the filters a previous weftd left there in place.
    pub fn attach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        // Fails when the qdisc exists; any other failure shows in the attach.
        let _ = tc::qdisc_add_clsact(ifname);
        self.attach_filter(FROM_POD_PROGRAM, ifname, TcAttachType::Ingress)?;
        self.attach_filter(TO_POD_PROGRAM, ifname, TcAttachType::Egress)
    }

    /// Same for weft_node_entry (ingress) and weft_node_exit (egress) on a
    /// node device (weft.vxlan, the underlay).
    pub fn attach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.attach_pinned(NODE_ENTRY_PROGRAM, ifname, TcAttachType::Ingress)?;
        self.attach_pinned(NODE_EXIT_PROGRAM, ifname, TcAttachType::Egress)
    }

    /// Removes Weft's filters from pod veth `ifname`; a missing interface or
    /// filter is fine.
    pub fn detach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
            let Ok(filter) = pod_filter(ifname, direction) else {
                return Ok(());
            };
            // Only a filter that is already gone fails to go.
            let _ = filter.detach();
        }
        Ok(())
    }

    /// Removes the pins of node device `ifname`'s links (the links go with
    /// them). Missing pins are fine.
    pub fn detach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        for direction in [TcAttachType::Ingress, TcAttachType::Egress] {
            let pin = self.link_pin(ifname, direction);
            match std::fs::remove_file(&pin) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(BpfError::io(pin)(error));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Node devices that have pinned links.
    pub fn pinned_link_names(&self) -> Result<Vec<String>, BpfError> {
        let dir = links_dir(&self.pin_dir);
        let entries = std::fs::read_dir(&dir).map_err(BpfError::io(&dir))?;
        let mut names = BTreeSet::new();
        for entry in entries {
            let file_name = entry.map_err(BpfError::io(&dir))?.file_name();
            if let Some(name) = file_name.to_str().and_then(interface_of_pin) {
                names.insert(name);
            }
        }
        Ok(names.into_iter().collect())
    }

    fn link_pin(&self, ifname: &str, direction: TcAttachType) -> PathBuf {
        links_dir(&self.pin_dir).join(pin_name(ifname, direction))
    }

    fn attach_filter(
        &mut self,
        program: &'static str,
        ifname: &str,
        direction: TcAttachType,
    ) -> Result<(), BpfError> {
        let classifier = self.classifier(program)?;
        let options = TcAttachOptions::Netlink(NlOptions {
            priority: POD_FILTER_PRIORITY,
            handle: POD_FILTER_HANDLE,
            classid: None,
        });
        let link_id = match classifier.attach_with_options(ifname, direction, options) {
            Ok(link_id) => link_id,
            // The filter exists (a previous weftd, or a repeated ADD):
            // replace its program in place.
            Err(create_error) => pod_filter(ifname, direction)
                .ok()
                .and_then(|old| classifier.attach_to_link(old).ok())
                .ok_or_else(|| BpfError::program(program)(create_error))?,
        };
        let filter = classifier
            .take_link(link_id)
            .map_err(BpfError::program(program))?;
        // Dropping the link would delete the filter, which must outlive
        // weftd; it holds no fd, so forgetting it leaks nothing.
        std::mem::forget(filter);
        Ok(())
    }

    fn attach_pinned(
        &mut self,
        program: &'static str,
        ifname: &str,
        direction: TcAttachType,
    ) -> Result<(), BpfError> {
        let pin = self.link_pin(ifname, direction);
        let pending = pending_pin(&pin);
        let classifier = self.classifier(program)?;
        let link_id = match classifier.attach(ifname, direction) {
            Ok(link_id) => link_id,
            // tcx refuses a second link of the same program on one hook:
            // this weftd's pinned link is attached there already.
            Err(error) if is_already_attached(&error) && pin.exists() => return Ok(()),
            Err(error) => return Err(BpfError::program(program)(error)),
        };
        let link = classifier
            .take_link(link_id)
            .map_err(BpfError::program(program))?;
        let link = FdLink::try_from(link).map_err(|source| BpfError::Link {
            name: program,
            source,
        })?;
        // A pending pin left by a crash between pin and rename is stale.
        remove_if_present(&pending)?;
        let pinned = link.pin(&pending).map_err(|source| BpfError::Pin {
            path: pending.clone(),
            source,
        })?;
        std::fs::rename(&pending, &pin).map_err(BpfError::io(&pin))?;
        // The pin now holds the link; this fd may go.
        drop(pinned);
        Ok(())
    }
}

/// The node devices among `ifnames` that miss a node program on tcx,
/// with what is missing (a device recreated since weftd attached to it
/// lost its links).
pub fn node_devices_without_programs(ifnames: &[String]) -> Vec<String> {
    let hooks = [
        ("ingress", TcAttachType::Ingress, NODE_ENTRY_PROGRAM),
        ("egress", TcAttachType::Egress, NODE_EXIT_PROGRAM),
    ];
    let mut missing = Vec::new();
    for ifname in ifnames {
        for (hook, direction, program) in hooks {
            match SchedClassifier::query_tcx(ifname, direction) {
                Ok((_, attached)) if attached.iter().any(|p| p.name_as_str() == Some(program)) => {}
                Ok(_) => missing.push(format!("{ifname}: no {hook} program ({program})")),
                Err(error) => missing.push(format!("{ifname}: {error}")),
            }
        }
    }
    missing
}

/// Weft's filter on a pod veth's hook (it may not exist).
fn pod_filter(ifname: &str, direction: TcAttachType) -> std::io::Result<SchedClassifierLink> {
    SchedClassifierLink::attached(
        ifname,
        direction,
        POD_FILTER_PRIORITY,
        POD_FILTER_HANDLE,
        None,
    )
}

fn pin_name(ifname: &str, direction: TcAttachType) -> String {
    let suffix = match direction {
        TcAttachType::Ingress => INGRESS_SUFFIX,
        _ => EGRESS_SUFFIX,
    };
    format!("{}{suffix}", ifname.replace('.', &DOT.to_string()))
}

fn pending_pin(pin: &Path) -> PathBuf {
    let mut pending = pin.as_os_str().to_owned();
    pending.push(PENDING_SUFFIX);
    PathBuf::from(pending)
}

/// The interface a link pin belongs to; None for pending or foreign files.
fn interface_of_pin(file_name: &str) -> Option<String> {
    file_name
        .strip_suffix(INGRESS_SUFFIX)
        .or_else(|| file_name.strip_suffix(EGRESS_SUFFIX))
        .filter(|name| !name.is_empty())
        .map(|name| name.replace(DOT, "."))
}

fn is_already_attached(error: &ProgramError) -> bool {
    matches!(error, ProgramError::SyscallError(syscall)
        if syscall.io_error.kind() == std::io::ErrorKind::AlreadyExists)
}

fn remove_if_present(path: &Path) -> Result<(), BpfError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(BpfError::io(path)(error))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_named_after_interface_and_direction_without_dots() {
        assert_eq!(pin_name("wv1234", TcAttachType::Ingress), "wv1234:ingress");
        assert_eq!(
            pin_name("weft.vxlan", TcAttachType::Egress),
            "weft:vxlan:egress"
        );
    }

    #[test]
    fn interfaces_come_back_from_pin_names() {
        assert_eq!(
            interface_of_pin("weft:vxlan:ingress").as_deref(),
            Some("weft.vxlan")
        );
        assert_eq!(interface_of_pin("wv1:egress").as_deref(), Some("wv1"));
        assert_eq!(interface_of_pin(":ingress"), None);
        assert_eq!(interface_of_pin("other"), None);
    }

    #[test]
    fn the_pending_pin_sits_next_to_the_pin_and_names_no_interface() {
        let pending = pending_pin(Path::new("/sys/fs/bpf/weft/links/wv1:ingress"));
        assert_eq!(pending, Path::new("/sys/fs/bpf/weft/links/wv1:ingress:new"));
        assert_eq!(interface_of_pin("wv1:ingress:new"), None);
    }
}
