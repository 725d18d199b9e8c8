//! The on-disk allocation store shared by every CNI plugin process and
//! weftd on a node: one state file, replaced atomically, with each
//! read-modify-write under an exclusive `flock` on a separate lock file.
//!
//! The state file belongs to one boot: its name carries the kernel's boot
//! id, so it is only ever read in the boot that wrote it. Pod network
//! namespaces never survive a reboot, so every allocation of an earlier
//! boot is stale; and within a boot the page cache is the truth, so
//! nothing is fsynced. After a power loss the file the disk kept, whole or
//! torn, is an earlier boot's, never read again (and removed by the new
//! boot's first write). A reboot thus also frees every stale allocation.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::allocations::Allocations;
use crate::{Attachment, AttachmentKey, IpamError};

/// The state file, `allocations.<boot id>.json`: every attachment and the
/// per-subnet cursors.
const STATE_PREFIX: &str = "allocations.";
const STATE_SUFFIX: &str = ".json";
/// The state file of stores before they were per boot (fsynced, so whole):
/// adopted while this boot has none, removed by this boot's first write.
const LEGACY_STATE_FILE: &str = "allocations.json";
/// This boot's id, a UUID the kernel draws at boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
/// Locked for every change. Separate from the state file because renaming
/// over the state file replaces its inode, and with it any lock held on it.
const LOCK_FILE: &str = "lock";

#[derive(Debug)]
pub struct IpamStore {
    dir: PathBuf,
    state_path: PathBuf,
}

impl IpamStore {
    /// Opens (creating if needed) the store directory, e.g. /var/lib/weft/ipam,
    /// for this boot.
    pub fn open(dir: &Path) -> Result<Self, IpamError> {
        let boot_id = std::fs::read_to_string(BOOT_ID).map_err(IpamError::io(BOOT_ID))?;
        Self::open_for_boot(dir, boot_id.trim())
    }

    /// Opens the store of the boot with id `boot_id` (`open` passes this
    /// kernel's; tests pass others).
    pub fn open_for_boot(dir: &Path, boot_id: &str) -> Result<Self, IpamError> {
        std::fs::create_dir_all(dir).map_err(IpamError::io(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            state_path: dir.join(format!("{STATE_PREFIX}{boot_id}{STATE_SUFFIX}")),
        })
    }

    /// This boot's state file.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// Reserves one address in each of `subnets` for `key` (one per family given).
    /// Idempotent: the same key gets back its existing attachment (same IPs).
    /// Never hands out the network address, the broadcast address (IPv4), or the first usable
    /// address of each subnet (reserved as the subnet's gateway/host address by convention),
    /// nor an address already reserved. Exhausted subnet -> IpamError::Exhausted{subnet}.
    pub fn reserve(
        &self,
        subnets: &[IpNet],
        key: &AttachmentKey,
        host_ifname: &str,
    ) -> Result<Attachment, IpamError> {
        self.update(|state| state.reserve(subnets, key, host_ifname))
    }

    /// Releases the key's reservation; Ok(None) when there was none (idempotent).
    pub fn release(&self, key: &AttachmentKey) -> Result<Option<Attachment>, IpamError> {
        self.update(|state| {
            let released = state.release(key);
            let changed = released.is_some();
            Ok((released, changed))
        })
    }

    pub fn get(&self, key: &AttachmentKey) -> Result<Option<Attachment>, IpamError> {
        Ok(self.load()?.get(key).cloned())
    }

    pub fn list(&self) -> Result<Vec<Attachment>, IpamError> {
        Ok(self.load()?.attachments().cloned().collect())
    }

    /// Releases every attachment whose key is not in `valid` and returns the released ones
    /// (the caller removes their host veths).
    pub fn gc(&self, valid: &HashSet<AttachmentKey>) -> Result<Vec<Attachment>, IpamError> {
        self.update(|state| {
            let released = state.gc(valid);
            let changed = !released.is_empty();
            Ok((released, changed))
        })
    }

    /// Runs one read-modify-write under the lock; `change` says whether the
    /// state must be written back, so no-op calls write nothing. Nothing is
    /// synced (see the module doc): the two fsyncs a durable replacement
    /// takes were about 0.7 ms of every ADD and DEL, under the lock.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Allocations) -> Result<(T, bool), IpamError>,
    ) -> Result<T, IpamError> {
        let _lock = self.lock()?;
        let first_of_boot = !self.state_path.exists();
        let mut state = self.load()?;
        let (result, changed) = change(&mut state)?;
        if changed {
            weft_durable::replace_unsynced(&self.state_path, &state.to_json(), None)
                .map_err(IpamError::io(&self.state_path))?;
            if first_of_boot {
                self.remove_other_boots();
            }
        }
        Ok(result)
    }

    /// Removes the state files of earlier boots and the legacy one. Best
    /// effort: once this boot's file exists, no other is ever read.
    fn remove_other_boots(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let state = name.starts_with(STATE_PREFIX) && name.ends_with(STATE_SUFFIX);
            if state && entry.path() != self.state_path {
                let _ = weft_durable::remove_unsynced(&entry.path());
            }
        }
    }

    /// Takes the exclusive lock, released when the returned file is dropped.
    /// The file is opened anew each time: `flock` excludes open file
    /// descriptions, so threads sharing one descriptor would not exclude
    /// each other.
    fn lock(&self) -> Result<File, IpamError> {
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(IpamError::io(&path))?;
        file.lock().map_err(IpamError::io(&path))?;
        Ok(file)
    }

    /// Reads the state; readers need no lock because the file is only ever
    /// replaced whole. This boot's file, else the legacy one, else no
    /// attachments (a leftover temp file is an unfinished write and is
    /// ignored).
    fn load(&self) -> Result<Allocations, IpamError> {
        let legacy = self.dir.join(LEGACY_STATE_FILE);
        for path in [&self.state_path, &legacy] {
            match std::fs::read(path) {
                Ok(bytes) => {
                    return Allocations::from_json(&bytes).map_err(|reason| IpamError::Corrupt {
                        path: path.clone(),
                        reason,
                    });
                }
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => return Err(IpamError::io(path)(err)),
            }
        }
        Ok(Allocations::default())
    }
}
