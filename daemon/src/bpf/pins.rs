//! Where the datapath's pins live under its pin directory: maps by name at
//! the top, tcx links in `links/` named `<ifname>:ingress|:egress`; and the
//! check that pinned maps have the shapes this weftd needs.

use std::path::{Path, PathBuf};

use aya::maps::MapInfo;

use super::BpfError;
use super::counter_upgrade::take_counts;
use super::error::is_missing;
use super::map_shapes::{MapShape, PINNED_MAPS, is_replaceable};

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

/// Fails on the first map pinned in `pin_dir` whose shape is not the
/// expected one; maps not pinned yet are fine (they are created). The
/// verdict counters are the exception: a counter array of another capacity
/// is taken down and its counts returned, to go into the new one
/// (`counter_upgrade`).
pub(super) fn check_pinned_maps(pin_dir: &Path) -> Result<Option<Vec<u64>>, BpfError> {
    let mut carried = None;
    for (name, expected) in PINNED_MAPS {
        let info = match MapInfo::from_pin(pin_dir.join(name)) {
            Ok(info) => info,
            Err(error) if is_missing(&error) => continue,
            Err(error) => return Err(BpfError::map(name)(error)),
        };
        let found = MapShape {
            map_type: info.map_type().map_err(BpfError::map(name))?,
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
        };
        if found != expected && is_replaceable(name, &expected, &found) {
            carried = Some(take_counts(pin_dir)?);
        } else if found != expected {
            return Err(BpfError::IncompatiblePin {
                name,
                expected,
                found,
            });
        }
    }
    Ok(carried)
}
