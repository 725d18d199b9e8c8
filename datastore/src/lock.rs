//! The store lock: an flock on `<root>/.lock`, shared for reads, exclusive
//! for writes, so readers in any process never see half a write batch and
//! writers in any process take turns. Each acquisition opens its own file
//! description, so threads of one process exclude each other too.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::error::StoreError;
use crate::layout::LOCK_FILE;

/// Held while the lock is; dropping it (closing the file) releases the lock.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct StoreLock {
    _file: File,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Creates the lock file if it is missing.
pub(crate) fn create_lock_file(root: &Path) -> Result<(), StoreError> {
    let path = root.join(LOCK_FILE);
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map(drop)
        .map_err(StoreError::io(path))
}

/// Blocks until the lock is held for `access`.
pub(crate) fn lock(root: &Path, access: Access) -> Result<StoreLock, StoreError> {
    let path = root.join(LOCK_FILE);
    // Opened read-only: closing a file opened for writing is an inotify event
    // every watcher of the directory would wake up for.
    let file = match File::open(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_lock_file(root)?;
            File::open(&path)
        }
        opened => opened,
    }
    .map_err(StoreError::io(&path))?;
    loop {
        let locked = match access {
            Access::Read => file.lock_shared(),
            Access::Write => file.lock(),
        };
        match locked {
            Ok(()) => return Ok(StoreLock { _file: file }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io(path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_excludes_readers_and_readers_share() {
        let dir = tempfile::tempdir().unwrap();
        create_lock_file(dir.path()).unwrap();
        let probe = File::open(dir.path().join(LOCK_FILE)).unwrap();

        let read = lock(dir.path(), Access::Read).unwrap();
        assert!(probe.try_lock_shared().is_ok(), "readers share");
        probe.unlock().unwrap();
        assert!(probe.try_lock().is_err(), "a reader blocks a writer");
        drop(read);

        let write = lock(dir.path(), Access::Write).unwrap();
        assert!(probe.try_lock_shared().is_err(), "a writer blocks readers");
        drop(write);
        assert!(probe.try_lock().is_ok(), "dropping releases the lock");
    }

    #[test]
    fn recreates_a_removed_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock(dir.path(), Access::Write).unwrap();
        assert!(dir.path().join(LOCK_FILE).exists());
    }
}
