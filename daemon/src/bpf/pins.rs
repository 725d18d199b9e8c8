//! Where the datapath's pins live under its pin directory: maps by name at
//! the top, tcx links in `links/` named `<ifname>.ingress|.egress`.

use std::path::{Path, PathBuf};

use super::BpfError;

const LINKS_DIR: &str = "links";

pub(super) fn links_dir(pin_dir: &Path) -> PathBuf {
    pin_dir.join(LINKS_DIR)
}

/// Removes everything under `pin_dir` (maps, links): what `weft-lab down`
/// and uninstall do. The links go with their pins, so programs detach.
pub fn remove_pins(pin_dir: &Path) -> Result<(), BpfError> {
    match std::fs::remove_dir_all(pin_dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(BpfError::io(pin_dir)(error))
        }
        _ => Ok(()),
    }
}
