//! tcx links of the datapath's programs, pinned at
//! `<pin_dir>/links/<ifname>:ingress|:egress` so they keep enforcing while
//! weftd is gone. bpffs refuses dots in names (reserved by the kernel), so a
//! dot of the interface name is written as `:`, which no interface name
//! contains. A new link replaces a pinned one without a gap: it is
//! attached next to the old one, pinned under a temporary name and renamed
//! over the old pin, which detaches the old link.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aya::programs::links::FdLink;
use aya::programs::{ProgramError, SchedClassifier, TcAttachType};
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

impl Datapath {
    /// tcx-attaches weft_from_pod (ingress) and weft_to_pod (egress) to
    /// `ifname` in the calling thread's netns, replacing pinned links of that
    /// name without a gap.
    pub fn attach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.attach_pinned(FROM_POD_PROGRAM, ifname, TcAttachType::Ingress)?;
        self.attach_pinned(TO_POD_PROGRAM, ifname, TcAttachType::Egress)
    }

    /// Same for weft_node_entry (ingress) and weft_node_exit (egress) on a
    /// node device (weft.vxlan, the underlay).
    pub fn attach_node_device(&mut self, ifname: &str) -> Result<(), BpfError> {
        self.attach_pinned(NODE_ENTRY_PROGRAM, ifname, TcAttachType::Ingress)?;
        self.attach_pinned(NODE_EXIT_PROGRAM, ifname, TcAttachType::Egress)
    }

    /// Removes the pins of `ifname`'s links (the links go with them).
    /// Missing pins are fine.
    pub fn detach_pod(&mut self, ifname: &str) -> Result<(), BpfError> {
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

    /// Interface names that have pinned links (for pruning pins of deleted
    /// veths; node devices are listed too).
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

/// A program tcx runs on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedProgram {
    pub id: u32,
    pub name: String,
}

/// The programs tcx runs on `ifname` (in the calling thread's netns), in
/// order, for ingress and egress: to check what is attached and that a
/// replacement left exactly one of ours.
pub fn attached_programs(
    ifname: &str,
) -> Result<(Vec<AttachedProgram>, Vec<AttachedProgram>), BpfError> {
    let query = |direction| -> Result<Vec<AttachedProgram>, BpfError> {
        let (_revision, programs) = SchedClassifier::query_tcx(ifname, direction)
            .map_err(BpfError::program("tcx query"))?;
        Ok(programs
            .iter()
            .map(|info| AttachedProgram {
                id: info.id(),
                name: info.name_as_str().unwrap_or_default().to_string(),
            })
            .collect())
    };
    Ok((query(TcAttachType::Ingress)?, query(TcAttachType::Egress)?))
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
